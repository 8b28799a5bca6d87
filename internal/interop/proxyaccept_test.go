package interop_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/testpki"
)

// The PROXY protocol accepted: HAProxy (send-proxy, send-proxy-v2) in front
// of Portier (proxy_protocol accept) in front of an origin, with curl as
// the client on its own loopback address. HAProxy connects to Portier from
// hopIP, so an origin that sees clientIP learnt it from the header.

// ppPortier is `portier run` with one listener accepting the PROXY
// protocol from trusted, in front of server.
type ppPortier struct {
	trusted  string // CIDR whose headers Portier believes
	protocol string // http (default), https or tcp
	admin    bool   // serve the admin endpoint, for /metrics
	sendPP   string // the backend's send_proxy_protocol; empty for none
}

// start runs Portier and returns its listener's address, the admin
// endpoint's (if any) and the process.
func (p ppPortier) start(t *testing.T, server string) (addr, admin string, proc *process) {
	t.Helper()
	dir := t.TempDir()
	adminAddr := `"off"`
	if p.admin {
		adminAddr = "127.0.0.1:0"
	}
	var listener strings.Builder
	fmt.Fprintf(&listener, "  - name: web\n    address: 127.0.0.1:0\n    proxy_protocol: {accept: true, trusted: [%q]}\n", p.trusted)
	routes := "routes:\n  - name: all\n    backend: peer\n"
	switch p.protocol {
	case "https":
		cert, key := testpki.NewCA(t).Issue(t, dir, "web", sniName)
		fmt.Fprintf(&listener, "    protocol: https\n    tls: {certificates: [{cert_file: %q, key_file: %q}]}\n", cert, key)
	case "tcp":
		listener.WriteString("    protocol: tcp\n    backend: peer\n")
		routes = ""
	}
	sendPP := ""
	if p.sendPP != "" {
		sendPP = "    send_proxy_protocol: " + p.sendPP + "\n"
	}
	conf := fmt.Sprintf(`admin:
  address: %s
log:
  access: "off"
listeners:
%s%sbackends:
  - name: peer
%s    servers:
      - {name: peer, address: %q}
`, adminAddr, listener.String(), routes, sendPP, server)
	path := filepath.Join(dir, "portier.yaml")
	writeFile(t, path, conf)
	proc = start(t, "portier", exec.Command(portierPath(t), "run", "-c", path))
	if p.admin {
		admin, _ = proc.waitLog(t, map[string]string{"msg": "admin listening"})["address"].(string)
	}
	return proc.waitListening(t), admin, proc
}

// xffOrigin answers every request with the X-Forwarded-For it received, and
// records the paths and X-Forwarded-For of the requests it got.
type xffOrigin struct {
	addr string
	mu   sync.Mutex // guards seen
	seen []string   // "path xff"
}

func startXFFOrigin(t *testing.T) *xffOrigin {
	t.Helper()
	o := &xffOrigin{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xff := r.Header.Get("X-Forwarded-For")
		o.mu.Lock()
		o.seen = append(o.seen, r.URL.Path+" "+xff)
		o.mu.Unlock()
		fmt.Fprintf(w, "xff=%s\n", xff)
	}))
	t.Cleanup(ts.Close)
	o.addr = ts.Listener.Addr().String()
	return o
}

// requests returns the X-Forwarded-For of the requests for path so far.
func (o *xffOrigin) requests(path string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, s := range o.seen {
		if p, xff, _ := strings.Cut(s, " "); p == path {
			out = append(out, xff)
		}
	}
	return out
}

// haproxySendProxy runs HAProxy in front of portier in mode (http or tcp),
// connecting from hopIP and opening each connection with the header the
// server option (send-proxy or send-proxy-v2, and any check options) asks
// for. HTTP mode adds no X-Forwarded-For of its own.
func haproxySendProxy(t *testing.T, mode, portier, serverOpts string) string {
	t.Helper()
	return runHAProxy(t, fmt.Sprintf(`frontend fe
	mode %[1]s
	bind fd@3
	default_backend portier
backend portier
	mode %[1]s
	server portier %[2]s source %[3]s %[4]s
`, mode, portier, hopIP, serverOpts))
}

// TestHAProxySendsProxyToPortier: the origin sees curl's address, which
// only the PROXY header carried, for each client in turn, over HTTP and,
// with HAProxy relaying TCP, over HTTPS.
func TestHAProxySendsProxyToPortier(t *testing.T) {
	origin := startXFFOrigin(t)
	tests := []struct {
		name, protocol, mode, send string
	}{
		{name: "http send-proxy-v2", protocol: "http", mode: "http", send: "send-proxy-v2"},
		{name: "http send-proxy", protocol: "http", mode: "http", send: "send-proxy"},
		{name: "https send-proxy-v2", protocol: "https", mode: "tcp", send: "send-proxy-v2"},
		{name: "https send-proxy", protocol: "https", mode: "tcp", send: "send-proxy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			portier, _, _ := ppPortier{trusted: hopIP + "/32", protocol: tc.protocol}.start(t, origin.addr)
			haproxy := haproxySendProxy(t, tc.mode, portier, tc.send)
			for _, client := range []string{clientIP, otherClientIP, clientIP} {
				got := curlFrom(t, client, tc.protocol, haproxy, "/")
				if want := "xff=" + client + "\n"; got != want {
					t.Errorf("client %s: the origin answered %q, want %q", client, got, want)
				}
			}
		})
	}
}

// TestHAProxySendsProxyToPortierTCP: HAProxy relays TCP to a tcp listener
// of Portier with a PROXY header, and Portier relays to a second HAProxy
// (accept-proxy) with a v2 header of its own: the origin behind that one
// reports curl's address as the source and the first HAProxy's frontend
// as the destination, both carried through Portier by the headers alone.
func TestHAProxySendsProxyToPortierTCP(t *testing.T) {
	origin := startReportingOrigin(t)
	back := startHAProxyAcceptProxy(t, origin)
	for _, send := range []string{"send-proxy-v2", "send-proxy"} {
		t.Run(send, func(t *testing.T) {
			portier, _, _ := ppPortier{trusted: hopIP + "/32", protocol: "tcp", sendPP: "v2"}.start(t, back)
			front := haproxySendProxy(t, "tcp", portier, send)
			for _, client := range []string{clientIP, otherClientIP, clientIP} {
				got := curlFrom(t, client, "http", front, "/")
				if want := fmt.Sprintf("src=%s dst=%s authority=\n", client, front); got != want {
					t.Errorf("client %s: the origin reported %q, want %q", client, got, want)
				}
			}
		})
	}
}

// curlFrom fetches path from addr with curl from the loopback address
// client; over https it asks for sniName.
func curlFrom(t *testing.T, client, protocol, addr, path string) string {
	t.Helper()
	args := []string{"--http1.1", "--interface", client, "--fail"}
	if protocol == "https" {
		_, port, _ := net.SplitHostPort(addr)
		return curl(t, append(args, "--insecure", "--resolve", sniName+":"+port+":127.0.0.1",
			"https://"+net.JoinHostPort(sniName, port)+path)...)
	}
	return curl(t, append(args, "http://"+addr+path)...)
}

// TestHAProxyHealthCheckSendsLocal: HAProxy's health checks with
// check-send-proxy open with a v2 LOCAL header, which Portier (requiring a
// header) accepts and keeps HAProxy's own address for: the origin sees the
// checks from hopIP, and nothing was refused.
func TestHAProxyHealthCheckSendsLocal(t *testing.T) {
	origin := startXFFOrigin(t)
	portier, admin, _ := ppPortier{trusted: hopIP + "/32", admin: true}.start(t, origin.addr)
	runHAProxy(t, fmt.Sprintf(`frontend fe
	bind fd@3
	default_backend portier
backend portier
	option httpchk GET /health
	server portier %s source %s send-proxy-v2 check check-send-proxy inter 100ms
`, portier, hopIP))
	deadline := time.Now().Add(startTimeout)
	for len(origin.requests("/health")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the origin saw %d health checks through Portier within %v", len(origin.requests("/health")), startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, xff := range origin.requests("/health") {
		if xff != hopIP {
			t.Errorf("a health check reached the origin from %q, want HAProxy's own %s", xff, hopIP)
		}
	}
	if errs := proxyErrors(t, admin); errs != 0 {
		t.Errorf("Portier refused %v connections", errs)
	}
}

// TestUntrustedProxyHeaderRefused: Portier trusts another network than
// HAProxy's, so HAProxy's header closes its connections (HAProxy answers
// 503, and nothing reaches the origin), counted as untrusted; a client that
// sends no header is served as usual, and one that forges a header
// directly is cut off.
func TestUntrustedProxyHeaderRefused(t *testing.T) {
	origin := startXFFOrigin(t)
	portier, admin, _ := ppPortier{trusted: "10.0.0.0/8", admin: true}.start(t, origin.addr)
	haproxy := haproxySendProxy(t, "http", portier, "send-proxy-v2")
	out := curl(t, "--interface", clientIP, "-o", "/dev/null", "-w", "%{http_code}", "http://"+haproxy+"/via-haproxy")
	if out != "503" && out != "502" {
		t.Errorf("through HAProxy: status %s, want 502 or 503", out)
	}
	if got := origin.requests("/via-haproxy"); len(got) != 0 {
		t.Errorf("the origin got %d requests with an untrusted header", len(got))
	}

	if got := curlFrom(t, clientIP, "http", portier, "/direct"); got != "xff="+clientIP+"\n" {
		t.Errorf("a direct client without a header got %q", got)
	}

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", portier)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "PROXY TCP4 6.6.6.6 %s 1234 80\r\nGET /forged HTTP/1.1\r\nHost: a\r\n\r\n", hopIP)
	if b, err := io.ReadAll(bufio.NewReader(c)); len(b) != 0 {
		t.Errorf("a forged header was answered: %q (%v)", b, err)
	}
	if got := origin.requests("/forged"); len(got) != 0 {
		t.Errorf("the origin got the forged request from %v", got)
	}
	if n := proxyErrorsFor(t, admin, "untrusted"); n < 2 {
		t.Errorf("untrusted = %v, want at least 2 (HAProxy's connections and the forged one)", n)
	}
}

// TestProxyProtocolWithoutTrustedRefused: `portier validate` refuses
// accept without trusted networks, naming the key.
func TestProxyProtocolWithoutTrustedRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portier.yaml")
	writeFile(t, path, `listeners:
  - name: web
    address: 127.0.0.1:0
    proxy_protocol: {accept: true}
routes:
  - {name: all, backend: peer}
backends:
  - name: peer
    servers: [{name: peer, address: "127.0.0.1:9"}]
`)
	out, err := exec.Command(portierPath(t), "validate", "-c", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted proxy_protocol without trusted networks:\n%s", out)
	}
	if !strings.Contains(string(out), "portier.yaml:4:5: listeners[0].proxy_protocol.trusted: must list the networks") {
		t.Errorf("validate said:\n%s\nwant the file, line and key of proxy_protocol.trusted", out)
	}
}

// proxyErrors sums portier_proxy_protocol_errors_total from Portier's
// /metrics at admin.
func proxyErrors(t *testing.T, admin string) float64 { return proxyErrorsFor(t, admin, "") }

// proxyErrorsFor is proxyErrors for one reason ("" for all).
func proxyErrorsFor(t *testing.T, admin, reason string) float64 {
	t.Helper()
	out := curl(t, "http://"+admin+"/metrics")
	var sum float64
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "portier_proxy_protocol_errors_total{") ||
			reason != "" && !strings.Contains(line, `reason="`+reason+`"`) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	if !strings.Contains(out, "portier_proxy_protocol_errors_total{") {
		t.Fatalf("no portier_proxy_protocol_errors_total in /metrics:\n%s", out)
	}
	return sum
}
