package router

import (
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// referenceMatch is the precedence rule written as plainly as possible: a
// linear scan that ranks every matching route by (host class, wildcard
// suffix length, prefix length, matcher count, -ID) and keeps the best.
func referenceMatch(routes []Route, host, path, method string, header map[string][]string) (int, bool) {
	host = referenceHost(host)
	bestID, found := 0, false
	var best [5]int
	for _, rt := range routes {
		hostClass, suffixLen := 0, 0
		for _, p := range rt.Hosts {
			p = strings.TrimSuffix(strings.ToLower(p), ".")
			if suf, ok := strings.CutPrefix(p, "*"); ok {
				if len(host) > len(suf) && strings.HasSuffix(host, suf) && hostClass < 2 && len(suf) > suffixLen {
					hostClass, suffixLen = 1, len(suf)
				}
			} else if p == host {
				hostClass, suffixLen = 2, 0
			}
		}
		if len(rt.Hosts) > 0 && hostClass == 0 {
			continue
		}
		prefix := rt.PathPrefix
		if prefix == "" {
			prefix = "/"
		}
		pathOK := prefix == "/" || strings.HasPrefix(path, prefix) &&
			(strings.HasSuffix(prefix, "/") || len(path) == len(prefix) || path[len(prefix)] == '/')
		if !pathOK || len(rt.Methods) > 0 && !slices.Contains(rt.Methods, method) {
			continue
		}
		matchers, headersOK := len(rt.Headers), true
		for name, value := range rt.Headers {
			values, ok := header[textproto.CanonicalMIMEHeaderKey(name)]
			headersOK = headersOK && ok && (value == "*" || slices.Contains(values, value))
		}
		if !headersOK {
			continue
		}
		if len(rt.Methods) > 0 {
			matchers++
		}
		rank := [5]int{hostClass, suffixLen, len(prefix), matchers, -rt.ID}
		if !found || slices.Compare(rank[:], best[:]) > 0 {
			best, bestID, found = rank, rt.ID, true
		}
	}
	return bestID, found
}

// referenceHost drops a port (after the last "]" of a bracketed address, or
// after the only colon otherwise) and a trailing dot, and lower-cases.
func referenceHost(h string) string {
	if i := strings.LastIndex(h, ":"); i >= 0 {
		if strings.HasPrefix(h, "[") {
			if j := strings.LastIndex(h, "]"); j >= 0 && j < i {
				h = h[:i]
			}
		} else if strings.Count(h, ":") == 1 {
			h = h[:i]
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

var (
	fuzzHosts    = []string{"example.com", "a.example.com", "*.example.com", "*.a.example.com", "b.a.example.com", "*.com", "EXAMPLE.com.", "*.A.Example.Com"}
	fuzzPrefixes = []string{"", "/", "/api", "/api/", "/api/v1", "/a", "/ap", "/api/v1/"}
	fuzzMethods  = []string{"GET", "POST"}
	fuzzHeaders  = [][2]string{{"x-a", "1"}, {"X-A", "*"}, {"x-b", "2"}}
)

// fuzzRoutes decodes routes from data, three bytes per route, from small
// vocabularies so that routes overlap often.
func fuzzRoutes(data []byte) []Route {
	var routes []Route
	for len(data) >= 3 && len(routes) < 16 {
		b0, b1, b2 := data[0], data[1], data[2]
		data = data[3:]
		rt := Route{ID: int(b2 >> 4), PathPrefix: fuzzPrefixes[b1%8]}
		for i, h := range fuzzHosts {
			if b0&(1<<i) != 0 && (i < 4 || b0&0x0f == 0) {
				rt.Hosts = append(rt.Hosts, h)
			}
		}
		for i, m := range fuzzMethods {
			if b1&(0x10<<i) != 0 {
				rt.Methods = append(rt.Methods, m)
			}
		}
		for i, h := range fuzzHeaders {
			if b2&(1<<i) != 0 {
				if rt.Headers == nil {
					rt.Headers = map[string]string{}
				}
				rt.Headers[h[0]] = h[1]
			}
		}
		routes = append(routes, rt)
	}
	return routes
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x00, 0x04, 0x13, 0x11, 0x00, 0x00, 0x05}, "a.example.com", "/api/v1", "GET", "X-A", "1", "")
	f.Add([]byte{0x08, 0x07, 0x20, 0x04, 0x03, 0x31}, "X.A.Example.com.:80", "/api", "POST", "x-b", "2", "")
	f.Add([]byte{0xf0, 0x01, 0x00}, "[::1]:443", "/a/b", "", "", "", "*.example.com")
	f.Add([]byte{}, "", "", "", "", "", "/x")
	for _, tt := range precedenceRoutes {
		for _, h := range tt.Hosts {
			f.Add([]byte{0x00, 0x00, 0x00}, h, tt.PathPrefix+"/z", "GET", "X-Canary", "1", h)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, host, path, method, hname, hvalue, extra string) {
		routes := fuzzRoutes(data)
		if extra != "" {
			// A route straight from fuzzed text exercises New's checks.
			rt := Route{ID: 99, Hosts: []string{extra}}
			if strings.HasPrefix(extra, "/") {
				rt = Route{ID: 99, PathPrefix: extra}
			}
			routes = append(routes, rt)
		}
		r, err := New(routes)
		if err != nil {
			return
		}
		header := map[string][]string{}
		if hname != "" {
			header[textproto.CanonicalMIMEHeaderKey(hname)] = []string{hvalue}
		}
		gotID, gotOK := r.Match(host, path, method, header)
		wantID, wantOK := referenceMatch(routes, host, path, method, header)
		if gotID != wantID || gotOK != wantOK {
			t.Fatalf("Match(%q, %q, %q, %v) = %d, %v; reference %d, %v; routes %+v",
				host, path, method, header, gotID, gotOK, wantID, wantOK, routes)
		}
	})
}
