// Command backend is the upstream server of bench/compare.sh: the smallest
// fast HTTP/1.1 server the standard library gives, so that the proxy under
// test, not the backend, is what the benchmark measures.
//
// It serves GET /small (a 100-byte body) and GET /64k (65,536 bytes) from
// pre-built buffers with an explicit Content-Length, and 404 elsewhere.
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
	addr := flag.String("listen", "127.0.0.1:18000", "address to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench-backend")
	if err := run(*addr); err != nil {
		log.Error("backend stopped", "err", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	h := &handler{
		small: newPayload(smallSize),
		large: newPayload(largeSize),
		ctype: []string{"text/plain; charset=utf-8"},
	}
	srv := &http.Server{Handler: h, MaxHeaderBytes: 64 << 10}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("backend: %w", err)
	}
	return nil
}
