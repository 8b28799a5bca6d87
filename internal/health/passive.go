package health

import (
	"strconv"

	"github.com/portier/portier/internal/upstream"
)

// Observe counts the outcome of one real request or connection attempt on
// s: ok is false for a connect error, a reset, and (when the caller counts
// them, as Passive.Count5xx asks) a 5xx response; reason says what failed,
// in the words of the access log. Passive.ConsecutiveFailures failures in
// a row eject the server for Passive.EjectFor: it is down with the reason
// "ejected after N consecutive failures: <reason>". Afterwards it is up
// again at once if there is no active check, else the active check must
// pass Rise times first. A success resets the count.
//
// Observe is called on every request: it takes no lock and does not
// allocate unless it ejects. It does nothing on a nil Monitor, without
// passive checks, or for a server the Monitor does not watch.
func (m *Monitor) Observe(s *upstream.Server, ok bool, reason string) {
	if m == nil || m.ejectAfter == 0 {
		return
	}
	t := m.index[s]
	if t == nil {
		return
	}
	if ok {
		// Read first: a store on every success would bounce the cache
		// line between cores for nothing.
		if t.failures.Load() != 0 {
			t.failures.Store(0)
		}
		return
	}
	if n := t.failures.Add(1); n >= m.ejectAfter && !t.ejected.Load() {
		t.eject(n, reason)
	}
}

// eject takes the server out of rotation for EjectFor, unless it is not up
// (then there is nothing to take it out of) or already ejected.
func (t *target) eject(n int32, reason string) {
	m := t.m
	t.mu.Lock()
	if t.ejected.Load() || t.srv.State() != upstream.Up {
		t.failures.Store(0)
		t.mu.Unlock()
		return
	}
	t.ejected.Store(true)
	t.gen++
	t.stopTimer()
	why := "ejected after " + strconv.Itoa(int(n)) + " consecutive failures"
	if reason != "" {
		why += ": " + reason
	}
	c := t.goDown(why, m.clock.Now())
	gen := t.gen
	t.timer = m.after(m.o.Passive.EjectFor.D(), func() { t.endEjection(gen) })
	t.mu.Unlock()
	m.report(t, c)
}

// endEjection puts an ejected server back: up at once without an active
// check, else into the active check's hands as a server not yet checked.
func (t *target) endEjection(gen uint64) {
	m := t.m
	t.mu.Lock()
	if gen != t.gen {
		t.mu.Unlock()
		return
	}
	t.gen++
	t.timer = nil
	t.failures.Store(0)
	t.ejected.Store(false)
	st := t.srv.State()
	c := change{from: st, to: st}
	if t.probe == nil {
		c = t.goUp("back after ejection for "+m.o.Passive.EjectFor.String(), m.clock.Now())
	} else {
		t.checked, t.passes, t.fails = false, 0, 0
		t.schedule(m.jitter(t.interval()))
	}
	t.mu.Unlock()
	m.report(t, c)
}
