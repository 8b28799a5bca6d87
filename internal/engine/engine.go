// Package engine turns a configuration into a running proxy: it builds an
// immutable Snapshot (certificates loaded, servers and balancers created,
// routing compiled) before anything listens, then binds every listener and
// serves, and on shutdown drains them.
//
// It wires the data-path packages together and must not import providers or
// the admin API; those call into it.
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/listener"
	"github.com/portier/portier/internal/proxy"
)

// Options configure an Engine.
type Options struct {
	// Logger is the process log. Required.
	Logger *slog.Logger
	// AccessLog receives one line per request; nil turns it off.
	AccessLog *slog.Logger
	// Restore, when set, is called at Start with the built snapshot
	// before anything checks or serves, to apply saved runtime state (see
	// Snapshot.Restore). Nil: servers start in their configured state.
	Restore func(*Snapshot)
	// Listen, when set, binds every listener's socket instead of
	// net.Listen, for a binary upgrade that hands sockets to a new process
	// (it may return one inherited from the old process). Nil: net.Listen.
	Listen func(network, address string) (net.Listener, error)
	// OnStateChange, when set, is called after a server's health or
	// weight changed by its checks, and after a reload, so that runtime
	// state can be saved. It must not block. Nil: not called.
	OnStateChange func()
	// SampleTrace and OnSpan are proxy.Options': whether a new trace is
	// sampled (nil: all are) and where finished sampled requests go (nil:
	// nowhere).
	SampleTrace func(proxy.TraceID) bool
	OnSpan      func(*proxy.Span)
}

// Engine runs one configuration's listeners.
type Engine struct {
	opts Options

	// reloadMu makes reloads run one at a time.
	reloadMu sync.Mutex

	mu   sync.Mutex // guards snap, listeners, tcps, retired, history, stats and stopped
	snap *Snapshot
	// stopped is set by Shutdown and Handover: a reload racing them (a
	// SIGHUP, a file change) must not start listeners again.
	stopped   bool
	listeners []*running
	// tcps are the tcp listeners (tcp.go).
	tcps []*tcpRunning
	// retired are proxy handlers replaced by a reload whose WebSockets may
	// still run; Shutdown closes them.
	retired  []*proxy.Handler
	history  []ReloadResult
	stats    ReloadStats
	serving  sync.WaitGroup
	serveErr chan error
	// retiring counts listeners a reload retired that still have
	// connections; stopping ends their grace when the engine shuts down.
	retiring     sync.WaitGroup
	stopping     context.Context
	stopRetiring context.CancelFunc
	// proxyCounts keeps the listeners' PROXY protocol counts across reloads.
	proxyCounts countsByName[listener.ProxyCounts]
	// tcpCounts keeps the tcp listeners' counts across reloads.
	tcpCounts countsByName[listener.TCPCounts]
	// requests and failures watch requests across reloads (observe.go).
	requests *proxy.Stats
	failures *proxy.FailureLog
}

// running is a listener that is bound and serving.
type running struct {
	name    string
	config  config.Listener
	ln      *listener.Listener
	handler *proxy.Handler
	// handlerConfig is the configuration handler was made for.
	handlerConfig config.Listener
	// prev is, in a reload's plan, the running listener this one takes
	// over from; fromTCP says it took its socket from a tcp listener.
	prev    *running
	fromTCP bool
}

// New returns an engine that runs nothing yet.
func New(o Options) *Engine {
	e := &Engine{opts: o, serveErr: make(chan error, 1),
		requests: proxy.NewStats(), failures: proxy.NewFailureLog(0)}
	e.stopping, e.stopRetiring = context.WithCancel(context.Background())
	return e
}

// Start builds cfg and binds every listener; only when all of them are bound
// does it start serving. On any error nothing is left listening.
func (e *Engine) Start(cfg *config.Config) error {
	snap, err := Build(cfg)
	if err != nil {
		return err
	}
	snap.notify = e.opts.OnStateChange
	e.observe(snap)
	if e.opts.Restore != nil {
		e.opts.Restore(snap)
	}
	var rs []*running
	var ts []*tcpRunning
	closeAll := func() {
		// Shutdown with a context already done closes at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, r := range rs {
			_ = r.ln.Shutdown(ctx)
		}
		closeTCP(ts)
	}
	for i := range cfg.Listeners {
		if cfg.Listeners[i].Protocol == config.ProtocolTCP {
			t, err := e.newTCPRunning(cfg.Listeners[i], snap, nil)
			if err != nil {
				closeAll()
				return fmt.Errorf("listeners[%d]: %w", i, err)
			}
			ts = append(ts, t)
			continue
		}
		r, err := e.newRunning(cfg.Listeners[i], snap, nil, nil)
		if err != nil {
			closeAll()
			return fmt.Errorf("listeners[%d]: %w", i, err) // the listener names itself
		}
		rs = append(rs, r)
	}
	snap.startResolvers(e.opts.Logger)
	if err := snap.startHealth(e.opts.Logger); err != nil {
		closeAll()
		return err
	}
	e.mu.Lock()
	e.snap = snap
	e.listeners = rs
	e.tcps = ts
	e.stats.LastSuccess = time.Now()
	e.mu.Unlock()
	for _, r := range rs {
		e.serving.Add(1)
		go e.serve(r)
		e.opts.Logger.Info("listening", "listener", r.name, "address", r.ln.Addr().String())
	}
	e.startTCP(ts)
	return nil
}

// newRunning makes and binds the listener lc of snap, on inherited and
// with the handler h when they are set.
func (e *Engine) newRunning(lc config.Listener, snap *Snapshot, inherited net.Listener, h *proxy.Handler) (*running, error) {
	if h == nil {
		h = e.newHandler(lc, snap)
	}
	sock, release, err := e.socket(lc, inherited)
	if err != nil {
		return nil, err
	}
	ln, err := listener.New(listener.Options{
		Config:      lc,
		Handler:     h,
		TLS:         snap.TLS[lc.Name],
		Logger:      e.opts.Logger.With("component", "listener", "listener", lc.Name),
		Inherited:   sock,
		ProxyCounts: e.proxyCounts.of(lc.Name),
	})
	if err == nil {
		err = ln.Listen()
	}
	if err != nil {
		release()
		return nil, err
	}
	return &running{name: lc.Name, config: lc, ln: ln, handler: h, handlerConfig: lc}, nil
}

// socket returns the socket that listener lc is to serve: inherited when
// it is set (a copy of a socket another listener serves), else one from
// Options.Listen, else nil for the listener to bind. release closes it
// when the listener cannot be made after all; a socket from Options.Listen
// also stops listening, in every process that holds it.
func (e *Engine) socket(lc config.Listener, inherited net.Listener) (sock net.Listener, release func(), err error) {
	switch {
	case inherited != nil:
		return inherited, func() { inherited.Close() }, nil
	case e.opts.Listen == nil:
		return nil, func() {}, nil
	}
	ln, err := e.opts.Listen("tcp", lc.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("listener %s: %w", lc.Name, err)
	}
	return ln, func() { _ = listener.CloseSocket(ln) }, nil
}

func (e *Engine) newHandler(lc config.Listener, snap *Snapshot) *proxy.Handler {
	return proxy.NewHandler(proxy.Options{
		Listener:       lc.Name,
		TLS:            lc.Protocol == config.ProtocolHTTPS,
		TrustedProxies: trusted(lc.TrustedProxies),
		Via:            lc.Via,
		Forwarded:      lc.Forwarded,
		Logger:         e.opts.Logger.With("component", "proxy", "listener", lc.Name),
		AccessLog:      e.opts.AccessLog,
		CloseConn:      closing,
		SampleTrace:    e.opts.SampleTrace,
		OnSpan:         e.opts.OnSpan,
		Failures:       e.failures,
	}, snap.Sites[lc.Name])
}

// closing reports whether r's connection belongs to a retiring listener.
func closing(r *http.Request) bool { return listener.Closing(r.Context()) }

func (e *Engine) serve(r *running) { e.serveListener(r.ln.Serve) }

// serveListener runs serve, a listener's Serve, until it returns, and
// delivers on Err the first error that stopped a listener serving.
func (e *Engine) serveListener(serve func() error) {
	defer e.serving.Done()
	if err := serve(); err != nil {
		select {
		case e.serveErr <- err: // the listener's errors name it
		default:
		}
	}
}

// Err delivers the first error that stopped a listener serving.
func (e *Engine) Err() <-chan error { return e.serveErr }

// Addr returns the bound address of the named listener, or nil.
func (e *Engine) Addr(name string) net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.listeners {
		if r.name == name {
			return r.ln.Addr()
		}
	}
	for _, t := range e.tcps {
		if t.name == name {
			return t.ln.Addr()
		}
	}
	return nil
}

// Snapshot returns the configuration being served.
func (e *Engine) Snapshot() *Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.snap
}

// Shutdown stops accepting on every listener, lets in-flight requests finish
// until ctx ends, then closes what remains, WebSocket tunnels included.
func (e *Engine) Shutdown(ctx context.Context) error { return e.stop(ctx, false) }

// Handover stops this engine after a binary upgrade handed its sockets to
// a new process: it stops accepting (the new process accepts on the same
// sockets), answers each open connection's next request with
// "Connection: close" rather than closing idle keep-alive connections
// under their clients, and once they are done, or ctx ends, stops as
// Shutdown does.
func (e *Engine) Handover(ctx context.Context) error { return e.stop(ctx, true) }

func (e *Engine) stop(ctx context.Context, handover bool) error {
	e.reloadMu.Lock() // no reload may start listeners now
	defer e.reloadMu.Unlock()
	e.mu.Lock()
	rs, snap, retired, ts := e.listeners, e.snap, e.retired, e.tcps
	e.listeners, e.retired, e.tcps, e.stopped = nil, nil, nil, true
	e.mu.Unlock()
	if snap != nil {
		defer snap.stopHealth()
	}
	lns := make([]stopper, 0, len(rs)+len(ts))
	for _, r := range rs {
		lns = append(lns, r.ln)
	}
	for _, t := range ts {
		lns = append(lns, t.ln)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, ln := range lns {
		wg.Go(func() { errs[i] = stopListener(ctx, ln, handover) })
	}
	wg.Wait()
	if handover {
		// The new process takes new connections; WebSockets here get the
		// grace to finish before they are closed.
		waitTunnels(ctx, rs, retired)
	}
	for _, r := range rs {
		r.handler.CloseTunnels()
	}
	e.stopRetiring()
	e.retiring.Wait()
	for _, h := range retired {
		h.CloseTunnels()
	}
	e.serving.Wait()
	return errors.Join(errs...)
}

// stopper is a listener, HTTP or tcp, as the engine stops it.
type stopper interface {
	Retire(ctx context.Context, unbind bool) error
	Unbind()
	Shutdown(ctx context.Context) error
}

// stopListener stops ln when the engine stops: on a hand-over it retires,
// its socket left listening for the new process; otherwise its socket
// stops listening and it shuts down. Either way its connections may
// finish until ctx ends.
func stopListener(ctx context.Context, ln stopper, handover bool) error {
	if handover {
		return ln.Retire(ctx, false)
	}
	ln.Unbind()
	return ln.Shutdown(ctx)
}

// waitTunnels waits until no WebSocket is open on the handlers of rs and
// retired, or ctx ends.
func waitTunnels(ctx context.Context, rs []*running, retired []*proxy.Handler) {
	open := func() bool {
		for _, r := range rs {
			if r.handler.Tunnels() > 0 {
				return true
			}
		}
		for _, h := range retired {
			if h.Tunnels() > 0 {
				return true
			}
		}
		return false
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for open() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func buildListenerTLS(c *config.ListenerTLS) (*tls.Config, error) {
	if c == nil {
		return nil, errors.New("tls: no certificates")
	}
	return listener.BuildTLS(c)
}
