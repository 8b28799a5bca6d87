package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTracingThroughTheBinary: with tracing.otlp_endpoint set, the binary
// joins the client's trace, names it in the access line, and exports the
// request's span and its attempt's to an OTLP/HTTP collector by the time
// it stops; an error page names the request by Accept.
func TestTracingThroughTheBinary(t *testing.T) {
	var mu sync.Mutex
	var spans []*tracepb.Span // guarded by mu
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
			t.Errorf("export to %s: %d bytes that do not decode", r.URL.Path, len(b))
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
		mu.Unlock()
	}))
	t.Cleanup(collector.Close)
	app := named(t, "app")
	cfg := writeFile(t, "portier.yaml", fmt.Sprintf(`
admin: {address: "off"}
log: {access: stdout}
tracing: {otlp_endpoint: %q, service_name: edge}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes:
  - {name: site, backend: site}
  - {name: gone, path_prefix: /gone, backend: gone}
backends:
  - {name: site, servers: [{name: a, address: %q}]}
  - {name: gone, retries: 0, servers: [{name: g, address: "127.0.0.1:1"}]}
`, collector.URL, app.Listener.Addr()))
	p := start(t, 1, "run", "-c", cfg)
	base := "http://" + p.addr("web")
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), `"trace_id":"`+trace+`"`) },
		func() string { return "no access line with the client's trace id:\n" + p.stdout.String() })

	req, _ = http.NewRequest("GET", base+"/gone", nil)
	req.Header.Set("Accept", "application/json")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page map[string]any
	json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	if res.StatusCode != 502 || page["reason"] != "connect_refused" || page["request_id"] != res.Header.Get("X-Request-ID") || page["detail"] != nil {
		t.Errorf("error page %d %v", res.StatusCode, page)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.logs())
	}
	mu.Lock()
	defer mu.Unlock()
	var joined int
	for _, s := range spans {
		if fmt.Sprintf("%x", s.TraceId) == trace {
			joined++
		}
	}
	// The first request's span and attempt; the 502's span and attempt.
	if len(spans) != 4 || joined != 2 {
		t.Errorf("%d spans exported, %d in the client's trace; want 4 and 2", len(spans), joined)
	}
}
