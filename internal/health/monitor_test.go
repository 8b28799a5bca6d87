package health

import (
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
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

// TestEarnedAdmission: a new server, pending or down, takes no traffic
// until Rise checks in a row have passed.
func TestEarnedAdmission(t *testing.T) {
	tests := []struct {
		name    string
		initial upstream.State
		rise    int
	}{
		{name: "pending, rise 2", initial: upstream.Pending, rise: 2},
		{name: "down, rise 3", initial: upstream.Down, rise: 3},
		{name: "down, rise 1", initial: upstream.Down, rise: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newChecked(t)
			clk := newClock()
			srv := newServer("new", stub.addr(), tt.initial)
			h := httpCheck("/status")
			h.Rise = tt.rise
			start(t, Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: h, Clock: clk})
			for i := 1; i < tt.rise; i++ {
				fire(t, clk)
				if srv.Available() || srv.State() != tt.initial {
					t.Fatalf("after %d of %d passes: state %v, available %v", i, tt.rise, srv.State(), srv.Available())
				}
			}
			fire(t, clk)
			if !srv.Available() {
				t.Fatalf("after %d passes: state %v, not available", tt.rise, srv.State())
			}
			if _, n := stub.lastRequest(); n != tt.rise {
				t.Errorf("%d checks made, want %d", n, tt.rise)
			}
		})
	}
}

// TestInitiallyUp: a server created up stays up through passing checks,
// and its first check comes within the fast interval.
func TestInitiallyUp(t *testing.T) {
	stub := newChecked(t)
	clk := newClock()
	srv := newServer("s", stub.addr(), upstream.Up)
	start(t, Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: httpCheck("/"), Clock: clk})
	if d, _ := clk.Next(); d > 500*time.Millisecond {
		t.Errorf("first check in %v, want within the fast interval", d)
	}
	fire(t, clk)
	if !srv.Available() || srv.Health().Reason != "status 200" {
		t.Errorf("health = %+v, want up with status 200", srv.Health())
	}
	if p := clk.Pending(); len(p) != 1 || !within(p[0], 2*time.Second) {
		t.Errorf("next check in %v, want the steady interval", p)
	}
}

// TestCheckRequest: the check sends the configured method, path and Host,
// identifies itself, and does not follow redirects.
func TestCheckRequest(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		host     string
		status   int
		wantHost string // "" means the server's address
		wantUp   bool
	}{
		{name: "defaults", wantUp: true},
		{name: "HEAD with a host", method: http.MethodHead, host: "app.example.com", wantHost: "app.example.com", wantUp: true},
		{name: "redirect is a passing status", status: http.StatusFound, wantUp: true},
		{name: "404 fails", status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub := newChecked(t)
			if tt.status != 0 {
				stub.status.Store(int32(tt.status))
			}
			clk := newClock()
			srv := newServer("s", stub.addr(), upstream.Pending)
			h := httpCheck("/healthz?full=1")
			h.Rise = 1
			if tt.method != "" {
				h.Method = tt.method
			}
			h.Host = tt.host
			start(t, Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: h, Clock: clk})
			fire(t, clk)
			r, n := stub.lastRequest()
			if n != 1 {
				t.Fatalf("server saw %d requests, want 1", n)
			}
			wantMethod, wantHost := h.Method, tt.wantHost
			if wantHost == "" {
				wantHost = stub.addr()
			}
			if r.Method != wantMethod || r.URL.RequestURI() != "/healthz?full=1" || r.Host != wantHost {
				t.Errorf("check was %s %s Host %s, want %s /healthz?full=1 Host %s", r.Method, r.URL.RequestURI(), r.Host, wantMethod, wantHost)
			}
			if ua := r.Header.Get("User-Agent"); ua != userAgent {
				t.Errorf("User-Agent = %q, want %q", ua, userAgent)
			}
			if got := srv.State() == upstream.Up; got != tt.wantUp {
				t.Errorf("up = %v, want %v (health %+v)", got, tt.wantUp, srv.Health())
			}
		})
	}
}

// TestFirstChecksSpread: the first checks of many servers are spread over
// the fast interval rather than made in one instant.
func TestFirstChecksSpread(t *testing.T) {
	clk := newClock()
	var servers []*upstream.Server
	for i := range 200 {
		servers = append(servers, newServer("s"+strconv.Itoa(i), "127.0.0.1:1", upstream.Pending))
	}
	start(t, Options{Backend: "b", Servers: servers, Check: httpCheck("/"), Clock: clk})
	p := clk.Pending()
	distinct := map[time.Duration]bool{}
	for _, d := range p {
		distinct[d] = true
	}
	if len(p) != 200 || len(distinct) < 190 || p[len(p)-1] > 500*time.Millisecond {
		t.Errorf("%d first checks at %d distinct times, last in %v: want 200 spread within 500ms", len(p), len(distinct), p[len(p)-1])
	}
	if p[len(p)-1]-p[0] < 400*time.Millisecond {
		t.Errorf("first checks span %v..%v, want them over most of the fast interval", p[0], p[len(p)-1])
	}
}

// TestStop: Stop ends a check in flight at once, leaves the server as it
// was, and nothing fires afterwards.
func TestStop(t *testing.T) {
	addr, accepted := silentAddr(t)
	srv := newServer("s", addr, upstream.Pending)
	h := httpCheck("/")
	h.FastInterval = config.Duration(time.Millisecond)
	h.Timeout = config.Duration(time.Minute)
	checks := make(chan struct{}, 1)
	m, err := Start(Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: h,
		OnCheck: func(*upstream.Server, bool, string) { checks <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the check to be under way: its connection is accepted and
	// never answered.
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no check connected")
	}
	begin := time.Now()
	m.Stop()
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Stop took %v with a check in flight", d)
	}
	if srv.State() != upstream.Pending || len(checks) != 0 {
		t.Errorf("after Stop: state %v, %d checks reported; want pending and none", srv.State(), len(checks))
	}
	m.Stop() // a second Stop is harmless
}

// TestReplacedMonitorKeepsPace: servers that checks have already judged
// (a Monitor replaced by a reload) are checked spread over their steady
// interval, not all within the fast interval, so that a reload does not
// check every server together.
func TestReplacedMonitorKeepsPace(t *testing.T) {
	stub := newChecked(t)
	clk := newClock()
	var servers []*upstream.Server
	for i := range 40 {
		srv := newServer(fmt.Sprintf("s%d", i), stub.addr(), upstream.Up)
		srv.CountCheck(true)
		servers = append(servers, srv)
	}
	h := httpCheck("/")
	start(t, Options{Backend: "b", Servers: servers, Check: h, Clock: clk, Seed: 7})
	var latest time.Duration
	for _, d := range clk.Pending() {
		if d > h.Interval.D() {
			t.Fatalf("first check in %v, want within the steady interval %v", d, h.Interval.D())
		}
		latest = max(latest, d)
	}
	if latest <= h.FastInterval.D() {
		t.Fatalf("every first check within %v: judged servers were rushed like new ones", latest)
	}
}
