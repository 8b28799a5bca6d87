package upstream

import (
	"context"
	"net"
	"time"
)

// StreamOptions describe a TCP stream a server is dialled for.
type StreamOptions struct {
	// ConnectTimeout bounds the connect and the PROXY header's write.
	// Default 5s.
	ConnectTimeout time.Duration
	// Client is the stream's client (the address a PROXY header from a
	// trusted peer named, if any) and Listener the address it reached:
	// the PROXY header's source and destination. A nil one makes the
	// header say UNKNOWN (v1) or LOCAL (v2).
	Client, Listener net.Addr
	// SNI is the server name of a TLS stream passed through, sent in a v2
	// header as the authority TLV. Default none.
	SNI string
}

// DialStream opens a connection to the server for a TCP stream, at its
// current address (see DialAddress), and when the server is sent the
// PROXY protocol (ProxyVersion) starts it with the header, as an HTTP
// connection to it would be. A failure is a *DialError: nothing of the
// stream was sent.
func (s *Server) DialStream(ctx context.Context, o StreamOptions) (net.Conn, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	addr, err := s.DialAddress()
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &DialError{Reason: classifyDial(err), Err: err}
	}
	v := s.ProxyVersion()
	if v == ProxyNone {
		return conn, nil
	}
	c := proxyClient{}
	if o.Client != nil {
		c.src = addrPortOf(o.Client)
	}
	if o.Listener != nil {
		c.dst = addrPortOf(o.Listener)
	}
	if v == ProxyV2 && len(o.SNI) <= maxSNI {
		c.sni = o.SNI
	}
	hdr, err := c.header(v)
	if err == nil {
		err = writeHeader(conn, hdr, o.ConnectTimeout)
	}
	if err != nil {
		conn.Close()
		return nil, &DialError{Reason: classifyDial(err), Err: err}
	}
	return conn, nil
}
