package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/proxy"
	"github.com/portier/portier/internal/router"
	"github.com/portier/portier/internal/upstream"
)

// receiver is a small OTLP/HTTP collector: it decodes each protobuf
// ExportTraceServiceRequest posted to /v1/traces.
type receiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span // guarded by mu
	service string          // guarded by mu
	got     chan struct{}
	url     string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: make(chan struct{}, 64)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("export to %s as %q", r.URL.Path, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Errorf("decode: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					rc.service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		resp, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(resp)
		rc.got <- struct{}{}
	}))
	t.Cleanup(ts.Close)
	rc.url = ts.URL
	return rc
}

// take returns the spans received so far and forgets them.
func (rc *receiver) take() ([]*tracepb.Span, string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	s := rc.spans
	rc.spans = nil
	return s, rc.service
}

// rig is a proxy in front of servers at addrs (round robin, one retry)
// that exports through a Tracer to a receiver.
type rig struct {
	rc    *receiver
	tr    *Tracer
	proxy string
}

func newRig(t *testing.T, addrs ...string) *rig {
	rc := newReceiver(t)
	cfg := config.New().Tracing
	cfg.OTLPEndpoint, cfg.ServiceName = rc.url, "edge"
	tr, err := New(Options{Config: cfg, BatchTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	be := &proxy.Backend{Name: "app", Scheme: "http", PreserveHost: true, Retries: 1}
	for i, a := range addrs {
		s := upstream.NewServer("app", "s"+string(rune('1'+i)), a, 1, upstream.Up)
		tp := upstream.NewTransport(upstream.TransportOptions{Address: a})
		t.Cleanup(tp.CloseIdleConnections)
		s.Transport = tp
		be.Servers = append(be.Servers, s)
	}
	be.Balancer, _ = balancer.New("round_robin", be.Servers)
	rt, err := router.New([]router.Route{{ID: 0, PathPrefix: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	site := &proxy.Site{Router: rt, Routes: []*proxy.Route{{Name: "web", Backend: be, PathPrefix: "/"}}}
	h := proxy.NewHandler(proxy.Options{Listener: "main", SampleTrace: tr.Sample, OnSpan: tr.OnSpan()}, site)
	ps := httptest.NewServer(h)
	t.Cleanup(ps.Close)
	return &rig{rc: rc, tr: tr, proxy: ps.URL}
}

// flush sends the batch and waits until the receiver has it.
func (g *rig) flush(t *testing.T) ([]*tracepb.Span, string) {
	t.Helper()
	if err := g.tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.rc.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no export reached the receiver")
	}
	return g.rc.take()
}

// seenParent is what a server saw in traceparent.
func echoTraceparent(t *testing.T) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.Header.Get("Traceparent"))
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func get(t *testing.T, url, traceparent string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if traceparent != "" {
		req.Header.Set("Traceparent", traceparent)
		req.Header.Set("Tracestate", "vendor=v1")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var seen string
	if err := json.NewDecoder(res.Body).Decode(&seen); err != nil {
		t.Fatal(err)
	}
	return seen
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// TestExportJoinsClientTrace: the proxy's span is a child of the client's
// span, the attempt a child of the proxy's span, and the attempt's id is
// the parent-id the server saw.
func TestExportJoinsClientTrace(t *testing.T) {
	g := newRig(t, echoTraceparent(t))
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	seen := get(t, g.proxy+"/shop?q=1", "00-"+clientTrace+"-"+clientSpan+"-01")
	spans, service := g.flush(t)
	if len(spans) != 2 || service != "edge" {
		t.Fatalf("%d spans from %q, want 2 from edge", len(spans), service)
	}
	var server, attempt *tracepb.Span
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempt = s
		}
	}
	if server == nil || attempt == nil {
		t.Fatalf("spans %v, want a server and a client span", spans)
	}
	if hexOf(server.TraceId) != clientTrace || hexOf(attempt.TraceId) != clientTrace {
		t.Errorf("trace ids %x %x, want the client's %s", server.TraceId, attempt.TraceId, clientTrace)
	}
	if hexOf(server.ParentSpanId) != clientSpan || server.TraceState != "vendor=v1" {
		t.Errorf("server span's parent %x state %q, want the client's span %s", server.ParentSpanId, server.TraceState, clientSpan)
	}
	if !bytes.Equal(attempt.ParentSpanId, server.SpanId) {
		t.Errorf("attempt's parent %x, want the server span %x", attempt.ParentSpanId, server.SpanId)
	}
	if want := "00-" + clientTrace + "-" + hexOf(attempt.SpanId) + "-01"; seen != want {
		t.Errorf("the server saw traceparent %q, want the attempt's span: %q", seen, want)
	}
	if server.Name != "GET web" || server.StartTimeUnixNano == 0 || server.EndTimeUnixNano < attempt.EndTimeUnixNano ||
		attempt.StartTimeUnixNano < server.StartTimeUnixNano {
		t.Errorf("server span %q %d..%d, attempt %d..%d", server.Name, server.StartTimeUnixNano, server.EndTimeUnixNano,
			attempt.StartTimeUnixNano, attempt.EndTimeUnixNano)
	}
	attrs := func(s *tracepb.Span) map[string]string {
		m := map[string]string{}
		for _, kv := range s.Attributes {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				m[kv.Key] = v.GetStringValue()
			} else {
				m[kv.Key] = string(rune('0' + v.GetIntValue()/100)) // status class is enough here
			}
		}
		return m
	}
	if a := attrs(server); a["http.request.method"] != "GET" || a["url.path"] != "/shop" || a["portier.route"] != "web" ||
		a["portier.backend"] != "app" || a["http.response.status_code"] != "2" || a["portier.request_id"] == "" {
		t.Errorf("server span attributes %v", a)
	}
	if a := attrs(attempt); a["portier.server"] != "s1" || a["server.address"] != "127.0.0.1" {
		t.Errorf("attempt attributes %v", a)
	}
}

// TestExportRetry: a failed attempt and the retry are two child spans;
// the failed one is an error; a new trace's proxy span is a root.
func TestExportRetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	g := newRig(t, dead, echoTraceparent(t))
	seen := get(t, g.proxy+"/", "")
	spans, _ := g.flush(t)
	if len(spans) != 3 {
		t.Fatalf("%d spans, want the proxy's and two attempts", len(spans))
	}
	var server *tracepb.Span
	var attempts []*tracepb.Span
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			server = s
		} else {
			attempts = append(attempts, s)
		}
	}
	if server == nil || len(server.ParentSpanId) != 0 {
		t.Fatalf("the proxy's span of a new trace has parent %x", server.GetParentSpanId())
	}
	var failed, ok int
	for _, a := range attempts {
		if !bytes.Equal(a.ParentSpanId, server.SpanId) || !bytes.Equal(a.TraceId, server.TraceId) {
			t.Errorf("attempt %x not a child of %x", a.SpanId, server.SpanId)
		}
		switch {
		case a.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR:
			failed++
		case seen == "00-"+hexOf(a.TraceId)+"-"+hexOf(a.SpanId)+"-03":
			ok++
		}
	}
	if failed != 1 || ok != 1 {
		t.Errorf("%d failed and %d answered attempts (server saw %q), want 1 and 1", failed, ok, seen)
	}
}

func TestSample(t *testing.T) {
	id := func(low byte) proxy.TraceID {
		var t proxy.TraceID
		for i := 8; i < 16; i++ {
			t[i] = low
		}
		return t
	}
	tests := []struct {
		name  string
		ratio config.Ratio
		id    proxy.TraceID
		want  bool
	}{
		{name: "all", ratio: 1, id: id(0xff), want: true},
		{name: "none", ratio: 0, id: id(0), want: false},
		{name: "half, low id", ratio: 0.5, id: id(0x10), want: true},
		{name: "half, high id", ratio: 0.5, id: id(0xf0), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(Options{Config: config.Tracing{SampleRatio: tt.ratio, ServiceName: "p"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.Sample(tt.id); got != tt.want {
				t.Errorf("Sample = %v, want %v", got, tt.want)
			}
			if tr.OnSpan() != nil {
				t.Error("a tracer without an endpoint records spans")
			}
		})
	}
}
