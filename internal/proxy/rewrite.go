package proxy

import (
	"net/url"
	"strings"
)

// upstreamURL is the URL to request from a server: the backend's scheme and
// the route's path rewrite; the host is filled in per server.
func (ex *exchange) upstreamURL() *url.URL {
	rt, in := ex.route, ex.r.URL
	u := &url.URL{Scheme: ex.backend.Scheme, Path: in.Path, RawPath: in.RawPath, RawQuery: in.RawQuery}
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	if rt.StripPrefix && rt.PathPrefix != "" && rt.PathPrefix != "/" {
		u.Path = stripPrefix(u.Path, rt.PathPrefix)
		if u.RawPath != "" {
			// Keep RawPath only while it still encodes Path.
			u.RawPath = stripPrefix(u.RawPath, rt.PathPrefix)
		}
	}
	if rt.AddPrefix != "" {
		u.Path = joinPath(rt.AddPrefix, u.Path)
		if u.RawPath != "" {
			u.RawPath = joinPath(rt.AddPrefix, u.RawPath)
		}
	}
	// A RawPath that no longer encodes Path is ignored by URL.EscapedPath.
	return u
}

// stripPrefix removes prefix from an upstream path, keeping it absolute.
func stripPrefix(p, prefix string) string {
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		return p
	}
	if rest == "" || rest[0] != '/' {
		rest = "/" + rest
	}
	return rest
}

// joinPath puts prefix in front of an absolute path without doubling "/".
func joinPath(prefix, p string) string {
	return strings.TrimSuffix(prefix, "/") + p
}
