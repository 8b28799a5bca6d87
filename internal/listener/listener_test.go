package listener

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// TestSlowHeaders: a client that sends its headers one byte every 300ms is
// cut off by a 1s read_header timeout while another client is served.
func TestSlowHeaders(t *testing.T) {
	cfg := testConfig(config.ProtocolHTTP)
	cfg.Timeouts.ReadHeader = config.Duration(time.Second)
	l := start(t, Options{Config: cfg, Handler: echo()})
	addr := l.Addr().String()

	slow, br := rawConn(t, addr)
	begun := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		req := "GET /slow HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat("p", 40) + "\r\n\r\n"
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(req); i++ {
			if _, err := slow.Write([]byte{req[i]}); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()

	resp, err := http.Get("http://" + addr + "/fast")
	if err != nil {
		t.Fatalf("normal client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(begun) > time.Second {
		t.Fatalf("normal client: status %d after %v", resp.StatusCode, time.Since(begun))
	}

	// The slow client gets at most an error status (net/http sends 400 for
	// a head cut off by the timeout), and then EOF.
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("slow client still connected after %v", time.Since(begun))
	}
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408") &&
		!strings.HasPrefix(string(got), "HTTP/1.1 400") {
		t.Fatalf("slow client got %q", got)
	}
	if d := time.Since(begun); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("slow client cut off after %v, want about 1s", d)
	}
}

// TestIdleTimeout: an idle keep-alive connection is closed after idle.
func TestIdleTimeout(t *testing.T) {
	cfg := testConfig(config.ProtocolHTTP)
	cfg.Timeouts.Idle = config.Duration(500 * time.Millisecond)
	l := start(t, Options{Config: cfg, Handler: echo()})
	c, br := rawConn(t, l.Addr().String())
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := readResponse(t, br); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	served := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := br.ReadByte()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read after idle: %v, want EOF", err)
	}
	if d := time.Since(served); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("closed after %v, want about 500ms", d)
	}
}

// TestH2C: HTTP/2 with prior knowledge works on an http listener with h2c
// and is refused without it.
func TestH2C(t *testing.T) {
	tests := []struct {
		name string
		h2c  bool
		ok   bool
	}{
		{name: "h2c on", h2c: true, ok: true},
		{name: "h2c off", h2c: false, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(config.ProtocolHTTP)
			cfg.H2C = tt.h2c
			l := start(t, Options{Config: cfg, Handler: echo()})
			var protos http.Protocols
			protos.SetUnencryptedHTTP2(true)
			tr := &http.Transport{Protocols: &protos}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			resp, err := c.Post("http://"+l.Addr().String()+"/h2c", "text/plain", strings.NewReader("hi"))
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("h2c request served over %s, want refused", resp.Proto)
				}
				return
			}
			if err != nil {
				t.Fatalf("h2c request: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || string(b) != "hi" {
				t.Fatalf("got %s %q, want HTTP/2.0 \"hi\"", resp.Proto, b)
			}
		})
	}
}

// TestShutdownGraceful: a request in flight when Shutdown is called
// completes with 200, new connections are refused, and Shutdown returns
// once the request has finished.
func TestShutdownGraceful(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	l, err := New(Options{Config: testConfig(config.ProtocolHTTP), Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- l.Serve() }()
	closedListeners := make(chan struct{})
	l.srv.RegisterOnShutdown(func() { close(closedListeners) })

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	shutdown := make(chan error, 1)
	go func() { shutdown <- l.Shutdown(context.Background()) }()
	<-closedListeners // net/http runs the hooks after closing its listeners
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("new connection accepted during shutdown")
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if r := <-inflight; r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %+v, want 200 done", r)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestShutdownDeadline: when ctx ends first, remaining connections are
// closed and Shutdown reports the deadline.
func TestShutdownDeadline(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	l, err := New(Options{Config: testConfig(config.ProtocolHTTP), Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.Serve() }()
	failed := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + l.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if err := <-failed; err == nil {
		t.Fatal("stuck request succeeded, want its connection closed")
	}
}

// TestListenAndInherit: a bind error is reported by Listen, and an
// inherited socket is served as it is.
func TestListenAndInherit(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() }) // after the listener's own cleanup

	cfg := testConfig(config.ProtocolHTTP)
	cfg.Address = taken.Addr().String()
	l, err := New(Options{Config: cfg, Handler: echo()})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Listen on a taken address: %v", err)
	}

	inh := start(t, Options{Config: cfg, Handler: echo(), Inherited: taken})
	if inh.Addr().String() != taken.Addr().String() {
		t.Fatalf("Addr = %v, want the inherited %v", inh.Addr(), taken.Addr())
	}
	resp, err := http.Get("http://" + taken.Addr().String() + "/inherited")
	if err != nil {
		t.Fatalf("request on inherited socket: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Path") != "/inherited" {
		t.Fatalf("not served by the listener: %v", resp.Header)
	}
}
