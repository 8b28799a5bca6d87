// Command backend is the upstream server of bench/compare.sh: the smallest
// fast HTTP/1.1 server the standard library gives, so that the proxy under
// test, not the backend, is what the benchmark measures.
//
// It serves GET /small (a 100-byte body) and GET /64k (65,536 bytes) from
// pre-built buffers with an explicit Content-Length, and 404 elsewhere.
// -listen takes a comma-separated list of addresses; every one of them serves
// the same handler, so one process can stand in for a pool of 100 servers.
// It imports nothing from Portier: the benchmark must not share code with
// the thing it measures.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Body sizes served; compare.sh checks them through every proxy.
const (
	smallSize = 100
	largeSize = 64 << 10
)

// payload is one pre-built response: the body and its Content-Length value.
type payload struct {
	body   []byte
	length []string
}

func newPayload(n int) payload {
	return payload{
		body:   bytes.Repeat([]byte("x"), n),
		length: []string{strconv.Itoa(n)},
	}
}

// handler serves the two fixed bodies without allocating per request beyond
// what net/http itself needs.
type handler struct {
	small, large payload
	ctype        []string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p payload
	switch r.URL.Path {
	case "/small":
		p = h.small
	case "/64k":
		p = h.large
	default:
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = h.ctype
	hdr["Content-Length"] = p.length
	_, _ = w.Write(p.body)
}

func main() {
	addrs := flag.String("listen", "127.0.0.1:18000", "comma-separated `addresses` to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench-backend")
	if err := run(strings.Split(*addrs, ",")); err != nil {
		log.Error("backend stopped", "err", err)
		os.Exit(1)
	}
}

// run listens on every address before it serves any, so that a bad or busy
// address fails at once, then serves them all until the first error.
func run(addrs []string) error {
	lns := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		ln, err := net.Listen("tcp", strings.TrimSpace(a))
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return fmt.Errorf("backend: %w", err)
		}
		lns = append(lns, ln)
	}
	h := &handler{
		small: newPayload(smallSize),
		large: newPayload(largeSize),
		ctype: []string{"text/plain; charset=utf-8"},
	}
	srv := &http.Server{Handler: h, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("backend: %w", err)
	}
	return nil
}
