// Command refproxy is the reference point of bench/compare.sh: a plain
// net/http/httputil.ReverseProxy configured the way a typical user would
// (the documented Rewrite hook with SetURL and SetXForwarded, and a Transport
// whose only tuning is MaxIdleConnsPerHost 256 so keep-alive to the backend
// works under 50 concurrent clients).
//
// Portier must be at least as efficient as this on every benchmark case, so
// it must not be tuned beyond what a user would do, nor tuned down. It
// imports nothing from Portier.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18005", "address to listen on")
	to := flag.String("to", "127.0.0.1:18000", "backend address host:port")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench-refproxy")
	if err := run(*listen, *to); err != nil {
		log.Error("refproxy stopped", "err", err)
		os.Exit(1)
	}
}

func run(listen, to string) error {
	target, err := url.Parse("http://" + to)
	if err != nil {
		return fmt.Errorf("refproxy: backend address: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: transport,
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("refproxy: %w", err)
	}
	srv := &http.Server{Handler: rp}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("refproxy: %w", err)
	}
	return nil
}
