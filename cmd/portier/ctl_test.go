package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
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
