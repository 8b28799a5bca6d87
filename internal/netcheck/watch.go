package netcheck

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WatchOptions configure a Watch.
type WatchOptions struct {
	// Logger receives the findings and route changes; component=netcheck
	// is added.
	Logger *slog.Logger
	// Scope says what to check; it is called at each evaluation, since
	// listeners change with reloads.
	Scope func() Scope
	// NetNS is the network namespace to watch (tests); empty: the
	// process's own.
	NetNS string
	// Debounce is the quiet time after a route, address, link or
	// neighbour event before routes are evaluated. Default 100ms.
	Debounce time.Duration
	// MaxDelay bounds the delay of an evaluation while events keep
	// coming. Default 500ms.
	MaxDelay time.Duration
	// Resync is the period of an evaluation without events: deletions
	// are not always announced. Default 30s.
	Resync time.Duration
}

// Watch is the route watch of `portier run`: it checks the network at
// start, then re-evaluates the routes replies take on every change the
// kernel announces, logs each change of route once and counts it.
type Watch struct {
	o       WatchOptions
	log     *slog.Logger
	checker Checker
	changes atomic.Uint64
	latest  atomic.Pointer[[]Finding]

	// mu serialises evaluations and guards routes and published.
	mu        sync.Mutex
	routes    map[routeKey]Answer
	published []Finding
}

// NewWatch returns a watch that does not run yet.
func NewWatch(o WatchOptions) *Watch {
	if o.Debounce <= 0 {
		o.Debounce = 100 * time.Millisecond
	}
	if o.MaxDelay < o.Debounce {
		o.MaxDelay = max(500*time.Millisecond, o.Debounce)
	}
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.Scope == nil {
		o.Scope = func() Scope { return Scope{} }
	}
	return &Watch{o: o, log: o.Logger.With("component", "netcheck"), checker: Checker{NetNS: o.NetNS}}
}

// Findings returns the findings of the latest full check (nil before the
// first).
func (w *Watch) Findings() []Finding {
	if p := w.latest.Load(); p != nil {
		return *p
	}
	return nil
}

// RouteChanges counts the route changes logged since the watch started.
func (w *Watch) RouteChanges() uint64 { return w.changes.Load() }

// Check runs the full check now and publishes its findings.
func (w *Watch) Check(ctx context.Context) ([]Finding, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rep, err := w.checker.Check(ctx, w.o.Scope())
	if err != nil {
		return nil, err
	}
	w.publish(rep.Findings, false)
	return rep.Findings, nil
}

// Evaluate compares the routes replies take with the last evaluation,
// logging and counting each change; on a change, or when full, it runs the
// full check (connections included) and logs new findings.
func (w *Watch) Evaluate(ctx context.Context, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.o.Scope()
	rep, err := w.checker.check(ctx, s, full)
	if err != nil {
		w.log.Warn("network check failed", "error", err.Error())
		return
	}
	now := routeState(rep.Facts)
	changed := false
	if w.routes != nil {
		for _, c := range diffRoutes(w.routes, now, s.Listeners) {
			w.log.Warn("route changed", "from", c.from, "to", c.to, "listeners", c.listeners)
			w.changes.Add(1)
			changed = true
		}
	}
	w.routes = now
	if changed && !full {
		if rep, err = w.checker.check(ctx, s, true); err != nil {
			w.log.Warn("network check failed", "error", err.Error())
			return
		}
	}
	if full || changed {
		w.publish(rep.Findings, w.published == nil)
	}
}

// publish makes fs the latest findings and logs the warnings that are
// new and those that went away (at start, every finding).
func (w *Watch) publish(fs []Finding, start bool) {
	key := func(f Finding) string { return f.Code + " " + f.Address }
	old := map[string]bool{}
	for _, f := range w.published {
		old[key(f)] = true
	}
	now := map[string]bool{}
	for _, f := range fs {
		now[key(f)] = true
		switch {
		case f.Level == Warn && !old[key(f)]:
			w.log.Warn(f.Message, "code", f.Code, "address", f.Address)
		case start:
			w.log.Info(f.Message, "code", f.Code, "address", f.Address)
		}
	}
	for _, f := range w.published {
		if f.Level == Warn && !now[key(f)] {
			w.log.Info("network check: resolved", "code", f.Code, "address", f.Address)
		}
	}
	// A new slice each time: readers of latest keep theirs unchanged.
	cp := slices.Clone(fs)
	if cp == nil {
		cp = []Finding{}
	}
	w.published = cp
	w.latest.Store(&cp)
}

// routeKey is one route the watch follows: replies from Src to Dst, or
// with no Src the host's default route towards Dst.
type routeKey struct {
	src, dst netip.Addr
}

// routeState is the answers to the output-path lookups of a check.
func routeState(f *Facts) map[routeKey]Answer {
	m := map[routeKey]Answer{}
	for _, l := range f.Lookups {
		if q := l.Query; q.Iif == "" && q.Mark == 0 {
			m[routeKey{q.Src, q.Dst}] = l.Answer
		}
	}
	return m
}

// routeChange is one logged change: every followed route that went from
// the same old route to the same new one.
type routeChange struct {
	from, to  string
	listeners string
}

// diffRoutes lists the changes from old to now, one per distinct pair of
// old and new route, naming the listeners whose replies they move.
func diffRoutes(old, now map[routeKey]Answer, ls []Listener) []routeChange {
	keys := make([]routeKey, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b routeKey) int {
		if c := a.src.Compare(b.src); c != 0 {
			return c
		}
		return a.dst.Compare(b.dst)
	})
	var out []routeChange
	names := map[int][]string{}
	for _, k := range keys {
		before, ok := old[k]
		if !ok || before.String() == now[k].String() {
			continue
		}
		c := routeChange{from: before.String(), to: now[k].String()}
		i := slices.IndexFunc(out, func(x routeChange) bool { return x.from == c.from && x.to == c.to })
		if i < 0 {
			out = append(out, c)
			i = len(out) - 1
		}
		if k.src.IsValid() {
			for _, n := range listenersOn(k.src, ls) {
				if !slices.Contains(names[i], n) {
					names[i] = append(names[i], n)
				}
			}
		}
	}
	for i := range out {
		out[i].listeners = "none"
		if len(names[i]) > 0 {
			out[i].listeners = strings.Join(names[i], ", ")
		}
	}
	return out
}

// listenersOn names the listeners that accept on ip.
func listenersOn(ip netip.Addr, ls []Listener) []string {
	var out []string
	for _, l := range ls {
		host, _, err := net.SplitHostPort(l.Address)
		if err != nil {
			continue
		}
		a, err := netip.ParseAddr(host)
		switch {
		case host == "" || host == "::", host == "0.0.0.0" && ip.Is4(), err == nil && a.Unmap().WithZone("") == ip:
			out = append(out, l.Name)
		}
	}
	return out
}

// debounceDelay is how long to wait before evaluating, at now, for events
// that began at first: the quiet time d, but never past first+maxDelay.
func debounceDelay(first, now time.Time, d, maxDelay time.Duration) time.Duration {
	left := first.Add(maxDelay).Sub(now)
	return max(0, min(d, left))
}
