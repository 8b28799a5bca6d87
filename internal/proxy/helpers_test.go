package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/router"
	"github.com/portier/portier/internal/upstream"
)

// clientProto is a protocol the test client speaks to the proxy.
type clientProto struct {
	name string
	h2   bool
}

func clientProtos() []clientProto {
	return []clientProto{{name: "h1"}, {name: "h2", h2: true}}
}

// startProxy serves h over HTTP/1.1, or over HTTP/2 with TLS, and returns
// the base URL and a client for it.
func startProxy(t testing.TB, h http.Handler, h2 bool) (string, *http.Client) {
	t.Helper()
	if !h2 {
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return ts.URL, ts.Client()
	}
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL, ts.Client()
}

// startBackend serves h on loopback and returns its host:port.
func startBackend(t testing.TB, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// newBackend builds a backend over servers at addrs, all up, balanced
// round robin.
func newBackend(t testing.TB, name string, topt upstream.TransportOptions, addrs ...string) *Backend {
	t.Helper()
	be := &Backend{Name: name, Scheme: "http", PreserveHost: true}
	if topt.TLS != nil {
		be.Scheme = "https"
	}
	for i, a := range addrs {
		o := topt
		o.Address = a
		tr := upstream.NewTransport(o)
		t.Cleanup(tr.CloseIdleConnections)
		s := upstream.NewServer(name, name+"-"+string(rune('a'+i)), a, 1, upstream.Up)
		s.Transport = tr
		be.Servers = append(be.Servers, s)
	}
	b, err := balancer.New("round_robin", be.Servers)
	if err != nil {
		t.Fatal(err)
	}
	be.Balancer = b
	return be
}

// routeSpec is a route with what the router matches on.
type routeSpec struct {
	hosts  []string
	prefix string
	route  *Route
}

func newSite(t testing.TB, specs ...routeSpec) *Site {
	t.Helper()
	s := &Site{}
	var rs []router.Route
	for i, sp := range specs {
		sp.route.PathPrefix = sp.prefix
		rs = append(rs, router.Route{ID: i, Hosts: sp.hosts, PathPrefix: sp.prefix})
		s.Routes = append(s.Routes, sp.route)
	}
	r, err := router.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	s.Router = r
	return s
}

// oneRoute is a site sending everything to be.
func oneRoute(t testing.TB, be *Backend) *Site {
	return newSite(t, routeSpec{route: &Route{Name: "all", Backend: be}})
}

// loopback trusts the test client.
func loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// logSink collects JSON log lines and tells when one arrives.
type logSink struct {
	mu    sync.Mutex
	lines []map[string]any // guarded by mu
	ch    chan struct{}
}

func newLogSink() *logSink { return &logSink{ch: make(chan struct{}, 1024)} }

func (s *logSink) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(p), &m); err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.lines = append(s.lines, m)
	s.mu.Unlock()
	s.ch <- struct{}{}
	return len(p), nil
}

func (s *logSink) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(s, nil)) }

// next waits for the next access line.
func (s *logSink) next(t testing.TB) map[string]any {
	t.Helper()
	select {
	case <-s.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no access log line")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.lines[0]
	s.lines = s.lines[1:]
	return m
}

// echoHeaders answers with the request's path, host and headers as JSON.
func echoHeaders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echo{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header})
	})
}

type echo struct {
	Path, RawQuery, Host string
	Header               http.Header
}

func getEcho(t *testing.T, c *http.Client, req *http.Request) (echo, *http.Response) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e echo
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e, res
}

func mustReq(t testing.TB, method, url string, body string) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if body == "" {
		req, err = http.NewRequest(method, url, nil)
	} else {
		req, err = http.NewRequest(method, url, strings.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
