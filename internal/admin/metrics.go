package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portier/portier/internal/proxy"
	"github.com/portier/portier/internal/upstream"
)

// serverCollector reads every counter and state when /metrics is scraped,
// so that the per-request path only bumps atomics. Labels are the same
// everywhere: route, backend, server, listener, and a bounded class (code,
// reason, state, result); never a path or a client.
type serverCollector struct {
	engine Engine
	// Per server.
	up          *prometheus.Desc
	state       *prometheus.Desc
	weight      *prometheus.Desc
	inflight    *prometheus.Desc
	serverErrs  *prometheus.Desc
	consecutive *prometheus.Desc
	checks      *prometheus.Desc
	// Per route, backend and server (requests) or route and backend.
	requests  *prometheus.Desc
	failures  *prometheus.Desc
	duration  *prometheus.Desc
	connect   *prometheus.Desc
	firstByte *prometheus.Desc
	// Per listener, and the process.
	active     *prometheus.Desc
	reloads    *prometheus.Desc
	reloadOK   *prometheus.Desc
	configInfo *prometheus.Desc
}

var (
	serverLabels = []string{"backend", "server"}
	flowLabels   = []string{"route", "backend"}
)

func newServerCollector(e Engine) *serverCollector {
	return &serverCollector{
		engine: e,
		up: prometheus.NewDesc("portier_server_up",
			"1 when the server can take new traffic (healthy, ready, weight above 0).", serverLabels, nil),
		state: prometheus.NewDesc("portier_server_state",
			"1 for the server's current state: pending, up, down, draining or maintenance.", append(serverLabels, "state"), nil),
		weight: prometheus.NewDesc("portier_server_weight",
			"The server's effective weight.", serverLabels, nil),
		inflight: prometheus.NewDesc("portier_server_in_flight",
			"Requests, WebSockets and TCP streams in progress on the server: its active connections.", serverLabels, nil),
		serverErrs: prometheus.NewDesc("portier_server_errors_total",
			"Attempts on the server that failed (connect, reset, timeout) or got a 5xx answer.", serverLabels, nil),
		consecutive: prometheus.NewDesc("portier_server_consecutive_failures",
			"Attempts on the server that failed or got a 5xx answer in a row, up to now.", serverLabels, nil),
		checks: prometheus.NewDesc("portier_health_checks_total",
			"Active health checks, by result: pass or fail.", append(serverLabels, "result"), nil),
		requests: prometheus.NewDesc("portier_requests_total",
			"Requests answered, by route, backend, the last server tried (empty: none) and status class (2xx...5xx).",
			[]string{"route", "backend", "server", "code"}, nil),
		failures: prometheus.NewDesc("portier_request_failures_total",
			"Requests that ended with a failure, by route, backend, last server tried and reason class "+
				"(no_route, no_healthy_server, connect_refused, response_timeout, upstream_reset, ...).",
			[]string{"route", "backend", "server", "reason"}, nil),
		duration: prometheus.NewDesc("portier_request_duration_seconds",
			"Time from a request's arrival until its response was sent in full, by route and backend.", flowLabels, nil),
		connect: prometheus.NewDesc("portier_upstream_connect_duration_seconds",
			"Time to open a new connection to a server (TCP and TLS), by route and backend.", flowLabels, nil),
		firstByte: prometheus.NewDesc("portier_upstream_first_byte_seconds",
			"Time from sending a request to a server until its response headers came, per attempt, by route and backend.", flowLabels, nil),
		active: prometheus.NewDesc("portier_active_connections",
			"Client connections open on the listener.", []string{"listener"}, nil),
		reloads: prometheus.NewDesc("portier_config_reloads_total",
			"Configuration reloads, by result: success or error (the old configuration kept serving).", []string{"result"}, nil),
		reloadOK: prometheus.NewDesc("portier_config_last_reload_success_timestamp_seconds",
			"When the configuration was last reloaded successfully, or the process started, in Unix seconds.", nil, nil),
		configInfo: prometheus.NewDesc("portier_config_info",
			"1, labelled with the hash of the configuration being served (sha256 of its effective settings, first 12 hex digits).",
			[]string{"hash"}, nil),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.state, c.weight, c.inflight, c.serverErrs, c.consecutive,
		c.checks, c.requests, c.failures, c.duration, c.connect, c.firstByte, c.active, c.reloads,
		c.reloadOK, c.configInfo} {
		ch <- d
	}
}

var stateNames = []string{"pending", "up", "down", "draining", "maintenance"}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	rs := c.engine.ReloadStats()
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(rs.OK), "success")
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(rs.Failed), "error")
	ch <- prometheus.MustNewConstMetric(c.reloadOK, prometheus.GaugeValue, float64(rs.LastSuccess.UnixNano())/1e9)
	for _, ls := range c.engine.ListenerStats() {
		if ls.Active != nil {
			ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(ls.Active()), ls.Name)
		}
	}
	if st := c.engine.RequestStats(); st != nil {
		for _, f := range st.Flows() {
			c.collectFlow(ch, f)
		}
	}
	snap := c.engine.Snapshot()
	if snap == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.configInfo, prometheus.GaugeValue, 1, snap.Config.Hash())
	for _, bc := range snap.Config.Backends {
		for _, s := range snap.Backends[bc.Name].Servers {
			c.collectServer(ch, s)
		}
	}
}

func (c *serverCollector) collectServer(ch chan<- prometheus.Metric, s *upstream.Server) {
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{s.Backend, s.Name}, extra...)...)
	}
	up := 0.0
	if s.Available() {
		up = 1
	}
	gauge(c.up, up)
	cur := serverStatus(s).State
	for _, name := range stateNames {
		v := 0.0
		if name == cur {
			v = 1
		}
		gauge(c.state, v, name)
	}
	gauge(c.weight, float64(s.Weight()))
	gauge(c.inflight, float64(s.InFlight()))
	gauge(c.consecutive, float64(s.Streak()))
	ch <- prometheus.MustNewConstMetric(c.serverErrs, prometheus.CounterValue, float64(s.Failures()), s.Backend, s.Name)
	failed, passed := s.Checks()
	if failed+passed > 0 {
		ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(passed), s.Backend, s.Name, "pass")
		ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(failed), s.Backend, s.Name, "fail")
	}
}

// collectFlow writes a route and backend's counters and histograms; a
// flow, server or class that never counted a request has no series.
func (c *serverCollector) collectFlow(ch chan<- prometheus.Metric, f *proxy.Flow) {
	reasons := proxy.Reasons()
	for _, sc := range f.Servers() {
		for class, n := range sc.Classes() {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n),
					f.Route, f.Backend, sc.Server, upstream.ClassName(class))
			}
		}
		for i, n := range sc.Reasons() {
			if n == 0 {
				continue
			}
			reason := "other"
			if i < len(reasons) {
				reason = reasons[i]
			}
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(n),
				f.Route, f.Backend, sc.Server, reason)
		}
	}
	bounds := proxy.BucketBounds()
	for _, h := range []struct {
		desc *prometheus.Desc
		hist *proxy.Histogram
	}{{c.duration, &f.Duration}, {c.connect, &f.Connect}, {c.firstByte, &f.FirstByte}} {
		buckets, count, sum := h.hist.Read()
		if count == 0 {
			continue
		}
		m := make(map[float64]uint64, len(bounds))
		for i, b := range bounds {
			m[b] = buckets[i]
		}
		ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, m, f.Route, f.Backend)
	}
}

// newMetricsHandler serves /metrics from a registry of its own, with the Go
// runtime and process collectors beside Portier's, and extra ones.
func newMetricsHandler(e Engine, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(extra...)
	reg.MustRegister(newServerCollector(e), newListenerCollector(e),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
