package health

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/portier/portier/internal/upstream"
)

// TestChecksSendProxyHeader runs one check against servers that require a
// PROXY header, as HAProxy's accept-proxy and nginx's proxy_protocol do: a
// server sent the PROXY protocol passes its checks, each header naming the
// check connection's own ends; without the header the same server fails.
func TestChecksSendProxyHeader(t *testing.T) {
	tests := []struct {
		name       string
		v          upstream.ProxyVersion
		tcp        bool
		tls        bool
		wantUp     bool
		wantReason string
	}{
		{name: "http v1", v: upstream.ProxyV1, wantUp: true, wantReason: "status 200"},
		{name: "http v2", v: upstream.ProxyV2, wantUp: true, wantReason: "status 200"},
		{name: "https v2, header before tls", v: upstream.ProxyV2, tls: true, wantUp: true, wantReason: "status 200"},
		{name: "tcp v1", v: upstream.ProxyV1, tcp: true, wantUp: true, wantReason: "connected"},
		{name: "tcp v2", v: upstream.ProxyV2, tcp: true, wantUp: true, wantReason: "connected"},
		{name: "http without header", v: upstream.ProxyNone, wantReason: "connection closed before a response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, headers, tc := requireProxyServer(t, tt.tcp, tt.tls)
			srv := newServer("s", addr, upstream.Pending)
			srv.Transport = upstream.NewTransport(upstream.TransportOptions{Address: addr, SendProxy: tt.v})
			h := httpCheck("/status")
			if tt.tcp {
				tcpCheck(h)
			}
			h.Rise = 1
			clk := newClock()
			start(t, Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: h, TLS: tc, Clock: clk})
			fire(t, clk)
			got := srv.Health()
			if (got.State == upstream.Up) != tt.wantUp || got.Reason != tt.wantReason {
				t.Fatalf("health = %v %q, want up %v, %q", got.State, got.Reason, tt.wantUp, tt.wantReason)
			}
			if tt.v == upstream.ProxyNone {
				return
			}
			select {
			case hdr := <-headers:
				checkCheckHeader(t, hdr, tt.v, addr)
			case <-time.After(5 * time.Second):
				// The server reads on its own goroutine, after the check.
				t.Fatal("the server read no PROXY header")
			}
		})
	}
}

// checkCheckHeader: a check's header names a loopback source (the check
// connection's own address) and the server as the destination.
func checkCheckHeader(t *testing.T, h *proxyproto.Header, v upstream.ProxyVersion, server string) {
	t.Helper()
	if h.Version != byte(v) || !h.Command.IsProxy() {
		t.Errorf("header version %d command %#x, want %d PROXY", h.Version, h.Command, v)
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		t.Fatalf("header has no TCP addresses: %+v", h)
	}
	if !src.IP.IsLoopback() || src.Port == 0 {
		t.Errorf("source %v, want the check connection's loopback address", src)
	}
	if dst.String() != server {
		t.Errorf("destination %v, want the server %s", dst, server)
	}
}

// requireProxyServer starts a loopback server that reads a PROXY header
// first on each connection and refuses a connection without one. It
// answers HTTP (over TLS if tlsOn) unless tcpOnly, and sends each header
// it read on the returned channel. tc is the check TLS configuration that
// trusts it.
func requireProxyServer(t *testing.T, tcpOnly, tlsOn bool) (addr string, headers <-chan *proxyproto.Header, tc *tls.Config) {
	t.Helper()
	ch := make(chan *proxyproto.Header, 8)
	if tcpOnly {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
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
				if h, err := proxyproto.Read(bufio.NewReader(c)); err == nil {
					ch <- h
				}
				c.Close()
			}
		}()
		return ln.Addr().String(), ch, nil
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ts.Listener = &proxyproto.Listener{
		Listener: ts.Listener,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			return proxyproto.REQUIRE, nil
		},
		ValidateHeader: func(h *proxyproto.Header) error {
			ch <- h
			return nil
		},
	}
	// A connection without a header is closed without an answer; its
	// error would only clutter the test's output.
	ts.Config.ErrorLog = discardLog()
	if tlsOn {
		ts.StartTLS()
		tc = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tc.ServerName = "example.com"
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), ch, tc
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
