package admin

import "github.com/prometheus/client_golang/prometheus"

// listenerCollector reads the listeners' own counters when /metrics is
// scraped: the connections closed for their PROXY protocol header (see
// listener.ProxyCounts), and a tcp listener's accepted connections and
// dropped ClientHellos (see listener.TCPCounts).
type listenerCollector struct {
	engine      Engine
	proxyErrors *prometheus.Desc
	tcpAccepted *prometheus.Desc
	helloErrors *prometheus.Desc
}

func newListenerCollector(e Engine) *listenerCollector {
	return &listenerCollector{
		engine: e,
		proxyErrors: prometheus.NewDesc("portier_proxy_protocol_errors_total",
			"Connections closed for their PROXY protocol header, by listener and reason: "+
				"untrusted, missing, timeout, truncated, oversized or malformed.",
			[]string{"listener", "reason"}, nil),
		tcpAccepted: prometheus.NewDesc("portier_tcp_connections_total",
			"Connections accepted by a tcp listener.",
			[]string{"listener"}, nil),
		helloErrors: prometheus.NewDesc("portier_tls_client_hello_errors_total",
			"Connections a tcp listener routing by SNI dropped for their TLS ClientHello, "+
				"by listener and reason: malformed, truncated or timeout.",
			[]string{"listener", "reason"}, nil),
	}
}

func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.proxyErrors
	ch <- c.tcpAccepted
	ch <- c.helloErrors
}

func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
	for _, ls := range c.engine.ListenerStats() {
		if ls.Proxy != nil { // nil: the listener does not accept the PROXY protocol
			for reason, n := range ls.Proxy.Snapshot() {
				counter(c.proxyErrors, n, ls.Name, reason)
			}
		}
		if ls.TCP != nil { // nil: an http or https listener
			st := ls.TCP.Stats()
			counter(c.tcpAccepted, st.Accepted, ls.Name)
			for reason, n := range st.ClientHelloErrors {
				counter(c.helloErrors, n, ls.Name, reason)
			}
		}
	}
}
