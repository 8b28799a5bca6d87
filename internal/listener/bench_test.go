package listener

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// benchHead is a typical browser request head (about 500 bytes, 9 fields).
const benchHead = "GET /api/v1/items?page=2 HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-GB,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"Connection: keep-alive\r\n" +
	"Sec-Fetch-Mode: navigate\r\n" +
	"Priority: u=0, i\r\n\r\n"

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkGuard measures the guard alone on a normal request: "plain" with
// the raw head found and inspected through the recordingConn, "tls" without.
func BenchmarkGuard(b *testing.B) {
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(benchHead)))
	if err != nil {
		b.Fatal(err)
	}
	rc := newRecordingConn(nil)
	rc.last, rc.trusted = []byte(benchHead), true // as Read leaves it on a new connection
	ctx := context.WithValue(context.Background(), http.ServerContextKey, "server")
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, "addr")
	ctx = context.WithValue(ctx, connKey{}, rc)
	ctx, cancel := context.WithCancel(ctx) // the shape net/http gives a request
	defer cancel()
	req = req.WithContext(ctx)
	w := &nopWriter{h: http.Header{}}
	cases := []struct {
		name string
		h    http.Handler
	}{
		{name: "none", h: noop},
		{name: "plain", h: &guard{next: noop, maxURI: 8 << 10, maxHeader: 32 << 10}},
		{name: "tls", h: &guard{next: noop, maxURI: 8 << 10, maxHeader: 32 << 10, tls: true}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, req)
			}
		})
	}
}

// memConn is a connection whose reads return a fixed buffer forever.
type memConn struct {
	net.Conn
	data []byte
}

func (c *memConn) Read(p []byte) (int, error) { return copy(p, c.data), nil }

// BenchmarkConnRead measures a 4 KiB read with and without the recordingConn.
func BenchmarkConnRead(b *testing.B) {
	data := []byte(strings.Repeat("x", 4096))
	buf := make([]byte, 4096)
	cases := []struct {
		name string
		c    net.Conn
	}{
		{name: "bare", c: &memConn{data: data}},
		{name: "recording", c: newRecordingConn(&memConn{data: data})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = c.c.Read(buf)
			}
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system, in
// nanoseconds: on a shared machine it tracks the work done better than the
// wall clock does.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkServe measures whole keep-alive requests over loopback: a bare
// http.Server against a Listener (guard and recordingConn). Allocations
// counted include the client's, which are the same in both.
func BenchmarkServe(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(bare) }()
	defer srv.Close()
	l, err := New(Options{Config: testConfig(config.ProtocolHTTP), Handler: h})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = l.Serve() }()
	defer l.Shutdown(context.Background())

	for _, c := range []struct {
		name string
		addr string
	}{{"net-http", bare.Addr().String()}, {"listener", l.Addr().String()}} {
		b.Run(c.name, func(b *testing.B) {
			conn, err := net.Dial("tcp", c.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			req := []byte(benchHead)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
