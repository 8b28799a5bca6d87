package health

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// warmSince is the upSince of a server that was up when its Monitor
// started: it has been serving for as long as anyone can tell.
const warmSince = math.MinInt64

// target is the Monitor's view of one server.
type target struct {
	m     *Monitor
	srv   *upstream.Server
	probe probe // nil without an active check

	// failures counts consecutive failures of real traffic; ejected is set
	// while the server rests after too many. Observe reads and writes them
	// without the lock.
	failures atomic.Int32
	ejected  atomic.Bool
	// upSince is when the server last came up under this Monitor, in Unix
	// nanoseconds of the Monitor's clock, or warmSince. Other targets read
	// it to decide on a ramp.
	upSince atomic.Int64

	mu sync.Mutex // guards the fields below
	// checked is false until a check result has been applied (since Start
	// or since an ejection ended).
	checked bool
	// passes and fails are the current streak of check results.
	passes, fails int
	// gen changes whenever the check loop or an ejection is cancelled or
	// restarted; a callback set under an older gen does nothing.
	gen   uint64
	timer Timer // next check, or the end of an ejection
	// ramping is set while the effective weight is below the base weight
	// for a slow-start ramp begun at rampFrom; ramp is its next step, and
	// rampGen changes when it is cancelled.
	ramping  bool
	rampFrom time.Time
	ramp     Timer
	rampGen  uint64
}

// start schedules the server's first check, spread at random so that
// servers started together are not checked in the same instant. Without an active check, a server that is
// not up is taken for an ejected one (a Monitor replaced on reload may have
// left it so) and rests for EjectFor before it is put back.
func (t *target) start() {
	if t.probe == nil {
		switch {
		case t.srv.State() == upstream.Up:
		case t.m.ejectAfter > 0:
			t.mu.Lock()
			t.ejected.Store(true)
			gen := t.gen
			t.timer = t.m.after(t.m.o.Passive.EjectFor.D(), func() { t.endEjection(gen) })
			t.mu.Unlock()
		default:
			t.m.log.Warn("server starts down and has no check to bring it up",
				keyBackend, t.m.o.Backend, keyServer, t.srv.Name)
		}
		return
	}
	// A server not checked yet is checked within one fast interval. One
	// that checks have already judged (a Monitor replaced by a reload)
	// keeps its pace: within its steady interval, so that a reload of a
	// thousand servers does not check them all at once.
	within := t.m.o.Check.FastInterval.D()
	if failed, passed := t.srv.Checks(); failed+passed > 0 {
		switch t.srv.State() {
		case upstream.Up:
			within = t.m.o.Check.Interval.D()
		case upstream.Down:
			within = t.m.o.Check.DownInterval.D()
		}
	}
	t.m.mu.Lock()
	first := time.Duration(t.m.rnd.Int64N(int64(within) + 1))
	t.m.mu.Unlock()
	t.mu.Lock()
	t.schedule(first)
	t.mu.Unlock()
}

// schedule sets the next check d from now. t.mu must be held.
func (t *target) schedule(d time.Duration) {
	gen := t.gen
	t.timer = t.m.after(d, func() { t.runCheck(gen) })
}

// stopTimer cancels the next check or the end of an ejection. t.mu must be
// held.
func (t *target) stopTimer() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// runCheck runs one check, applies its verdict and schedules the next.
func (t *target) runCheck(gen uint64) {
	t.mu.Lock()
	stale := gen != t.gen
	t.mu.Unlock()
	if stale {
		return
	}
	h := t.m.o.Check
	ctx, cancel := context.WithTimeout(t.m.ctx, h.Timeout.D())
	ok, reason := t.probe(ctx)
	cancel()
	if t.m.ctx.Err() != nil {
		return
	}
	if t.m.o.OnCheck != nil {
		t.m.o.OnCheck(t.srv, ok, reason)
	}
	t.mu.Lock()
	if gen != t.gen {
		t.mu.Unlock()
		return
	}
	c := t.apply(ok, reason)
	t.schedule(t.m.jitter(t.interval()))
	t.mu.Unlock()
	t.m.report(t, c)
}

// apply counts a check verdict into the streaks and changes the server's
// state when a streak is long enough: Rise passes bring a server that is
// not up up, Fall failures take an up server down. A pending server that
// fails is down at once: it took no traffic, and "down: connection
// refused" tells more than "pending". t.mu must be held.
func (t *target) apply(ok bool, reason string) change {
	h := t.m.o.Check
	now := t.m.clock.Now()
	st := t.srv.State()
	t.checked = true
	if ok {
		t.fails = 0
	} else {
		t.passes = 0
	}
	switch {
	case ok && st != upstream.Up:
		t.passes++
		if t.passes >= h.Rise {
			t.passes = 0
			return t.goUp(reason, now)
		}
	case !ok && st == upstream.Up:
		t.fails++
		if t.fails >= h.Fall {
			t.fails = 0
			return t.goDown(reason, now)
		}
	case !ok && st == upstream.Pending:
		return t.goDown(reason, now)
	}
	t.srv.SetHealth(st, reason, now)
	return change{from: st, to: st, reason: reason}
}

// interval is the wait before the next check, before jitter: the fast
// interval while the server is not yet checked or a streak is under way
// that may change its state, the down interval while it is fully down,
// the interval otherwise. t.mu must be held.
func (t *target) interval() time.Duration {
	h := t.m.o.Check
	up := t.srv.State() == upstream.Up
	switch {
	case !t.checked, up && t.fails > 0, !up && t.passes > 0:
		return h.FastInterval.D()
	case !up:
		return h.DownInterval.D()
	}
	return h.Interval.D()
}

// goUp brings the server up, at a ramped weight if others serve. t.mu must
// be held.
func (t *target) goUp(reason string, now time.Time) change {
	c := change{from: t.srv.State(), to: upstream.Up, reason: reason}
	// The weight is set before the state, so that no request sees the
	// server up at its full weight when it should ramp.
	c.weight = t.startRamp(now)
	t.upSince.Store(now.UnixNano())
	t.failures.Store(0)
	t.srv.SetHealth(upstream.Up, reason, now)
	return c
}

// goDown takes the server down and ends any ramp. t.mu must be held.
func (t *target) goDown(reason string, now time.Time) change {
	c := change{from: t.srv.State(), to: upstream.Down, reason: reason}
	c.weight = t.stopRamp()
	t.failures.Store(0)
	t.srv.SetHealth(upstream.Down, reason, now)
	return c
}
