package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/netcheck"
)

// dashRig is a running engine in front of real loopback servers whose
// health endpoints a test can fail, with its admin endpoint and a trickle
// of traffic, so that the dashboard has something true to show.
type dashRig struct {
	eng   *engine.Engine
	admin string // base URL of the admin endpoint
	proxy string // base URL of the proxy listener
	// sick makes a server's /health answer 503, by server name.
	sick map[string]*atomic.Bool
	// servers lists every server as "backend/server", in configuration order.
	servers []string
	cfg     func(variant int) *config.Config
	// findings are the network check's, which the status carries.
	findings []Finding
}

func newDashRig(t *testing.T) *dashRig {
	t.Helper()
	r := &dashRig{sick: map[string]*atomic.Bool{}}
	addr := map[string]string{}
	for _, name := range []string{"web-1", "web-2", "web-3", "api-1"} {
		sick := new(atomic.Bool)
		r.sick[name] = sick
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/health" && sick.Load() {
				http.Error(w, "sick", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, name)
		}))
		t.Cleanup(be.Close)
		addr[name] = be.Listener.Addr().String()
	}
	// A server nobody listens on: every request to it fails, so that the
	// error columns and the error log have something to show.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr["legacy-1"] = ln.Addr().String()
	ln.Close()

	r.cfg = func(variant int) *config.Config {
		health := config.NewHealth("/health")
		health.Interval = config.Duration(250 * time.Millisecond)
		health.FastInterval = config.Duration(100 * time.Millisecond)
		health.DownInterval = config.Duration(250 * time.Millisecond)
		health.Rise, health.Fall = 1, 2
		cfg := config.New()
		cfg.Log.Access = "off"
		cfg.Listeners = []config.Listener{config.NewListener("web", "127.0.0.1:0")}
		shop := config.NewBackend("shop", config.NewServer("web-1", addr["web-1"]),
			config.NewServer("web-2", addr["web-2"]), config.NewServer("web-3", addr["web-3"]))
		shop.Health = health
		shop.DrainTimeout = config.Duration(time.Duration(variant+1) * time.Second)
		api := config.NewBackend("api", config.NewServer("api-1", addr["api-1"]))
		api.Health = health
		api.Balance = "least_conn"
		legacy := config.NewBackend("legacy", config.NewServer("legacy-1", addr["legacy-1"]))
		cfg.Backends = []config.Backend{shop, api, legacy}
		apiRoute, legacyRoute := config.NewRoute("api", "api"), config.NewRoute("legacy", "legacy")
		apiRoute.PathPrefix, legacyRoute.PathPrefix = "/api", "/legacy"
		cfg.Routes = []config.Route{apiRoute, legacyRoute, config.NewRoute("shop", "shop")}
		if variant > 0 {
			cfg.Backends[1].Balance = "round_robin"
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	r.servers = []string{"shop/web-1", "shop/web-2", "shop/web-3", "api/api-1", "legacy/legacy-1"}

	logger := slog.New(slog.DiscardHandler)
	r.eng = engine.New(engine.Options{Logger: logger})
	if err := r.eng.Start(r.cfg(0)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.eng.Shutdown(context.Background()) })
	// The network check of `portier run`, on the proxy's listener: on
	// loopback it finds that only this host can connect.
	watch := netcheck.NewWatch(netcheck.WatchOptions{Logger: logger, Scope: func() netcheck.Scope {
		return netcheck.Scope{Listeners: []netcheck.Listener{{Name: "web", Address: r.eng.Addr("web").String()}}, OwnSockets: true}
	}})
	if _, err := watch.Check(context.Background()); err != nil {
		t.Logf("network check: %v", err)
	}
	r.findings = watch.Findings()
	a := New(Options{Address: "127.0.0.1:0", Token: token, Engine: r.eng, Logger: logger, Network: watch})
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	r.admin = "http://" + a.Addr().String()
	r.proxy = "http://" + r.eng.Addr("web").String()
	return r
}

// traffic sends a few requests a second to every route until the test
// ends.
func (r *dashRig) traffic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	client := &http.Client{Timeout: 2 * time.Second}
	paths := []string{"/", "/", "/", "/api/items", "/", "/", "/legacy/old"}
	wg.Go(func() {
		tick := time.NewTicker(30 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", r.proxy+paths[i%len(paths)], nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
}

// status reads GET /api/v1/status.
func (r *dashRig) status(t *testing.T) Status {
	t.Helper()
	code, body := call(t, "GET", r.admin+"/api/v1/status", "", "")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("status: %d %v %s", code, err, body)
	}
	return st
}

// server finds "backend/server" in a status.
func (st Status) server(name string) (ServerStatus, bool) {
	for _, b := range st.Backends {
		i := slices.IndexFunc(b.Servers, func(s ServerStatus) bool { return b.Name+"/"+s.Name == name })
		if i >= 0 {
			return b.Servers[i], true
		}
	}
	return ServerStatus{}, false
}

// waitUp waits until every server with a health check is up.
func (r *dashRig) waitUp(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		st := r.status(t)
		up := 0
		for _, name := range r.servers {
			if s, _ := st.server(name); s.State == "up" {
				up++
			}
		}
		if up == len(r.servers) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers not up after 15s: %+v", st.Backends)
		}
	}
}
