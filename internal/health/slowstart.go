package health

import "time"

// minRampStep bounds how often a ramp changes a weight, since each change
// makes the caller rebuild its balancer.
const minRampStep = 100 * time.Millisecond

// rampSteps is how many steps a ramp takes when the window is long enough.
const rampSteps = 20

// startRamp sets the effective weight of a server about to come up: the
// start of a slow-start ramp when another server has been serving for a
// while, else its full weight. At a cold start every server is new and
// none ramps: ramping one would only pile its share on the others, which
// are as new. It reports whether the weight changed. t.mu must be held.
func (t *target) startRamp(now time.Time) bool {
	t.stopRamp()
	base := t.srv.BaseWeight()
	w := base
	if window := t.m.o.SlowStart; window > 0 && base > 0 && t.m.othersServing(t, now) {
		w = rampWeight(base, 0, window)
		t.rampFrom, t.ramping = now, true
		t.scheduleRamp(min(t.m.rampStep(), window))
	}
	changed := w != t.srv.Weight()
	t.srv.SetWeight(w)
	return changed
}

// stopRamp ends a ramp in progress and gives the server its full weight
// back. It reports whether the weight changed. t.mu must be held.
func (t *target) stopRamp() bool {
	t.rampGen++
	if t.ramp != nil {
		t.ramp.Stop()
		t.ramp = nil
	}
	if !t.ramping {
		return false
	}
	t.ramping = false
	base := t.srv.BaseWeight()
	changed := t.srv.Weight() != base
	t.srv.SetWeight(base)
	return changed
}

func (t *target) scheduleRamp(d time.Duration) {
	gen := t.rampGen
	t.ramp = t.m.after(d, func() { t.rampStep(gen) })
}

// rampStep raises the weight to where the ramp should be now and sets the
// next step, the last one exactly at the end of the window.
func (t *target) rampStep(gen uint64) {
	t.mu.Lock()
	if gen != t.rampGen {
		t.mu.Unlock()
		return
	}
	window := t.m.o.SlowStart
	elapsed := t.m.clock.Now().Sub(t.rampFrom)
	w := rampWeight(t.srv.BaseWeight(), elapsed, window)
	changed := w != t.srv.Weight()
	t.srv.SetWeight(w)
	if elapsed < window {
		t.scheduleRamp(min(t.m.rampStep(), window-elapsed))
	} else {
		t.ramp, t.ramping = nil, false
	}
	t.mu.Unlock()
	st := t.srv.State()
	t.m.report(t, change{from: st, to: st, weight: changed})
}

// rampWeight is the effective weight elapsed into a ramp of base over
// window: linear from a hundredth of base (at least 1) to base. A
// hundredth, not a tenth, so that in the first tenth of the window a new
// server gets at most a fifth of its final share even beside a single
// other server of equal weight (at a tenth in, its weight is 0.109 of
// base: a share of 9.8% against a final 50%).
func rampWeight(base int, elapsed, window time.Duration) int {
	if elapsed >= window || base <= 1 {
		return base
	}
	start := max(1, base/100)
	return start + int(int64(base-start)*int64(elapsed)/int64(window))
}

// rampStep is the time between two weight changes of a ramp.
func (m *Monitor) rampStep() time.Duration {
	return max(m.o.SlowStart/rampSteps, minRampStep)
}

// othersServing reports whether a server other than t can take traffic and
// has been up for at least the warm-up time. Nothing is locked: it reads
// the other servers' atomics only.
func (m *Monitor) othersServing(t *target, now time.Time) bool {
	for _, o := range m.targets {
		if o == t || !o.srv.Available() {
			continue
		}
		if since := o.upSince.Load(); since == warmSince || now.UnixNano()-since > int64(m.warmup) {
			return true
		}
	}
	return false
}
