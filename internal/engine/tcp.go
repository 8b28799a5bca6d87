package engine

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/listener"
	"github.com/portier/portier/internal/proxy"
	"github.com/portier/portier/internal/router"
)

// tcpRunning is a tcp listener that is bound and serving.
type tcpRunning struct {
	name   string
	config config.Listener
	ln     *listener.TCP
	relay  *proxy.TCPRelay
	// prev is, in a reload's plan, the running listener this one takes
	// over from; kept says it is that listener itself, with new settings;
	// ownSocket that a fresh one bound its socket itself.
	prev      *tcpRunning
	kept      bool
	ownSocket bool
}

// buildTCPSite compiles the routing of tcp listener l: its own backend
// (plain TCP), or the routes that list it, by SNI (TLS passthrough).
func buildTCPSite(cfg *config.Config, l *config.Listener, backends map[string]*proxy.Backend) (*proxy.TCPSite, error) {
	site := &proxy.TCPSite{Idle: l.Timeouts.Idle.D()}
	route := func(name, backend string) *proxy.TCPRoute {
		return &proxy.TCPRoute{Name: name, Backend: backends[backend],
			ConnectTimeout: cfg.Backend(backend).Timeouts.Connect.D()}
	}
	if l.Backend != "" {
		site.Routes = []*proxy.TCPRoute{route("", l.Backend)}
		return site, nil
	}
	var specs []router.SNIRoute
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		if !containsName(r.Listeners, l.Name) {
			continue
		}
		specs = append(specs, router.SNIRoute{ID: len(site.Routes), Names: r.SNI})
		site.Routes = append(site.Routes, route(r.Name, r.Backend))
	}
	sni, err := router.NewSNI(specs)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	site.SNI = sni
	return site, nil
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// newTCPRunning makes and binds tcp listener lc of snap, on inherited
// when it is set.
func (e *Engine) newTCPRunning(lc config.Listener, snap *Snapshot, inherited net.Listener) (*tcpRunning, error) {
	relay := e.newRelay(lc, snap)
	sock, release, err := e.socket(lc, inherited)
	if err != nil {
		return nil, err
	}
	ln, err := listener.NewTCP(listener.TCPOptions{
		Config:      lc,
		Handler:     relay,
		Logger:      e.opts.Logger.With("component", "listener", "listener", lc.Name),
		Inherited:   sock,
		Counts:      e.tcpCounts.of(lc.Name),
		ProxyCounts: e.proxyCounts.of(lc.Name),
	})
	if err == nil {
		err = ln.Listen()
	}
	if err != nil {
		release()
		return nil, err
	}
	return &tcpRunning{name: lc.Name, config: lc, ln: ln, relay: relay}, nil
}

func (e *Engine) newRelay(lc config.Listener, snap *Snapshot) *proxy.TCPRelay {
	return proxy.NewTCPRelay(proxy.TCPOptions{
		Listener:  lc.Name,
		Logger:    e.opts.Logger.With("listener", lc.Name),
		AccessLog: e.opts.AccessLog,
	}, snap.TCPSites[lc.Name])
}

// startTCP starts serving ts, bound by newTCPRunning.
func (e *Engine) startTCP(ts []*tcpRunning) {
	for _, t := range ts {
		e.serving.Add(1)
		go e.serveListener(t.ln.Serve)
		e.opts.Logger.Info("listening", "listener", t.name, "address", t.ln.Addr().String())
	}
}

// closeTCP closes tcp listeners that never served, or must stop now.
func closeTCP(ts []*tcpRunning) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, t := range ts {
		_ = t.ln.Shutdown(ctx)
	}
}

// tcpPlan is how each tcp listener of a new configuration is served.
type tcpPlan struct {
	next []*tcpRunning
	// fresh must start serving; retire stop accepting. handedOff are
	// retiring listeners whose socket another listener now serves.
	fresh, retire []*tcpRunning
	handedOff     map[*tcpRunning]bool
	// fromHTTP are running HTTP listeners whose socket a tcp listener of
	// the new configuration took over (the address changed protocol).
	fromHTTP map[*running]bool
	// olds are the tcp listeners of the running configuration.
	olds []*tcpRunning
}

// planTCP matches each new tcp listener with a running one by address.
// With the same PROXY protocol settings the running listener is kept, its
// streams untouched, and takes the new routing and timeouts; otherwise a
// new listener takes over the same socket and the old one retires,
// letting its streams run on. An address an HTTP listener held is taken
// over from it. Every bind happens here, so that a conflict fails the
// reload before anything changed.
func (e *Engine) planTCP(snap *Snapshot, olds []*tcpRunning, https []*running) (*tcpPlan, error) {
	p := &tcpPlan{handedOff: map[*tcpRunning]bool{}, fromHTTP: map[*running]bool{}, olds: olds}
	used := map[*tcpRunning]bool{}
	for i := range snap.Config.Listeners {
		lc := snap.Config.Listeners[i]
		if lc.Protocol != config.ProtocolTCP {
			continue
		}
		var prev *tcpRunning
		for _, t := range olds {
			if t.config.Address == lc.Address && !used[t] {
				prev = t
				break
			}
		}
		if prev != nil {
			used[prev] = true
			if sameProxyProtocol(prev.config.ProxyProtocol, lc.ProxyProtocol) {
				p.next = append(p.next, &tcpRunning{name: lc.Name, config: lc, ln: prev.ln, relay: prev.relay, prev: prev, kept: true})
				continue
			}
		}
		inherited, err := p.socketFor(lc.Address, prev, https, snap.Config)
		if err != nil {
			p.abort()
			return nil, fmt.Errorf("listeners[%d] (%s): %w", i, lc.Name, err)
		}
		t, err := e.newTCPRunning(lc, snap, inherited)
		if err != nil {
			p.abort()
			return nil, fmt.Errorf("listeners[%d]: %w", i, err)
		}
		t.prev, t.ownSocket = prev, inherited == nil
		p.next = append(p.next, t)
		p.fresh = append(p.fresh, t)
		if prev != nil {
			p.retire = append(p.retire, prev)
			p.handedOff[prev] = true
		}
	}
	for _, t := range olds {
		if !used[t] {
			p.retire = append(p.retire, t)
		}
	}
	return p, nil
}

// socketFor returns a copy of the running socket of address a new tcp
// listener takes over: prev's, or an HTTP listener's that no HTTP
// listener of cfg keeps; nil when there is none and it must bind.
func (p *tcpPlan) socketFor(address string, prev *tcpRunning, https []*running, cfg *config.Config) (net.Listener, error) {
	if prev != nil {
		return prev.ln.Dup()
	}
	if strings.HasSuffix(address, ":0") {
		return nil, nil // a port of its own each time
	}
	for _, r := range https {
		if r.config.Address != address || p.fromHTTP[r] || httpAt(cfg, address) != nil {
			continue
		}
		dup, err := r.ln.Dup()
		if err != nil {
			return nil, err
		}
		p.fromHTTP[r] = true
		return dup, nil
	}
	return nil, nil
}

// httpAt returns the http or https listener of cfg at address, or nil.
func httpAt(cfg *config.Config, address string) *config.Listener {
	for i := range cfg.Listeners {
		if l := &cfg.Listeners[i]; l.Address == address && l.Protocol != config.ProtocolTCP {
			return l
		}
	}
	return nil
}

// socketForHTTP returns a copy of the socket of a running tcp listener at
// address that no tcp listener of the new configuration keeps, for an
// HTTP listener that takes the address over (the address changed
// protocol); nil when there is none.
func (p *tcpPlan) socketForHTTP(address string) (net.Listener, error) {
	if p == nil || strings.HasSuffix(address, ":0") {
		return nil, nil
	}
	for _, t := range p.retire {
		if t.config.Address == address && !p.handedOff[t] {
			dup, err := t.ln.Dup()
			if err != nil {
				return nil, err
			}
			p.handedOff[t] = true
			return dup, nil
		}
	}
	return nil, nil
}

// abort closes the sockets bound for a plan that will not be committed.
func (p *tcpPlan) abort() {
	if p == nil {
		return
	}
	for _, t := range p.fresh {
		if t.ownSocket {
			t.ln.Unbind()
		}
	}
	closeTCP(p.fresh)
}

// commitTCP makes p's tcp listeners the running ones: the kept ones take
// the new routing and timeouts, new ones start serving, and the others
// stop accepting. A listener that hands its socket to another lets its
// streams run on until they end; one removed for good gives them the
// configuration's shutdown_timeout.
func (e *Engine) commitTCP(snap *Snapshot, p *tcpPlan) {
	for _, t := range p.next {
		if !t.kept {
			continue
		}
		t.ln.SetConfig(t.config)
		if t.prev.name == t.name {
			t.relay.Swap(snap.TCPSites[t.name])
		} else {
			// The access log names the listener: a renamed one gets a
			// relay of its own.
			t.relay = e.newRelay(t.config, snap)
			t.ln.SetHandler(t.relay)
		}
		t.prev = nil
	}
	for _, t := range p.fresh {
		t.prev = nil
	}
	e.mu.Lock()
	e.tcps = p.next
	e.mu.Unlock()
	e.startTCP(p.fresh)
	grace := snap.Config.ShutdownTimeout.D()
	for _, t := range p.retire {
		handedOff := p.handedOff[t]
		t.ln.StopAccepting(!handedOff) // at once, as for HTTP listeners
		e.retiring.Add(1)
		go func() {
			defer e.retiring.Done()
			ctx, cancel := e.stopping, context.CancelFunc(func() {})
			if !handedOff {
				ctx, cancel = context.WithTimeout(e.stopping, grace)
			}
			defer cancel()
			if err := t.ln.Retire(ctx, !handedOff); err != nil && e.stopping.Err() == nil {
				e.opts.Logger.Info("removed listener closed its streams", "listener", t.name, "error", err.Error())
			}
		}()
	}
}
