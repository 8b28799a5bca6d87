package engine

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/testpki"
	"github.com/portier/portier/internal/upstream"
)

// lineServer is a real loopback server answering each line with
// "name: line", like a tiny Redis.
func lineServer(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := io.WriteString(c, name+": "+sc.Text()+"\n"); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// tcpConfig is a tcp listener "db" relaying to backend "kv" of servers.
func tcpConfig(servers ...config.Server) *config.Config {
	cfg := config.New()
	cfg.Admin.Address = config.AdminOff
	cfg.Log.Access = "off"
	l := config.NewListener("db", "127.0.0.1:0")
	l.Protocol, l.Backend = config.ProtocolTCP, "kv"
	cfg.Listeners = []config.Listener{l}
	cfg.Backends = []config.Backend{config.NewBackend("kv", servers...)}
	return cfg
}

func startTCPEngine(t *testing.T, cfg *config.Config, access *syncBuffer) *Engine {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o := Options{Logger: slog.New(slog.DiscardHandler)}
	if access != nil {
		o.AccessLog = slog.New(slog.NewJSONHandler(access, nil))
	}
	e := New(o)
	if err := e.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

// session is a client connection to a tcp listener.
type session struct {
	c  net.Conn
	br *bufio.Reader
}

func dialSession(t *testing.T, addr string) *session {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &session{c: c, br: bufio.NewReader(c)}
}

// ask sends a line and returns the answer, or the error as text.
func (s *session) ask(line string) string {
	_ = s.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(s.c, line+"\n"); err != nil {
		return "error: " + err.Error()
	}
	got, err := s.br.ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSuffix(got, "\n")
}

// TestTCPListenerDrainAndReload: a stream survives its server's drain
// while new streams go to the other server, and survives reloads that
// keep its server; once a reload removes the server the stream is closed
// after the backend's drain_timeout.
func TestTCPListenerDrainAndReload(t *testing.T) {
	a, b, c := lineServer(t, "a"), lineServer(t, "b"), lineServer(t, "c")
	cfg := tcpConfig(config.NewServer("a", a), config.NewServer("b", b))
	access := &syncBuffer{}
	e := startTCPEngine(t, cfg, access)
	addr := e.Addr("db").String()
	s1 := dialSession(t, addr)
	if got := s1.ask("one"); got != "a: one" {
		t.Fatalf("first stream: %q", got)
	}
	sa := serverOf(e, "kv", "a")
	sa.SetAdmin(upstream.Draining)
	for i := range 3 {
		if got := dialSession(t, addr).ask("new"); got != "b: new" {
			t.Fatalf("new stream %d while a drains: %q, want b", i, got)
		}
	}
	if got := s1.ask("still"); got != "a: still" {
		t.Fatalf("the stream on the draining server: %q", got)
	}
	sa.SetAdmin(upstream.Ready)

	// A reload that adds a server and changes the idle timeout keeps the
	// listener, its socket and the stream.
	next := tcpConfig(config.NewServer("a", a), config.NewServer("b", b), config.NewServer("c", c))
	next.Listeners[0].Timeouts.Idle = config.Duration(2 * time.Minute)
	next.Backends[0].DrainTimeout = config.Duration(200 * time.Millisecond)
	if res := e.Reload(load(next)); !res.OK() {
		t.Fatal(res.Err)
	}
	if got := s1.ask("after reload"); got != "a: after reload" {
		t.Fatalf("the stream across a reload: %q", got)
	}
	seen := map[string]bool{}
	for range 6 {
		seen[strings.SplitN(dialSession(t, addr).ask("x"), ":", 2)[0]] = true
	}
	if !seen["c"] {
		t.Errorf("new streams after the reload reached %v, not the added server", seen)
	}

	// A reload that removes a: its stream ends after drain_timeout.
	gone := tcpConfig(config.NewServer("b", b), config.NewServer("c", c))
	gone.Backends[0].DrainTimeout = config.Duration(200 * time.Millisecond)
	if res := e.Reload(load(gone)); !res.OK() {
		t.Fatal(res.Err)
	}
	if got := s1.ask("within drain"); got != "a: within drain" {
		t.Fatalf("the stream of a removed server within drain_timeout: %q", got)
	}
	_ = s1.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s1.br.ReadString('\n'); err == nil {
		t.Fatal("the stream of a removed server was not closed")
	}
	waitFor(t, func() bool { return strings.Contains(access.String(), `"reason":"drain_timeout"`) })
	if !strings.Contains(access.String(), `"msg":"connection","client":`) {
		t.Errorf("no access line per connection:\n%s", access.String())
	}
}

func serverOf(e *Engine, backend, name string) *upstream.Server {
	for _, s := range e.Snapshot().Backends[backend].Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// tlsServer is a real TLS server on loopback whose certificate names
// name; it answers each connection with its own name.
func tlsServer(t *testing.T, ca *testpki.CA, name string) string {
	t.Helper()
	cf, kf := ca.Issue(t, t.TempDir(), "srv", name)
	cert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// passthroughConfig routes a.test and *.b.test by SNI, others to "dflt".
func passthroughConfig(addr string, a, b, dflt string) *config.Config {
	cfg := config.New()
	cfg.Admin.Address = config.AdminOff
	l := config.NewListener("tls", addr)
	l.Protocol = config.ProtocolTCP
	cfg.Listeners = []config.Listener{l}
	cfg.Backends = []config.Backend{
		config.NewBackend("a", config.NewServer("a", a)),
		config.NewBackend("b", config.NewServer("b", b)),
		config.NewBackend("d", config.NewServer("d", dflt)),
	}
	ra, rb, rd := config.NewRoute("ra", "a"), config.NewRoute("rb", "b"), config.NewRoute("rd", "d")
	ra.Listeners, ra.SNI = []string{"tls"}, []string{"a.test"}
	rb.Listeners, rb.SNI = []string{"tls"}, []string{"*.b.test"}
	rd.Listeners = []string{"tls"}
	cfg.Routes = []config.Route{ra, rb, rd}
	return cfg
}

// certName dials addr with TLS for sni and returns the name on the
// certificate the client received.
func certName(t *testing.T, addr, sni string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("%s: %v", sni, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].DNSNames[0]
}

// TestTCPPassthroughReload: TLS passes through to the server of the
// client's SNI, checked by the certificate it receives; a reload that
// changes the routes applies to new connections, and one that turns the
// listener into an http listener on the same address takes its socket
// over without refusing a connection, and back.
func TestTCPPassthroughReload(t *testing.T) {
	ca := testpki.NewCA(t)
	a, b, d := tlsServer(t, ca, "a.test"), tlsServer(t, ca, "www.b.test"), tlsServer(t, ca, "default.test")
	addr := freeAddr(t) // fixed: the reloads move it between protocols
	e := startTCPEngine(t, passthroughConfig(addr, a, b, d), nil)
	for sni, want := range map[string]string{"a.test": "a.test", "x.b.test": "www.b.test", "c.test": "default.test", "": "default.test"} {
		if got := certName(t, addr, sni); got != want {
			t.Errorf("sni %q reached the server of %q, want %q", sni, got, want)
		}
	}

	// Swap a and b.
	if res := e.Reload(load(passthroughConfig(addr, b, a, d))); !res.OK() {
		t.Fatal(res.Err)
	}
	if got := certName(t, addr, "a.test"); got != "www.b.test" {
		t.Errorf("after the reload a.test reached %q", got)
	}

	// The same address as an http listener, then as a tcp one again.
	h := tcpConfig(config.NewServer("a", lineServer(t, "x")))
	h.Listeners[0] = config.NewListener("web", addr)
	h.Routes = []config.Route{config.NewRoute("all", "kv")}
	if res := e.Reload(load(h)); !res.OK() {
		t.Fatalf("tcp -> http on %s: %v", addr, res.Err)
	}
	if e.Addr("web") == nil || e.Addr("web").String() != addr {
		t.Fatalf("the http listener is on %v", e.Addr("web"))
	}
	if res := e.Reload(load(passthroughConfig(addr, a, b, d))); !res.OK() {
		t.Fatalf("http -> tcp on %s: %v", addr, res.Err)
	}
	waitFor(t, func() bool { return certName(t, addr, "a.test") == "a.test" })
}

// TestTCPListenerStats: a tcp listener's connections and dropped
// ClientHellos are counted, and the counts survive a reload that gives
// the listener a new accept loop.
func TestTCPListenerStats(t *testing.T) {
	ca := testpki.NewCA(t)
	a := tlsServer(t, ca, "a.test")
	cfg := passthroughConfig("127.0.0.1:0", a, a, a)
	cfg.Listeners[0].Timeouts.ClientHello = config.Duration(100 * time.Millisecond)
	e := startTCPEngine(t, cfg, nil)
	addr := e.Addr("tls").String()
	certName(t, addr, "a.test")
	bad := dialSession(t, addr)
	io.WriteString(bad.c, "GET / HTTP/1.0\r\n\r\n")
	io.ReadAll(bad.c)
	stats := func() (accepted, malformed uint64) {
		for _, ls := range e.ListenerStats() {
			if ls.Name == "tls" && ls.TCP != nil {
				st := ls.TCP.Stats()
				return st.Accepted, st.ClientHelloErrors["malformed"]
			}
		}
		t.Fatal("no stats for the tcp listener")
		return 0, 0
	}
	if acc, mal := stats(); acc != 2 || mal != 1 {
		t.Fatalf("accepted %d, malformed %d; want 2 and 1", acc, mal)
	}
	// A stream open across the reload, which gives the listener a new
	// accept loop on the same socket.
	live, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	next := passthroughConfig("127.0.0.1:0", a, a, a)
	next.Listeners[0].Timeouts.ClientHello = cfg.Listeners[0].Timeouts.ClientHello
	next.Listeners[0].ProxyProtocol = config.NewProxyProtocol(config.Prefix{Prefix: netip.MustParsePrefix("10.0.0.0/8")})
	if res := e.Reload(load(next)); !res.OK() {
		t.Fatal(res.Err)
	}
	certName(t, addr, "a.test") // untrusted peer, no header: served as it is
	if acc, mal := stats(); acc != 4 || mal != 1 {
		t.Fatalf("after the reload: accepted %d, malformed %d; want 4 and 1", acc, mal)
	}
	io.WriteString(live, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(live), nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the stream open across the reload: %v, %v", res, err)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTCPRemovedListener: a reload that removes a tcp listener stops it
// accepting at once; its open stream goes on for shutdown_timeout, then
// is closed.
func TestTCPRemovedListener(t *testing.T) {
	a := lineServer(t, "a")
	cfg := tcpConfig(config.NewServer("a", a))
	cfg.ShutdownTimeout = config.Duration(300 * time.Millisecond)
	web := config.NewListener("web", "127.0.0.1:0")
	cfg.Listeners = append(cfg.Listeners, web)
	cfg.Routes = []config.Route{config.NewRoute("all", "kv")}
	e := startTCPEngine(t, cfg, nil)
	addr := e.Addr("db").String()
	s := dialSession(t, addr)
	if got := s.ask("before"); got != "a: before" {
		t.Fatalf("stream: %q", got)
	}
	next := tcpConfig(config.NewServer("a", a))
	next.ShutdownTimeout = cfg.ShutdownTimeout
	next.Listeners = []config.Listener{web}
	next.Routes = cfg.Routes
	if res := e.Reload(load(next)); !res.OK() {
		t.Fatal(res.Err)
	}
	if got := s.ask("within the grace"); got != "a: within the grace" {
		t.Fatalf("the stream of a removed listener, at once: %q", got)
	}
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	_ = s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.br.ReadString('\n'); err == nil {
		t.Fatal("the stream of a removed listener was not closed after shutdown_timeout")
	}
}
