package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/router"
	"github.com/portier/portier/internal/upstream"
)

// tcpServer is a real loopback server; serve runs for each connection.
func tcpServer(t testing.TB, serve func(net.Conn)) string {
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
				serve(c)
			})
		}
	})
	return ln.Addr().String()
}

// echoLines answers each line with "name: line", like a tiny Redis.
func echoLines(name string) func(net.Conn) {
	return func(c net.Conn) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if _, err := io.WriteString(c, name+": "+sc.Text()+"\n"); err != nil {
				return
			}
		}
	}
}

// tcpBackend is a backend over servers at addrs, all up, round robin,
// each sent the PROXY protocol version pp.
func tcpBackend(t testing.TB, pp upstream.ProxyVersion, addrs ...string) *Backend {
	t.Helper()
	be := &Backend{Name: "b"}
	for i, a := range addrs {
		s := upstream.NewServer("b", string(rune('a'+i)), a, 1, upstream.Up)
		s.Transport = upstream.NewTransport(upstream.TransportOptions{Address: a, SendProxy: pp})
		be.Servers = append(be.Servers, s)
	}
	bal, err := balancer.New("round_robin", be.Servers)
	if err != nil {
		t.Fatal(err)
	}
	be.Balancer = bal
	return be
}

// relayRig is a TCPRelay serving a loopback listener, and its access log.
type relayRig struct {
	relay  *TCPRelay
	addr   string
	access *syncLog
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type syncLog struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the access lines written so far.
func (l *syncLog) lines(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("access line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// startRelay serves site on a loopback listener; sni is handed to every
// stream as the name its ClientHello asked for.
func startRelay(t testing.TB, site *TCPSite, sni string) *relayRig {
	t.Helper()
	rig := &relayRig{access: &syncLog{}}
	rig.relay = NewTCPRelay(TCPOptions{
		Listener:  "tcp",
		AccessLog: slog.New(slog.NewJSONHandler(rig.access, nil)),
	}, site)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rig.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	rig.cancel = cancel
	t.Cleanup(func() {
		ln.Close()
		cancel()
		rig.wg.Wait()
	})
	rig.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rig.wg.Go(func() { rig.relay.ServeStream(ctx, c, sni) })
		}
	})
	return rig
}

// waitAccess returns the access lines once there are n.
func (rig *relayRig) waitAccess(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := rig.access.lines(t)
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d access lines, want %d", len(lines), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func plainSite(be *Backend, idle time.Duration) *TCPSite {
	return &TCPSite{Routes: []*TCPRoute{{Backend: be}}, Idle: idle}
}

func dialRig(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestTCPRelayEcho(t *testing.T) {
	be := tcpBackend(t, upstream.ProxyNone, tcpServer(t, echoLines("a")), tcpServer(t, echoLines("b")))
	rig := startRelay(t, plainSite(be, time.Minute), "")
	for _, want := range []string{"a", "b", "a"} {
		c := dialRig(t, rig.addr)
		br := bufio.NewReader(c)
		for _, cmd := range []string{"PING", "GET k"} {
			io.WriteString(c, cmd+"\n")
			if got, err := br.ReadString('\n'); err != nil || got != want+": "+cmd+"\n" {
				t.Fatalf("answer %q, %v; want %q", got, err, want+": "+cmd)
			}
		}
		c.Close()
	}
	lines := rig.waitAccess(t, 3)
	servers := map[any]int{}
	for _, l := range lines {
		servers[l["server"]]++
	}
	if servers["a"] != 2 || servers["b"] != 1 {
		t.Errorf("streams by server %v, want a twice and b once", servers)
	}
	l := lines[0]
	if l["msg"] != "connection" || l["listener"] != "tcp" || l["backend"] != "b" ||
		l["bytes_in"] != float64(len("PING\nGET k\n")) || l["bytes_out"] != float64(len("a: PING\na: GET k\n")) ||
		l["reason"] != "client_closed" || l["attempts"] != float64(1) {
		t.Errorf("access line %v", l)
	}
	if _, ok := l["duration"].(float64); !ok {
		t.Errorf("access line without a duration: %v", l)
	}
	for _, s := range be.Servers {
		if n := s.InFlight(); n != 0 {
			t.Errorf("server %s has %d streams in flight after they ended", s.Name, n)
		}
	}
}

// TestTCPRelayHalfClose: a side that closes its writing half still
// receives everything the other side sends afterwards, both ways.
func TestTCPRelayHalfClose(t *testing.T) {
	t.Run("client closes first", func(t *testing.T) {
		// The server answers only once it has read the client's end.
		srv := tcpServer(t, func(c net.Conn) {
			got, _ := io.ReadAll(c)
			io.WriteString(c, "read "+string(got)+" then EOF")
		})
		rig := startRelay(t, plainSite(tcpBackend(t, upstream.ProxyNone, srv), time.Minute), "")
		c := dialRig(t, rig.addr)
		io.WriteString(c, "request")
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "read request then EOF" {
			t.Fatalf("after half-closing, the client read %q, %v", got, err)
		}
		if l := rig.waitAccess(t, 1)[0]; l["reason"] != "client_closed" {
			t.Errorf("reason %v, want client_closed", l["reason"])
		}
	})
	t.Run("server closes first", func(t *testing.T) {
		// The server sends a banner, half-closes, and still reads.
		read := make(chan string, 1)
		srv := tcpServer(t, func(c net.Conn) {
			io.WriteString(c, "banner")
			c.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(c)
			read <- string(got)
		})
		rig := startRelay(t, plainSite(tcpBackend(t, upstream.ProxyNone, srv), time.Minute), "")
		c := dialRig(t, rig.addr)
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "banner" {
			t.Fatalf("the client read %q, %v; want the banner and EOF", got, err)
		}
		io.WriteString(c, "still talking")
		c.CloseWrite()
		if got := <-read; got != "still talking" {
			t.Fatalf("after its half-close the server read %q", got)
		}
		if l := rig.waitAccess(t, 1)[0]; l["reason"] != "server_closed" || l["bytes_in"] != float64(13) || l["bytes_out"] != float64(6) {
			t.Errorf("access line %v", l)
		}
	})
}

// TestTCPRelayConnectFailures: a refused connect is retried on another
// server and observed as the server's failure; with no server left, the
// client is closed and the line names why.
func TestTCPRelayConnectFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	be := tcpBackend(t, upstream.ProxyNone, dead, tcpServer(t, echoLines("live")))
	be.Retries = 1
	var mu sync.Mutex
	var observed []string
	be.Observe = func(s *upstream.Server, ok bool, reason string) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, s.Name+" "+reason)
	}
	rig := startRelay(t, plainSite(be, time.Minute), "")
	c := dialRig(t, rig.addr)
	io.WriteString(c, "hi\n")
	if got, _ := bufio.NewReader(c).ReadString('\n'); got != "live: hi\n" {
		t.Fatalf("answer %q", got)
	}
	c.Close()
	l := rig.waitAccess(t, 1)[0]
	if l["server"] != "b" || l["attempts"] != float64(2) || l["reason"] != "client_closed" {
		t.Errorf("access line %v", l)
	}
	mu.Lock()
	if strings.Join(observed, ",") != "a connect_refused,b " {
		t.Errorf("observed %q", observed)
	}
	mu.Unlock()

	// With the live server drained, the one try left fails.
	be.Servers[1].SetAdmin(upstream.Draining)
	c = dialRig(t, rig.addr)
	if got, err := io.ReadAll(c); len(got) != 0 || err != nil {
		t.Fatalf("read %q, %v; want the connection closed", got, err)
	}
	if l := rig.waitAccess(t, 2)[1]; l["reason"] != "connect_refused" || l["server"] != "a" {
		t.Errorf("access line %v", l)
	}
	be.Servers[0].SetAdmin(upstream.Maintenance)
	c = dialRig(t, rig.addr)
	io.ReadAll(c)
	if l := rig.waitAccess(t, 3)[2]; l["reason"] != "no_healthy_server" || l["server"] != "" {
		t.Errorf("access line %v", l)
	}
}

// TestTCPRelayIdle: a stream that carries nothing is closed after the idle
// timeout; one that carries bytes in one direction only is not.
func TestTCPRelayIdle(t *testing.T) {
	ticks := tcpServer(t, func(c net.Conn) {
		for i := 0; i < 150; i++ {
			if _, err := io.WriteString(c, "."); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	silent := tcpServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	be := tcpBackend(t, upstream.ProxyNone, ticks, silent)
	rig := startRelay(t, plainSite(be, 500*time.Millisecond), "")

	busy := dialRig(t, rig.addr) // to ticks: the server talks, the client never does
	got, err := io.ReadAll(busy)
	if len(got) != 150 || err != nil {
		t.Fatalf("a stream busy one way only read %d bytes, %v; want all 150", len(got), err)
	}
	idle := dialRig(t, rig.addr) // to silent
	if _, err := io.ReadAll(idle); err != nil {
		t.Fatal(err)
	}
	lines := rig.waitAccess(t, 2)
	reasons := []string{fmt.Sprint(lines[0]["reason"]), fmt.Sprint(lines[1]["reason"])}
	slices.Sort(reasons) // a relay logs after its client saw the end
	if reasons[0] != "idle_timeout" || reasons[1] != "server_closed" {
		t.Errorf("reasons %v, want server_closed and idle_timeout", reasons)
	}
}

// TestTCPRelayDrainAndShutdown: the server's long-lived connections
// include its streams, which a drain's timeout closes; a shutdown closes
// every stream.
func TestTCPRelayDrainAndShutdown(t *testing.T) {
	be := tcpBackend(t, upstream.ProxyNone, tcpServer(t, echoLines("a")))
	rig := startRelay(t, plainSite(be, time.Minute), "")
	c := dialRig(t, rig.addr)
	br := bufio.NewReader(c)
	io.WriteString(c, "x\n")
	br.ReadString('\n')
	if n := be.Servers[0].CloseLongLived(); n != 1 {
		t.Fatalf("closed %d long-lived connections, want the stream", n)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("the stream still reads after its server's drain timeout")
	}
	c2 := dialRig(t, rig.addr)
	io.WriteString(c2, "y\n")
	bufio.NewReader(c2).ReadString('\n')
	rig.cancel()
	io.ReadAll(c2)
	// The first stream's line may be written after the second's: the
	// client sees its end before the relay logs it.
	lines := rig.waitAccess(t, 2)
	reasons := []string{fmt.Sprint(lines[0]["reason"]), fmt.Sprint(lines[1]["reason"])}
	slices.Sort(reasons)
	if reasons[0] != "drain_timeout" || reasons[1] != "shutdown" {
		t.Errorf("reasons %v; want drain_timeout and shutdown", reasons)
	}
}

// TestTCPRelaySNI: each name reaches its route's backend, with the SNI
// and the client's address in the v2 PROXY header its server reads; an
// unknown name takes the default route, or without one is closed.
func TestTCPRelaySNI(t *testing.T) {
	headerOf := func(name string) func(net.Conn) {
		return func(c net.Conn) {
			pc := proxyproto.NewConn(c)
			h := pc.ProxyHeader()
			authority := ""
			if tlvs, err := h.TLVs(); err == nil {
				for _, tlv := range tlvs {
					if tlv.Type == proxyproto.PP2_TYPE_AUTHORITY {
						authority = string(tlv.Value)
					}
				}
			}
			host, _, _ := net.SplitHostPort(h.SourceAddr.String())
			io.WriteString(pc, name+" "+host+" "+authority)
		}
	}
	a := tcpBackend(t, upstream.ProxyV2, tcpServer(t, headerOf("a")))
	b := tcpBackend(t, upstream.ProxyV2, tcpServer(t, headerOf("b")))
	sni, err := router.NewSNI([]router.SNIRoute{{ID: 0, Names: []string{"a.test"}}, {ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	site := &TCPSite{SNI: sni, Routes: []*TCPRoute{{Name: "ra", Backend: a}, {Name: "rb", Backend: b}}, Idle: time.Minute}
	for _, tc := range []struct{ sni, want string }{
		{"a.test", "a 127.0.0.1 a.test"},
		{"other.test", "b 127.0.0.1 other.test"},
		{"", "b 127.0.0.1 "},
	} {
		rig := startRelay(t, site, tc.sni)
		if !rig.relay.RoutesBySNI() {
			t.Fatal("a site with an SNI router does not ask for the SNI")
		}
		got, _ := io.ReadAll(dialRig(t, rig.addr))
		if string(got) != tc.want {
			t.Errorf("sni %q: the server said %q, want %q", tc.sni, got, tc.want)
		}
	}
	noDefault, _ := router.NewSNI([]router.SNIRoute{{ID: 0, Names: []string{"a.test"}}})
	rig := startRelay(t, &TCPSite{SNI: noDefault, Routes: site.Routes[:1], Idle: time.Minute}, "c.test")
	io.ReadAll(dialRig(t, rig.addr))
	if l := rig.waitAccess(t, 1)[0]; l["reason"] != "no_route" || l["sni"] != "c.test" {
		t.Errorf("access line %v", l)
	}
}
