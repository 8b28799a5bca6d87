package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resetter accepts a request and closes the connection, writing prefix
// first (e.g. a status line and part of a body).
func resetter(t testing.TB, prefix string, hits chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits <- r.Method
		}
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		brw.WriteString(prefix)
		brw.Flush()
		conn.Close()
	})
}

func TestFailures(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	refused := newBackend(t, "refused", upstream.TransportOptions{}, deadAddr(t))
	timeout := newBackend(t, "slow", upstream.TransportOptions{ResponseHeaderTimeout: 50 * time.Millisecond},
		startBackend(t, slow))
	down := newBackend(t, "down", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	down.Servers[0].SetState(upstream.Down)
	reset := newBackend(t, "reset", upstream.TransportOptions{}, startBackend(t, resetter(t, "", nil)))
	site := newSite(t,
		routeSpec{prefix: "/refused", route: &Route{Name: "refused", Backend: refused}},
		routeSpec{prefix: "/slow", route: &Route{Name: "slow", Backend: timeout}},
		routeSpec{prefix: "/down", route: &Route{Name: "down", Backend: down}},
		routeSpec{prefix: "/reset", route: &Route{Name: "reset", Backend: reset}},
		routeSpec{hosts: []string{"only.test"}, route: &Route{Name: "only", Backend: down}},
	)
	tests := []struct {
		name, path string
		code       int
		reason     string
	}{
		{name: "connect refused", path: "/refused", code: 502, reason: "connect_refused"},
		{name: "response timeout", path: "/slow", code: 504, reason: "response_timeout"},
		{name: "no healthy server", path: "/down", code: 503, reason: "no_healthy_server"},
		{name: "reset before response", path: "/reset", code: 502, reason: "upstream_reset"},
		{name: "no route", path: "/nothing", code: 404, reason: "no_route"},
	}
	for _, p := range clientProtos() {
		sink := newLogSink()
		base, c := startProxy(t, NewHandler(Options{AccessLog: sink.logger()}, site), p.h2)
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				res, err := c.Get(base + tt.path)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, res.Body)
				res.Body.Close()
				id := res.Header.Get("X-Request-ID")
				if res.StatusCode != tt.code || res.Header.Get("X-Portier-Reason") != tt.reason {
					t.Errorf("got %d %q, want %d %s", res.StatusCode, res.Header.Get("X-Portier-Reason"), tt.code, tt.reason)
				}
				if id == "" || !strings.Contains(body, tt.reason) || !strings.Contains(body, id) {
					t.Errorf("body %q should name reason and request id %q", body, id)
				}
				if strings.Contains(body, "127.0.0.1") {
					t.Errorf("body leaks an upstream address: %q", body)
				}
				line := sink.next(t)
				if line[keyReason] != tt.reason || line[keyStatus] != float64(tt.code) || line[keyRequestID] != id {
					t.Errorf("log line %v", line)
				}
			})
		}
	}
}

// TestResetMidResponse: a server that dies halfway through a body breaks
// that client's response and nothing else.
func TestResetMidResponse(t *testing.T) {
	broken := newBackend(t, "broken", upstream.TransportOptions{},
		startBackend(t, resetter(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", nil)))
	good := newBackend(t, "good", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	site := newSite(t,
		routeSpec{prefix: "/broken", route: &Route{Name: "broken", Backend: broken}},
		routeSpec{route: &Route{Name: "good", Backend: good}},
	)
	for _, p := range clientProtos() {
		t.Run(p.name, func(t *testing.T) {
			sink := newLogSink()
			base, c := startProxy(t, NewHandler(Options{AccessLog: sink.logger()}, site), p.h2)
			// A new HTTP/1 connection each time: on a reused one, Go's
			// client would repeat the GET by itself after the early EOF.
			bc := c
			if !p.h2 {
				tr := c.Transport.(*http.Transport).Clone()
				tr.DisableKeepAlives = true
				bc = &http.Client{Transport: tr}
			}
			for range 3 {
				res, err := bc.Get(base + "/broken")
				if err == nil {
					_, err = io.ReadAll(res.Body)
					res.Body.Close()
				}
				if err == nil {
					t.Fatal("client read a truncated body without error")
				}
				if line := sink.next(t); line[keyReason] != "upstream_reset" {
					t.Errorf("reason %v, want upstream_reset: %v", line[keyReason], line)
				}
				getEcho(t, c, mustReq(t, "GET", base+"/fine", ""))
				sink.next(t)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	t.Run("dead server skipped", func(t *testing.T) {
		be := newBackend(t, "b", upstream.TransportOptions{}, deadAddr(t), startBackend(t, echoHeaders()))
		be.Retries = 1
		sink := newLogSink()
		base, c := startProxy(t, NewHandler(Options{AccessLog: sink.logger()}, oneRoute(t, be)), false)
		retried := 0
		for range 4 {
			getEcho(t, c, mustReq(t, "GET", base+"/", ""))
			if sink.next(t)[keyAttempts] == float64(2) {
				retried++
			}
		}
		if retried == 0 { // round robin sends at least one to the dead server first
			t.Error("no request was retried")
		}
	})
	tests := []struct {
		name, method, body string
		wantHits           int
	}{
		{name: "POST with body not retried", method: "POST", body: "payload", wantHits: 1},
		{name: "idempotent GET retried", method: "GET", wantHits: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := make(chan string, 10)
			be := newBackend(t, "b", upstream.TransportOptions{},
				startBackend(t, resetter(t, "", hits)), startBackend(t, resetter(t, "", hits)))
			be.Retries = 3
			sink := newLogSink()
			base, c := startProxy(t, NewHandler(Options{AccessLog: sink.logger()}, oneRoute(t, be)), false)
			res, err := c.Do(mustReq(t, tt.method, base+"/", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			line := sink.next(t)
			if res.StatusCode != 502 || line[keyReason] != "upstream_reset" {
				t.Errorf("got %d %v", res.StatusCode, line[keyReason])
			}
			if len(hits) != tt.wantHits || line[keyAttempts] != float64(tt.wantHits) {
				t.Errorf("servers hit %d times, attempts %v; want %d", len(hits), line[keyAttempts], tt.wantHits)
			}
		})
	}
}

// TestMaxBody: a body cut off by http.MaxBytesReader, as the listener
// applies max_body_bytes, is answered 413 body_too_large, not 400 or 502.
func TestMaxBody(t *testing.T) {
	hits := make(chan string, 10)
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- r.Method
		io.Copy(io.Discard, r.Body)
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	tests := []struct {
		name     string
		body     string
		chunked  bool // send without a length
		wantCode int
	}{
		{name: "content-length over", body: strings.Repeat("x", 20), wantCode: 413},
		{name: "chunked over", body: strings.Repeat("x", 20), chunked: true, wantCode: 413},
		{name: "within", body: "0123456789", wantCode: 200},
		{name: "chunked within", body: "0123456789", chunked: true, wantCode: 200},
	}
	for _, p := range clientProtos() {
		sink := newLogSink()
		h := NewHandler(Options{AccessLog: sink.logger()}, oneRoute(t, be))
		limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 10)
			h.ServeHTTP(w, r)
		})
		base, c := startProxy(t, limited, p.h2)
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				var body io.Reader = strings.NewReader(tt.body)
				if tt.chunked {
					body = io.MultiReader(body) // hides the length
				}
				req, _ := http.NewRequest("PUT", base+"/", body)
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tt.wantCode {
					t.Errorf("status %d, want %d", res.StatusCode, tt.wantCode)
				}
				line := sink.next(t)
				if tt.wantCode == 413 && line[keyReason] != "body_too_large" {
					t.Errorf("reason %v", line[keyReason])
				}
				for len(hits) > 0 {
					<-hits
				}
			})
		}
	}
}

func TestAccessLogLine(t *testing.T) {
	be := newBackend(t, "shop", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	sink := newLogSink()
	site := newSite(t, routeSpec{prefix: "/api", route: &Route{Name: "shop-api", Backend: be}})
	base, c := startProxy(t, NewHandler(Options{Listener: "web", AccessLog: sink.logger()}, site), false)
	req := mustReq(t, "POST", base+"/api/x", "12345")
	req.Host = "shop.test"
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n := len(readAll(t, res.Body))
	res.Body.Close()
	line := sink.next(t)
	want := map[string]any{
		keyRequestID: res.Header.Get("X-Request-ID"), keyListener: "web", keyRoute: "shop-api",
		keyBackend: "shop", keyServer: "shop-a", keyMethod: "POST", keyHost: "shop.test",
		keyPath: "/api/x", keyStatus: float64(200), keyBytesIn: float64(5), keyBytesOut: float64(n),
		keyAttempts: float64(1), "msg": "request",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if cl, _ := line[keyClient].(string); !strings.HasPrefix(cl, "127.0.0.1:") {
		t.Errorf("client %v", line[keyClient])
	}
	for _, k := range []string{keyDuration, keyUpstreamConnect, keyTTFB} {
		if v, ok := line[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive duration", k, line[k])
		}
	}
	if _, ok := line[keyReason]; ok {
		t.Error("reason logged on success")
	}
	if _, ok := line["time"]; !ok {
		t.Error("no time")
	}
}

// TestClientGone: a client that leaves while the server thinks is logged
// as 499 client_closed, and the server's work is cancelled.
func TestClientGone(t *testing.T) {
	arrived := make(chan struct{})
	cancelled := make(chan struct{})
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(cancelled)
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	sink := newLogSink()
	base, c := startProxy(t, NewHandler(Options{AccessLog: sink.logger()}, oneRoute(t, be)), false)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req := mustReq(t, "GET", base+"/", "").WithContext(ctx)
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("request succeeded")
	}
	<-cancelled
	line := sink.next(t)
	if line[keyStatus] != float64(499) || line[keyReason] != "client_closed" {
		t.Errorf("logged %v %v", line[keyStatus], line[keyReason])
	}
}

// TestBadRequestBody: a body that breaks off in an invalid chunk is the
// client's fault: 400 bad_request_body, never a 502.
func TestBadRequestBody(t *testing.T) {
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	sink := newLogSink()
	base, _ := startProxy(t, NewHandler(Options{AccessLog: sink.logger()}, oneRoute(t, be)), false)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "PUT / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 || res.Header.Get("X-Portier-Reason") != "bad_request_body" {
		t.Errorf("got %d %q", res.StatusCode, res.Header.Get("X-Portier-Reason"))
	}
	if line := sink.next(t); line[keyReason] != "bad_request_body" {
		t.Errorf("logged %v", line[keyReason])
	}
}
