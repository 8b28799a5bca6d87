package engine

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// TestRequestStatsAcrossReload: counters keep counting across a reload
// that keeps the route, and go with a route the reload removes; errors
// .detail reaches the error pages at the reload.
func TestRequestStatsAcrossReload(t *testing.T) {
	a := newApp(t, "a", true)
	cfg := checkedConfig(config.NewServer("a", a.addr()))
	extra := config.NewRoute("extra", "app")
	extra.PathPrefix = "/extra"
	cfg.Routes = append(cfg.Routes, extra)
	e, base := startEngine(t, cfg)
	waitState(t, server(e, "a"), upstream.Up, 2*time.Second)
	get := func(path string) (int, string) {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	count := func(route string) uint64 {
		for _, f := range e.RequestStats().Flows() {
			if f.Route == route && f.Backend == "app" {
				n, _ := f.Requests()
				return n
			}
		}
		return 0
	}
	get("/")
	get("/extra")

	next := checkedConfig(config.NewServer("a", a.addr()), config.NewServer("dead", "127.0.0.1:1"))
	next.ErrorPages.Detail = true
	if res := e.Reload(load(next)); !res.OK() {
		t.Fatal(res.Err)
	}
	get("/")
	if n := count("all"); n != 2 {
		t.Errorf("route all counted %d requests across the reload, want 2", n)
	}
	if n := count("extra"); n != 0 {
		t.Errorf("the removed route still has %d requests counted", n)
	}
	// The new server never passes a check; take the good one out too.
	server(e, "a").SetAdmin(upstream.Maintenance)
	if code, body := get("/"); code != 503 || !strings.Contains(body, "a maintenance") {
		t.Errorf("with errors.detail: %d %q, want 503 naming the servers", code, body)
	}
	if f := e.Failures().Recent(1); len(f) != 1 || f[0].Reason != "no_healthy_server" {
		t.Errorf("recent failures %+v", f)
	}
}
