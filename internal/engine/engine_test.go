package engine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// app is a backend server whose /status can be switched between healthy
// and failing, and which counts the requests that are not health checks.
type app struct {
	srv     *httptest.Server
	healthy atomic.Bool
	served  atomic.Int64
}

func newApp(t *testing.T, name string, healthy bool) *app {
	t.Helper()
	a := &app{}
	a.healthy.Store(healthy)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status" {
			if !a.healthy.Load() {
				http.Error(w, "starting", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
			return
		}
		a.served.Add(1)
		io.WriteString(w, name)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) addr() string { return a.srv.Listener.Addr().String() }

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEngine runs cfg and returns the engine and the proxy's base URL;
// access lines go to access when it is given.
func startEngine(t *testing.T, cfg *config.Config, access ...*syncBuffer) (*Engine, string) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o := Options{Logger: slog.New(slog.DiscardHandler)}
	if len(access) > 0 {
		o.AccessLog = slog.New(slog.NewJSONHandler(access[0], nil))
	}
	e := New(o)
	if err := e.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e, "http://" + e.Addr("web").String()
}

// checkedConfig is one listener in front of one backend with a fast HTTP
// health check on /status.
func checkedConfig(servers ...config.Server) *config.Config {
	cfg := config.New()
	cfg.Admin.Address = config.AdminOff
	cfg.Log.Access = "off"
	cfg.Listeners = []config.Listener{config.NewListener("web", "127.0.0.1:0")}
	b := config.NewBackend("app", servers...)
	b.Health = config.NewHealth("/status")
	b.Health.Interval = config.Duration(100 * time.Millisecond)
	b.Health.FastInterval = config.Duration(30 * time.Millisecond)
	b.Health.DownInterval = config.Duration(100 * time.Millisecond)
	b.Health.Timeout = config.Duration(50 * time.Millisecond)
	cfg.Backends = []config.Backend{b}
	cfg.Routes = []config.Route{config.NewRoute("all", "app")}
	return cfg
}

func server(e *Engine, name string) *upstream.Server {
	for _, s := range e.Snapshot().Backends["app"].Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// waitState polls until the server reaches st, failing after d.
func waitState(t *testing.T, s *upstream.Server, st upstream.State, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for s.State() != st {
		if time.Since(start) > d {
			t.Fatalf("%s still %s (%s) after %v, want %s", s.Name, s.State(), s.Health().Reason, d, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// waitFor polls cond for up to 2s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 2*time.Second {
			t.Fatal("condition not met within 2s")
		}
	}
}

func mustGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Portier-Reason")
}

// TestServerEarnsItsTraffic: a server that is not yet healthy gets zero
// requests, counted at the server, while the other serves every request
// without a failure; once it passes rise checks it gets its share.
func TestServerEarnsItsTraffic(t *testing.T) {
	ready, late := newApp(t, "ready", true), newApp(t, "late", false)
	e, base := startEngine(t, checkedConfig(
		config.NewServer("ready", ready.addr()), config.NewServer("late", late.addr())))
	if st := server(e, "late").State(); st != upstream.Pending {
		t.Fatalf("a new checked server starts %s, want pending", st)
	}
	waitState(t, server(e, "ready"), upstream.Up, 2*time.Second)
	for range 50 {
		if code, reason := mustGet(t, base+"/"); code != 200 {
			t.Fatalf("request failed: %d %s", code, reason)
		}
	}
	if n := late.served.Load(); n != 0 {
		t.Fatalf("the server that never passed a check got %d requests", n)
	}
	if h := server(e, "late").Health(); h.Reason != "status 503" {
		t.Errorf("reason of the failing server: %q", h.Reason)
	}
	late.healthy.Store(true)
	waitState(t, server(e, "late"), upstream.Up, 2*time.Second)
	for range 50 {
		if code, reason := mustGet(t, base+"/"); code != 200 {
			t.Fatalf("request failed: %d %s", code, reason)
		}
	}
	if n := late.served.Load(); n < 20 {
		t.Fatalf("after passing its checks the server got only %d of 50 requests", n)
	}
}

// TestFailingServerLeavesRotation: a server whose /status starts failing
// is out within fall x fast_interval + timeout (plus jitter and scheduling
// slack), and back after rise passes; all down is 503 at once.
func TestFailingServerLeavesRotation(t *testing.T) {
	a, b := newApp(t, "a", true), newApp(t, "b", true)
	access := &syncBuffer{}
	e, base := startEngine(t, checkedConfig(config.NewServer("a", a.addr()), config.NewServer("b", b.addr())), access)
	sa := server(e, "a")
	waitState(t, sa, upstream.Up, 2*time.Second)
	waitState(t, server(e, "b"), upstream.Up, 2*time.Second)

	a.healthy.Store(false)
	// One steady interval may pass before the first failing check; then
	// fall (3) checks at fast_interval, each within timeout.
	took := waitState(t, sa, upstream.Down, 2*time.Second)
	if limit := 110*time.Millisecond + 3*(33+50)*time.Millisecond + 100*time.Millisecond; took > limit {
		t.Errorf("went down after %v, want within %v", took, limit)
	}
	before := a.served.Load()
	for range 20 {
		if code, _ := mustGet(t, base+"/"); code != 200 {
			t.Fatalf("request failed with one server down: %d", code)
		}
	}
	if a.served.Load() != before {
		t.Fatal("a down server still got requests")
	}

	b.healthy.Store(false)
	waitState(t, server(e, "b"), upstream.Down, 2*time.Second)
	start := time.Now()
	code, reason := mustGet(t, base+"/")
	if elapsed := time.Since(start); code != 503 || reason != "no_healthy_server" || elapsed > 50*time.Millisecond {
		t.Fatalf("all servers down: %d %q after %v, want 503 no_healthy_server within 50ms", code, reason, elapsed)
	}
	// The access line names every server that could not take it, and why.
	waitFor(t, func() bool { return strings.Contains(access.String(), `"reason":"no_healthy_server"`) })
	for _, want := range []string{`"servers":"a down (status 503 since `, `; b down (status 503 since `} {
		if !strings.Contains(access.String(), want) {
			t.Errorf("access log lacks %s:\n%s", want, access.String())
		}
	}
	if failed, passed := server(e, "b").Checks(); failed < 3 || passed < 2 {
		t.Errorf("health checks counted for b: %d failed, %d passed", failed, passed)
	}

	a.healthy.Store(true)
	waitState(t, sa, upstream.Up, 2*time.Second)
	if code, _ := mustGet(t, base+"/"); code != 200 {
		t.Fatalf("after recovery: %d", code)
	}
}
