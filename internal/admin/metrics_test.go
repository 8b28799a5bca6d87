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
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
)

// watched is a running engine with a working route, a route to a server
// that refuses connections, and its admin endpoint, after known traffic:
// 3 requests to "site", 2 to "broken", 1 that matches no route.
type watched struct {
	eng    *engine.Engine
	cfg    *config.Config
	admin  string
	proxy  string
	client *http.Client // holds one keep-alive connection to the proxy
	ids    []string     // the request ids of the "broken" requests, in order
}

func newWatched(t *testing.T) *watched {
	t.Helper()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(be.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	cfg := config.New()
	cfg.Log.Access = "off"
	cfg.Listeners = []config.Listener{config.NewListener("web", "127.0.0.1:0")}
	broken := config.NewBackend("broken", config.NewServer("dead", dead))
	broken.Retries = 0
	cfg.Backends = []config.Backend{config.NewBackend("pages", config.NewServer("web-1", be.Listener.Addr().String())), broken}
	site, brk := config.NewRoute("site", "pages"), config.NewRoute("broken", "broken")
	site.Hosts, brk.Hosts = []string{"site.test"}, []string{"broken.test"}
	cfg.Routes = []config.Route{site, brk}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	w := &watched{cfg: cfg, eng: engine.New(engine.Options{Logger: logger})}
	if err := w.eng.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.eng.Shutdown(context.Background()) })
	a := New(Options{Address: "127.0.0.1:0", Engine: w.eng, Logger: logger})
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	w.admin = "http://" + a.Addr().String()
	w.proxy = "http://" + w.eng.Addr("web").String()
	w.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	t.Cleanup(w.client.CloseIdleConnections)
	for _, host := range []string{"site.test", "site.test", "site.test", "broken.test", "broken.test", "nowhere.test"} {
		req, _ := http.NewRequest("GET", w.proxy+"/", nil)
		req.Host = host
		res, err := w.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if host == "broken.test" {
			w.ids = append(w.ids, res.Header.Get("X-Request-ID"))
		}
	}
	return w
}

// scrape parses /metrics with the Prometheus text parser.
func (w *watched) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeMetrics(t, w.admin+"/metrics")
}

// scrapeMetrics gets url and parses it with the Prometheus text parser.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// find returns the metric of the family with exactly these labels.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		t.Fatalf("no metric family %s", name)
	}
	for _, m := range fam.Metric {
		got := map[string]string{}
		for _, lp := range m.Label {
			got[lp.GetName()] = lp.GetValue()
		}
		match := len(got) == len(labels)
		for k, v := range labels {
			match = match && got[k] == v
		}
		if match {
			return m
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// TestMetricsAfterTraffic reads each metric's name, labels and value after
// the known traffic of newWatched.
func TestMetricsAfterTraffic(t *testing.T) {
	w := newWatched(t)
	fams := w.scrape(t)
	site := map[string]string{"route": "site", "backend": "pages"}
	broken := map[string]string{"route": "broken", "backend": "broken"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portier_requests_total", with(site, "server", "web-1", "code", "2xx"), 3},
		{"portier_requests_total", with(broken, "server", "dead", "code", "5xx"), 2},
		{"portier_requests_total", map[string]string{"route": "", "backend": "", "server": "", "code": "4xx"}, 1},
		{"portier_request_failures_total", with(broken, "server", "dead", "reason", "connect_refused"), 2},
		{"portier_request_failures_total", map[string]string{"route": "", "backend": "", "server": "", "reason": "no_route"}, 1},
		{"portier_server_errors_total", map[string]string{"backend": "broken", "server": "dead"}, 2},
		{"portier_server_errors_total", map[string]string{"backend": "pages", "server": "web-1"}, 0},
		{"portier_server_consecutive_failures", map[string]string{"backend": "broken", "server": "dead"}, 2},
		{"portier_server_in_flight", map[string]string{"backend": "pages", "server": "web-1"}, 0},
		{"portier_active_connections", map[string]string{"listener": "web"}, 1},
		{"portier_config_info", map[string]string{"hash": w.cfg.Hash()}, 1},
		{"portier_config_reloads_total", map[string]string{"result": "success"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(find(t, fams, tt.name, tt.labels)); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
			}
		})
	}
	hists := []struct {
		name   string
		labels map[string]string
		count  uint64
	}{
		{"portier_request_duration_seconds", site, 3},
		{"portier_request_duration_seconds", broken, 2},
		{"portier_upstream_first_byte_seconds", site, 3},
		{"portier_upstream_connect_duration_seconds", site, 1},
	}
	for _, h := range hists {
		t.Run(h.name, func(t *testing.T) {
			m := find(t, fams, h.name, h.labels).GetHistogram()
			if m == nil || m.GetSampleCount() != h.count || m.GetSampleSum() <= 0 {
				t.Fatalf("%s%v: %v, want %d samples with a positive sum", h.name, h.labels, m, h.count)
			}
			var prev uint64
			for _, b := range m.Bucket {
				if b.GetCumulativeCount() < prev {
					t.Errorf("bucket le=%v goes down", b.GetUpperBound())
				}
				prev = b.GetCumulativeCount()
			}
			if len(m.Bucket) == 0 || prev != h.count {
				t.Errorf("the last bucket holds %d of %d", prev, h.count)
			}
		})
	}
	if _, ok := fams["portier_upstream_first_byte_seconds"]; ok {
		for _, m := range fams["portier_upstream_first_byte_seconds"].Metric {
			for _, lp := range m.Label {
				if lp.GetName() == "route" && lp.GetValue() == "broken" {
					t.Error("a refused connect has a first byte")
				}
			}
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	w.client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for value(find(t, w.scrape(t), "portier_active_connections", map[string]string{"listener": "web"})) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed client connection is still counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricLabelsBounded: every Portier metric uses only the shared
// labels, none of which can grow with clients or paths.
func TestMetricLabelsBounded(t *testing.T) {
	w := newWatched(t)
	allowed := []string{"route", "backend", "server", "listener", "code", "reason", "state", "result", "hash"}
	for name, fam := range w.scrape(t) {
		if !strings.HasPrefix(name, "portier_") {
			continue
		}
		for _, m := range fam.Metric {
			for _, lp := range m.Label {
				if !slices.Contains(allowed, lp.GetName()) {
					t.Errorf("%s has label %q", name, lp.GetName())
				}
			}
		}
	}
}

// TestStatusCounters: the status carries the counters the dashboard
// computes rates from, under their exact JSON names.
func TestStatusCounters(t *testing.T) {
	w := newWatched(t)
	res, err := http.Get(w.admin + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw struct {
		Listeners []map[string]any `json:"listeners"`
		Routes    []map[string]any `json:"routes"`
		Backends  []struct {
			Name    string           `json:"name"`
			Servers []map[string]any `json:"servers"`
		} `json:"backends"`
	}
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if l := raw.Listeners[0]; l["active_connections"] != float64(1) {
		t.Errorf("listener %v, want active_connections 1", l)
	}
	routes := map[string]map[string]any{}
	for _, r := range raw.Routes {
		routes[r["name"].(string)] = r
	}
	for name, want := range map[string][2]float64{"site": {3, 0}, "broken": {2, 2}} {
		r := routes[name]
		if r["requests"] != want[0] || r["errors"] != want[1] || r["duration_seconds"].(float64) <= 0 {
			t.Errorf("route %s: %v, want %v requests and %v errors with a duration", name, r, want[0], want[1])
		}
	}
	servers := map[string]map[string]any{}
	for _, b := range raw.Backends {
		for _, s := range b.Servers {
			servers[s["name"].(string)] = s
		}
	}
	dead, ok := servers["dead"], servers["web-1"]
	if dead["errors"] != float64(2) || dead["consecutive_failures"] != float64(2) ||
		!strings.Contains(dead["last_error"].(string), "connect_refused") || dead["last_error_at"] == nil {
		t.Errorf("dead: %v", dead)
	}
	if _, has := ok["last_error"]; has || ok["errors"] != float64(0) || ok["duration_seconds"].(float64) <= 0 {
		t.Errorf("web-1: %v, want no last_error, 0 errors and a duration", ok)
	}
	if _, has := ok["last_error_at"]; has {
		t.Errorf("web-1 has last_error_at: %v", ok)
	}
}
