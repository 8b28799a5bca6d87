package upstream

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// ProxyVersion is the version of the PROXY protocol header that starts each
// connection to a server (HAProxy's proxy-protocol.txt), so that the server
// learns the client's address although the connection comes from Portier.
type ProxyVersion uint8

// PROXY protocol versions a server may be sent.
const (
	// ProxyNone sends no header: the server sees Portier's address.
	ProxyNone ProxyVersion = iota
	// ProxyV1 sends the human-readable header, "PROXY TCP4 ...\r\n".
	ProxyV1
	// ProxyV2 sends the binary header, with the SNI the client asked for as
	// an authority TLV (PP2_TYPE_AUTHORITY).
	ProxyV2
)

// ParseProxyVersion reads a configured send_proxy_protocol value: none (or
// empty), v1 or v2.
func ParseProxyVersion(s string) (ProxyVersion, error) {
	switch s {
	case "", "none":
		return ProxyNone, nil
	case "v1":
		return ProxyV1, nil
	case "v2":
		return ProxyV2, nil
	}
	return ProxyNone, fmt.Errorf("send_proxy_protocol: %q is not none, v1 or v2", s)
}

func (v ProxyVersion) String() string {
	switch v {
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return "none"
}

// ProxyVersion returns the PROXY protocol version that starts each of the
// server's connections: that of the pool NewTransport built for it, so that
// health checks speak to the server as its traffic does.
func (s *Server) ProxyVersion() ProxyVersion {
	if p, ok := s.Transport.(*proxyPool); ok {
		return p.o.SendProxy
	}
	return ProxyNone
}

// maxSNI is the longest SNI passed on in a v2 header: 255 bytes, the most
// OpenSSL accepts (RFC 6066 section 3 asks for a DNS host name, at most 253).
// Go's TLS server takes an SNI of any length, but receivers refuse a header
// much longer than its addresses (go-proxyproto reads at most 4096 bytes),
// so a client sending one would have every request fail on the server, each
// counted as the server's failure (passive checks could eject it). Such an
// SNI names no host and is left out.
const maxSNI = 255

// proxyClient is what a PROXY header says about a connection: the client's
// address, the address of the Portier listener it reached, and (v2 only) the
// SNI it sent. It is comparable, and is the key of a client's own pool: two
// requests may share an upstream connection only if its header is true of
// both.
type proxyClient struct {
	src, dst netip.AddrPort
	sni      string
}

// clientOf reads the client of an outgoing request. The proxy's outgoing
// request is a shallow copy of the client's, so it still carries the
// server-side fields the HTTP client ignores: RemoteAddr (the client, or the
// address a PROXY header from a trusted peer named), TLS (the SNI), and in
// its context the local address of the listener that accepted it. A field
// that cannot be read leaves the address invalid, and the header then says
// UNKNOWN (v1) or LOCAL (v2), as HAProxy's does for a connection without
// addresses. An SNI longer than maxSNI is left out.
func clientOf(r *http.Request, v ProxyVersion) proxyClient {
	var c proxyClient
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.src = unmap(ap)
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.dst = addrPortOf(la)
	}
	if v == ProxyV2 && r.TLS != nil && len(r.TLS.ServerName) <= maxSNI {
		c.sni = r.TLS.ServerName
	}
	return c
}

// addrPortOf converts a socket address; the zero AddrPort if it has none.
func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return unmap(ta.AddrPort())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return unmap(ap)
}

// unmap writes an IPv4 client of a dual-stack socket (::ffff:a.b.c.d) as
// the IPv4 address it is.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// header encodes c as a PROXY header of version v. Addresses of different
// families are both sent as IPv6, the IPv4 one mapped, as HAProxy does.
func (c proxyClient) header(v ProxyVersion) ([]byte, error) {
	var h *proxyproto.Header
	if c.src.IsValid() && c.dst.IsValid() {
		h = proxyproto.HeaderProxyFromAddrs(byte(v), net.TCPAddrFromAddrPort(c.src), net.TCPAddrFromAddrPort(c.dst))
	} else {
		h = proxyproto.HeaderProxyFromAddrs(byte(v), nil, nil)
	}
	if v == ProxyV2 && c.sni != "" && h.Command.IsProxy() {
		tlv := proxyproto.TLV{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte(c.sni)}
		if err := h.SetTLVs([]proxyproto.TLV{tlv}); err != nil {
			return nil, fmt.Errorf("proxy header: %w", err)
		}
	}
	b, err := h.Format()
	if err != nil {
		return nil, fmt.Errorf("proxy header: %w", err)
	}
	return b, nil
}

// WriteCheckHeader starts conn, a connection Portier opened on its own
// behalf (a health check), with a PROXY header of version v that names the
// connection's own ends: its local address as the source and the server as
// the destination, as HAProxy's check-send-proxy does. A server that
// requires the header (HAProxy accept-proxy, nginx proxy_protocol) then
// treats the check like any connection. It does nothing for ProxyNone.
func WriteCheckHeader(conn net.Conn, v ProxyVersion, timeout time.Duration) error {
	if v == ProxyNone {
		return nil
	}
	c := proxyClient{src: addrPortOf(conn.LocalAddr()), dst: addrPortOf(conn.RemoteAddr())}
	b, err := c.header(v)
	if err != nil {
		return err
	}
	return writeHeader(conn, b, timeout)
}

// writeHeader sends a PROXY header on a new connection within timeout. The
// header is tiny and the socket buffer empty, so only a dead peer makes the
// write wait.
func writeHeader(conn net.Conn, b []byte, timeout time.Duration) error {
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("proxy header: %w", err)
	}
	if _, err := conn.Write(b); err != nil {
		return fmt.Errorf("proxy header: %w", err)
	}
	if err := conn.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("proxy header: %w", err)
	}
	return nil
}
