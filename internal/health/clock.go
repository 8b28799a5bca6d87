package health

import (
	"slices"
	"sync"
	"time"
)

// Clock is the time source of a Monitor: the wall clock in production, a
// FakeClock in tests so that timing is checked without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has passed. The real clock calls f on its own
	// goroutine; FakeClock calls it from Advance.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did prevent it.
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// FakeClock is a Clock that moves only when told to. Advance runs the
// callbacks that fall due, in deadline order, on the caller's goroutine, so
// a test knows every effect of a step has happened when Advance returns. It
// is safe for concurrent use; its zero value is not usable, call
// NewFakeClock.
type FakeClock struct {
	mu     sync.Mutex // guards the fields below
	now    time.Time
	seq    uint64
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *FakeClock
	at   time.Time
	seq  uint64 // breaks ties: timers due at once fire in the order they were set
	f    func()
	done bool
}

// NewFakeClock returns a fake clock that reads start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop removes the timer if it has not fired.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	return true
}

// Advance moves the clock forward by d. Each timer that falls due is fired
// in deadline order with Now reading its deadline; timers its callback sets
// fire in the same call if they fall due within d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		t := c.earliest()
		if t == nil || t.at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t.done = true
		c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == t })
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// Next returns how long until the earliest pending timer is due; ok is
// false when none is pending.
func (c *FakeClock) Next() (d time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.earliest(); t != nil {
		return t.at.Sub(c.now), true
	}
	return 0, false
}

// Pending returns how long until each pending timer is due, soonest first.
func (c *FakeClock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, t := range c.timers {
		ds = append(ds, t.at.Sub(c.now))
	}
	slices.Sort(ds)
	return ds
}

// earliest returns the timer due first, or nil. c.mu must be held.
func (c *FakeClock) earliest() *fakeTimer {
	var best *fakeTimer
	for _, t := range c.timers {
		if best == nil || t.at.Before(best.at) || t.at.Equal(best.at) && t.seq < best.seq {
			best = t
		}
	}
	return best
}
