package interop_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/testpki"
)

// tcpClientIP is the address the clients of these tests connect from, so
// that the address a server reads from a PROXY header is told apart from
// Portier's own (127.0.0.1).
const tcpClientIP = "127.0.0.2"

// nginxStreamModule is where Debian's libnginx-mod-stream puts nginx's
// stream module.
const nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// tcpRoute is a route of a tcp listener: the names it matches (none: the
// default route) and the server behind it.
type tcpRoute struct {
	sni    []string
	server string
}

// tcpPortier is `portier run` with one tcp listener: in front of one
// server (plain TCP), or of routes by SNI (TLS passthrough).
type tcpPortier struct {
	server string     // plain TCP: the one server
	routes []tcpRoute // passthrough: the routes, in order
	sendPP string     // the backends' send_proxy_protocol
}

func (p tcpPortier) start(t *testing.T) (string, *process) {
	t.Helper()
	var b strings.Builder
	b.WriteString("admin: {address: \"off\"}\nlog: {level: debug, access: stdout}\nlisteners:\n")
	b.WriteString("  - name: tcp\n    address: 127.0.0.1:0\n    protocol: tcp\n    timeouts: {client_hello: 300ms}\n")
	backend := func(name, server string) {
		fmt.Fprintf(&b, "  - name: %s\n    send_proxy_protocol: %s\n    servers: [{name: %s, address: %q}]\n",
			name, cmpOr(p.sendPP, "none"), name, server)
	}
	if p.server != "" {
		b.WriteString("    backend: be\nbackends:\n")
		backend("be", p.server)
	} else {
		b.WriteString("routes:\n")
		for i, r := range p.routes {
			fmt.Fprintf(&b, "  - {name: r%d, listeners: [tcp], backend: b%d", i, i)
			if len(r.sni) > 0 {
				fmt.Fprintf(&b, ", sni: [%s]", strings.Join(r.sni, ", "))
			}
			b.WriteString("}\n")
		}
		b.WriteString("backends:\n")
		for i, r := range p.routes {
			backend(fmt.Sprintf("b%d", i), r.server)
		}
	}
	path := filepath.Join(t.TempDir(), "portier.yaml")
	writeFile(t, path, b.String())
	return startPortier(t, "run", "-c", path)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// dialFrom connects to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// startNginxTLS runs nginx serving TLS with a certificate for name,
// answering every request with the name.
func startNginxTLS(t *testing.T, ca *testpki.CA, name string) string {
	t.Helper()
	cert, key := ca.Issue(t, t.TempDir(), "site", name)
	return runNginx(t, "ssl", fmt.Sprintf(`		ssl_certificate %s;
		ssl_certificate_key %s;
		default_type text/plain;
		location / { return 200 "%s\n"; }
`, cert, key, name))
}

// TestTCPPassthroughBySNI runs Portier's tcp listener in front of three
// nginx TLS servers with different certificates: a.test reaches the first,
// any name under b.test the second, and other names (or none) the
// default route's, as the certificate each client receives and the answer
// inside the tunnel show. A client that sends no ClientHello, or not a TLS
// one, is dropped, and the listener goes on serving.
func TestTCPPassthroughBySNI(t *testing.T) {
	ca := testpki.NewCA(t)
	a, b, d := startNginxTLS(t, ca, "a.test"), startNginxTLS(t, ca, "www.b.test"), startNginxTLS(t, ca, "default.test")
	addr, portier := tcpPortier{routes: []tcpRoute{
		{sni: []string{"a.test"}, server: a},
		{sni: []string{"'*.b.test'"}, server: b},
		{server: d},
	}}.start(t)
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct{ sni, want string }{
		{"a.test", "a.test"},
		{"www.b.test", "www.b.test"},
		{"api.b.test", "www.b.test"},
		{"c.test", "default.test"},
		{"b.test", "default.test"},
	}
	for _, tc := range tests {
		t.Run(tc.sni, func(t *testing.T) {
			conn := tls.Client(dialFrom(t, tcpClientIP, addr), &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
			if err := conn.Handshake(); err != nil {
				t.Fatal(err)
			}
			if got := conn.ConnectionState().PeerCertificates[0].DNSNames; got[0] != tc.want {
				t.Errorf("sni %s: the client received the certificate of %q, want %q", tc.sni, got, tc.want)
			}
			// curl, a real client, through the same passthrough: the
			// nginx behind answers with its own name.
			body := curl(t, "--insecure", "--interface", tcpClientIP,
				"--resolve", tc.sni+":"+port+":127.0.0.1", "https://"+tc.sni+":"+port+"/")
			if body != tc.want+"\n" {
				t.Errorf("curl https://%s: %q", tc.sni, body)
			}
		})
	}
	t.Run("no sni", func(t *testing.T) {
		conn := tls.Client(dialFrom(t, tcpClientIP, addr), &tls.Config{InsecureSkipVerify: true})
		if err := conn.Handshake(); err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().PeerCertificates[0].DNSNames[0]; got != "default.test" {
			t.Errorf("without sni the client reached %q", got)
		}
	})
	t.Run("bad client hellos", func(t *testing.T) {
		for _, tc := range []struct{ send, reason string }{
			{"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "malformed"},
			{"", "timeout"},
		} {
			c := dialFrom(t, tcpClientIP, addr)
			io.WriteString(c, tc.send)
			if n, _ := io.Copy(io.Discard, c); n != 0 {
				t.Errorf("%s: read %d bytes, want the connection closed", tc.reason, n)
			}
			portier.waitLog(t, map[string]string{"msg": "client hello dropped", "reason": tc.reason})
		}
		conn := tls.Client(dialFrom(t, tcpClientIP, addr), &tls.Config{ServerName: "a.test", RootCAs: ca.Pool})
		if err := conn.Handshake(); err != nil {
			t.Fatalf("after the bad ones: %v", err)
		}
	})
	line := portier.waitLog(t, map[string]string{"msg": "connection", "sni": "api.b.test"})
	if line["route"] != "r1" || line["backend"] != "b1" || !strings.HasPrefix(line["client"].(string), tcpClientIP+":") {
		t.Errorf("access line %v", line)
	}
}

// runNginxStream runs nginx with one stream server on an inherited
// loopback socket, listening with the given options and holding the
// given directives, and returns its address.
func runNginxStream(t *testing.T, listen, directives string) string {
	t.Helper()
	bin := requireTool(t, "nginx")
	if _, err := os.Stat(nginxStreamModule); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("nginx's stream module is not installed (libnginx-mod-stream)")
		}
		t.Skip("nginx's stream module is not installed (libnginx-mod-stream)")
	}
	dir := t.TempDir()
	addr, ln := inheritedListener(t)
	conf := fmt.Sprintf(`load_module %s;
worker_processes 1;
pid %s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
stream {
	server {
		listen %s %s;
%s	}
}
`, nginxStreamModule, dir, addr, listen, directives)
	writeFile(t, filepath.Join(dir, "nginx.conf"), conf)
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr", "-g", "daemon off;")
	cmd.ExtraFiles = []*os.File{ln}
	cmd.Env = append(os.Environ(), "NGINX=3;")
	start(t, "nginx", cmd)
	return addr
}

// TestTCPSendProxyProtocolToNginxStream: Portier's tcp listener, sending
// v1 or v2, in front of nginx's stream module listening with
// proxy_protocol, which answers with the addresses the header named: the
// client's own, not Portier's.
func TestTCPSendProxyProtocolToNginxStream(t *testing.T) {
	nginx := runNginxStream(t, "proxy_protocol",
		"\t\treturn \"$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port\\n\";\n")
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			addr, _ := tcpPortier{server: nginx, sendPP: v}.start(t)
			c := dialFrom(t, tcpClientIP, addr)
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			want := c.LocalAddr().String() + " " + addr + "\n"
			if got != want {
				t.Errorf("nginx read the PROXY header as %q, want %q", got, want)
			}
		})
	}
}

// runHAProxyTCP runs HAProxy in mode tcp accepting the PROXY protocol in
// front of origin, logging to its stdout what each header said, and
// returns its address and process.
func runHAProxyTCP(t *testing.T, origin string) (string, *process) {
	t.Helper()
	bin := requireTool(t, "haproxy")
	addr, ln := inheritedListener(t)
	conf := fmt.Sprintf(`global
	nbthread 1
	log stdout format raw local0
defaults
	mode tcp
	log global
	timeout connect 5s
	timeout client 20s
	timeout server 20s
frontend fe
	bind fd@3 accept-proxy
	log-format "pp src=%%ci:%%cp dst=%%fi:%%fp authority=%%[fc_pp_authority]"
	default_backend origin
backend origin
	server origin %s
`, origin)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	writeFile(t, path, conf)
	cmd := exec.Command(bin, "-f", path, "-db")
	cmd.ExtraFiles = []*os.File{ln}
	return addr, start(t, "haproxy", cmd)
}

// waitOutput waits until the program has written want.
func (p *process) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(p.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not write %q:\n%s", p.name, want, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsOrigin is a TLS server that answers "ok" to each connection once the
// handshake is done.
func tlsOrigin(t *testing.T, ca *testpki.CA) string {
	t.Helper()
	cf, kf := ca.Issue(t, t.TempDir(), "origin", "a.test")
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "ok\n")
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestTCPSendProxyProtocolToHAProxy: Portier's tcp listener in front of
// HAProxy in mode tcp with accept-proxy: HAProxy logs the client's own
// address from the header, v1 or v2, and with v2 on a TLS passthrough the
// SNI as the authority TLV.
func TestTCPSendProxyProtocolToHAProxy(t *testing.T) {
	ca := testpki.NewCA(t)
	haproxy, hp := runHAProxyTCP(t, tlsOrigin(t, ca))
	tests := []struct {
		name          string
		portier       tcpPortier
		sni           string
		wantAuthority string
	}{
		{name: "v1", portier: tcpPortier{server: haproxy, sendPP: "v1"}},
		{name: "v2", portier: tcpPortier{server: haproxy, sendPP: "v2"}},
		{name: "v2 passthrough with sni", portier: tcpPortier{routes: []tcpRoute{{sni: []string{"a.test"}, server: haproxy}}, sendPP: "v2"},
			sni: "a.test", wantAuthority: "a.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := tc.portier.start(t)
			raw := dialFrom(t, tcpClientIP, addr)
			conn := tls.Client(raw, &tls.Config{ServerName: cmpOr(tc.sni, "a.test"), RootCAs: ca.Pool})
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || line != "ok\n" {
				t.Fatalf("through Portier and HAProxy: %q, %v", line, err)
			}
			conn.Close()
			// HAProxy logs a missing value as "-".
			hp.waitOutput(t, fmt.Sprintf("pp src=%s dst=%s authority=%s\n", raw.LocalAddr(), addr, cmpOr(tc.wantAuthority, "-")))
		})
	}
}
