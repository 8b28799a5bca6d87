package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/upstream"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		want   pageFormat
	}{
		{name: "missing", want: pageText},
		{name: "any", accept: []string{"*/*"}, want: pageText},
		{name: "browser", accept: []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, want: pageHTML},
		{name: "json", accept: []string{"application/json"}, want: pageJSON},
		{name: "problem json", accept: []string{"application/problem+json"}, want: pageJSON},
		{name: "axios", accept: []string{"application/json, text/plain, */*"}, want: pageJSON},
		{name: "plain first", accept: []string{"text/plain, application/json"}, want: pageText},
		{name: "q decides", accept: []string{"text/html;q=0.5, application/json;q=0.9"}, want: pageJSON},
		{name: "explicit beats wildcard", accept: []string{"*/*, text/html"}, want: pageHTML},
		{name: "text wildcard", accept: []string{"text/*"}, want: pageText},
		{name: "refused", accept: []string{"text/html;q=0"}, want: pageText},
		{name: "two lines", accept: []string{"image/png", "application/json"}, want: pageJSON},
		{name: "nothing we have", accept: []string{"image/png"}, want: pageText},
		{name: "malformed q", accept: []string{"text/html;q=x, application/json"}, want: pageJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := negotiate(tt.accept); got != tt.want {
				t.Errorf("negotiate(%q) = %s, want %s", tt.accept, pageTypes[got], pageTypes[tt.want])
			}
		})
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "*/*", "text/html;q=0.9,application/json", "a/b;q=;q=1", ";,;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := negotiate([]string{s}); int(got) >= len(pageTypes) {
			t.Fatalf("negotiate(%q) = %d", s, got)
		}
	})
}

// failureSite serves one route per reason class it can produce.
func failureSite(t *testing.T) *Site {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	refused := newBackend(t, "refused", upstream.TransportOptions{}, deadAddr(t))
	timeout := newBackend(t, "slow", upstream.TransportOptions{ResponseHeaderTimeout: 50 * time.Millisecond},
		startBackend(t, slow))
	down := newBackend(t, "down", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	down.Servers[0].SetState(upstream.Down)
	reset := newBackend(t, "reset", upstream.TransportOptions{}, startBackend(t, resetter(t, "", nil)))
	return newSite(t,
		routeSpec{prefix: "/refused", route: &Route{Name: "refused", Backend: refused}},
		routeSpec{prefix: "/slow", route: &Route{Name: "slow", Backend: timeout}},
		routeSpec{prefix: "/down", route: &Route{Name: "down", Backend: down}},
		routeSpec{prefix: "/reset", route: &Route{Name: "reset", Backend: reset}},
		routeSpec{hosts: []string{"only.test"}, route: &Route{Name: "only", Backend: down}},
	)
}

// TestErrorPages: every reason class in every format names the status,
// the reason, the request id and the trace id, and never an address.
func TestErrorPages(t *testing.T) {
	site := failureSite(t)
	base, c := startProxy(t, NewHandler(Options{}, site), false)
	reasonsByPath := []struct{ path, reason string }{
		{"/refused", "connect_refused"},
		{"/slow", "response_timeout"},
		{"/down", "no_healthy_server"},
		{"/reset", "upstream_reset"},
		{"/nothing", "no_route"},
	}
	formats := []struct {
		name, accept, ctype string
	}{
		{name: "html", accept: "text/html,*/*;q=0.8", ctype: "text/html; charset=utf-8"},
		{name: "json", accept: "application/json", ctype: "application/json"},
		{name: "plain", accept: "text/plain", ctype: "text/plain; charset=utf-8"},
		{name: "no accept", ctype: "text/plain; charset=utf-8"},
	}
	for _, rp := range reasonsByPath {
		for _, f := range formats {
			t.Run(rp.reason+"/"+f.name, func(t *testing.T) {
				req := mustReq(t, "GET", base+rp.path, "")
				if f.accept != "" {
					req.Header.Set("Accept", f.accept)
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, res.Body)
				res.Body.Close()
				id, ct := res.Header.Get("X-Request-ID"), res.Header.Get("Content-Type")
				if ct != f.ctype || res.Header.Get("X-Portier-Reason") != rp.reason {
					t.Fatalf("Content-Type %q reason %q, want %q %s", ct, res.Header.Get("X-Portier-Reason"), f.ctype, rp.reason)
				}
				if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "dial") {
					t.Errorf("the page leaks upstream detail: %s", body)
				}
				switch f.name {
				case "json":
					var p errorPage
					if err := json.Unmarshal([]byte(body), &p); err != nil {
						t.Fatalf("%v: %s", err, body)
					}
					if p.Status != res.StatusCode || p.Reason != rp.reason || p.RequestID != id || len(p.TraceID) != 32 || p.Detail != nil {
						t.Errorf("JSON page %+v", p)
					}
				case "html":
					for _, want := range []string{"<!doctype html>", "<title>" + res.Status + "</title>", rp.reason, id, describe(rp.reason)} {
						if !strings.Contains(body, strings.ReplaceAll(want, "'", "&#39;")) {
							t.Errorf("HTML page lacks %q: %s", want, body)
						}
					}
					if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "src=") {
						t.Errorf("HTML page loads something: %s", body)
					}
					if res.Header.Get("Content-Security-Policy") == "" {
						t.Error("HTML page without Content-Security-Policy")
					}
				default:
					first := res.Status + ": " + rp.reason + " (request id " + id + ")\n"
					if !strings.HasPrefix(body, first) {
						t.Errorf("text page %q, want it to start %q", body, first)
					}
				}
			})
		}
	}
}

// TestErrorDetail: with Site.ErrorDetail the page names the server, its
// address and the error; without it, none of them.
func TestErrorDetail(t *testing.T) {
	site := failureSite(t)
	site.ErrorDetail = true
	base, c := startProxy(t, NewHandler(Options{}, site), false)
	refused := site.Routes[0].Backend.Servers[0]
	tests := []struct {
		path, accept string
		want         []string
	}{
		{path: "/refused", accept: "application/json", want: []string{`"server":"refused-a"`, `"address":"` + refused.Address, "connection refused"}},
		{path: "/refused", want: []string{"server: refused-a", "address: " + refused.Address, "error: dial upstream: connect_refused"}},
		{path: "/down", accept: "text/html", want: []string{"down-a down"}},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+tt.accept, func(t *testing.T) {
			req := mustReq(t, "GET", base+tt.path, "")
			req.Header.Set("Accept", tt.accept)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, res.Body)
			res.Body.Close()
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
		})
	}
}
