package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// tlsEcho is a StreamHandler that terminates TLS itself with the
// certificate of the server name the listener read, as the server behind
// a passthrough would, and echoes one line inside the tunnel, prefixed
// with that name; or, without SNI routing, echoes lines in clear.
type tlsEcho struct {
	sni   bool
	certs map[string]tls.Certificate
	// addr prefixes each answer with the client's address.
	addr bool
	// started counts streams served; ctxDone those whose ctx ended.
	mu      sync.Mutex
	started int
	ctxDone int
}

func (h *tlsEcho) RoutesBySNI() bool { return h.sni }

func (h *tlsEcho) ServeStream(ctx context.Context, c net.Conn, sni string) {
	defer c.Close()
	h.mu.Lock()
	h.started++
	h.mu.Unlock()
	counted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(counted)
		h.mu.Lock()
		h.ctxDone++
		h.mu.Unlock()
		c.Close()
	})
	// The stream is over only once a started AfterFunc has counted it:
	// the listener's drain returns when this handler does.
	defer func() {
		if !stop() {
			<-counted
		}
	}()
	if h.sni {
		cert := h.certs[sni]
		c = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
	}
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Half-close: the client reads the end of the stream
				// while it may still send.
				if cw, ok := c.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}
			return
		}
		if h.addr {
			line = c.RemoteAddr().String() + " " + line
		}
		if _, err := io.WriteString(c, sni+" "+line); err != nil {
			return
		}
	}
}

func tcpConfig() config.Listener {
	c := testConfig(config.ProtocolTCP)
	c.Timeouts.ClientHello = config.Duration(5 * time.Second)
	return c
}

// startTCP runs a tcp listener until the test ends.
func startTCP(t *testing.T, c config.Listener, h StreamHandler) *TCP {
	t.Helper()
	l, err := NewTCP(TCPOptions{Config: c, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = l.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

// TestTCPPassthrough: the listener reads each client's ClientHello for
// its server name and hands on every byte, so that the handshake
// completes end to end with the certificate of that name.
func TestTCPPassthrough(t *testing.T) {
	p := newPKI(t, map[string][]string{"a": {"a.test"}, "b": {"b.test"}})
	h := &tlsEcho{sni: true, certs: map[string]tls.Certificate{}}
	for label, name := range map[string]string{"a": "a.test", "b": "b.test"} {
		f := p.files[label]
		cert, err := tls.LoadX509KeyPair(f[0], f[1])
		if err != nil {
			t.Fatal(err)
		}
		h.certs[name] = cert
	}
	l := startTCP(t, tcpConfig(), h)
	for _, name := range []string{"a.test", "b.test"} {
		c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{ServerName: name, RootCAs: p.pool})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != name {
			t.Errorf("%s: the certificate names %q", name, got)
		}
		io.WriteString(c, "hello\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != name+" hello\n" {
			t.Errorf("%s: read %q, %v", name, line, err)
		}
		c.Close()
	}
}

// TestTCPClientHelloErrors: a connection whose ClientHello is malformed,
// cut short or too slow is closed and counted by reason, and the listener
// goes on serving.
func TestTCPClientHelloErrors(t *testing.T) {
	cfg := tcpConfig()
	cfg.Timeouts.ClientHello = config.Duration(200 * time.Millisecond)
	h := &tlsEcho{sni: true}
	l := startTCP(t, cfg, h)
	hello := realClientHello(t, &tls.Config{ServerName: "a.test"})
	tests := []struct {
		name string
		send []byte
		half bool // half-close after sending: the hello is cut short
		want string
	}{
		{name: "http on the tls port", send: []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), want: "malformed"},
		{name: "oversized hello", send: []byte{22, 3, 1, 0, 4, 1, 0x01, 0, 0}, want: "malformed"},
		{name: "cut short", send: hello[:40], half: true, want: "truncated"},
		{name: "nothing at all", half: true, want: "truncated"},
		{name: "too slow", send: hello[:40], want: "timeout"},
		{name: "silent", want: "timeout"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(tt.send)
			if tt.half {
				c.(*net.TCPConn).CloseWrite()
			}
			// The listener closes the connection: the read ends.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := io.Copy(io.Discard, c); n != 0 || isTimeout(err) {
				t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
			}
			stats := l.Counts().Stats()
			if got := stats.ClientHelloErrors[tt.want]; got == 0 {
				t.Errorf("counts %v, want one more %s", stats.ClientHelloErrors, tt.want)
			}
			total := uint64(0)
			for _, n := range stats.ClientHelloErrors {
				total += n
			}
			if total != uint64(i+1) || stats.Accepted != uint64(i+1) {
				t.Errorf("%d errors counted of %d connections accepted, want %d", total, stats.Accepted, i+1)
			}
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started != 0 {
		t.Errorf("%d bad connections reached the handler", h.started)
	}
}

// TestTCPHalfClose: the handler half-closes the client connection
// through whatever the listener wraps it in, and the client still sends.
func TestTCPHalfClose(t *testing.T) {
	l := startTCP(t, tcpConfig(), &tlsEcho{})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "one\n")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != " one\n" {
		t.Fatalf("read %q, %v; want the echo, then the end of the stream", got, err)
	}
}

// TestTCPShutdownAndRetire: a shutdown lets streams end on their own
// until its deadline, then ends them through their context; a retired
// listener's stream goes on while its successor, on the same socket,
// takes the new connections.
func TestTCPShutdownAndRetire(t *testing.T) {
	h := &tlsEcho{}
	l := startTCP(t, tcpConfig(), h)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func(c net.Conn, br *bufio.Reader, s string) string {
		io.WriteString(c, s+"\n")
		line, _ := br.ReadString('\n')
		return strings.TrimSpace(line)
	}
	if got := ask(c, br, "before"); got != "before" {
		t.Fatalf("echo %q", got)
	}

	dup, err := l.Dup()
	if err != nil {
		t.Fatal(err)
	}
	h2 := &tlsEcho{}
	next, err := NewTCP(TCPOptions{Config: tcpConfig(), Handler: h2, Inherited: dup})
	if err != nil {
		t.Fatal(err)
	}
	go next.Serve()
	retired := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { retired <- l.Retire(ctx, false) }()
	// New connections reach the successor once the old one stopped
	// accepting; the old stream still answers.
	waitFor(t, func() bool {
		n, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return false
		}
		defer n.Close()
		return ask(n, bufio.NewReader(n), "new") == "new" && h2.count() > 0
	})
	if got := ask(c, br, "after"); got != "after" {
		t.Fatalf("the retired listener's stream answered %q", got)
	}
	cancel() // the grace ends: the stream is closed through its context
	if err := <-retired; !errors.Is(err, context.Canceled) {
		t.Errorf("Retire = %v, want context.Canceled", err)
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("the stream still reads after the retirement's grace")
	}
	h.mu.Lock()
	if h.ctxDone != 1 {
		t.Errorf("%d stream contexts ended, want 1", h.ctxDone)
	}
	h.mu.Unlock()

	// A shutdown with nothing open returns at once, without error.
	if err := next.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown with no stream: %v", err)
	}
}

func (h *tlsEcho) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTCPProxyProtocol: with proxy_protocol.accept, the stream's client is
// the one a trusted peer's header names, half-closing still reaches the
// socket, and a connection without the required header never reaches the
// handler.
func TestTCPProxyProtocol(t *testing.T) {
	cfg := tcpConfig()
	cfg.ProxyProtocol = &config.ProxyProtocol{Accept: true, Trusted: []config.Prefix{{Prefix: netip.MustParsePrefix("127.0.0.0/8")}},
		Required: true, Timeout: config.Duration(time.Second)}
	h := &tlsEcho{addr: true}
	l := startTCP(t, cfg, h)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PROXY TCP4 10.1.2.3 127.0.0.1 5555 80\r\nhello\n")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != " 10.1.2.3:5555 hello\n" {
		t.Fatalf("read %q, %v; want the header's client, then the end of the stream", got, err)
	}
	bare, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	io.WriteString(bare, "hello\n")
	if got, _ := io.ReadAll(bare); len(got) != 0 {
		t.Fatalf("a connection without the required header read %q", got)
	}
	if n := l.ProxyCounts().Snapshot(); n["missing"]+n["malformed"] != 1 {
		t.Errorf("proxy counts %v, want the header-less connection", n)
	}
	if h.count() != 1 {
		t.Errorf("%d streams reached the handler, want 1", h.count())
	}
}
