package listener

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// text answers 200 with s.
func text(s string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) })
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSetHandler checks that a swapped handler serves the next request on
// the same keep-alive connection.
func TestSetHandler(t *testing.T) {
	l := start(t, Options{Config: testConfig("http"), Handler: text("one")})
	url := "http://" + l.Addr().String() + "/"
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	if got := get(t, c, url); got != "one" {
		t.Fatalf("before: %q", got)
	}
	l.SetHandler(text("two"))
	if got := get(t, c, url); got != "two" {
		t.Fatalf("after: %q", got)
	}
}

// TestDupHandsOverSocket runs a second listener on a duplicate of the
// first one's socket and retires the first while a keep-alive client sends
// requests: no request fails, its connection is closed by a response that
// says so, and the second listener serves on.
func TestDupHandsOverSocket(t *testing.T) {
	old, err := New(Options{Config: testConfig("http"), Handler: text("old")})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Listen(); err != nil {
		t.Fatal(err)
	}
	go old.Serve()
	addr := old.Addr().String()
	dup, err := old.Dup()
	if err != nil {
		t.Fatal(err)
	}
	next := start(t, Options{Config: testConfig("http"), Handler: text("new"), Inherited: dup})
	if next.Addr().String() != addr {
		t.Fatalf("dup is on %s, want %s", next.Addr(), addr)
	}
	stop := make(chan struct{})
	errs := make(chan error, 1)
	var served atomic.Int64
	waitServed := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); served.Load() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests served", served.Load())
			}
		}
	}
	go func() {
		defer close(errs)
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get("http://" + addr + "/")
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			served.Add(1)
		}
	}()
	waitServed(20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.Retire(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitServed(served.Load() + 20) // after the hand-over
	close(stop)
	if err := <-errs; err != nil {
		t.Fatalf("a request failed during the hand-over: %v", err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 5 {
		if got := get(t, c, "http://"+addr+"/"); !strings.Contains(got, "new") {
			t.Fatalf("after the hand-over got %q", got)
		}
	}
}

// TestRetireUnbind checks that a retired listener with unbind stops the
// socket listening even while another descriptor of it stays open, as a
// copy kept for a binary upgrade does: a connection is refused, not left
// waiting in a queue nobody accepts from.
func TestRetireUnbind(t *testing.T) {
	l, err := New(Options{Config: testConfig("http"), Handler: text("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	go l.Serve()
	addr := l.Addr().String()
	kept, err := l.Dup() // the copy an upgrade library would hold
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Retire(ctx, true); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Fatal("a connection to a removed listener was accepted by the kernel")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a removed listener: %v, want connection refused", err)
	}
}
