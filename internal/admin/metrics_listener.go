package admin

import "github.com/prometheus/client_golang/prometheus"

// listenerCollector reads the listeners' counters when /metrics is scraped:
// for now the connections closed for their PROXY protocol header, by
// reason (see listener.ProxyCounts).
type listenerCollector struct {
	engine      Engine
	proxyErrors *prometheus.Desc
}

func newListenerCollector(e Engine) *listenerCollector {
	return &listenerCollector{
		engine: e,
		proxyErrors: prometheus.NewDesc("portier_proxy_protocol_errors_total",
			"Connections closed for their PROXY protocol header, by listener and reason: "+
				"untrusted, missing, timeout, truncated, oversized or malformed.",
			[]string{"listener", "reason"}, nil),
	}
}

func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.proxyErrors
}

func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ls := range c.engine.ListenerStats() {
		if ls.Proxy == nil {
			continue // the listener does not accept the PROXY protocol
		}
		for reason, n := range ls.Proxy.Snapshot() {
			ch <- prometheus.MustNewConstMetric(c.proxyErrors, prometheus.CounterValue, float64(n), ls.Name, reason)
		}
	}
}
