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
	"sync"

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
}

// Engine runs one configuration's listeners.
type Engine struct {
	opts Options

	mu        sync.Mutex // guards everything below
	snap      *Snapshot
	listeners []*running
	serving   sync.WaitGroup
	serveErr  chan error
}

// running is a listener that is bound and serving.
type running struct {
	name    string
	ln      *listener.Listener
	handler *proxy.Handler
}

// New returns an engine that runs nothing yet.
func New(o Options) *Engine {
	return &Engine{opts: o, serveErr: make(chan error, 1)}
}

// Start builds cfg and binds every listener; only when all of them are bound
// does it start serving. On any error nothing is left listening.
func (e *Engine) Start(cfg *config.Config) error {
	snap, err := Build(cfg)
	if err != nil {
		return err
	}
	var rs []*running
	closeAll := func() {
		// Shutdown with a context already done closes at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, r := range rs {
			_ = r.ln.Shutdown(ctx)
		}
	}
	for i := range cfg.Listeners {
		lc := cfg.Listeners[i]
		h := proxy.NewHandler(proxy.Options{
			Listener:       lc.Name,
			TLS:            lc.Protocol == config.ProtocolHTTPS,
			TrustedProxies: trusted(lc.TrustedProxies),
			Via:            lc.Via,
			Forwarded:      lc.Forwarded,
			Logger:         e.opts.Logger.With("component", "proxy", "listener", lc.Name),
			AccessLog:      e.opts.AccessLog,
		}, snap.Sites[lc.Name])
		ln, err := listener.New(listener.Options{
			Config:  lc,
			Handler: h,
			TLS:     snap.TLS[lc.Name],
			Logger:  e.opts.Logger.With("component", "listener", "listener", lc.Name),
		})
		if err == nil {
			err = ln.Listen()
		}
		if err != nil {
			closeAll()
			return fmt.Errorf("listeners[%d]: %w", i, err) // the listener names itself
		}
		rs = append(rs, &running{name: lc.Name, ln: ln, handler: h})
	}
	snap.startResolvers(e.opts.Logger)
	if err := snap.startHealth(e.opts.Logger); err != nil {
		closeAll()
		return err
	}
	e.mu.Lock()
	e.snap = snap
	e.listeners = rs
	e.mu.Unlock()
	for _, r := range rs {
		e.serving.Add(1)
		go e.serve(r)
		e.opts.Logger.Info("listening", "listener", r.name, "address", r.ln.Addr().String())
	}
	return nil
}

func (e *Engine) serve(r *running) {
	defer e.serving.Done()
	if err := r.ln.Serve(); err != nil {
		select {
		case e.serveErr <- fmt.Errorf("listener %s: %w", r.name, err):
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
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	rs, snap := e.listeners, e.snap
	e.listeners = nil
	e.mu.Unlock()
	if snap != nil {
		defer snap.stopHealth()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(rs))
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.ln.Shutdown(ctx)
			r.handler.CloseTunnels()
		}()
	}
	wg.Wait()
	e.serving.Wait()
	return errors.Join(errs...)
}

func buildListenerTLS(c *config.ListenerTLS) (*tls.Config, error) {
	if c == nil {
		return nil, errors.New("tls: no certificates")
	}
	return listener.BuildTLS(c)
}
