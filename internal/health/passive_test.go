package health

import (
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

func passive(n int, ejectFor time.Duration) *config.Passive {
	return &config.Passive{ConsecutiveFailures: n, EjectFor: config.Duration(ejectFor)}
}

// TestPassiveEjection: N failures in a row eject a server for EjectFor; a
// success in between resets the count; without an active check it comes
// back on its own when the time is up.
func TestPassiveEjection(t *testing.T) {
	clk := newClock()
	srv := newServer("s", "127.0.0.1:1", upstream.Up)
	other := newServer("o", "127.0.0.1:2", upstream.Up)
	changes := 0
	m := start(t, Options{Backend: "b", Servers: []*upstream.Server{srv, other},
		Passive: passive(3, 10*time.Second), Clock: clk, OnChange: func() { changes++ }})

	steps := []struct {
		name      string
		ok        bool
		wantState upstream.State
	}{
		{name: "failure 1", wantState: upstream.Up},
		{name: "failure 2", wantState: upstream.Up},
		{name: "success resets", ok: true, wantState: upstream.Up},
		{name: "failure 1 again", wantState: upstream.Up},
		{name: "failure 2 again", wantState: upstream.Up},
		{name: "failure 3 ejects", wantState: upstream.Down},
		{name: "failures while ejected change nothing", wantState: upstream.Down},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			m.Observe(srv, st.ok, "connect_refused")
			if got := srv.State(); got != st.wantState {
				t.Fatalf("state = %v, want %v", got, st.wantState)
			}
		})
	}
	h := srv.Health()
	if want := "ejected after 3 consecutive failures: connect_refused"; h.Reason != want || !h.Since.Equal(clk.Now()) {
		t.Errorf("health = %+v, want reason %q since now", h, want)
	}
	if other.State() != upstream.Up || changes != 1 {
		t.Errorf("other server %v, %d changes reported; want up and 1", other.State(), changes)
	}
	clk.Advance(10*time.Second - time.Millisecond)
	if srv.State() != upstream.Down {
		t.Fatalf("back %v before eject_for ended", srv.State())
	}
	clk.Advance(time.Millisecond)
	if !srv.Available() || changes != 2 {
		t.Fatalf("after eject_for: state %v, %d changes; want up and 2", srv.State(), changes)
	}
	// The count starts again from zero.
	m.Observe(srv, false, "")
	m.Observe(srv, false, "")
	if srv.State() != upstream.Up {
		t.Errorf("ejected again after 2 failures")
	}
	m.Observe(srv, false, "")
	if h := srv.Health(); h.State != upstream.Down || h.Reason != "ejected after 3 consecutive failures" {
		t.Errorf("health = %+v, want ejected after the third failure", h)
	}
}

// TestPassiveThenActive: with an active check, an ejected server is handed
// back to the check when EjectFor ends and must pass Rise checks again;
// no check runs while it is ejected.
func TestPassiveThenActive(t *testing.T) {
	stub := newChecked(t)
	clk := newClock()
	srv := newServer("s", stub.addr(), upstream.Up)
	h := httpCheck("/")
	h.Rise = 2
	m := start(t, Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: h,
		Passive: passive(2, 30*time.Second), Clock: clk})
	fire(t, clk) // a first check, up stays up
	m.Observe(srv, false, "upstream_reset")
	m.Observe(srv, false, "upstream_reset")
	if srv.State() != upstream.Down {
		t.Fatalf("state %v after 2 failures, want down", srv.State())
	}
	if p := clk.Pending(); len(p) != 1 || p[0] != 30*time.Second {
		t.Fatalf("pending timers %v, want only the end of the ejection in 30s", p)
	}
	_, before := stub.lastRequest()
	clk.Advance(30 * time.Second)
	if _, n := stub.lastRequest(); n != before || srv.State() != upstream.Down {
		t.Fatalf("at the end of the ejection: %d checks made, state %v; want none and down", n-before, srv.State())
	}
	if p := clk.Pending(); len(p) != 1 || !within(p[0], 500*time.Millisecond) {
		t.Fatalf("next check in %v, want the fast interval", p)
	}
	fire(t, clk)
	if srv.State() != upstream.Down {
		t.Fatalf("up after one pass, want rise 2")
	}
	fire(t, clk)
	if !srv.Available() {
		t.Fatalf("state %v after rise passes, want up", srv.State())
	}
}

// TestObserveIgnores: Observe is harmless on a nil Monitor, without passive
// checks, for unknown servers and for servers that are not up.
func TestObserveIgnores(t *testing.T) {
	clk := newClock()
	srv := newServer("s", "127.0.0.1:1", upstream.Down)
	var nilMonitor *Monitor
	nilMonitor.Observe(srv, false, "x")
	noPassive := start(t, Options{Servers: []*upstream.Server{srv}, Clock: clk})
	withPassive := start(t, Options{Servers: []*upstream.Server{srv}, Passive: passive(1, time.Second), Clock: clk})
	stranger := newServer("x", "127.0.0.1:1", upstream.Up)
	for range 3 {
		noPassive.Observe(srv, false, "x")
		withPassive.Observe(stranger, false, "x")
		withPassive.Observe(srv, false, "x")
	}
	// The one timer is withPassive's rest for the server it found down.
	if stranger.State() != upstream.Up || srv.Health().Reason != "" || len(clk.Pending()) != 1 {
		t.Errorf("stranger %v, server %+v, timers %v: want nothing changed", stranger.State(), srv.Health(), clk.Pending())
	}
}

// TestPassiveOnlyDownAtStart: without an active check, a server found down
// (as a replaced Monitor may leave an ejected one) rests for EjectFor and
// is put back, rather than staying down for good.
func TestPassiveOnlyDownAtStart(t *testing.T) {
	clk := newClock()
	srv := newServer("s", "127.0.0.1:1", upstream.Down)
	start(t, Options{Servers: []*upstream.Server{srv}, Passive: passive(3, 5*time.Second), Clock: clk})
	clk.Advance(5*time.Second - 1)
	if srv.State() != upstream.Down {
		t.Fatalf("state %v before EjectFor passed, want down", srv.State())
	}
	clk.Advance(1)
	if h := srv.Health(); h.State != upstream.Up || h.Reason != "back after ejection for 5s" {
		t.Errorf("health %+v after EjectFor, want up, back after ejection", h)
	}
}

// TestObserveNoAlloc: the per-request call allocates nothing, on success or
// on a failure that does not eject.
func TestObserveNoAlloc(t *testing.T) {
	srv := newServer("s", "127.0.0.1:1", upstream.Up)
	m := start(t, Options{Servers: []*upstream.Server{srv}, Passive: passive(1<<30, time.Second), Clock: newClock()})
	if a := testing.AllocsPerRun(1000, func() {
		m.Observe(srv, true, "")
		m.Observe(srv, false, "connect_refused")
	}); a != 0 {
		t.Errorf("Observe allocates %v times per call pair, want 0", a)
	}
}

func BenchmarkObserve(b *testing.B) {
	servers := make([]*upstream.Server, 100)
	for i := range servers {
		servers[i] = newServer("s", "127.0.0.1:1", upstream.Up)
	}
	m, err := Start(Options{Servers: servers, Passive: passive(5, time.Second), Clock: newClock()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Stop()
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Observe(servers[i%len(servers)], true, "")
				i++
			}
		})
	})
	b.Run("failure", func(b *testing.B) {
		m.ejectAfter = 1 << 30
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.Observe(servers[i%len(servers)], false, "connect_refused")
		}
	})
}
