package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCtl drives a running Portier with `portier ctl` as an operator would:
// status, drain, weight, ready, and the errors a typo gets.
func TestCtl(t *testing.T) {
	a, b := named(t, "a"), named(t, "b")
	tokenFile := writeFile(t, "token", "t0ken\n")
	cfg := writeFile(t, "portier.yaml", fmt.Sprintf(`
admin: {address: "127.0.0.1:0", token_file: %q}
log: {access: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, backend: pages}]
backends:
  - name: pages
    servers:
      - {name: web-01, address: %q}
      - {name: web-02, address: %q}
`, tokenFile, a.Listener.Addr(), b.Listener.Addr()))
	p := start(t, 1, "run", "-c", cfg)
	waitFor(t, func() bool { return p.addr("admin") != "" },
		func() string { return "no admin address logged:\n" + p.logs() })
	adm := p.addr("admin")
	ctl := func(args ...string) (int, string, string) {
		return runCmd(t, append([]string{"ctl", "--admin", adm, "--token-file", tokenFile}, args...)...)
	}

	code, out, errOut := ctl("status")
	if code != 0 || !strings.Contains(out, "BACKEND") || !strings.Contains(out, "web-01") || !strings.Contains(out, "up") {
		t.Fatalf("status: %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := ctl("drain", "pages/web-01"); code != 0 || !strings.Contains(out, "draining") {
		t.Fatalf("drain: %d %s", code, out)
	}
	for range 4 {
		if _, body, _ := get(t, http.DefaultClient, "http://"+p.addr("web")+"/"); body != "b" {
			t.Fatalf("a drained server was sent a request")
		}
	}
	code, out, _ = ctl("status")
	if code != 0 || !strings.Contains(out, "draining") {
		t.Fatalf("status after drain:\n%s", out)
	}
	if code, out, _ := ctl("weight", "pages/web-02", "50"); code != 0 || !strings.Contains(out, "weight 50") {
		t.Fatalf("weight: %d %s", code, out)
	}
	if code, out, _ := ctl("ready", "pages/web-01"); code != 0 || !strings.Contains(out, ": up") {
		t.Fatalf("ready: %d %s", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown server", []string{"drain", "pages/web-09"}, 1, `backend "pages" has no server named "web-09"`},
		{"no slash", []string{"drain", "web-01"}, 2, "want BACKEND/SERVER"},
		{"bad weight", []string{"weight", "pages/web-01", "lots"}, 2, "is not a number"},
		{"weight out of range", []string{"weight", "pages/web-01", "5000"}, 1, "from 0 to 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := ctl(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("code %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
	code, _, errOut = runCmd(t, "ctl", "--admin", adm, "drain", "pages/web-01")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("drain without the token: %d %q", code, errOut)
	}
}

// TestCtlStatusSaysWhy: a server whose health check fails is shown down,
// since when, and why, in words; a drained one keeps its health in view.
func TestCtlStatusSaysWhy(t *testing.T) {
	ok := named(t, "ok")
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "sick", http.StatusServiceUnavailable)
	}))
	t.Cleanup(sick.Close)
	cfg := writeFile(t, "portier.yaml", fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
log: {access: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, backend: pages}]
backends:
  - name: pages
    health: {path: /health, interval: 200ms, fast_interval: 50ms, rise: 1, fall: 1}
    servers:
      - {name: web-01, address: %q}
      - {name: web-02, address: %q}
`, ok.Listener.Addr(), sick.Listener.Addr()))
	p := start(t, 1, "run", "-c", cfg)
	waitFor(t, func() bool { return p.addr("admin") != "" },
		func() string { return "no admin address logged:\n" + p.logs() })
	ctl := func(args ...string) (int, string, string) {
		return runCmd(t, append([]string{"ctl", "--admin", p.addr("admin")}, args...)...)
	}
	web01 := regexp.MustCompile(`(?m)^pages +web-01 .* up \d+s ago: status 200$`)
	web02 := regexp.MustCompile(`(?m)^pages +web-02 .* down \d+s ago: status 503$`)
	var out string
	waitFor(t, func() bool {
		_, out, _ = ctl("status")
		return web01.MatchString(out) && web02.MatchString(out)
	}, func() string { return "ctl status does not say why:\n" + out })
	for _, want := range []string{"LISTENER", "web ", "ROUTE", "all ", "ready", "BACKEND", "STATE"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl status lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := ctl("drain", "pages/web-02"); code != 0 {
		t.Fatalf("drain: %s", errOut)
	}
	_, out, _ = ctl("status")
	if !regexp.MustCompile(`(?m)^pages +web-02 .* draining \(health down \d+s ago: status 503\)$`).MatchString(out) {
		t.Fatalf("a drained server's health is not shown:\n%s", out)
	}
}

// TestCtlErrors: requests that a server refuses are listed by `ctl
// errors`, newest first, with their reason and request id.
func TestCtlErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := writeFile(t, "portier.yaml", fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
log: {access: "off"}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, backend: gone}]
backends:
  - name: gone
    retries: 0
    servers: [{name: web-09, address: %q}]
`, dead))
	p := start(t, 1, "run", "-c", cfg)
	waitFor(t, func() bool { return p.addr("admin") != "" },
		func() string { return "no admin address logged:\n" + p.logs() })
	ctl := func(args ...string) (int, string, string) {
		return runCmd(t, append([]string{"ctl", "--admin", p.addr("admin")}, args...)...)
	}
	if code, out, errOut := ctl("errors"); code != 0 || out != "no upstream errors recorded\n" {
		t.Fatalf("ctl errors before any request: %d %q %q", code, out, errOut)
	}
	var ids []string
	for range 3 {
		resp, err := http.Get("http://" + p.addr("web") + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("a refused connection answered %d", resp.StatusCode)
		}
		ids = append(ids, resp.Header.Get("X-Request-ID"))
	}
	code, out, errOut := ctl("errors", "2")
	if code != 0 {
		t.Fatalf("ctl errors: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("ctl errors 2: want a header and 2 lines:\n%s", out)
	}
	for i, id := range []string{ids[2], ids[1]} {
		if !strings.Contains(lines[i+1], " all ") || !strings.Contains(lines[i+1], "gone/web-09") ||
			!strings.Contains(lines[i+1], "connect_refused") || !strings.Contains(lines[i+1], "502") ||
			(id != "" && !strings.Contains(lines[i+1], id)) {
			t.Errorf("line %d: %q; want route all, gone/web-09, connect_refused, 502, request id %q", i+1, lines[i+1], id)
		}
	}
	if code, _, errOut := ctl("errors", "none"); code != 2 || !strings.Contains(errOut, "not a positive number") {
		t.Errorf("ctl errors none: %d %q", code, errOut)
	}
}

func TestWriteErrors(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		list []upstreamError
		want string
	}{
		{"none", nil, "no upstream errors recorded\n"},
		{"today and before", []upstreamError{
			{Time: now.Add(-5 * time.Second), RequestID: "r-2", Route: "shop", Backend: "shop", Server: "web-2",
				Reason: "connect_refused", Status: 502, Error: "dial tcp 10.0.0.12:8080: connection refused"},
			{Time: now.Add(-13 * time.Hour), Route: "api", Backend: "api", Reason: "no_healthy_server", Status: 503},
		}, "" +
			"TIME                 ROUTE  BACKEND/SERVER  REASON             STATUS  REQUEST ID  ERROR\n" +
			"11:59:55             shop   shop/web-2      connect_refused    502     r-2         dial tcp 10.0.0.12:8080: connection refused\n" +
			"2025-05-31 23:00:00  api    api             no_healthy_server  503     -           -\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeErrors(&b, tc.list, now)
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestServerWords(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		s    serverView
		want string
	}{
		{"down", serverView{Health: "down", Admin: "ready", Reason: "status 503", Since: now.Add(-125 * time.Second)}, "down 2m 5s ago: status 503"},
		{"pending", serverView{Health: "pending", Admin: "ready", Since: now.Add(-time.Second)}, "pending 1s ago"},
		{"drained", serverView{Health: "up", Admin: "draining", Reason: "status 200", Since: now.Add(-3 * time.Hour)},
			"draining (health up 3h 0m ago: status 200)"},
		{"last error", serverView{Health: "up", Admin: "ready", Since: now.Add(-50 * time.Hour),
			LastError: "connect_refused", LastErrorAt: now.Add(-9 * time.Second), ConsecutiveFailures: 3},
			"up 2d 2h ago; last error 9s ago: connect_refused (3 in a row)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.words(now); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
