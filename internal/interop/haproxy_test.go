package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Loopback addresses that tell the hops apart: curl connects from client,
// HAProxy connects to Portier from hop.
const (
	clientIP = "127.0.0.5"
	hopIP    = "127.0.0.6"
)

// startHAProxy runs HAProxy in the foreground, adding X-Forwarded-For and
// forwarding everything to target from hopIP.
func startHAProxy(t *testing.T, target string) string {
	t.Helper()
	return runHAProxy(t, fmt.Sprintf(`frontend fe
	bind fd@3
	option forwardfor
	default_backend portier
backend portier
	server portier %s source %s
`, target, hopIP))
}

// runHAProxy runs HAProxy in the foreground in HTTP mode with the given
// frontend and backend sections; the frontend binds fd@3, a loopback
// socket whose address it returns.
func runHAProxy(t *testing.T, proxies string) string {
	t.Helper()
	bin := requireTool(t, "haproxy")
	addr, ln := inheritedListener(t)
	conf := `global
	nbthread 1
defaults
	mode http
	timeout connect 5s
	timeout client 20s
	timeout server 20s
` + proxies
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, conf)
	cmd := exec.Command(bin, "-f", path, "-db")
	cmd.ExtraFiles = []*os.File{ln}
	start(t, "haproxy", cmd)
	return addr
}

// TestHAProxyPortierNginx sends a request from curl through HAProxy, then
// Portier, to nginx, with a forged X-Forwarded-For from the client: Portier
// keeps the X-Forwarded-For chain only when HAProxy's address is trusted,
// and appends the address HAProxy connected from either way.
func TestHAProxyPortierNginx(t *testing.T) {
	const body = "through two proxies\n"
	origin := startNginx(t, map[string]string{"index.txt": body})

	tests := []struct {
		name    string
		trusted string // trusted_proxies of Portier's listener
		wantXFF string // as nginx received it
	}{
		{name: "nothing trusted", wantXFF: hopIP},
		{name: "haproxy trusted", trusted: hopIP + "/32", wantXFF: "6.6.6.6, " + clientIP + ", " + hopIP},
		{name: "other network trusted", trusted: "10.0.0.0/8", wantXFF: hopIP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			portier, _ := portierConf{trusted: tc.trusted}.start(t, origin)
			haproxy := startHAProxy(t, portier)
			dir := t.TempDir()
			out := curl(t, "--http1.1", "--interface", clientIP, "-H", "X-Forwarded-For: 6.6.6.6",
				"-o", filepath.Join(dir, "body"), "-w", writeOut, "http://"+haproxy+"/index.txt")
			ts := parseTransfers(t, out)
			if len(ts) != 1 {
				t.Fatalf("curl reported %d transfers, want 1", len(ts))
			}
			tr := ts[0]
			if tr.status != "200" {
				t.Fatalf("status %s, want 200", tr.status)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "body")); string(got) != body {
				t.Errorf("body %q, want %q", got, body)
			}
			if got := normalizeList(tr.seen["X-Forwarded-For"]); got != tc.wantXFF {
				t.Errorf("nginx saw X-Forwarded-For %q, want %q", got, tc.wantXFF)
			}
			if !strings.HasPrefix(tr.via, "1.1 ") || !strings.HasPrefix(tr.seen["Via"], "1.1 ") {
				t.Errorf("Via %q in the response and %q at nginx, want Portier's \"1.1 <name>\" in both",
					tr.via, tr.seen["Via"])
			}
			if tr.requestID == "" || tr.seen["X-Request-ID"] != tr.requestID {
				t.Errorf("X-Request-ID %q returned, %q sent to nginx; want the same non-empty id",
					tr.requestID, tr.seen["X-Request-ID"])
			}
		})
	}
}

// normalizeList rewrites a comma-separated header value as "a, b, c", so that
// the test does not depend on how the list was spaced or split into lines.
func normalizeList(v string) string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
