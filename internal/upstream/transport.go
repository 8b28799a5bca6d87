package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"syscall"
	"time"
)

// TransportOptions configure the connection pool to one server. The zero
// value of each field is usable: it means the default stated on the field.
type TransportOptions struct {
	// Address is the host:port every connection dials, whatever host the
	// request URL names. Required.
	Address string
	// Target, when set, is asked for the address at each dial instead, so
	// that a server named by host name follows its re-resolved address; its
	// error (a *DialError) fails the dial.
	Target func() (string, error)
	// ConnectTimeout bounds a TCP connect (and the TLS handshake).
	// Default 5s.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is written. Zero means no limit.
	ResponseHeaderTimeout time.Duration
	// IdleTimeout closes a pooled connection idle this long. Default 90s.
	IdleTimeout time.Duration
	// MaxIdleConns is how many idle keep-alive connections the pool keeps.
	// Default 64.
	MaxIdleConns int
	// TLS, when set, speaks TLS to the server with this configuration; nil
	// means plain TCP.
	TLS *tls.Config
	// HTTP2 speaks HTTP/2 to the server: by ALPN "h2" over TLS, or with
	// prior knowledge (h2c) over plain TCP. Default HTTP/1.1 only.
	HTTP2 bool
	// SendProxy starts every connection with a PROXY protocol header naming
	// the client of the request that opened it, before any TLS. Such a
	// connection then serves only requests of that client (see proxyPool).
	// Default ProxyNone.
	SendProxy ProxyVersion
	// ProxyClients bounds how many clients' pools a server sent the PROXY
	// protocol keeps; the least recently used one is closed first.
	// Default 1024.
	ProxyClients int
}

// Dial failure reasons, as reported in DialError.Reason and the access log.
const (
	ReasonConnectRefused     = "connect_refused"
	ReasonConnectTimeout     = "connect_timeout"
	ReasonConnectUnreachable = "connect_unreachable"
	ReasonDNS                = "dns"
	ReasonConnectError       = "connect_error"
)

// DialError is a failure to open a connection to a server. Nothing of the
// request was sent when it is returned, so the request may be retried on
// another server whatever its method.
type DialError struct {
	// Reason is one of the Reason* constants.
	Reason string
	Err    error
}

func (e *DialError) Error() string { return "dial upstream: " + e.Reason + ": " + e.Err.Error() }

func (e *DialError) Unwrap() error { return e.Err }

// Pool is a server's connection pool, as the proxy and the DNS re-resolver
// use it.
type Pool interface {
	http.RoundTripper
	// CloseIdleConnections closes the pooled connections no request is
	// using, as when the server's address changed.
	CloseIdleConnections()
}

// NewTransport returns the HTTP client transport (keep-alive pool) for one
// server. Compression is never requested: the proxy passes bodies as they
// are. Without SendProxy it is a plain *http.Transport; with it, a pool per
// client (see proxyPool).
func NewTransport(o TransportOptions) Pool {
	o.setDefaults()
	d := &serverDialer{
		dialer:  net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second},
		address: o.Address,
		target:  o.Target,
	}
	if o.SendProxy != ProxyNone {
		return newProxyPool(o, d.dial)
	}
	return newHTTPTransport(o, d.dial)
}

func (o *TransportOptions) setDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 90 * time.Second
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 64
	}
	if o.ProxyClients <= 0 {
		o.ProxyClients = defaultProxyClients
	}
}

// dialFunc opens a connection for an http.Transport.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// serverDialer connects to one server, whatever host the request names.
type serverDialer struct {
	dialer  net.Dialer
	address string
	target  func() (string, error) // see TransportOptions.Target
}

// dial connects to the server's current address; a failure is a
// *DialError.
func (d *serverDialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	a := d.address
	if d.target != nil {
		var err error
		if a, err = d.target(); err != nil {
			return nil, err
		}
	}
	c, err := d.dialer.DialContext(ctx, network, a)
	if err != nil {
		return nil, &DialError{Reason: classifyDial(err), Err: err}
	}
	return c, nil
}

// newHTTPTransport returns a keep-alive pool over connections from dial.
func newHTTPTransport(o TransportOptions, dial dialFunc) *http.Transport {
	t := &http.Transport{
		DialContext:           dial,
		TLSClientConfig:       o.TLS,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		IdleConnTimeout:       o.IdleTimeout,
		MaxIdleConns:          o.MaxIdleConns,
		MaxIdleConnsPerHost:   o.MaxIdleConns,
		// Wait this long for a server's "100 Continue" before sending a
		// body the client announced with Expect: 100-continue.
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	p := new(http.Protocols)
	switch {
	case o.HTTP2 && o.TLS == nil:
		p.SetUnencryptedHTTP2(true)
	case o.HTTP2:
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	default:
		p.SetHTTP1(true)
	}
	t.Protocols = p
	return t
}

// classifyDial names why a connect failed.
func classifyDial(err error) string {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		return ReasonDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonConnectRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonConnectUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonConnectTimeout
	}
	return ReasonConnectError
}
