package engine

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/state"
	"github.com/portier/portier/internal/upstream"
)

// A reload at the size the reload issue asks about: one http listener,
// 1,000 routes by host (r0042.example.test), 1,000 round_robin backends of
// 5 servers each, every backend with an HTTP health check at the default
// timings and the default initial state (down until rise checks pass).
//
// Backends b0000 and b0001 are real: 5 httptest servers each, answering
// their backend's name. The other 4,990 servers are distinct loopback
// addresses (127.1.x.y:9) where nothing listens, so their checks fail at
// once with "connection refused" and they are down; no request goes there.
// Route r0000 is the changed route: it goes to b0000 in the first
// configuration and to b0001 in the second, so a request to it tells which
// routing served it.

const (
	scaleBackends   = 1000 // and as many routes
	scaleServersPer = 5
	scaleEditedSrv  = 500 // the backend whose last server moves in the typical edit
)

// scaleEdit is what differs between the two configurations a benchmark
// alternates between.
type scaleEdit int

const (
	// editOne moves route r0000 to b0001 and backend b0500's last server to
	// another address: a typical edit.
	editOne scaleEdit = iota
	// editRoutes moves every route to the next backend (r0000 to b0001).
	editRoutes
	// editServers moves route r0000 and gives all 4,990 servers that are
	// not real another address: every one is a new server.
	editServers
)

// scaleFixture holds the addresses of the real servers of b0000 and b0001.
type scaleFixture struct {
	real [2][]string
}

func newScaleFixture(tb testing.TB) *scaleFixture {
	tb.Helper()
	f := &scaleFixture{}
	for b := range f.real {
		name := backendName(b)
		for range scaleServersPer {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, name)
			}))
			tb.Cleanup(s.Close)
			f.real[b] = append(f.real[b], s.Listener.Addr().String())
		}
	}
	return f
}

func backendName(i int) string { return fmt.Sprintf("b%04d", i) }

func routeHost(i int) string { return fmt.Sprintf("r%04d.example.test", i) }

// closedAddr is a loopback address where nothing listens, distinct for
// each server n; the second configuration of an edit moves it to 127.2/16.
func closedAddr(n int, moved bool) string {
	octet := 1
	if moved {
		octet = 2
	}
	return fmt.Sprintf("127.%d.%d.%d:9", octet, n>>8, n&255)
}

// config returns the first (second false) or second configuration of edit.
func (f *scaleFixture) config(edit scaleEdit, second bool) *config.Config {
	cfg := config.New()
	cfg.Admin.Address = config.AdminOff
	cfg.Log.Access = "off"
	cfg.Listeners = []config.Listener{config.NewListener("web", "127.0.0.1:0")}
	for i := range scaleBackends {
		target := i
		if second && (i == 0 || edit == editRoutes) {
			target = (i + 1) % scaleBackends
		}
		r := config.NewRoute(fmt.Sprintf("r%04d", i), backendName(target))
		r.Hosts = []string{routeHost(i)}
		cfg.Routes = append(cfg.Routes, r)

		var servers []config.Server
		for k := range scaleServersPer {
			n := i*scaleServersPer + k
			var addr string
			switch {
			case i < len(f.real):
				addr = f.real[i][k]
			case edit == editOne:
				addr = closedAddr(n, second && i == scaleEditedSrv && k == scaleServersPer-1)
			default:
				addr = closedAddr(n, second && edit == editServers)
			}
			servers = append(servers, config.NewServer(fmt.Sprintf("s%d", k), addr))
		}
		b := config.NewBackend(backendName(i), servers...)
		b.Health = config.NewHealth("/")
		// As config.Load derives them, so that both loaders give one
		// configuration.
		b.InitialState, b.HashKey = config.StateDown, config.HashClientIP
		cfg.Backends = append(cfg.Backends, b)
	}
	return cfg
}

// scaleYAML renders cfg, as built by scaleFixture.config, as a file, so
// that a reload can be measured from the bytes a provider reads.
func scaleYAML(cfg *config.Config) []byte {
	var b bytes.Buffer
	b.WriteString("admin: {address: \"off\"}\nlog: {access: \"off\"}\nlisteners:\n")
	for _, l := range cfg.Listeners {
		fmt.Fprintf(&b, "  - {name: %s, address: %q}\n", l.Name, l.Address)
	}
	b.WriteString("routes:\n")
	for _, r := range cfg.Routes {
		fmt.Fprintf(&b, "  - {name: %s, hosts: [%s], backend: %s}\n", r.Name, strings.Join(r.Hosts, ", "), r.Backend)
	}
	b.WriteString("backends:\n")
	for _, bc := range cfg.Backends {
		fmt.Fprintf(&b, "  - name: %s\n    health: {path: %s}\n    servers:\n", bc.Name, bc.Health.Path)
		for _, s := range bc.Servers {
			fmt.Fprintf(&b, "      - {name: %s, address: %q}\n", s.Name, s.Address)
		}
	}
	return b.Bytes()
}

func loadYAML(data []byte) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		return config.Load("portier.yaml", data, func(string) (string, bool) { return "", false })
	}
}

// startScaleEngine starts cfg and waits until the real servers passed
// their checks and every other server failed one.
func startScaleEngine(tb testing.TB, cfg *config.Config) (*Engine, string) {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	e := New(Options{Logger: slog.New(slog.DiscardHandler)})
	if err := e.Start(cfg); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Shutdown(tb.Context()) })
	waitScale(tb, e)
	return e, "http://" + e.Addr("web").String()
}

// waitScale waits until every server of e is up (real) or down (closed).
func waitScale(tb testing.TB, e *Engine) {
	tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var pending []string
		for _, b := range e.Snapshot().Backends {
			for _, s := range b.Servers {
				real := b.Name == backendName(0) || b.Name == backendName(1)
				if (real && s.State() != upstream.Up) || (!real && s.State() != upstream.Down) {
					pending = append(pending, fmt.Sprintf("%s/%s %s %s (%s)", b.Name, s.Name, s.Address, s.State(), s.Health().Reason))
				}
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d servers not settled after 20s, first %s", len(pending), pending[0])
		}
	}
}

// scaleClient asks an engine for route r0000.
type scaleClient struct {
	e    *Engine
	c    *http.Client
	base string
}

// ask sends one request for route r0000 and returns the body, which names
// the backend that answered.
func (sc scaleClient) ask() (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, sc.base+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = routeHost(0)
	resp, err := sc.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// checkCounts returns how many checks each server of e has had.
func checkCounts(e *Engine) map[*upstream.Server]uint64 {
	out := make(map[*upstream.Server]uint64)
	for _, b := range e.Snapshot().Backends {
		for _, s := range b.Servers {
			failed, passed := s.Checks()
			out[s] = failed + passed
		}
	}
	return out
}

// waitChecked waits until every server of e has been checked since before
// was taken (a server not in before, since it was made). A reload restarts
// every check: a new server's first one falls within the fast interval,
// a judged server's within its own interval (5s when down). Waiting for
// them keeps one reload's checks from running into the next, as reloads
// minutes apart would not.
func waitChecked(tb testing.TB, e *Engine, before map[*upstream.Server]uint64) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left := 0
		for s, n := range checkCounts(e) {
			if n <= before[s] {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d servers not checked within 10s of a reload", left)
		}
	}
}

// BenchmarkReload1000Routes5000Servers measures Reload end to end (the
// loader validates a configuration built in code, or parses and validates
// YAML) alternating between two configurations. After each reload, with
// the timer stopped, one request to r0000 must get the new backend's
// answer; ns-to-serve/op is the time from the reload request to that
// answer. Then, still untimed, it waits for the checks the reload
// restarted (see waitChecked). On a shared machine the mean is at the
// mercy of other work, so the median and fastest reload and the median
// time to serve are reported too.
func BenchmarkReload1000Routes5000Servers(b *testing.B) {
	f := newScaleFixture(b)
	for _, bc := range []struct {
		name string
		edit scaleEdit
		yaml bool
	}{
		{name: "one_route_one_server", edit: editOne},
		{name: "one_route_one_server_yaml", edit: editOne, yaml: true},
		{name: "every_route", edit: editRoutes},
		{name: "every_server", edit: editServers},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfgs := [2]*config.Config{f.config(bc.edit, false), f.config(bc.edit, true)}
			loaders := [2]func() (*config.Config, error){load(cfgs[0]), load(cfgs[1])}
			if bc.yaml {
				loaders = [2]func() (*config.Config, error){loadYAML(scaleYAML(cfgs[0])), loadYAML(scaleYAML(cfgs[1]))}
			}
			e, base := startScaleEngine(b, cfgs[0])
			sc := scaleClient{e: e, c: newKeepAliveClient(), base: base}
			defer sc.c.CloseIdleConnections()
			var took, served []time.Duration
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				next, before := (n+1)%2, checkCounts(e)
				b.StartTimer()
				start := time.Now()
				res := e.Reload(loaders[next])
				b.StopTimer()
				took = append(took, time.Since(start))
				if !res.OK() || res.Diff.Empty() {
					b.Fatalf("reload %d: %v (%d changes)", n, res.Err, len(res.Diff.Changes))
				}
				code, body, err := sc.ask()
				served = append(served, time.Since(start))
				if want := backendName(next); err != nil || code != 200 || body != want {
					b.Fatalf("reload %d: r0000 answered %d %q (%v), want %q", n, code, body, err, want)
				}
				waitChecked(b, e, before)
				n++
				b.StartTimer()
			}
			reportSpread(b, took, served)
		})
	}
}

// reportSpread reports the mean time to serve, and the median and fastest
// of took and the median of served.
func reportSpread(b *testing.B, took, served []time.Duration) {
	var sum time.Duration
	for _, d := range served {
		sum += d
	}
	slices.Sort(took)
	slices.Sort(served)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(served)), "ns-to-serve/op")
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns/op")
	b.ReportMetric(float64(took[0].Nanoseconds()), "min-ns/op")
	b.ReportMetric(float64(served[len(served)/2].Nanoseconds()), "p50-ns-to-serve/op")
}

// BenchmarkReloadPhases1000Routes5000Servers times the steps of a reload
// one by one, for the typical edit, on a running engine: what the
// configuration's loader and Reload's swap do in turn, without the
// commit itself (which the CPU profile of the benchmark above shows to be
// negligible). A step's error fails the benchmark.
func BenchmarkReloadPhases1000Routes5000Servers(b *testing.B) {
	f := newScaleFixture(b)
	next := f.config(editOne, true)
	e, _ := startScaleEngine(b, f.config(editOne, false))
	old := e.Snapshot()
	data := scaleYAML(next)
	e.mu.Lock()
	olds := e.listeners
	e.mu.Unlock()
	snap, err := build(next, carry(old))
	if err != nil {
		b.Fatal(err)
	}
	diff := config.Compare(old.Config, next)
	for _, ph := range []struct {
		name string
		step func() error
		// settle, when set, runs untimed after each step.
		settle bool
	}{
		{name: "load_yaml", step: func() error { _, err := loadYAML(data)(); return err }},
		{name: "validate", step: next.Validate},
		{name: "compare", step: func() error { return wantCount("changes", len(config.Compare(old.Config, next).Changes), 2) }},
		{name: "carry_build", step: func() error { _, err := build(next, carry(old)); return err }},
		{name: "plan_listeners", step: func() error {
			p, err := e.planListeners(snap, olds, nil)
			if err != nil {
				return err
			}
			return wantCount("new listeners", len(p.fresh), 0)
		}},
		// What swap does between the plan and the commit, on the running
		// snapshot: the new checks replace the old ones. Each round waits
		// for the checks it restarted.
		{name: "restart_health", settle: true, step: func() error {
			old.startResolvers(e.opts.Logger)
			old.stopHealth()
			return old.startHealth(e.opts.Logger)
		}},
		// What swap does after the commit: the servers whose saved state
		// the new configuration drops, and the log line of the diff.
		{name: "state_match", step: func() error {
			_, dropped, _ := state.Match(old.RuntimeState(), identityOf(next))
			return wantCount("dropped servers", len(dropped), 1)
		}},
		{name: "diff_string", step: func() error { _ = diff.String(); return nil }},
	} {
		b.Run(ph.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var before map[*upstream.Server]uint64
				if ph.settle {
					b.StopTimer()
					before = checkCounts(e)
					b.StartTimer()
				}
				if err := ph.step(); err != nil {
					b.Fatal(err)
				}
				if ph.settle {
					b.StopTimer()
					waitChecked(b, e, before)
					b.StartTimer()
				}
			}
		})
	}
}

func wantCount(what string, got, want int) error {
	if got != want {
		return fmt.Errorf("%d %s, want %d", got, what, want)
	}
	return nil
}

// TestReloadServesAtScale: with 1,000 routes and 5,000 servers, a client
// asking for the changed route in a tight loop while Reload runs never
// fails and gets the new backend's answer by the time Reload returns. It
// logs the time from the reload request to the first new answer, for the
// typical edit and for one that changes every route.
//
// Unlike the benchmark, it reloads again without waiting for the checks
// the last reload restarted (waitChecked): that wait is up to a down
// server's 5s interval per reload, and nothing asserted here depends on
// it. That checks keep their pace across a reload is
// health.TestReplacedMonitorKeepsPace.
func TestReloadServesAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 5,000 servers' health checks")
	}
	f := newScaleFixture(t)
	// The first configuration of every edit is the same one.
	e, base := startScaleEngine(t, f.config(editOne, false))
	sc := scaleClient{e: e, c: newKeepAliveClient(), base: base}
	defer sc.c.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		edit scaleEdit
	}{
		{name: "one route one server", edit: editOne},
		{name: "every route", edit: editRoutes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgs := [2]*config.Config{f.config(tc.edit, false), f.config(tc.edit, true)}
			var took, served []time.Duration
			for i := range 4 { // even: the engine ends on the first configuration
				next := (i + 1) % 2
				r, s := sc.reloadAndWatch(t, load(cfgs[next]), backendName(next))
				took, served = append(took, r), append(served, s)
			}
			slices.Sort(took)
			slices.Sort(served)
			t.Logf("Reload took %v (median of %d, max %v); first new answer %v after the request (median, max %v)",
				took[len(took)/2], len(took), took[len(took)-1], served[len(served)/2], served[len(served)-1])
		})
	}
}

// reloadAndWatch reloads with ld while asking for r0000 in a tight loop,
// and returns how long Reload took and when want was first answered, both
// from the reload request. Every answer must be the old or the new
// backend's, and a request sent once Reload has returned must get want.
func (sc scaleClient) reloadAndWatch(t *testing.T, ld func() (*config.Config, error), want string) (took, served time.Duration) {
	t.Helper()
	returned, quit := make(chan struct{}), make(chan struct{})
	defer close(quit)
	seen, failed := make(chan time.Duration, 1), make(chan error, 1)
	start := time.Now()
	go func() {
		for after := false; ; {
			select {
			case <-quit:
				return
			case <-returned:
				after = true
			default:
			}
			code, body, err := sc.ask()
			switch {
			case err != nil || code != 200 || (body != want && body != backendName(0) && body != backendName(1)):
				failed <- fmt.Errorf("r0000 answered %d %q: %v", code, body, err)
				return
			case body == want:
				seen <- time.Since(start)
				return
			case after:
				failed <- fmt.Errorf("r0000 answered %q to a request sent after Reload returned, want %q", body, want)
				return
			}
		}
	}()
	res := sc.e.Reload(ld)
	took = time.Since(start)
	close(returned)
	if !res.OK() {
		t.Fatal(res.Err)
	}
	select {
	case served = <-seen:
	case err := <-failed:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from r0000 within 10s")
	}
	return took, served
}

// TestScaleYAMLMatchesConfig: the file the YAML benchmark loads is the
// configuration built in code.
func TestScaleYAMLMatchesConfig(t *testing.T) {
	f := &scaleFixture{}
	for b := range f.real {
		for k := range scaleServersPer {
			f.real[b] = append(f.real[b], fmt.Sprintf("127.0.0.1:%d", 20000+b*10+k))
		}
	}
	// The first configuration is the same for every edit.
	for _, second := range []bool{false, true} {
		want := f.config(editOne, second)
		got, err := loadYAML(scaleYAML(want))()
		if err != nil {
			t.Fatal(err)
		}
		if d := config.Compare(want, got); !d.Empty() {
			t.Errorf("second %v: the file differs from the configuration in %d places, first %s",
				second, len(d.Changes), d.Changes[0])
		}
	}
}
