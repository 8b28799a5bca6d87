// Package listener runs Portier's client-facing HTTP servers: it binds (or
// inherits) a socket, speaks HTTP/1.1 and HTTP/2 (by ALPN over TLS, or h2c
// with prior knowledge), picks TLS certificates by SNI, enforces the
// listener's timeouts and limits, refuses requests whose framing could be
// smuggled (RFC 9112 §6), and shuts down gracefully.
//
// What net/http does not check, the guard (guard.go) does: 414 and 431 by
// the listener's limits on HTTP/1 and HTTP/2 alike, 413 by max_body_bytes,
// and 400 for a request whose framing net/http quietly rewrites (both
// Content-Length and chunked; Transfer-Encoding in HTTP/1.0), for obs-fold,
// and for a chunked body that turns out malformed while the handler reads
// it. On plain listeners the raw request head is read from the connection's
// last read (rawhead.go); on TLS listeners it is not available, so a chunked
// or HTTP/1.0 request there is answered with Connection: close instead.
//
// It serves any http.Handler and knows nothing about routing or upstreams:
// it imports only internal/config of Portier's packages, and must not import
// the proxy, router, engine, providers or admin.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/portier/portier/internal/config"
)

// headerSlack is added to max_header_bytes + max_uri_bytes for the request
// line's method and version and the CRLFs, so that a request within both
// limits always reaches the guard, which answers 414 and 431 itself. Past
// the sum, net/http answers 431 on its own.
const headerSlack = 1 << 10

// Options configure a Listener.
type Options struct {
	// Config is the listener's configuration, defaults applied. Required.
	Config config.Listener
	// Handler serves the requests that pass the guard. Required.
	Handler http.Handler
	// TLS is the server configuration of an https listener (see BuildTLS).
	// Required for https, ignored for http.
	TLS *tls.Config
	// Logger receives net/http's own error log at debug level; the caller
	// sets its component and listener attributes. Default: discard.
	Logger *slog.Logger
	// Inherited is an already bound socket to serve instead of binding
	// Config.Address, for a binary upgrade that hands sockets over.
	// Default nil: Listen binds.
	Inherited net.Listener
	// ConnState, if set, is called as client connections change state
	// (see http.Server.ConnState), for example to count active connections.
	// Default nil.
	ConnState func(net.Conn, http.ConnState)
}

// Listener is one HTTP or HTTPS listener: Listen, then Serve, then Shutdown.
type Listener struct {
	name      string
	address   string
	https     bool
	srv       *http.Server
	inherited net.Listener

	mu      sync.Mutex   // guards ln, serving and closed
	ln      net.Listener // the bound socket, set by Listen
	serving bool         // Serve was called; Shutdown closes ln through srv
	closed  bool         // Shutdown was called
}

// New builds a listener that does not listen yet.
func New(o Options) (*Listener, error) {
	c := o.Config
	if o.Handler == nil {
		return nil, fmt.Errorf("listener %s: no handler", c.Name)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	switch c.Protocol {
	case config.ProtocolHTTPS:
		if o.TLS == nil {
			return nil, fmt.Errorf("listener %s: https needs a TLS configuration", c.Name)
		}
		protos.SetHTTP2(true)
	case config.ProtocolHTTP, "":
		protos.SetUnencryptedHTTP2(c.H2C)
	default:
		return nil, fmt.Errorf("listener %s: protocol %q is not served over HTTP", c.Name, c.Protocol)
	}
	if c.Limits.MaxURIBytes <= 0 || c.Limits.MaxHeaderBytes <= 0 {
		return nil, fmt.Errorf("listener %s: limits.max_uri_bytes and limits.max_header_bytes must be set (defaults not applied?)", c.Name)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	https := c.Protocol == config.ProtocolHTTPS
	g := &guard{
		next:      o.Handler,
		maxURI:    int(c.Limits.MaxURIBytes),
		maxHeader: int(c.Limits.MaxHeaderBytes),
		maxBody:   int64(c.Limits.MaxBodyBytes),
		tls:       https,
	}
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: c.Timeouts.ReadHeader.D(),
		IdleTimeout:       c.Timeouts.Idle.D(),
		// No WriteTimeout: responses stream (SSE, downloads, WebSockets).
		MaxHeaderBytes: g.maxHeader + g.maxURI + headerSlack,
		Protocols:      &protos,
		// "http: TLS handshake error" and the like come from any scanner on
		// the internet; keep them for debugging but out of the normal log.
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ConnContext: connContext,
		ConnState:   o.ConnState,
	}
	if https {
		srv.TLSConfig = o.TLS.Clone()
	}
	return &Listener{
		name: c.Name, address: c.Address, https: https,
		srv: srv, inherited: o.Inherited,
	}, nil
}

// Listen binds the listener's address (or takes the inherited socket), so
// that a caller learns of a bind error before serving.
func (l *Listener) Listen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return nil
	}
	if l.closed {
		return fmt.Errorf("listener %s: %w", l.name, http.ErrServerClosed)
	}
	if l.inherited != nil {
		l.ln = l.inherited
		return nil
	}
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.name, err)
	}
	l.ln = ln
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Serve serves until Shutdown, then returns nil. It calls Listen first if
// that has not been done.
func (l *Listener) Serve() error {
	if err := l.Listen(); err != nil {
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
	l.mu.Lock()
	ln, closed := l.ln, l.closed
	l.serving = true
	l.mu.Unlock()
	if closed {
		return nil
	}
	var err error
	if l.https {
		// Certificates come from TLSConfig.GetCertificate.
		err = l.srv.ServeTLS(ln, "", "")
	} else {
		err = l.srv.Serve(recordingListener{ln})
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("listener %s: %w", l.name, err)
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes the connections that remain and returns ctx's error. Hijacked
// connections (WebSockets) are not tracked here; their owner closes them.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	if !l.serving && l.ln != nil {
		// Serve never took the socket over, so the server cannot close it.
		_ = l.ln.Close()
	}
	l.mu.Unlock()
	err := l.srv.Shutdown(ctx)
	if err != nil {
		_ = l.srv.Close()
		return fmt.Errorf("listener %s: shutdown: %w", l.name, err)
	}
	return nil
}

// Name returns the listener's configured name.
func (l *Listener) Name() string { return l.name }
