package admin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
)

// TestProxyProtocolMetrics: a connection refused for its PROXY header
// shows in portier_proxy_protocol_errors_total under its listener and
// reason, beside the zeros of the other reasons; a listener that does not
// accept the PROXY protocol has no such series.
func TestProxyProtocolMetrics(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(be.Close)
	cfg := config.New()
	cfg.Log.Access = "off"
	lb := config.NewListener("behind-lb", "127.0.0.1:0")
	lb.ProxyProtocol = config.NewProxyProtocol(config.Prefix{Prefix: netip.MustParsePrefix("127.0.0.1/32")})
	cfg.Listeners = []config.Listener{lb, config.NewListener("direct", "127.0.0.1:0")}
	cfg.Backends = []config.Backend{config.NewBackend("pages", config.NewServer("web-1", be.Listener.Addr().String()))}
	cfg.Routes = []config.Route{config.NewRoute("site", "pages")}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := eng.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })

	// Two connections from the trusted peer without a header: refused.
	for range 2 {
		c, err := net.Dial("tcp", eng.Addr("behind-lb").String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if b, err := io.ReadAll(c); len(b) > 0 {
			t.Fatalf("answered %q (%v), want the connection closed", b, err)
		}
		c.Close()
	}

	fams := scrapeMetrics(t, metricsURL(t, eng))
	fam := fams["portier_proxy_protocol_errors_total"]
	if fam == nil {
		t.Fatal("no portier_proxy_protocol_errors_total")
	}
	got := map[string]float64{}
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, lp := range m.Label {
			labels[lp.GetName()] = lp.GetValue()
		}
		if labels["listener"] != "behind-lb" {
			t.Errorf("a series for listener %q, which does not accept the PROXY protocol", labels["listener"])
		}
		got[labels["reason"]] = m.Counter.GetValue()
	}
	want := map[string]float64{"untrusted": 0, "missing": 2, "timeout": 0, "truncated": 0, "oversized": 0, "malformed": 0}
	for r, n := range want {
		if v, ok := got[r]; !ok || v != n {
			t.Errorf("reason %s = %v (present %v), want %v", r, v, ok, n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("reasons %v, want %v", got, want)
	}
}

// TestTCPListenerMetrics: a tcp listener routing by SNI counts the
// connections it accepted and the ClientHello it dropped, by reason, in
// portier_tcp_connections_total and portier_tls_client_hello_errors_total.
func TestTCPListenerMetrics(t *testing.T) {
	cfg := config.New()
	cfg.Log.Access = "off"
	l := config.NewListener("tls", "127.0.0.1:0")
	l.Protocol = config.ProtocolTCP
	cfg.Listeners = []config.Listener{l}
	// Nothing needs to answer: the dropped ClientHello never reaches a server.
	cfg.Backends = []config.Backend{config.NewBackend("d", config.NewServer("d", "127.0.0.1:9"))}
	r := config.NewRoute("rd", "d")
	r.Listeners = []string{"tls"}
	cfg.Routes = []config.Route{r}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := eng.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })

	c, err := net.Dial("tcp", eng.Addr("tls").String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.0\r\n\r\n") // not a ClientHello
	_, _ = io.ReadAll(c)
	c.Close()

	fams := scrapeMetrics(t, metricsURL(t, eng))
	hello := func(reason string) map[string]string { return map[string]string{"listener": "tls", "reason": reason} }
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portier_tcp_connections_total", map[string]string{"listener": "tls"}, 1},
		{"portier_tls_client_hello_errors_total", hello("malformed"), 1},
		{"portier_tls_client_hello_errors_total", hello("truncated"), 0},
		{"portier_tls_client_hello_errors_total", hello("timeout"), 0},
	} {
		if got := value(find(t, fams, tc.name, tc.labels)); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// metricsURL serves eng's /metrics for the test and returns its URL.
func metricsURL(t *testing.T, eng *engine.Engine) string {
	metrics := httptest.NewServer(newMetricsHandler(eng))
	t.Cleanup(metrics.Close)
	return metrics.URL
}
