package admin

import "github.com/prometheus/client_golang/prometheus"

// networkCollector exports the route watch's count of route changes.
type networkCollector struct {
	n       Network
	changes *prometheus.Desc
}

func newNetworkCollector(n Network) *networkCollector {
	return &networkCollector{n: n, changes: prometheus.NewDesc("portier_route_changes_total",
		"Changes of the route that replies from a listener address, or the default route, take, seen by the route watch.", nil, nil)}
}

func (c *networkCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.changes }

func (c *networkCollector) Collect(ch chan<- prometheus.Metric) {
	var n uint64
	if c.n != nil {
		n = c.n.RouteChanges()
	}
	ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(n))
}
