package proxy

import (
	"net/http"
	"net/netip"
	"strings"
)

// Canonical header keys written by the proxy.
const (
	hdrConnection      = "Connection"
	hdrUpgrade         = "Upgrade"
	hdrTE              = "Te"
	hdrTrailer         = "Trailer"
	hdrRequestID       = "X-Request-Id"
	hdrReason          = "X-Portier-Reason"
	hdrXFF             = "X-Forwarded-For"
	hdrXFProto         = "X-Forwarded-Proto"
	hdrXFHost          = "X-Forwarded-Host"
	hdrForwarded       = "Forwarded"
	hdrVia             = "Via"
	hdrContentType     = "Content-Type"
	hdrContentLength   = "Content-Length"
	hdrSetCookie       = "Set-Cookie"
	hdrContentTypeOpts = "X-Content-Type-Options"
	hdrCacheControl    = "Cache-Control"
	hdrCSP             = "Content-Security-Policy"
	hdrTraceparent     = "Traceparent"
	hdrTracestate      = "Tracestate"
)

// isHopByHop reports whether a canonical header key belongs to one
// connection and must not be forwarded (RFC 9110 §7.6.1). Upgrade and TE are
// handled by the caller.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// namedInConnection reports whether key is listed in one of the Connection
// header values conn. It does not allocate.
func namedInConnection(conn []string, key string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), key) {
				return true
			}
		}
	}
	return false
}

// hasToken reports whether a comma-separated header value list holds token,
// ignoring case.
func hasToken(vals []string, token string) bool { return namedInConnection(vals, token) }

// copyEndToEnd copies the end-to-end fields of src into dst: everything but
// the hop-by-hop fields and the fields src's Connection header names. Values
// are shared, not copied: callers replace a slice, never append in place.
func copyEndToEnd(dst, src http.Header) {
	conn := src[hdrConnection]
	for k, v := range src {
		if isHopByHop(k) || (len(conn) > 0 && namedInConnection(conn, k)) {
			continue
		}
		dst[k] = v
	}
}

// isWebSocketUpgrade reports whether a request asks to switch to the
// WebSocket protocol (RFC 6455 §4.1), the one upgrade the proxy passes on.
func isWebSocketUpgrade(h http.Header) bool {
	return hasToken(h[hdrUpgrade], "websocket") && hasToken(h[hdrConnection], "upgrade")
}

// clientAddr splits a RemoteAddr into its address; ok is false when it does
// not parse (a unix socket, a test's made-up value).
func clientAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// clientHost returns RemoteAddr without its port, without allocating.
func clientHost(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	host := remote[:i]
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host
}

func (h *Handler) trusted(a netip.Addr, ok bool) bool {
	if !ok {
		return false
	}
	for _, p := range h.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedElem is this hop's RFC 7239 element: for= is quoted and
// bracketed for IPv6 (§6), host= quoted when it holds a port.
func forwardedElem(client netip.Addr, ok bool, host, proto string) string {
	var b strings.Builder
	b.Grow(48 + len(host))
	b.WriteString("for=")
	switch {
	case !ok:
		b.WriteString("unknown")
	case client.Is6():
		b.WriteString(`"[`)
		b.WriteString(client.String())
		b.WriteString(`]"`)
	default:
		b.WriteString(client.String())
	}
	if host != "" {
		b.WriteString(";host=")
		if isToken(host) {
			b.WriteString(host)
		} else {
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(host))
			b.WriteByte('"')
		}
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	return b.String()
}

// isToken reports whether s is an RFC 9110 token, which needs no quoting.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// appendValue returns vals with v added as a further field line, never
// writing into vals' backing array (it may be shared with the client's
// header).
func appendValue(vals []string, v string) []string {
	return append(vals[:len(vals):len(vals)], v)
}

// connClose is the Connection value that closes the client connection
// after the response; shared, never appended to.
var connClose = []string{"close"}
