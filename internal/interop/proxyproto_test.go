package interop_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// otherClientIP is a second client, so that a test can tell whose header a
// connection carries.
const otherClientIP = "127.0.0.7"

// TestSendProxyProtocolToHAProxy sends requests from two client addresses
// through Portier, which sends the PROXY protocol, to HAProxy accepting it
// (bind ... accept-proxy). HAProxy names the source, destination and SNI
// (v2 authority TLV) it read from the header in headers of its own, which
// the origin behind it reports. (Not X-Forwarded-For: Portier's own would
// come first and hide HAProxy's.)
func TestSendProxyProtocolToHAProxy(t *testing.T) {
	origin := startReportingOrigin(t)
	haproxy := startHAProxyAcceptProxy(t, origin)
	tests := []struct {
		name          string
		portier       portierConf
		wantAuthority string
	}{
		{name: "v1", portier: portierConf{backendPP: "v1"}},
		{name: "v2", portier: portierConf{backendPP: "v2"}},
		{name: "v2 with sni", portier: portierConf{backendPP: "v2", https: true}, wantAuthority: sniName},
		{name: "v1 does not carry sni", portier: portierConf{backendPP: "v1", https: true}},
		{name: "v2 set on the server", portier: portierConf{serverPP: "v2", https: true}, wantAuthority: sniName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := tc.portier.start(t, haproxy)
			// Each client in turn, so that a connection opened for one
			// would be at hand, idle, for the next.
			for _, client := range []string{clientIP, otherClientIP, clientIP} {
				got := tc.portier.get(t, addr, client, "/")
				want := fmt.Sprintf("src=%s dst=%s authority=%s\n", client, addr, tc.wantAuthority)
				if got != want {
					t.Errorf("client %s: the origin behind HAProxy reported %q, want %q", client, got, want)
				}
			}
		})
	}
}

// TestSendProxyProtocolToNginx sends requests through Portier to nginx
// listening with proxy_protocol, which answers with the addresses it read
// from the header and how many requests its connection has carried.
func TestSendProxyProtocolToNginx(t *testing.T) {
	nginx := startNginxProxyProtocol(t)
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			p := portierConf{backendPP: v}
			addr, _ := p.start(t, nginx)
			for _, client := range []string{clientIP, otherClientIP, clientIP} {
				// Two requests on one client connection: the second reuses
				// the client's upstream connection.
				lines := strings.Split(strings.TrimSuffix(p.get(t, addr, client, "/a", "/b"), "\n"), "\n")
				if len(lines) != 2 {
					t.Fatalf("client %s: nginx answered %q, want two lines", client, lines)
				}
				for i, line := range lines {
					f := strings.Fields(line)
					if len(f) != 3 {
						t.Fatalf("client %s: nginx answered %q", client, line)
					}
					host, _, _ := net.SplitHostPort(f[0])
					if host != client || f[1] != addr || f[2] != fmt.Sprint(i+1) {
						t.Errorf("client %s, request %d: nginx saw PROXY source %s, destination %s, request %s on its connection; want %s:<port>, %s, %d",
							client, i+1, f[0], f[1], f[2], client, addr, i+1)
					}
				}
			}
		})
	}
}

// TestHealthCheckThroughProxyProtocol: a server that requires the header
// (nginx proxy_protocol) passes Portier's HTTP checks: Portier logs that it
// is up (it starts pending, taking no traffic), and the route then reaches
// it. There is no TCP case: a TCP check passes once nginx accepts, header
// or not (the health package's tests read the header a TCP check sends).
func TestHealthCheckThroughProxyProtocol(t *testing.T) {
	nginx := startNginxProxyProtocol(t)
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			p := portierConf{backendPP: v, health: "{path: /health, expect_body: ok, interval: 200ms, fast_interval: 100ms, rise: 1}"}
			addr, portier := p.start(t, nginx)
			portier.waitLog(t, map[string]string{"msg": "server state changed", "server": "peer", "to": "up", "reason": "status 200"})
			res, err := http.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("the server is up, but the route answered %s %s", res.Status, res.Header.Get("X-Portier-Reason"))
			}
		})
	}
}

// startReportingOrigin serves on loopback what HAProxy said about the client
// in front of it: the X-PP-Src, X-PP-Dst and X-PP-Authority headers
// startHAProxyAcceptProxy sets.
func startReportingOrigin(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "src=%s dst=%s authority=%s\n",
			r.Header.Get("X-PP-Src"), r.Header.Get("X-PP-Dst"), r.Header.Get("X-PP-Authority"))
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// startHAProxyAcceptProxy runs HAProxy in front of origin, requiring a PROXY
// header on every connection (v1 or v2) and naming what it read.
func startHAProxyAcceptProxy(t *testing.T, origin string) string {
	t.Helper()
	return runHAProxy(t, fmt.Sprintf(`frontend fe
	bind fd@3 accept-proxy
	http-request set-header X-PP-Src %%[src]
	http-request set-header X-PP-Dst %%[dst]:%%[dst_port]
	http-request set-header X-PP-Authority %%[fc_pp_authority]
	default_backend origin
backend origin
	server origin %s
`, origin))
}

// startNginxProxyProtocol runs nginx listening with proxy_protocol: a
// connection without a PROXY header gets no answer. It answers /health
// with "ok" and any other path with the header's source and destination
// and the number of requests its connection has carried.
func startNginxProxyProtocol(t *testing.T) string {
	t.Helper()
	return runNginx(t, "proxy_protocol", `		default_type text/plain;
		location = /health { return 200 "ok\n"; }
		location / {
			return 200 "$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port $connection_requests\n";
		}
`)
}
