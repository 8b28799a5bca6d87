package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/proxy"
	"github.com/portier/portier/internal/state"
	"github.com/portier/portier/internal/upstream"
)

// ReloadResult is the outcome of one reload.
type ReloadResult struct {
	// At is when the reload was asked for; Took how long it took until the
	// new configuration served (or the reload failed).
	At   time.Time
	Took time.Duration
	// Diff is what changed; empty when the configuration is the same, or
	// when it could not be loaded.
	Diff config.Diff
	// Err is why the reload was refused; the old configuration still
	// serves. A config.Errors lists every problem with its place.
	Err error
}

// OK reports whether the new configuration serves (or was the same).
func (r ReloadResult) OK() bool { return r.Err == nil }

// ReloadStats count reloads for metrics.
type ReloadStats struct {
	OK, Failed  uint64
	LastSuccess time.Time
}

// historySize is how many reload results History keeps.
const historySize = 20

// Reload loads a configuration with load and swaps it in, or keeps the
// running one whole if loading or building it fails. Reloads run one at a
// time.
//
// What the swap keeps: requests in flight finish on the routing they
// started with; a listener whose address stays keeps its socket and its
// client connections (another address, or protocol settings that need a
// new server, get a new one on the same socket, so no connection is
// refused); servers whose identity is unchanged keep their connection
// pools, health and operator state; WebSockets whose server still exists
// are never cut. A removed listener stops accepting and drains; the
// WebSockets of a removed server are closed after its drain_timeout.
func (e *Engine) Reload(load func() (*config.Config, error)) ReloadResult {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	res := ReloadResult{At: time.Now()}
	cfg, err := load()
	if err == nil {
		res.Diff, err = e.swap(cfg)
	}
	res.Err = err
	res.Took = time.Since(res.At)
	e.record(res)
	return res
}

// History returns the last reloads, oldest first.
func (e *Engine) History() []ReloadResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.history)
}

// ReloadStats returns the reload counters.
func (e *Engine) ReloadStats() ReloadStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

func (e *Engine) record(res ReloadResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if res.OK() {
		e.stats.OK++
		e.stats.LastSuccess = res.At
	} else {
		e.stats.Failed++
	}
	if len(e.history) == historySize {
		e.history = slices.Delete(e.history, 0, 1)
	}
	e.history = append(e.history, res)
}

// swap builds cfg next to the running snapshot and, when everything built
// and bound, makes it the running one.
func (e *Engine) swap(cfg *config.Config) (config.Diff, error) {
	e.mu.Lock()
	old, olds, oldTCP, stopped := e.snap, e.listeners, e.tcps, e.stopped
	e.mu.Unlock()
	if old == nil || stopped {
		return config.Diff{}, errors.New("reload: the engine is not running")
	}
	diff := config.Compare(old.Config, cfg)
	if diff.Empty() {
		return diff, nil
	}
	prev := carry(old)
	snap, err := build(cfg, prev)
	if err != nil {
		return diff, err
	}
	snap.notify = e.opts.OnStateChange
	e.observe(snap)
	tplan, err := e.planTCP(snap, oldTCP, olds)
	if err != nil {
		return diff, err
	}
	plan, err := e.planListeners(snap, olds, tplan)
	if err != nil {
		tplan.abort()
		return diff, err
	}
	// Past this point nothing fails but the health checks' start, which
	// Build has already vetted; if it does fail, the old checks resume.
	snap.startResolvers(e.opts.Logger)
	old.stopHealth()
	if err := snap.startHealth(e.opts.Logger); err != nil {
		snap.stopHealth()
		plan.abort()
		tplan.abort()
		if rerr := old.startHealth(e.opts.Logger); rerr != nil {
			e.opts.Logger.Error("health checks could not be restarted", "error", rerr.Error())
		}
		old.startResolvers(e.opts.Logger)
		return diff, err
	}
	e.commit(snap, plan)
	e.commitTCP(snap, tplan)
	e.forget(snap)
	for _, b := range snap.Backends {
		b.Balancer.Reweight()
	}
	e.retireServers(old, snap, prev)
	_, dropped, _ := state.Match(old.RuntimeState(), identityOf(cfg))
	LogDropped(e.opts.Logger, "a reload changed the server: its runtime state is dropped, it starts afresh", dropped)
	e.opts.Logger.Info("configuration reloaded", "changes", strings.TrimSuffix(diff.String(), "\n"))
	if e.opts.OnStateChange != nil {
		e.opts.OnStateChange()
	}
	return diff, nil
}

// listenerPlan is how each listener of the new configuration is served.
type listenerPlan struct {
	next []*running
	// fresh are the listeners of next that must start serving; retire are
	// those of the old configuration that stop accepting.
	fresh, retire []*running
	// toTCP are retiring listeners whose socket a tcp listener took over.
	toTCP map[*running]bool
}

// abort closes the sockets bound for a plan that will not be committed.
func (p *listenerPlan) abort() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range p.fresh {
		if r.prev == nil && !r.fromTCP { // a socket of its own, not one it shares
			r.ln.Unbind()
		}
		_ = r.ln.Shutdown(ctx)
	}
}

// planListeners matches each new listener with a running one by address.
// With the same server settings the running listener is kept: its
// connections stay open and see the new routing at their next request.
// With other settings a new server takes over the same socket and the old
// one retires, closing each connection after its next response. A new
// address is bound, unless a tcp listener of the running configuration
// that tp (nil: none) does not keep held it. Every bind happens here, so
// a conflict fails the reload before anything changed. tcp listeners are
// planned by planTCP.
func (e *Engine) planListeners(snap *Snapshot, olds []*running, tp *tcpPlan) (*listenerPlan, error) {
	p := &listenerPlan{}
	used := make(map[*running]bool)
	if tp != nil {
		p.toTCP = tp.fromHTTP
	}
	for r := range p.toTCP {
		used[r] = true // retires; a tcp listener serves its socket
	}
	for i := range snap.Config.Listeners {
		lc := snap.Config.Listeners[i]
		if lc.Protocol == config.ProtocolTCP {
			continue // see planTCP
		}
		prev := findListener(olds, lc.Address, used)
		if prev != nil {
			used[prev] = true
		}
		if prev != nil && sameServer(&prev.config, &lc) {
			p.next = append(p.next, &running{name: lc.Name, config: lc, ln: prev.ln,
				handler: prev.handler, handlerConfig: prev.handlerConfig, prev: prev})
			continue
		}
		var inherited net.Listener
		var h *proxy.Handler
		if prev != nil {
			dup, err := prev.ln.Dup()
			if err != nil {
				p.abort()
				return nil, fmt.Errorf("listeners[%d] (%s): %w", i, lc.Name, err)
			}
			inherited = dup
			if sameHandler(&prev.handlerConfig, &lc) {
				h = prev.handler
			}
		} else {
			// The address may have been a tcp listener's.
			dup, err := tp.socketForHTTP(lc.Address)
			if err != nil {
				p.abort()
				return nil, fmt.Errorf("listeners[%d] (%s): %w", i, lc.Name, err)
			}
			inherited = dup
		}
		r, err := e.newRunning(lc, snap, inherited, h)
		if err != nil {
			p.abort()
			return nil, fmt.Errorf("listeners[%d]: %w", i, err)
		}
		r.prev, r.fromTCP = prev, prev == nil && inherited != nil
		p.next = append(p.next, r)
		p.fresh = append(p.fresh, r)
		if prev != nil {
			p.retire = append(p.retire, prev)
		}
	}
	for _, r := range olds {
		if !used[r] || p.toTCP[r] {
			p.retire = append(p.retire, r)
		}
	}
	return p, nil
}

func findListener(rs []*running, address string, used map[*running]bool) *running {
	for _, r := range rs {
		if r.config.Address == address && !used[r] {
			return r
		}
	}
	return nil
}

// sameServer reports whether two listeners make the same HTTP server: a
// change of protocol, h2c, timeouts, limits or PROXY protocol accept needs
// a new one. Routing, certificates and forwarding options are swapped on
// the running one.
func sameServer(a, b *config.Listener) bool {
	return a.Protocol == b.Protocol && a.H2C == b.H2C && a.Timeouts == b.Timeouts && a.Limits == b.Limits &&
		sameProxyProtocol(a.ProxyProtocol, b.ProxyProtocol)
}

// commit makes snap and plan the running configuration.
func (e *Engine) commit(snap *Snapshot, p *listenerPlan) {
	// A retired listener whose socket a new one took over must leave the
	// socket listening; a removed one takes it out of listening.
	handedOff := make(map[*running]bool)
	for _, r := range p.fresh {
		if r.prev != nil {
			handedOff[r.prev] = true
		}
	}
	for _, r := range p.next {
		r.ln.SetTLS(snap.TLS[r.name])
		switch {
		case r.prev != nil && r.handler == r.prev.handler && sameHandler(&r.config, &r.handlerConfig):
			r.handler.Swap(snap.Sites[r.name])
		case r.prev != nil && r.handler == r.prev.handler:
			e.retireHandler(r.handler)
			r.handler = e.newHandler(r.config, snap)
			r.handlerConfig = r.config
			r.ln.SetHandler(r.handler)
		case r.prev != nil:
			// A new handler on a new server: the retiring server's
			// remaining requests take the new routing too.
			r.prev.ln.SetHandler(r.handler)
		}
		r.prev = nil
	}
	e.mu.Lock()
	e.snap = snap
	e.listeners = p.next
	e.mu.Unlock()
	for _, r := range p.fresh {
		e.serving.Add(1)
		go e.serve(r)
		e.opts.Logger.Info("listening", "listener", r.name, "address", r.ln.Addr().String())
	}
	grace := snap.Config.ShutdownTimeout.D()
	for _, r := range p.retire {
		unbind := !handedOff[r] && !p.toTCP[r]
		if !slices.ContainsFunc(p.next, func(n *running) bool { return n.handler == r.handler }) {
			e.retireHandler(r.handler)
		}
		// Stop accepting now, so that a connection made once Reload has
		// returned meets the new configuration; drain in the background.
		r.ln.StopAccepting(unbind)
		e.retiring.Add(1)
		go func() {
			defer e.retiring.Done()
			ctx, cancel := context.WithTimeout(e.stopping, r.config.Timeouts.Idle.D()+grace)
			defer cancel()
			if err := r.ln.Retire(ctx, unbind); err != nil && e.stopping.Err() == nil {
				e.opts.Logger.Warn("retired listener", "listener", r.name, "error", err.Error())
			}
		}()
	}
}

// sameHandler reports whether two listeners make the same proxy handler
// but for its routing, which is swapped in place.
func sameHandler(a, b *config.Listener) bool {
	return a.Name == b.Name && a.Protocol == b.Protocol && a.Via == b.Via && a.Forwarded == b.Forwarded &&
		slices.Equal(a.TrustedProxies, b.TrustedProxies)
}

// retireHandler keeps h until the engine shuts down or its WebSockets end:
// its tunnels belong to servers that may still exist.
func (e *Engine) retireHandler(h *proxy.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	live := e.retired[:0]
	for _, r := range e.retired {
		if r.Tunnels() > 0 {
			live = append(live, r)
		}
	}
	e.retired = append(live, h)
}

// retireServers closes, after their backend's drain_timeout, the
// long-lived connections and idle pools of the servers of old that snap no
// longer has (removed, or replaced because their identity changed). A
// server replaced only for a new pool keeps its long-lived connections:
// it is the same server.
func (e *Engine) retireServers(old, snap *Snapshot, prev carried) {
	still := make(map[*upstream.Server]bool)
	for _, b := range snap.Backends {
		for _, s := range b.Servers {
			still[s] = true
		}
	}
	for i := range old.Config.Backends {
		bc := &old.Config.Backends[i]
		var gone []*upstream.Server
		for _, s := range old.Backends[bc.Name].Servers {
			if !still[s] {
				s.SetAdmin(upstream.Draining)
				gone = append(gone, s)
			}
		}
		if len(gone) == 0 {
			continue
		}
		time.AfterFunc(bc.DrainTimeout.D(), func() {
			for _, s := range gone {
				if prev.continued(s) {
					closeIdle(s)
					continue
				}
				if n := s.CloseLongLived(); n > 0 {
					e.opts.Logger.Info("closed long-lived connections of a removed server",
						"backend", s.Backend, "server", s.Name, "connections", n)
				}
				closeIdle(s)
			}
		})
	}
}

func closeIdle(s *upstream.Server) {
	if t, ok := s.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}
