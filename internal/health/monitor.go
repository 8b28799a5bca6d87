// Package health decides whether each server of a backend may take
// traffic: active checks (HTTP or TCP connect) with HAProxy's rise, fall and
// interval semantics, passive ejection of servers that fail real traffic,
// and the slow-start ramp of a server's effective weight once it is up.
//
// It writes server state and effective weight only, through
// upstream.Server, and tells its caller through Options.OnChange. It
// imports config and upstream and nothing else of Portier's; it must not
// import the proxy, balancer, engine or admin packages.
package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// Log attribute keys.
const (
	keyComponent = "component"
	keyBackend   = "backend"
	keyServer    = "server"
	keyFrom      = "from"
	keyTo        = "to"
	keyReason    = "reason"
)

// Options configure a Monitor. The zero value of each optional field is
// usable and means what its comment says.
type Options struct {
	// Backend names the backend in log lines.
	Backend string
	// Servers are the backend's servers. Each starts in the state it has:
	// Pending or Down ones need Rise passing checks before they are Up.
	Servers []*upstream.Server
	// Check is the active health check. Nil: none, and servers change state
	// only by passive ejection.
	Check *config.Health
	// TLS, when set, runs HTTP checks over TLS with this configuration; an
	// empty ServerName becomes the host of each server's address. Nil: plain
	// HTTP.
	TLS *tls.Config
	// Passive ejects servers that fail real traffic reported to Observe.
	// Nil: Observe does nothing.
	Passive *config.Passive
	// SlowStart ramps the effective weight of a server that comes up while
	// others serve, from a hundredth of its weight to all of it over this
	// long. Zero: no ramp.
	SlowStart time.Duration
	// Clock is the time source. Nil: the wall clock.
	Clock Clock
	// Seed seeds the jitter of check intervals. Zero: a random seed.
	Seed uint64
	// Logger receives a line at each state change. Nil: no logging.
	Logger *slog.Logger
	// OnChange is called after a server's state or effective weight
	// changed, with no lock of the Monitor held, so that the caller can
	// reweight its balancer and update metrics. It may be called from
	// several goroutines at once, and must not call Stop. Nil: not called.
	OnChange func()
	// OnCheck is called after each active check with its verdict, for
	// metrics. The same rules as OnChange apply. Nil: not called.
	OnCheck func(s *upstream.Server, ok bool, reason string)
}

// Monitor watches the servers of one backend. Start one per backend when a
// configuration is built, and Stop it when the backend is replaced or the
// process shuts down.
type Monitor struct {
	o       Options
	clock   Clock
	log     *slog.Logger
	targets []*target
	// index finds a server's target for Observe; it is never written after
	// Start, so reading it needs no lock.
	index map[*upstream.Server]*target
	// ejectAfter is Passive.ConsecutiveFailures, or 0 without passive checks.
	ejectAfter int32
	// warmup is how long a server must have been up for another server
	// coming up to ramp: the time a new server takes to pass its checks, so
	// that servers of a cold start, which pass theirs at about the same
	// time, do not ramp behind each other.
	warmup time.Duration
	// ctx is cancelled by Stop, which ends checks in flight.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards rnd and stopped, and orders wg.Add before Stop's Wait
	rnd     *rand.Rand
	stopped bool
	wg      sync.WaitGroup // callbacks running
}

// Start checks o and starts watching o.Servers. It returns an error, and
// starts nothing, if the check is malformed (config.Validate refuses such
// a check first).
func Start(o Options) (*Monitor, error) {
	m := &Monitor{o: o, clock: o.Clock, index: make(map[*upstream.Server]*target, len(o.Servers))}
	if m.clock == nil {
		m.clock = RealClock{}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m.log = logger.With(keyComponent, "health")
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	m.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if o.Passive != nil && o.Passive.ConsecutiveFailures > 0 {
		m.ejectAfter = int32(o.Passive.ConsecutiveFailures)
	}
	var spec *checkSpec
	if o.Check != nil {
		var err error
		if spec, err = newCheckSpec(o.Check, o.TLS); err != nil {
			return nil, fmt.Errorf("health: backend %s: %w", o.Backend, err)
		}
		m.warmup = time.Duration(max(o.Check.Rise, 1)) * o.Check.FastInterval.D()
	}
	for _, s := range o.Servers {
		t := &target{m: m, srv: s}
		if spec != nil {
			t.probe = spec.probeFor(s)
		}
		t.upSince.Store(warmSince)
		m.targets = append(m.targets, t)
		m.index[s] = t
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, t := range m.targets {
		t.start()
	}
	return m, nil
}

// Stop ends every check, ejection and ramp, and returns once no callback
// runs. A server still ramping gets its full weight back (and OnChange is
// called), so that a Monitor started in its place on the same servers
// does not inherit a weight nothing will raise.
func (m *Monitor) Stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	reweighted := false
	for _, t := range m.targets {
		t.mu.Lock()
		t.gen++
		t.stopTimer()
		if t.stopRamp() {
			reweighted = true
		}
		t.mu.Unlock()
	}
	m.wg.Wait()
	if reweighted && m.o.OnChange != nil {
		m.o.OnChange()
	}
}

// after calls f once d has passed, unless the Monitor is stopped by then.
// It returns nil when the Monitor is already stopped.
func (m *Monitor) after(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return nil
	}
	return m.clock.AfterFunc(d, func() {
		m.mu.Lock()
		if m.stopped {
			m.mu.Unlock()
			return
		}
		m.wg.Add(1)
		m.mu.Unlock()
		defer m.wg.Done()
		f()
	})
}

// jitter returns d moved by up to 10% either way, so that the checks of
// many servers started together drift apart.
func (m *Monitor) jitter(d time.Duration) time.Duration {
	m.mu.Lock()
	u := m.rnd.Float64()*0.2 - 0.1
	m.mu.Unlock()
	return d + time.Duration(float64(d)*u)
}

// change is what one step did to a server, reported once locks are
// released.
type change struct {
	from, to upstream.State
	reason   string
	weight   bool // the effective weight changed
}

// report logs a state change and calls OnChange. No lock may be held.
func (m *Monitor) report(t *target, c change) {
	if c.from != c.to {
		level := slog.LevelInfo
		if c.to == upstream.Down {
			level = slog.LevelWarn
		}
		m.log.LogAttrs(context.Background(), level, "server state changed",
			slog.String(keyBackend, m.o.Backend), slog.String(keyServer, t.srv.Name),
			slog.String(keyFrom, c.from.String()), slog.String(keyTo, c.to.String()),
			slog.String(keyReason, c.reason))
	}
	if (c.from != c.to || c.weight) && m.o.OnChange != nil {
		m.o.OnChange()
	}
}
