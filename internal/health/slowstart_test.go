package health

import (
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// rampCheck is a check that brings a server up at its first pass and then
// leaves it alone for the length of any ramp under test.
func rampCheck() *config.Health {
	h := httpCheck("/")
	h.Rise = 1
	h.Interval = config.Duration(time.Hour)
	return h
}

// TestSlowStartRamp: a server that comes up beside a serving one ramps
// linearly from a hundredth of its weight to all of it over the window,
// reporting each step.
func TestSlowStartRamp(t *testing.T) {
	const window = 20 * time.Second
	stub := newChecked(t)
	clk := newClock()
	old := newServer("old", stub.addr(), upstream.Up)
	fresh := newServer("new", stub.addr(), upstream.Down)
	changes := 0
	start(t, Options{Backend: "b", Servers: []*upstream.Server{old, fresh}, Check: rampCheck(),
		SlowStart: window, Clock: clk, OnChange: func() { changes++ }})
	for fresh.State() != upstream.Up {
		fire(t, clk)
	}
	changesAtUp := changes
	points := []struct {
		name    string
		at      time.Duration // into the window
		wantMin int
		wantMax int
	}{
		{name: "0%", at: 0, wantMin: 1, wantMax: 1},
		{name: "10%", at: window / 10, wantMin: 10, wantMax: 11},
		{name: "50%", at: window / 2, wantMin: 50, wantMax: 51},
		{name: "100%", at: window, wantMin: 100, wantMax: 100},
		{name: "after", at: 2 * window, wantMin: 100, wantMax: 100},
	}
	upAt := clk.Now()
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			clk.Advance(upAt.Add(p.at).Sub(clk.Now()))
			if w := fresh.Weight(); w < p.wantMin || w > p.wantMax {
				t.Errorf("weight %v into the window = %d, want %d..%d", p.at, w, p.wantMin, p.wantMax)
			}
			if old.Weight() != 100 || fresh.BaseWeight() != 100 {
				t.Errorf("old server weight %d, new base weight %d: want both untouched at 100", old.Weight(), fresh.BaseWeight())
			}
		})
	}
	// 20 steps of 1s, each a new weight.
	if got := changes - changesAtUp; got != 20 {
		t.Errorf("%d weight changes reported during the ramp, want 20", got)
	}
}

// TestSlowStartColdStart: when every server is new, none ramps, even
// though one passes its checks a little before the others.
func TestSlowStartColdStart(t *testing.T) {
	stub := newChecked(t)
	clk := newClock()
	var servers []*upstream.Server
	for _, name := range []string{"a", "b", "c", "d"} {
		servers = append(servers, newServer(name, stub.addr(), upstream.Down))
	}
	h := rampCheck()
	h.Rise = 2
	start(t, Options{Backend: "b", Servers: servers, Check: h, SlowStart: 20 * time.Second, Clock: clk})
	clk.Advance(2 * time.Second)
	for _, s := range servers {
		if s.State() != upstream.Up || s.Weight() != 100 {
			t.Errorf("server %s: %v at weight %d, want up at its full weight 100", s.Name, s.State(), s.Weight())
		}
	}
}

// TestSlowStartRestarts: a server that goes down during its ramp gets its
// full base weight back while down, and ramps again from the start when it
// returns beside a serving server.
func TestSlowStartRestarts(t *testing.T) {
	clk := newClock()
	old := newServer("old", "127.0.0.1:1", upstream.Up)
	srv := newServer("s", "127.0.0.1:1", upstream.Up)
	m := start(t, Options{Backend: "b", Servers: []*upstream.Server{old, srv},
		Passive: passive(1, time.Second), SlowStart: 10 * time.Second, Clock: clk})
	m.Observe(srv, false, "")
	clk.Advance(time.Second) // back, ramping
	if w := srv.Weight(); w != 1 {
		t.Fatalf("weight on return = %d, want 1", w)
	}
	clk.Advance(5 * time.Second)
	m.Observe(srv, false, "")
	if srv.State() != upstream.Down || srv.Weight() != 100 {
		t.Fatalf("ejected mid-ramp: %v at weight %d, want down at 100", srv.State(), srv.Weight())
	}
	clk.Advance(time.Second)
	if w := srv.Weight(); w != 1 {
		t.Errorf("weight on second return = %d, want the ramp to start over at 1", w)
	}
	m.Stop()
	if w := srv.Weight(); w != 100 {
		t.Errorf("weight after Stop = %d, want the full 100 back", w)
	}
}

func TestRampWeight(t *testing.T) {
	tests := []struct {
		name    string
		base    int
		elapsed time.Duration
		want    int
	}{
		{name: "start", base: 100, elapsed: 0, want: 1},
		{name: "start of a large weight", base: 1000, elapsed: 0, want: 10},
		{name: "half", base: 1000, elapsed: 5 * time.Second, want: 505},
		{name: "end", base: 100, elapsed: 10 * time.Second, want: 100},
		{name: "weight 1 does not ramp", base: 1, elapsed: 0, want: 1},
		{name: "weight 0 stays 0", base: 0, elapsed: time.Second, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rampWeight(tt.base, tt.elapsed, 10*time.Second); got != tt.want {
				t.Errorf("rampWeight(%d, %v, 10s) = %d, want %d", tt.base, tt.elapsed, got, tt.want)
			}
		})
	}
}
