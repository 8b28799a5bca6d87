package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portier/portier/internal/config"
)

// StreamHandler serves the connections of a tcp listener (the proxy's TCP
// relay).
type StreamHandler interface {
	// RoutesBySNI reports whether each connection's TLS ClientHello must
	// be read first, for the server name it asks for.
	RoutesBySNI() bool
	// ServeStream serves conn until it ends, or until ctx ends because
	// the listener shuts down; it closes conn. sni is the server name of
	// the ClientHello, when one was read.
	ServeStream(ctx context.Context, conn net.Conn, sni string)
}

// TCPOptions configure a TCP listener.
type TCPOptions struct {
	// Config is the listener's configuration, defaults applied; its
	// protocol is tcp. Required.
	Config config.Listener
	// Handler serves each connection. Required.
	Handler StreamHandler
	// Logger receives dropped ClientHellos at debug level; the caller
	// sets its component and listener attributes. Default: discard.
	Logger *slog.Logger
	// Inherited is an already bound socket to serve instead of binding
	// Config.Address. Default nil: Listen binds.
	Inherited net.Listener
	// Counts receives the listener's counters, so that a caller can keep
	// them across listeners that replace one another. Default nil: the
	// listener counts on its own (see TCP.Counts).
	Counts *TCPCounts
	// ProxyCounts counts the connections refused for their PROXY header
	// when Config.ProxyProtocol accepts it (see Options.ProxyCounts).
	// Default nil: the listener counts on its own.
	ProxyCounts *ProxyCounts
}

// TCP is one tcp listener: Listen, then Serve, then Shutdown (or Retire).
// It accepts connections, reads the TLS ClientHello of each when its
// handler routes by SNI, and hands them to the handler, keeping track of
// them so that a shutdown can let them finish and then close them.
type TCP struct {
	// socket is the bound socket and its mu, which also guards conns;
	// socket.closed is set by Shutdown or Retire: accept no more.
	socket
	log    *slog.Logger
	counts *TCPCounts
	// handler and helloTimeout are what a reload may change in place.
	handler      atomic.Pointer[streamRef]
	helloTimeout atomic.Int64 // time.Duration

	conns   map[*trackedConn]struct{}
	streams sync.WaitGroup
}

type streamRef struct{ StreamHandler }

// trackedConn is an open client connection and how to end it.
type trackedConn struct {
	conn   net.Conn
	cancel context.CancelFunc
}

// NewTCP builds a tcp listener that does not listen yet.
func NewTCP(o TCPOptions) (*TCP, error) {
	c := o.Config
	if c.Protocol != config.ProtocolTCP {
		return nil, fmt.Errorf("listener %s: protocol %q is not tcp", c.Name, c.Protocol)
	}
	if o.Handler == nil {
		return nil, fmt.Errorf("listener %s: no handler", c.Name)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	counts := o.Counts
	if counts == nil {
		counts = new(TCPCounts)
	}
	l := &TCP{
		socket: newSocket(c, o.Inherited, o.ProxyCounts),
		log:    logger,
		counts: counts,
		conns:  make(map[*trackedConn]struct{}),
	}
	l.handler.Store(&streamRef{o.Handler})
	l.SetConfig(c)
	return l, nil
}

// SetHandler makes h serve the connections accepted from now on.
func (l *TCP) SetHandler(h StreamHandler) { l.handler.Store(&streamRef{h}) }

// SetConfig applies the settings of c that a running listener can take
// (timeouts.client_hello) to connections accepted from now on.
func (l *TCP) SetConfig(c config.Listener) {
	d := c.Timeouts.ClientHello.D()
	if d <= 0 {
		d = 5 * time.Second
	}
	l.helloTimeout.Store(int64(d))
}

// Listen binds the listener's address, or takes the inherited socket.
func (l *TCP) Listen() error { return l.listen(net.ErrClosed) }

// Serve accepts connections until Shutdown or Retire, then returns nil.
// It calls Listen first if that has not been done.
func (l *TCP) Serve() error {
	if err := l.Listen(); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	}
	l.mu.Lock()
	ln := l.ln
	l.mu.Unlock()
	ln = l.accepting(ln)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			done := l.closed
			l.mu.Unlock()
			if done {
				return nil
			}
			if isTimeout(err) || isTemporary(err) {
				// Out of descriptors and the like: wait, as net/http
				// does, rather than spin or stop serving.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("listener %s: %w", l.name, err)
		}
		backoff = 0
		l.counts.accepted.Add(1)
		if !l.track(c) {
			c.Close()
			continue
		}
	}
}

// isTemporary reports an accept error that passes: EMFILE, ENFILE,
// ECONNABORTED and the like, which net.Listener still reports as
// Temporary.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track registers c and serves it on its own goroutine; it returns false
// when the listener is shutting down.
func (l *TCP) track(c net.Conn) bool {
	ctx, cancel := context.WithCancel(context.Background())
	tc := &trackedConn{conn: c, cancel: cancel}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		cancel()
		return false
	}
	l.conns[tc] = struct{}{}
	l.streams.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.streams.Done()
		defer func() {
			l.mu.Lock()
			delete(l.conns, tc)
			l.mu.Unlock()
			cancel()
			c.Close()
		}()
		l.serveConn(ctx, c)
	}()
	return true
}

// serveConn reads the ClientHello if the handler needs its server name,
// then hands the connection over.
func (l *TCP) serveConn(ctx context.Context, c net.Conn) {
	if pc, ok := c.(*proxyConn); ok && pc.trusted {
		// The PROXY header first: the handler balances and logs by the
		// client it names, and a refused one (counted by ProxyCounts)
		// must not cost a connection to a server.
		if err := pc.settle(); err != nil {
			return
		}
	}
	h := l.handler.Load().StreamHandler
	conn, sni := net.Conn(&streamConn{Conn: c}), ""
	if h.RoutesBySNI() {
		var err error
		conn, sni, err = peekClientHello(conn, time.Duration(l.helloTimeout.Load()))
		if err != nil {
			l.dropped(c, err)
			return
		}
	}
	h.ServeStream(ctx, conn, sni)
}

// dropped counts and logs a connection closed for its ClientHello.
func (l *TCP) dropped(c net.Conn, err error) {
	var kind helloError
	switch {
	case errors.Is(err, net.ErrClosed):
		return // the listener shut down
	case errors.As(err, new(*ProxyError)):
		return // counted by ProxyCounts
	case errors.Is(err, ErrBadClientHello):
		kind = helloMalformed
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = helloTruncated
	case errors.Is(err, os.ErrDeadlineExceeded):
		kind = helloTimeout
	default:
		kind = helloTruncated // reset by the client
	}
	l.counts.hello[kind].Add(1)
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("client hello dropped", "client", c.RemoteAddr().String(), "reason", kind.String(), "error", err.Error())
	}
}

// Active returns the number of client connections open.
func (l *TCP) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Counts returns the listener's counters.
func (l *TCP) Counts() *TCPCounts { return l.counts }

// StopAccepting is Retire's first step, done at once (see
// Listener.StopAccepting); calling it again is harmless.
func (l *TCP) StopAccepting(unbind bool) { l.stopAccepting(unbind) }

// stopAccepting closes the socket so that no connection is accepted any
// more; with unbind it first takes it out of listening everywhere.
func (l *TCP) stopAccepting(unbind bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.ln != nil {
		if unbind {
			stopListening(l.ln)
		}
		_ = l.ln.Close()
	}
}

// Retire stops accepting and lets the open streams go on until they end
// or ctx ends, then closes what is left: for a listener a reload replaces
// (a successor accepts on the same socket; see Dup) or removes (with
// unbind, the socket stops listening).
func (l *TCP) Retire(ctx context.Context, unbind bool) error {
	l.stopAccepting(unbind)
	return l.drain(ctx)
}

// Shutdown stops accepting, lets the open streams go on until they end or
// ctx ends, then closes those left (their handler sees ctx end first) and
// returns ctx's error.
func (l *TCP) Shutdown(ctx context.Context) error {
	l.stopAccepting(false)
	return l.drain(ctx)
}

// drain waits for the streams to end, or ctx to end and then ends them.
func (l *TCP) drain(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for l.Active() > 0 {
		select {
		case <-ctx.Done():
			l.closeAll()
			l.streams.Wait()
			return fmt.Errorf("listener %s: shutdown: %w", l.name, ctx.Err())
		case <-tick.C:
		}
	}
	l.streams.Wait()
	return nil
}

// closeAll ends every open stream: its handler's context, then its
// connection.
func (l *TCP) closeAll() {
	l.mu.Lock()
	all := make([]*trackedConn, 0, len(l.conns))
	for tc := range l.conns {
		all = append(all, tc)
	}
	l.mu.Unlock()
	for _, tc := range all {
		tc.cancel()
		tc.conn.Close()
	}
}

// streamConn is an accepted connection as a handler sees it: it can be
// half-closed whatever wraps the socket.
type streamConn struct{ net.Conn }

// CloseWrite shuts the socket down for writing: the client reads the end
// of the stream while it may still send.
func (c *streamConn) CloseWrite() error {
	sock := c.Conn
	if pc, ok := sock.(*proxyConn); ok {
		sock = pc.Conn
	}
	if cw, ok := sock.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// helloError is why a ClientHello was dropped.
type helloError int

const (
	helloMalformed helloError = iota // not a ClientHello, or over 16KiB
	helloTruncated                   // the client closed or reset before a whole one
	helloTimeout                     // not whole within timeouts.client_hello
	numHelloErrors
)

func (k helloError) String() string {
	return [...]string{"malformed", "truncated", "timeout"}[k]
}

// TCPCounts are a tcp listener's counters.
type TCPCounts struct {
	accepted atomic.Uint64
	hello    [numHelloErrors]atomic.Uint64
}

// TCPStats is a reading of TCPCounts.
type TCPStats struct {
	// Accepted counts the connections accepted.
	Accepted uint64
	// ClientHelloErrors counts the connections dropped for their
	// ClientHello, by reason: malformed, truncated, timeout.
	ClientHelloErrors map[string]uint64
}

// Stats reads the counters.
func (c *TCPCounts) Stats() TCPStats {
	s := TCPStats{Accepted: c.accepted.Load(), ClientHelloErrors: make(map[string]uint64, numHelloErrors)}
	for k := range numHelloErrors {
		s.ClientHelloErrors[k.String()] = c.hello[k].Load()
	}
	return s
}
