package proxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/portier/portier/internal/upstream"
)

func TestHistogramBuckets(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		// first is the index of the first bucket that counts d.
		first int
	}{
		{name: "zero", d: 0, first: 0},
		{name: "on a bound", d: time.Millisecond, first: 1},
		{name: "just above a bound", d: time.Millisecond + 1, first: 2},
		{name: "above every bound", d: 2 * time.Minute, first: NumBuckets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			h.Observe(tt.d)
			b, n, sum := h.Read()
			if n != 1 || sum != tt.d.Seconds() {
				t.Fatalf("count %d sum %v, want 1 and %v", n, sum, tt.d.Seconds())
			}
			for i, c := range b {
				if want := uint64(0); i >= tt.first {
					want = 1
					if c != want {
						t.Errorf("bucket %d (le %v) = %d, want %d", i, BucketBounds()[i], c, want)
					}
				} else if c != want {
					t.Errorf("bucket %d (le %v) = %d, want %d", i, BucketBounds()[i], c, want)
				}
			}
		})
	}
}

// TestStatsSurviveReload: a route's counters and a server's row are kept
// when a new Site for the same names is attached, and dropped with them.
func TestStatsSurviveReload(t *testing.T) {
	st := NewStats()
	mk := func(names ...string) *Site {
		be := &Backend{Name: "b"}
		for _, n := range names {
			be.Servers = append(be.Servers, upstream.NewServer("b", n, "127.0.0.1:1", 1, upstream.Up))
		}
		return &Site{Routes: []*Route{{Name: "r", Backend: be}}}
	}
	s1 := mk("x", "y")
	st.Attach(s1)
	y := s1.Routes[0].Backend.Servers[1]
	s1.Routes[0].flows[0].row(y).count(200, "")

	// y moves first, z is new, x is gone.
	s2 := mk("y", "z")
	st.Attach(s2)
	st.Retain([]*Site{s2})
	if s2.Routes[0].flows[0] != s1.Routes[0].flows[0] {
		t.Fatal("a reload made new counters for the same route and backend")
	}
	y2, z := s2.Routes[0].Backend.Servers[0], s2.Routes[0].Backend.Servers[1]
	if y2.Slot() != y.Slot() || z.Slot() != 2 {
		t.Errorf("slots y %d→%d, z %d; want y kept and z new (2)", y.Slot(), y2.Slot(), z.Slot())
	}
	f := s2.Routes[0].flows[0]
	if got := f.row(y2).Classes()[2]; got != 1 {
		t.Errorf("y's 2xx count after the reload = %d, want 1", got)
	}
	var names []string
	for _, c := range f.Servers() {
		names = append(names, c.Server)
	}
	if len(names) != 3 || names[0] != "" || names[1] != "y" || names[2] != "z" {
		t.Errorf("rows %q, want the none row, y and z (x removed)", names)
	}

	st.Retain(nil)
	if fl := st.Flows(); len(fl) != 1 || fl[0].Route != "" {
		t.Errorf("after every route went, flows %v; want only the unrouted one", fl)
	}
}

// TestStatsCountTraffic sends known traffic through real servers and
// reads every counter it should have moved.
func TestStatsCountTraffic(t *testing.T) {
	ok := newBackend(t, "ok", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	boom := newBackend(t, "boom", upstream.TransportOptions{}, startBackend(t,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })))
	dead := newBackend(t, "dead", upstream.TransportOptions{}, deadAddr(t))
	dead.Retries = 0
	site := newSite(t,
		routeSpec{prefix: "/ok", route: &Route{Name: "ok", Backend: ok}},
		routeSpec{prefix: "/boom", route: &Route{Name: "boom", Backend: boom}},
		routeSpec{prefix: "/dead", route: &Route{Name: "dead", Backend: dead}},
		routeSpec{hosts: []string{"only.test"}, route: &Route{Name: "only", Backend: ok}},
	)
	st := NewStats()
	st.Attach(site)
	base, c := startProxy(t, NewHandler(Options{}, site), false)
	get := func(path string, n int) {
		for range n {
			res, err := c.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, res.Body)
			res.Body.Close()
		}
	}
	get("/ok", 3)
	get("/boom", 2)
	get("/dead", 1)
	get("/nowhere", 1)

	type row struct {
		route, backend, server string
		class                  int
		n                      uint64
		reason                 string
	}
	want := []row{
		{route: "", backend: "", server: "", class: 4, n: 1, reason: reasonNoRoute},
		{route: "boom", backend: "boom", server: "boom-a", class: 5, n: 2},
		{route: "dead", backend: "dead", server: "dead-a", class: 5, n: 1, reason: upstream.ReasonConnectRefused},
		{route: "ok", backend: "ok", server: "ok-a", class: 2, n: 3},
	}
	var got []row
	for _, f := range st.Flows() {
		for _, sc := range f.Servers() {
			cl, rs := sc.Classes(), sc.Reasons()
			for class, n := range cl {
				if n == 0 {
					continue
				}
				r := row{route: f.Route, backend: f.Backend, server: sc.Server, class: class, n: n}
				for i, m := range rs {
					if m > 0 && i < numReasons {
						r.reason = reasons[i]
					}
				}
				got = append(got, r)
			}
		}
		if all, errs := f.Requests(); f.Route == "boom" && (all != 2 || errs != 2) || f.Route == "ok" && (all != 3 || errs != 0) {
			t.Errorf("%s: %d requests, %d errors", f.Route, all, errs)
		}
		if _, n, _ := f.Duration.Read(); f.Route == "ok" && n != 3 {
			t.Errorf("ok's duration histogram counted %d, want 3", n)
		}
		if _, n, _ := f.FirstByte.Read(); f.Route == "boom" && n != 2 {
			t.Errorf("boom's first-byte histogram counted %d, want 2", n)
		}
		if _, n, _ := f.Connect.Read(); f.Route == "ok" && n != 1 {
			t.Errorf("ok opened %d connections, want 1 (keep-alive)", n)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("rows\n%+v\nwant\n%+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	srv := boom.Servers[0]
	if srv.Failures() != 2 || srv.Streak() != 2 || srv.LastFailure() == nil || srv.LastFailure().Reason != "status 503" {
		t.Errorf("boom-a: failures %d streak %d last %+v", srv.Failures(), srv.Streak(), srv.LastFailure())
	}
	if s := ok.Servers[0]; s.Failures() != 0 || s.Busy() <= 0 {
		t.Errorf("ok-a: failures %d busy %v", s.Failures(), s.Busy())
	}
}
