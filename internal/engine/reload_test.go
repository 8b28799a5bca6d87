package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// load returns a loader of cfg for Reload, validating it as config.Load
// would.
func load(cfg *config.Config) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return cfg, nil
	}
}

// TestReloadAddsServerThatEarnsItsTraffic: a server added by a reload
// gets zero requests until it passes rise checks, counted at the server,
// while the running one keeps its health and serves every request.
func TestReloadAddsServerThatEarnsItsTraffic(t *testing.T) {
	a, late := newApp(t, "a", true), newApp(t, "late", false)
	e, base := startEngine(t, checkedConfig(config.NewServer("a", a.addr())))
	sa := server(e, "a")
	waitState(t, sa, upstream.Up, 2*time.Second)

	stop := hammer(t, base+"/", 4)
	res := e.Reload(load(checkedConfig(config.NewServer("a", a.addr()), config.NewServer("late", late.addr()))))
	if !res.OK() {
		t.Fatal(res.Err)
	}
	if got := res.Diff.String(); got != "+ backends.app.servers.late\n" {
		t.Errorf("diff:\n%s", got)
	}
	if server(e, "a") != sa || sa.State() != upstream.Up {
		t.Fatalf("the unchanged server was not kept up: %v", server(e, "a").State())
	}
	if st := server(e, "late").State(); st != upstream.Pending {
		t.Fatalf("a server added by reload starts %s, want pending", st)
	}
	// Let it fail several checks while the clients send many requests.
	waitFor(t, func() bool { failed, _ := server(e, "late").Checks(); return failed >= 5 })
	if n := late.served.Load(); n != 0 {
		t.Fatalf("the added server got %d requests before passing a check", n)
	}
	late.healthy.Store(true)
	waitState(t, server(e, "late"), upstream.Up, 2*time.Second)
	waitFor(t, func() bool { return late.served.Load() > 10 })
	if n := stop(); n.failed != 0 || n.ok < 20 {
		t.Fatalf("requests across the reload: %d ok, %d failed: %v", n.ok, n.failed, n.err)
	}
}

// TestReloadKeepsAndDropsState: operator state and API weight of an
// unchanged server survive a reload; a changed address makes a new
// server that starts pending; a changed configured weight wins over the
// API's.
func TestReloadKeepsAndDropsState(t *testing.T) {
	a, b, c := newApp(t, "a", true), newApp(t, "b", true), newApp(t, "c", true)
	cfg := checkedConfig(config.NewServer("a", a.addr()), config.NewServer("b", b.addr()))
	e, _ := startEngine(t, cfg)
	sa, sb := server(e, "a"), server(e, "b")
	waitState(t, sa, upstream.Up, 2*time.Second)
	waitState(t, sb, upstream.Up, 2*time.Second)
	sa.SetAdmin(upstream.Draining)
	sa.SetAPIWeight(7)
	sb.SetAdmin(upstream.Maintenance)

	next := checkedConfig(config.NewServer("a", a.addr()), config.NewServer("b", c.addr()))
	res := e.Reload(load(next))
	if !res.OK() {
		t.Fatal(res.Err)
	}
	if got := server(e, "a"); got != sa || got.Admin() != upstream.Draining || got.BaseWeight() != 7 || got.State() != upstream.Up {
		t.Errorf("unchanged server: kept=%v admin=%v weight=%d state=%v", got == sa, got.Admin(), got.BaseWeight(), got.State())
	}
	nb := server(e, "b")
	if nb == sb || nb.Admin() != upstream.Ready || nb.State() != upstream.Pending || nb.Address != c.addr() {
		t.Errorf("moved server: new=%v admin=%v state=%v address=%s", nb != sb, nb.Admin(), nb.State(), nb.Address)
	}
	if !strings.Contains(res.Diff.String(), "b") {
		t.Errorf("diff does not name the changed server:\n%s", res.Diff)
	}

	// The configured weight changes: the configuration wins.
	next2 := checkedConfig(config.NewServer("a", a.addr()), config.NewServer("b", c.addr()))
	next2.Backends[0].Servers[0].Weight = 50
	if res := e.Reload(load(next2)); !res.OK() {
		t.Fatal(res.Err)
	}
	if w, api := server(e, "a").APIWeight(); api || server(e, "a").BaseWeight() != 50 {
		t.Errorf("after the configured weight changed: weight %d (api %v), want 50 from the config", w, api)
	}

	// A new timeout: same identity, new pool, state inherited.
	next3 := checkedConfig(config.NewServer("a", a.addr()), config.NewServer("b", c.addr()))
	next3.Backends[0].Servers[0].Weight = 50
	next3.Backends[0].Timeouts.Connect = config.Duration(3 * time.Second)
	if res := e.Reload(load(next3)); !res.OK() {
		t.Fatal(res.Err)
	}
	if got := server(e, "a"); got == sa || got.Admin() != upstream.Draining || got.State() != upstream.Up {
		t.Errorf("server with a new pool: new=%v admin=%v state=%v", got != sa, got.Admin(), got.State())
	}
}

// TestReloadRefusedKeepsServing: a configuration that does not load, one
// that does not validate and one whose new listener cannot bind are each
// refused whole; the old configuration serves on, and counters say so.
func TestReloadRefusedKeepsServing(t *testing.T) {
	a := newApp(t, "a", true)
	cfg := checkedConfig(config.NewServer("a", a.addr()))
	e, base := startEngine(t, cfg)
	waitState(t, server(e, "a"), upstream.Up, 2*time.Second)
	before := e.Snapshot()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	conflict := checkedConfig(config.NewServer("a", a.addr()))
	conflict.Listeners = append(conflict.Listeners,
		config.NewListener("other", "127.0.0.1:0"), config.NewListener("taken", busy.Addr().String()))
	conflict.Routes[0].Listeners = []string{"web", "other", "taken"}
	invalid := checkedConfig(config.NewServer("a", a.addr()))
	invalid.Routes[0].Backend = "nowhere"

	for _, tc := range []struct {
		name string
		load func() (*config.Config, error)
		want string
	}{
		{"load error", func() (*config.Config, error) { return nil, errors.New("portier.yaml:3:1: bad") }, "portier.yaml:3:1"},
		{"invalid", load(invalid), "nowhere"},
		{"bind conflict", load(conflict), "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.Reload(tc.load)
			if res.OK() || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("reload: %v, want an error with %q", res.Err, tc.want)
			}
			if e.Snapshot() != before {
				t.Fatal("a refused reload replaced the running snapshot")
			}
			if code, _ := mustGet(t, base+"/"); code != 200 {
				t.Fatalf("after a refused reload: %d", code)
			}
		})
	}
	if st := e.ReloadStats(); st.Failed != 3 || st.OK != 0 {
		t.Errorf("stats: %+v", st)
	}
	if h := e.History(); len(h) != 3 || h[2].Err == nil {
		t.Errorf("history: %+v", h)
	}
}

// outcome counts a client's requests.
type outcome struct {
	ok, failed int
	err        error
}

// hammer sends GETs to url from n keep-alive clients until the returned
// stop is called, which reports what they saw.
func hammer(t *testing.T, url string, n int) (stop func() outcome) {
	t.Helper()
	done := make(chan struct{})
	var mu sync.Mutex // guards out
	var out outcome
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newKeepAliveClient()
			for {
				select {
				case <-done:
					return
				default:
				}
				code, err := getStatus(c, url)
				mu.Lock()
				if err != nil || code != 200 {
					out.failed++
					if out.err == nil {
						out.err = fmt.Errorf("status %d: %v", code, err)
					}
				} else {
					out.ok++
				}
				mu.Unlock()
			}
		}()
	}
	return func() outcome {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// keepCopies is a Listen hook that keeps a copy of every socket it binds,
// as the binary upgrade's hand-over does.
type keepCopies struct {
	mu    sync.Mutex // guards files
	files []*os.File
	addrs []string
}

func (k *keepCopies) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		ln.Close()
		return nil, err
	}
	k.mu.Lock()
	k.files = append(k.files, f)
	k.addrs = append(k.addrs, ln.Addr().String())
	k.mu.Unlock()
	return ln, nil
}

func (k *keepCopies) close() {
	for _, f := range k.files {
		f.Close()
	}
}

// TestRefusedReloadReleasesSockets: a listener bound for a reload that is
// then refused (another listener's address is taken) does not stay
// listening through the copy kept for upgrades: connections to it are
// refused, not queued.
func TestRefusedReloadReleasesSockets(t *testing.T) {
	a := newApp(t, "a", true)
	cfg := checkedConfig(config.NewServer("a", a.addr()))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	k := &keepCopies{}
	defer k.close()
	e := New(Options{Logger: slog.New(slog.DiscardHandler), Listen: k.listen})
	if err := e.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	next := checkedConfig(config.NewServer("a", a.addr()))
	next.Listeners = append(next.Listeners,
		config.NewListener("other", "127.0.0.1:0"), config.NewListener("taken", busy.Addr().String()))
	next.Routes[0].Listeners = []string{"web", "other", "taken"}
	if res := e.Reload(load(next)); res.OK() {
		t.Fatal("a reload with a taken address was accepted")
	}
	if len(k.addrs) != 2 {
		t.Fatalf("bound %v, want web and other", k.addrs)
	}
	c, err := net.DialTimeout("tcp", k.addrs[1], time.Second)
	if err == nil {
		c.Close()
		t.Fatal("the refused reload's listener still accepts connections")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v, want connection refused", err)
	}
}

// TestReloadAfterShutdown: a reload that comes after Shutdown (a SIGHUP or
// a file change racing it) is refused and binds nothing.
func TestReloadAfterShutdown(t *testing.T) {
	a := newApp(t, "a", true)
	cfg := checkedConfig(config.NewServer("a", a.addr()))
	e, _ := startEngine(t, cfg)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := checkedConfig(config.NewServer("a", a.addr()))
	next.Listeners = append(next.Listeners, config.NewListener("other", "127.0.0.1:0"))
	next.Routes[0].Listeners = []string{"web", "other"}
	if res := e.Reload(load(next)); res.OK() || !strings.Contains(res.Err.Error(), "not running") {
		t.Fatalf("reload after shutdown: %v, want refused", res.Err)
	}
	if e.Addr("other") != nil {
		t.Fatal("a reload after shutdown bound a listener")
	}
}
