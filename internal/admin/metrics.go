package admin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portier/portier/internal/upstream"
)

// serverCollector reads every server's counters and state when /metrics is
// scraped, so that the per-request path only bumps atomics.
type serverCollector struct {
	engine   Engine
	up       *prometheus.Desc
	state    *prometheus.Desc
	weight   *prometheus.Desc
	inflight *prometheus.Desc
	requests *prometheus.Desc
	checks   *prometheus.Desc
	reloads  *prometheus.Desc
	reloadOK *prometheus.Desc
}

var serverLabels = []string{"backend", "server"}

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
			"Requests and connections in progress on the server.", serverLabels, nil),
		requests: prometheus.NewDesc("portier_requests_total",
			"Requests answered, by backend, server and status class.", append(serverLabels, "code"), nil),
		checks: prometheus.NewDesc("portier_health_checks_total",
			"Active health checks, by result: pass or fail.", append(serverLabels, "result"), nil),
		reloads: prometheus.NewDesc("portier_config_reloads_total",
			"Configuration reloads, by result: success or error (the old configuration kept serving).", []string{"result"}, nil),
		reloadOK: prometheus.NewDesc("portier_config_last_reload_success_timestamp_seconds",
			"When the configuration was last reloaded successfully, or the process started, in Unix seconds.", nil, nil),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.state
	ch <- c.weight
	ch <- c.inflight
	ch <- c.requests
	ch <- c.checks
	ch <- c.reloads
	ch <- c.reloadOK
}

var stateNames = []string{"pending", "up", "down", "draining", "maintenance"}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	rs := c.engine.ReloadStats()
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(rs.OK), "success")
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(rs.Failed), "error")
	ch <- prometheus.MustNewConstMetric(c.reloadOK, prometheus.GaugeValue, float64(rs.LastSuccess.UnixNano())/1e9)
	snap := c.engine.Snapshot()
	if snap == nil {
		return
	}
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
	failed, passed := s.Checks()
	if failed+passed > 0 {
		ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(passed), s.Backend, s.Name, "pass")
		ch <- prometheus.MustNewConstMetric(c.checks, prometheus.CounterValue, float64(failed), s.Backend, s.Name, "fail")
	}
	for class, n := range s.Responses() {
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), s.Backend, s.Name, upstream.ClassName(class))
		}
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
