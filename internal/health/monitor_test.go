package health

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// TestFallAndRise walks one server through a failing /status and back,
// checking after each check its state, its reason and which interval the
// next check was scheduled at.
func TestFallAndRise(t *testing.T) {
	const fast, steady, down = 500 * time.Millisecond, 2 * time.Second, 5 * time.Second
	steps := []struct {
		name      string
		status    int
		wantState upstream.State
		wantNext  time.Duration
	}{
		{name: "first pass: coming up", status: 200, wantState: upstream.Pending, wantNext: fast},
		{name: "rise reached", status: 200, wantState: upstream.Up, wantNext: steady},
		{name: "steady", status: 200, wantState: upstream.Up, wantNext: steady},
		{name: "first failure: going down", status: 503, wantState: upstream.Up, wantNext: fast},
		{name: "second failure", status: 503, wantState: upstream.Up, wantNext: fast},
		{name: "fall reached", status: 503, wantState: upstream.Down, wantNext: down},
		{name: "fully down", status: 503, wantState: upstream.Down, wantNext: down},
		{name: "pass after down: coming up", status: 200, wantState: upstream.Down, wantNext: fast},
		{name: "failure breaks the streak", status: 503, wantState: upstream.Down, wantNext: down},
		{name: "pass again", status: 200, wantState: upstream.Down, wantNext: fast},
		{name: "back up", status: 200, wantState: upstream.Up, wantNext: steady},
		{name: "a failure while up", status: 503, wantState: upstream.Up, wantNext: fast},
		{name: "a pass resets it", status: 200, wantState: upstream.Up, wantNext: steady},
	}
	stub := newChecked(t)
	clk := newClock()
	srv := newServer("s1", stub.addr(), upstream.Pending)
	var changes atomic.Int32
	start(t, Options{
		Backend: "b", Servers: []*upstream.Server{srv}, Check: httpCheck("/status"),
		Clock: clk, OnChange: func() { changes.Add(1) },
	})
	if d, _ := clk.Next(); d > fast {
		t.Fatalf("first check due in %v, want within the fast interval %v", d, fast)
	}
	var nexts []time.Duration
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			stub.status.Store(int32(st.status))
			fire(t, clk)
			if _, n := stub.lastRequest(); n != i+1 {
				t.Fatalf("server saw %d checks, want %d", n, i+1)
			}
			h := srv.Health()
			if h.State != st.wantState {
				t.Errorf("state = %v, want %v", h.State, st.wantState)
			}
			if want := "status " + strconv.Itoa(st.status); h.Reason != want {
				t.Errorf("reason = %q, want %q", h.Reason, want)
			}
			p := clk.Pending()
			if len(p) != 1 || !within(p[0], st.wantNext) {
				t.Fatalf("next check in %v, want one within 10%% of %v", p, st.wantNext)
			}
			nexts = append(nexts, p[0])
		})
	}
	// Three state changes: pending→up, up→down, down→up.
	if got := changes.Load(); got != 3 {
		t.Errorf("OnChange called %d times, want 3", got)
	}
	if got := stub.conns.Load(); got != int32(len(steps)) {
		t.Errorf("%d connections for %d checks: checks must not reuse connections", got, len(steps))
	}
	if !jittered(nexts) {
		t.Errorf("intervals %v carry no jitter", nexts)
	}
}

// jittered reports whether delays that share an interval differ.
func jittered(ds []time.Duration) bool {
	seen := map[time.Duration]bool{}
	for _, d := range ds {
		seen[d] = true
	}
	return len(seen) > 3
}
