package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/router"
	"github.com/portier/portier/internal/upstream"
)

// TCPSite is the immutable routing of one tcp listener: built once per
// configuration and swapped atomically on reload. A stream keeps the
// route, server and idle timeout it started with.
type TCPSite struct {
	// SNI picks a route by the server name of the client's TLS
	// ClientHello (TLS passthrough). Nil: every stream takes Routes[0],
	// the listener's own backend (plain TCP).
	SNI *router.SNI
	// Routes indexed by router.SNIRoute.ID.
	Routes []*TCPRoute
	// Idle closes a stream that carried no byte in either direction for
	// this long. Default 60s.
	Idle time.Duration
}

// TCPRoute is where a tcp listener relays a stream.
type TCPRoute struct {
	// Name is the route's name; empty for a listener's own backend.
	Name    string
	Backend *Backend
	// ConnectTimeout bounds connecting to a server (the backend's
	// timeouts.connect). Default 5s.
	ConnectTimeout time.Duration
}

// TCPOptions configure a TCPRelay. The zero value relays with no access
// log.
type TCPOptions struct {
	// Listener is the name of the listener, for the access log.
	Listener string
	// Logger is the process log. Default: discard.
	Logger *slog.Logger
	// AccessLog receives one line per connection at level Info, when it
	// ends. Nil: no access log, at no cost.
	AccessLog *slog.Logger
}

// TCPRelay relays the TCP streams of one listener to the servers of its
// routes: it picks a route (by SNI, when the site routes by it) and a
// server with the backend's balancer, connects (retrying other servers
// on a failed connect, as often as the backend's retries allow), sends
// the server's PROXY header, then copies bytes both ways until both
// sides have closed, passing a half-close on (RFC 9293 §3.6).
//
// Each stream is tracked on its server, so that a drain or a reload that
// removes the server closes it after the backend's drain_timeout, and
// counted as in flight there, as the least_conn balancer reads.
type TCPRelay struct {
	o    TCPOptions
	log  *slog.Logger
	site atomic.Pointer[TCPSite]
	bufs sync.Pool // *[]byte of tcpBufSize
}

// defaultTCPIdle is the idle timeout of a site that sets none.
const defaultTCPIdle = 60 * time.Second

// tcpBufSize is the copy buffer of each direction of a stream: 16KiB,
// nginx's proxy_buffer_size and HAProxy's tune.bufsize for streams, so
// that a stream costs what it costs there.
const tcpBufSize = 16 << 10

// NewTCPRelay returns a relay serving site.
func NewTCPRelay(o TCPOptions, site *TCPSite) *TCPRelay {
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	t := &TCPRelay{o: o, log: lg.With("component", "proxy")}
	t.bufs.New = func() any {
		b := make([]byte, tcpBufSize)
		return &b
	}
	t.site.Store(site)
	return t
}

// Swap makes site the routing of streams that start from now on.
func (t *TCPRelay) Swap(site *TCPSite) { t.site.Store(site) }

// RoutesBySNI reports whether the current routing needs the server name
// of each client's ClientHello, which the listener then reads first.
func (t *TCPRelay) RoutesBySNI() bool {
	s := t.site.Load()
	return s != nil && s.SNI != nil
}

// ServeStream relays client, which it closes, until the stream ends or
// ctx ends (the listener shuts down). sni is the server name the client's
// ClientHello asked for, if the listener read one.
func (t *TCPRelay) ServeStream(ctx context.Context, client net.Conn, sni string) {
	s := &stream{relay: t, client: client, sni: sni, start: time.Now()}
	defer client.Close()
	s.serve(ctx)
	t.logAccess(ctx, s)
}

// stream is one client connection and, once connected, its server's.
type stream struct {
	relay  *TCPRelay
	client net.Conn
	sni    string
	start  time.Time

	route    *TCPRoute
	server   *upstream.Server
	upstream net.Conn
	tried    balancer.Tried
	attempts int
	connect  time.Duration
	idle     time.Duration
	// bytesIn are the bytes from the client, bytesOut those to it; each
	// is written by its direction's goroutine and read after both ended.
	bytesIn, bytesOut int64
	// last is when a byte last moved either way, in UnixNano.
	last atomic.Int64
	// reason is why the stream ended; the first to set it wins.
	reason atomic.Int32
	once   sync.Once // closes both connections
}

// serve picks a route and a server, connects and relays.
func (s *stream) serve(ctx context.Context) {
	site := s.relay.site.Load()
	if site == nil {
		s.end(endNoRoute)
		return
	}
	s.idle = site.Idle
	if s.idle <= 0 {
		s.idle = defaultTCPIdle
	}
	id := 0
	if site.SNI != nil {
		var ok bool
		if id, ok = site.SNI.Match(s.sni); !ok {
			s.end(endNoRoute)
			return
		}
	}
	if id < 0 || id >= len(site.Routes) || site.Routes[id] == nil || site.Routes[id].Backend == nil {
		s.end(endNoRoute)
		return
	}
	s.route = site.Routes[id]
	if !s.dial(ctx) {
		return
	}
	srv := s.server
	defer srv.Release()
	// A drain of the server, or a reload that removes it, closes the
	// stream after its drain_timeout; a shutdown closes it at once.
	defer srv.Track(s)()
	stop := context.AfterFunc(ctx, func() { s.abort(endShutdown) })
	defer stop()
	s.relayBytes()
}

// dial connects to a server of the route's backend, trying others after
// a failed connect while the backend's retries allow.
func (s *stream) dial(ctx context.Context) bool {
	be := s.route.Backend
	failed := endNone
	var key uint64
	if be.HashKind != HashNone {
		key = balancer.HashString(clientHost(s.client.RemoteAddr().String()))
	}
	for {
		srv := be.Balancer.Pick(key, &s.tried)
		if srv == nil {
			if s.attempts == 0 {
				s.end(endNoHealthyServer)
			}
			s.end(failed) // the last failure's reason stands
			return false
		}
		s.tried.Add(srv)
		s.attempts++
		s.server = srv
		srv.Acquire()
		began := time.Now()
		conn, err := srv.DialStream(ctx, upstream.StreamOptions{
			ConnectTimeout: s.route.ConnectTimeout,
			Client:         s.client.RemoteAddr(),
			Listener:       s.client.LocalAddr(),
			SNI:            s.sni,
		})
		s.connect = time.Since(began)
		if err == nil {
			if be.Observe != nil {
				be.Observe(srv, true, "")
			}
			s.upstream = conn
			return true
		}
		srv.Release()
		srv.CountResponse(0)
		reason := endConnectError
		if de, ok := errors.AsType[*upstream.DialError](err); ok {
			reason = dialEnd(de.Reason)
		}
		if ctx.Err() != nil {
			s.end(endShutdown)
			return false
		}
		failed = reason
		if be.Observe != nil {
			be.Observe(srv, false, endNames[reason])
		}
		if s.attempts > be.Retries {
			s.end(failed)
			return false
		}
	}
}

// relayBytes copies both ways until both directions have ended, then
// closes both connections.
func (s *stream) relayBytes() {
	s.last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.bytesIn = s.pipe(s.upstream, s.client, endClientClosed, endClientReset, endUpstreamReset)
	}()
	s.bytesOut = s.pipe(s.client, s.upstream, endServerClosed, endUpstreamReset, endClientReset)
	<-done
	s.closeBoth()
}

// pipe copies src to dst until src ends. On src's end of stream it
// half-closes dst, so that the other side reads the end while the other
// direction goes on, and records eof as the reason if nothing ended the
// stream before. A read error ends the stream with readErr, a write
// error with writeErr; both, and an idle timeout, close both sides.
func (s *stream) pipe(dst, src net.Conn, eof, readErr, writeErr end) int64 {
	bp := s.relay.bufs.Get().(*[]byte)
	defer s.relay.bufs.Put(bp)
	buf := *bp
	var total int64
	idle := s.idle
	_ = src.SetReadDeadline(time.Now().Add(idle))
	for {
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			s.last.Store(now.UnixNano())
			_ = dst.SetWriteDeadline(now.Add(idle))
			w, werr := dst.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				s.abort(writeEnd(werr, writeErr))
				return total
			}
		}
		switch {
		case err == nil:
		case isTimeout(err):
			// A read deadline passed: the stream is idle only if the
			// other direction was too.
			last := time.Unix(0, s.last.Load())
			if time.Since(last) < idle {
				_ = src.SetReadDeadline(last.Add(idle))
				continue
			}
			s.abort(endIdleTimeout)
			return total
		case errors.Is(err, net.ErrClosed):
			s.abort(endShutdown) // closed under it: whoever did set the reason
			return total
		case isEOF(err):
			s.reason.CompareAndSwap(0, int32(eof))
			if cerr := closeWrite(dst); cerr != nil {
				s.abort(writeErr)
			}
			return total
		default:
			s.abort(readErr)
			return total
		}
	}
}

// Close ends the stream, for a drain or a removed server's
// drain_timeout (upstream.Server.Track).
func (s *stream) Close() error {
	s.abort(endDrainTimeout)
	return nil
}

// abort records why the stream ends, unless something else ended it
// first, and closes both connections, which unblocks both directions.
func (s *stream) abort(e end) {
	s.reason.CompareAndSwap(0, int32(e))
	s.closeBoth()
}

// end records why a stream ends that never reached a server.
func (s *stream) end(e end) { s.reason.CompareAndSwap(0, int32(e)) }

func (s *stream) closeBoth() {
	s.once.Do(func() {
		s.client.Close()
		if s.upstream != nil {
			s.upstream.Close()
		}
	})
}

// closeWrite half-closes c (shutdown(SHUT_WR)), looking through the
// wrappers a listener puts around a connection (a PROXY header reader, a
// replayed ClientHello); a connection that cannot be half-closed is left
// as it is, and closes with the stream.
func closeWrite(c net.Conn) error {
	for range 8 {
		switch v := c.(type) {
		case interface{ CloseWrite() error }:
			return v.CloseWrite()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		case interface{ Raw() net.Conn }:
			c = v.Raw()
		default:
			return nil
		}
	}
	return nil
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// writeEnd names a failed write: an idle one (the peer took no byte for
// the idle timeout) or the peer's reset.
func writeEnd(err error, reset end) end {
	switch {
	case isTimeout(err):
		return endIdleTimeout
	case errors.Is(err, net.ErrClosed):
		return endShutdown
	}
	return reset
}
