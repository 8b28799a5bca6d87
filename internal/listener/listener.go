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
// A listener with proxy_protocol takes the client address from a trusted
// peer's PROXY protocol header (proxyaccept.go), so that RemoteAddr is that
// address for every handler.
//
// A tcp listener (tcp.go) accepts byte streams for a StreamHandler
// instead, after reading, when the handler routes by SNI, each client's TLS
// ClientHello without terminating TLS (clienthello.go). Both kinds bind,
// share (Dup) and unbind their socket the same way (socket.go).
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
	"sync/atomic"
	"time"

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
	// ProxyCounts counts the connections refused for their PROXY header
	// when Config.ProxyProtocol accepts it, so that a caller can keep the
	// counts across listeners that replace one another. Default nil: the
	// listener counts on its own (see Listener.ProxyCounts).
	ProxyCounts *ProxyCounts
}

// Listener is one HTTP or HTTPS listener: Listen, then Serve, then Shutdown.
type Listener struct {
	// socket is the bound socket and its mu, which also guards serving
	// and retiring; socket.closed is set by Shutdown.
	socket
	https bool
	srv   *http.Server
	// handler and tls are what a reload may swap without a new server.
	handler swapHandler
	tls     atomic.Pointer[tls.Config]
	// conns counts the client connections open, for Retire.
	conns atomic.Int64
	idle  time.Duration

	serving  bool // Serve was called; Shutdown closes ln through srv
	retiring bool // Retire closed ln; Serve's accept error is expected
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
	l := &Listener{
		socket: newSocket(c, o.Inherited, o.ProxyCounts),
		https:  c.Protocol == config.ProtocolHTTPS, idle: c.Timeouts.Idle.D(),
	}
	l.handler.set(o.Handler)
	g := &guard{
		next:      &l.handler,
		maxURI:    int(c.Limits.MaxURIBytes),
		maxHeader: int(c.Limits.MaxHeaderBytes),
		maxBody:   int64(c.Limits.MaxBodyBytes),
		tls:       l.https,
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
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(connContext(ctx, c), closingKey{}, &l.handler.closing)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				l.conns.Add(1)
			case http.StateHijacked, http.StateClosed:
				l.conns.Add(-1)
			}
			if o.ConnState != nil {
				o.ConnState(c, st)
			}
		},
	}
	if l.https {
		// The certificates are looked up per handshake, so that a reload
		// can change them on a listener that keeps its socket.
		l.tls.Store(o.TLS)
		srv.TLSConfig = &tls.Config{
			NextProtos: o.TLS.NextProtos,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return l.tls.Load(), nil
			},
		}
	}
	l.srv = srv
	return l, nil
}

// SetHandler makes h serve the requests that arrive from now on; requests
// in progress finish with the handler they started with.
func (l *Listener) SetHandler(h http.Handler) { l.handler.set(h) }

// SetTLS makes c the TLS configuration of handshakes from now on, on an
// https listener.
func (l *Listener) SetTLS(c *tls.Config) {
	if l.https && c != nil {
		l.tls.Store(c)
	}
}

type closingKey struct{}

// Closing reports whether the listener that accepted the request's
// connection is retiring: a response written now should say
// "Connection: close". A handler whose response headers go out after a
// retirement began (a proxied request waiting on its server) checks it
// just before writing them, so that its connection too is closed by a
// response that says so rather than under its client.
func Closing(ctx context.Context) bool {
	c, _ := ctx.Value(closingKey{}).(*atomic.Bool)
	return c != nil && c.Load()
}

// swapHandler is an http.Handler that can be replaced while serving.
type swapHandler struct {
	p atomic.Pointer[handlerRef]
	// closing asks every connection to close after its response.
	closing atomic.Bool
}

type handlerRef struct{ http.Handler }

var connClose = []string{"close"}

func (s *swapHandler) set(h http.Handler) { s.p.Store(&handlerRef{h}) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		// net/http closes an HTTP/1 connection after a response that
		// says so, and turns it into a graceful GOAWAY on HTTP/2.
		w.Header()["Connection"] = connClose
	}
	s.p.Load().ServeHTTP(w, r)
}

// Listen binds the listener's address (or takes the inherited socket), so
// that a caller learns of a bind error before serving.
func (l *Listener) Listen() error { return l.listen(http.ErrServerClosed) }

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
	ln = l.accepting(ln)
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
	l.mu.Lock()
	retiring := l.retiring
	l.mu.Unlock()
	if retiring {
		return nil
	}
	return fmt.Errorf("listener %s: %w", l.name, err)
}

// Retire stops accepting and lets the open connections end on their own,
// for a listener that a reload replaces or removes: each connection
// answers its next request with "Connection: close" (HTTP/2: GOAWAY) after
// serving it, so that no client sends a request on a connection being
// closed under it, as closing idle keep-alive connections would risk.
// Once no connection is left, or the idle timeout has passed (every
// connection idle since the retirement has reached its idle timeout), or
// ctx ends, it shuts down as Shutdown does.
//
// With unbind, the socket itself stops listening, in every process that
// holds it, before this listener's descriptor is closed: for a listener
// removed for good, whose socket a copy kept for a binary upgrade would
// otherwise leave listening with nobody accepting. Without it, a successor
// (see Dup) or a new process goes on accepting on the socket.
func (l *Listener) Retire(ctx context.Context, unbind bool) error {
	l.StopAccepting(unbind)
	deadline := time.Now().Add(l.idle + time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for l.conns.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return l.Shutdown(ctx)
		case <-tick.C:
		}
	}
	return l.Shutdown(ctx)
}

// StopAccepting is Retire's first step, done at once: the listener
// accepts no connection after it returns, and its responses from then on
// say "Connection: close". A reload calls it before it returns, so that a
// client that connects afterwards always meets the new configuration.
// Calling it again, or Retire after it, is harmless.
func (l *Listener) StopAccepting(unbind bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.retiring {
		return
	}
	l.retiring = true
	l.handler.closing.Store(true)
	if l.ln != nil {
		if unbind {
			stopListening(l.ln)
		}
		_ = l.ln.Close()
	}
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
	if errors.Is(err, net.ErrClosed) {
		// Retire closed the socket first; the server may still have had
		// it on its list and closed it again. Its connections are done.
		err = nil
	}
	if err != nil {
		_ = l.srv.Close()
		return fmt.Errorf("listener %s: shutdown: %w", l.name, err)
	}
	return nil
}

// Active returns the number of client connections open on the HTTP
// server: from accept until closed, or until taken over by a handler
// (WebSockets are counted by their owner).
func (l *Listener) Active() int64 { return l.conns.Load() }
