package upstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// seen is what the PROXY-reading test server reports of one request.
type seen struct {
	Conn      int    // number of the connection it came on, from 1
	Version   int    // of the PROXY header
	Src, Dst  string // addresses the header named
	Authority string // SNI TLV (v2)
}

// ppServer is a loopback HTTP server behind a listener that requires a
// PROXY header on every connection, as HAProxy's accept-proxy does.
type ppServer struct {
	*httptest.Server
	conns  atomic.Int32  // connections accepted
	closed chan struct{} // receives when a connection closes
}

// ppMode is how a ppServer speaks after the header.
type ppMode int

const (
	ppPlain ppMode = iota // HTTP/1.1
	ppH2C                 // HTTP/2 with prior knowledge
	ppTLS                 // TLS, with HTTP/2 by ALPN
)

type connKey struct{}

func newPPServer(t *testing.T, mode ppMode) *ppServer {
	t.Helper()
	s := &ppServer{closed: make(chan struct{}, 16)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(connKey{}).(*numberedConn)
		h := c.pp.ProxyHeader()
		if h == nil {
			http.Error(w, "no PROXY header", http.StatusBadRequest)
			return
		}
		out := seen{Conn: c.n, Version: int(h.Version)}
		if h.Command.IsProxy() {
			out.Src, out.Dst = h.SourceAddr.String(), h.DestinationAddr.String()
		}
		var err error
		if out.Authority, err = authority(h); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(out)
	}))
	s.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		return context.WithValue(ctx, connKey{}, &numberedConn{pp: c.(*proxyproto.Conn), n: int(s.conns.Add(1))})
	}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			s.closed <- struct{}{}
		}
	}
	s.Listener = &proxyproto.Listener{
		Listener: s.Listener,
		ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			return proxyproto.REQUIRE, nil
		},
	}
	switch mode {
	case ppTLS:
		s.EnableHTTP2 = true
		s.StartTLS()
	case ppH2C:
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		s.Config.Protocols = p
		s.Start()
	default:
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// numberedConn is a server connection with its number, from 1.
type numberedConn struct {
	pp *proxyproto.Conn
	n  int
}

// waitClosed waits for the server to see a connection close.
func (s *ppServer) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection closed within 5s")
	}
}

// get sends a request of the client at remote, which reached the listener
// at local (with SNI sni), through tr and returns what the server saw.
func get(t *testing.T, tr http.RoundTripper, remote string, local net.Addr, sni string) seen {
	t.Helper()
	r := clientRequest(t, remote, local, sni)
	if p, ok := tr.(*proxyPool); ok && p.o.TLS != nil {
		r.URL.Scheme = "https" // as the proxy asks for a backend with tls
	}
	res, err := tr.RoundTrip(r)
	if err != nil {
		t.Fatalf("request of %s: %v", remote, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("request of %s: %s %s", remote, res.Status, b)
	}
	var s seen
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("request of %s: %v in %q", remote, err, b)
	}
	return s
}

// TestProxyPoolHeaders sends requests of two clients through a server's
// pool, over each kind of connection, and reads the headers the server
// received: each names its own client, a client reuses its connection, and
// no connection carries both.
func TestProxyPoolHeaders(t *testing.T) {
	listener := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	tests := []struct {
		name  string
		v     ProxyVersion
		tls   bool
		http2 bool
	}{
		{name: "v1", v: ProxyV1},
		{name: "v2", v: ProxyV2},
		{name: "v2 then tls", v: ProxyV2, tls: true},
		{name: "v1 then tls with http2", v: ProxyV1, tls: true, http2: true},
		{name: "v2 h2c", v: ProxyV2, http2: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := ppPlain
			switch {
			case tt.tls:
				mode = ppTLS
			case tt.http2:
				mode = ppH2C
			}
			srv := newPPServer(t, mode)
			o := TransportOptions{Address: srv.Listener.Addr().String(), SendProxy: tt.v, HTTP2: tt.http2}
			if tt.tls {
				o.TLS = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
				o.TLS.ServerName = "example.com"
			}
			tr := NewTransport(o)
			t.Cleanup(tr.CloseIdleConnections)
			wantSNI := func(sni string) string {
				if tt.v == ProxyV2 {
					return sni
				}
				return ""
			}

			a1 := get(t, tr, "127.0.0.2:40000", listener, "shop.example")
			b1 := get(t, tr, "127.0.0.3:40001", listener, "")
			a2 := get(t, tr, "127.0.0.2:40000", listener, "shop.example")
			b2 := get(t, tr, "127.0.0.3:40001", listener, "")
			for _, s := range []seen{a1, a2} {
				if s.Version != int(tt.v) || s.Src != "127.0.0.2:40000" || s.Dst != "127.0.0.1:8443" || s.Authority != wantSNI("shop.example") {
					t.Errorf("client a: server saw %+v", s)
				}
			}
			for _, s := range []seen{b1, b2} {
				if s.Version != int(tt.v) || s.Src != "127.0.0.3:40001" || s.Dst != "127.0.0.1:8443" || s.Authority != "" {
					t.Errorf("client b: server saw %+v", s)
				}
			}
			if a1.Conn == b1.Conn {
				t.Errorf("clients a and b shared connection %d", a1.Conn)
			}
			if a2.Conn != a1.Conn || b2.Conn != b1.Conn {
				t.Errorf("connections a %d then %d, b %d then %d; want each client's reused", a1.Conn, a2.Conn, b1.Conn, b2.Conn)
			}
			if n := srv.conns.Load(); n != 2 {
				t.Errorf("server accepted %d connections, want 2", n)
			}
		})
	}
}

// TestProxyPoolEvicts keeps at most ProxyClients clients' transports and
// closes the idle connections of the one it drops.
func TestProxyPoolEvicts(t *testing.T) {
	srv := newPPServer(t, ppPlain)
	tr := NewTransport(TransportOptions{Address: srv.Listener.Addr().String(), SendProxy: ProxyV2, ProxyClients: 2})
	t.Cleanup(tr.CloseIdleConnections)
	p := tr.(*proxyPool)
	listener := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}

	a := get(t, tr, "127.0.0.2:1", listener, "")
	b := get(t, tr, "127.0.0.3:1", listener, "")
	get(t, tr, "127.0.0.2:1", listener, "") // a is now the more recent
	get(t, tr, "127.0.0.4:1", listener, "") // drops b
	if n := p.clients(); n != 2 {
		t.Fatalf("pool holds %d clients, want 2", n)
	}
	srv.waitClosed(t) // b's idle connection
	if a2 := get(t, tr, "127.0.0.2:1", listener, ""); a2.Conn != a.Conn {
		t.Errorf("client a moved from connection %d to %d; the least recent client should have been dropped", a.Conn, a2.Conn)
	}
	if b2 := get(t, tr, "127.0.0.3:1", listener, ""); b2.Conn == b.Conn || b2.Src != "127.0.0.3:1" {
		t.Errorf("client b came back on %+v, want a new connection of its own", b2)
	}
	if n := srv.conns.Load(); n != 4 {
		t.Errorf("server accepted %d connections, want 4", n)
	}
}

// TestServerProxyVersion: a server tells its checks what its pool sends.
func TestServerProxyVersion(t *testing.T) {
	for _, v := range []ProxyVersion{ProxyNone, ProxyV1, ProxyV2} {
		s := NewServer("b", "s", "127.0.0.1:1", 1, Up)
		s.Transport = NewTransport(TransportOptions{Address: s.Address, SendProxy: v})
		if got := s.ProxyVersion(); got != v {
			t.Errorf("ProxyVersion() = %v, want %v", got, v)
		}
	}
}

// clients returns how many clients' transports the pool holds.
func (p *proxyPool) clients() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byClient)
}

// BenchmarkProxyPoolLookup is what a request to a server sent the PROXY
// protocol pays over one to a server that is not: finding its client's
// transport.
func BenchmarkProxyPoolLookup(b *testing.B) {
	tr := NewTransport(TransportOptions{Address: "127.0.0.1:1", SendProxy: ProxyV2})
	p := tr.(*proxyPool)
	r := clientRequest(b, "127.0.0.2:40000", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, "shop.example")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.transport(clientOf(r, p.o.SendProxy)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTrip sends keep-alive requests of one client to a loopback
// server, with and without the PROXY protocol. The v2 server reads through
// go-proxyproto's listener, whose connection allocates on its own account
// (6 allocations a request, the same with a client that sends no header).
func BenchmarkRoundTrip(b *testing.B) {
	for _, v := range []ProxyVersion{ProxyNone, ProxyV2} {
		b.Run(v.String(), func(b *testing.B) {
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			if v != ProxyNone {
				ts.Listener = &proxyproto.Listener{Listener: ts.Listener}
			}
			ts.Start()
			defer ts.Close()
			tr := NewTransport(TransportOptions{Address: ts.Listener.Addr().String(), SendProxy: v})
			defer tr.CloseIdleConnections()
			r := clientRequest(b, "127.0.0.2:40000", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, "")
			b.ReportAllocs()
			for b.Loop() {
				res, err := tr.RoundTrip(r)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
}
