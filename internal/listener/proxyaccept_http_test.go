package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/portier/portier/internal/config"
)

// whoAmI answers with the request's client and local addresses and its
// protocol.
func whoAmI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		fmt.Fprintf(w, "remote=%s local=%s %s", r.RemoteAddr, local, r.Proto)
	})
}

// proxyClient is an HTTP client whose connections come from the loopback
// address from and open with header (nil: none). With p, it speaks TLS
// and asks for HTTP/2.
func proxyClient(t *testing.T, from string, header []byte, p *testPKI) *http.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil && header != nil {
				_, err = c.Write(header)
			}
			return c, err
		},
	}
	if p != nil {
		var protos http.Protocols
		protos.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{RootCAs: p.pool, ServerName: "a.example.test"}
		tr.Protocols = &protos
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestProxyAcceptHTTP(t *testing.T) {
	v1 := []byte("PROXY TCP4 192.0.2.1 198.51.100.1 1000 80\r\n")
	v2 := v2Header(proxyproto.PROXY, "[2001:db8::1]:2000", "[2001:db8::2]:443")
	local := v2Header(proxyproto.LOCAL, "192.0.2.1:1000", "198.51.100.1:80")
	tests := []struct {
		name       string
		https      bool
		inherited  bool   // serve a socket handed over instead of binding
		from       string // default trustedPeer
		header     []byte
		want       string // the body after "remote=", with the peer's own address as PEER
		wantReason string // the refusal counted; the request fails
	}{
		{name: "http v1", header: v1, want: "192.0.2.1:1000 local=198.51.100.1:80 HTTP/1.1"},
		{name: "http v2", header: v2, want: "[2001:db8::1]:2000 local=[2001:db8::2]:443 HTTP/1.1"},
		{name: "http v2 on an inherited socket", inherited: true, header: v2, want: "[2001:db8::1]:2000 local=[2001:db8::2]:443 HTTP/1.1"},
		{name: "http v2 local", header: local, want: "PEER"},
		{name: "https v1, HTTP/2", https: true, header: v1, want: "192.0.2.1:1000 local=198.51.100.1:80 HTTP/2.0"},
		{name: "https v2, HTTP/2", https: true, header: v2, want: "[2001:db8::1]:2000 local=[2001:db8::2]:443 HTTP/2.0"},
		{name: "http untrusted with a header", from: otherPeer, header: v1, wantReason: "untrusted"},
		{name: "https untrusted with a header", https: true, from: otherPeer, header: v2, wantReason: "untrusted"},
		{name: "http untrusted without", from: otherPeer, want: "PEER"},
		{name: "http trusted without", wantReason: "missing"},
		{name: "https trusted without", https: true, wantReason: "missing"},
		{name: "http garbage", header: []byte("PROXY TCP4 x y 1 2\r\n"), wantReason: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(config.ProtocolHTTP)
			cfg.ProxyProtocol = config.NewProxyProtocol(config.Prefix{Prefix: netip.MustParsePrefix(trustedPeer + "/32")})
			var l *Listener
			var p *testPKI
			switch {
			case tc.https:
				cfg.Protocol = config.ProtocolHTTPS
				l, p = startHTTPS(t, cfg, whoAmI())
			case tc.inherited:
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				l = start(t, Options{Config: cfg, Handler: whoAmI(), Inherited: ln})
			default:
				l = start(t, Options{Config: cfg, Handler: whoAmI()})
			}
			from := tc.from
			if from == "" {
				from = trustedPeer
			}
			scheme := "http"
			if tc.https {
				scheme = "https"
			}
			client := proxyClient(t, from, tc.header, p)
			url := scheme + "://" + l.Addr().String() + "/"
			for i := range 2 { // the second request reuses the connection
				res, err := client.Get(url)
				if tc.wantReason != "" {
					if err == nil {
						res.Body.Close()
						t.Fatalf("request %d: %s, want the connection closed", i, res.Status)
					}
					checkCounts(t, l.ProxyCounts(), tc.wantReason)
					return
				}
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				want := "remote=" + tc.want
				if tc.want == "PEER" {
					want = fmt.Sprintf("remote=%s:", from)
				}
				if got := string(body); len(got) < len(want) || got[:len(want)] != want {
					t.Errorf("request %d: %q, want it to start with %q", i, got, want)
				}
			}
			checkCounts(t, l.ProxyCounts(), "")
		})
	}
}

// TestProxyAcceptOff: without proxy_protocol a header is just bytes (net/http
// refuses them as a request), and there is nothing to count.
func TestProxyAcceptOff(t *testing.T) {
	l := start(t, Options{Config: testConfig(config.ProtocolHTTP), Handler: whoAmI()})
	if l.ProxyCounts() != nil {
		t.Errorf("ProxyCounts() = %v on a listener that does not accept the PROXY protocol", l.ProxyCounts())
	}
	c, br := rawConn(t, l.Addr().String())
	if _, err := io.WriteString(c, "PROXY TCP4 192.0.2.1 198.51.100.1 1000 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if res, _ := readResponse(t, br); res.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", res.StatusCode)
	}
}
