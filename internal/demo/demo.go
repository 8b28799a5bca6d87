// Package demo serves the small backends of `portier demo`: each answers
// every request with a page that says which backend and server answered, so
// that a user sees balancing and splits work without running anything else.
//
// It imports config and nothing else of Portier's; the proxy never imports it.
package demo

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/portier/portier/internal/config"
)

// Backends are the running demo servers.
type Backends struct {
	servers []*http.Server
	wg      sync.WaitGroup
}

// Start serves every server address of cfg's backends on loopback. It fails
// if an address is not a loopback address, so the demo never listens
// anywhere else.
func Start(cfg *config.Config) (*Backends, error) {
	b := &Backends{}
	for _, be := range cfg.Backends {
		for _, s := range be.Servers {
			host, _, err := net.SplitHostPort(s.Address)
			if err != nil {
				return nil, b.fail(fmt.Errorf("demo server %s: %w", s.Name, err))
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, b.fail(fmt.Errorf("demo server %s: %s is not a loopback address", s.Name, s.Address))
			}
			ln, err := net.Listen("tcp", s.Address)
			if err != nil {
				return nil, b.fail(fmt.Errorf("demo server %s: %w", s.Name, err))
			}
			srv := &http.Server{Handler: page(be.Name, s.Name), ReadHeaderTimeout: 5 * time.Second}
			b.servers = append(b.servers, srv)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				_ = srv.Serve(ln)
			}()
		}
	}
	return b, nil
}

func (b *Backends) fail(err error) error {
	b.Close()
	return err
}

// Close stops every demo server.
func (b *Backends) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, s := range b.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	b.wg.Wait()
	_ = errors.Join(errs...)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Backend}} answered</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:{{.Color}};color:#fff}
main{text-align:center;padding:2rem}
h1{font-size:3rem;margin:0 0 .5rem}
code{background:rgba(0,0,0,.25);padding:.1rem .4rem;border-radius:.3rem}
</style></head>
<body><main>
<h1>{{.Backend}}</h1>
<p>Server <code>{{.Server}}</code> answered <code>{{.Method}} {{.Path}}</code> for host <code>{{.Host}}</code>.</p>
<p>Request id <code>{{.RequestID}}</code>, forwarded for <code>{{.ForwardedFor}}</code>.</p>
<p>Refresh: the demo route splits traffic 80% blue, 20% green.</p>
</main></body></html>
`))

func page(backend, server string) http.Handler {
	color := "#455a64"
	switch strings.ToLower(backend) {
	case "blue":
		color = "#1565c0"
	case "green":
		color = "#2e7d32"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Demo-Backend", backend)
		w.Header().Set("X-Demo-Server", server)
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "%s (server %s) answered %s %s\n", backend, server, r.Method, r.URL.Path)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTmpl.Execute(w, map[string]string{
			"Backend": backend, "Server": server, "Color": color,
			"Method": r.Method, "Path": r.URL.Path, "Host": r.Host,
			"RequestID":    r.Header.Get("X-Request-ID"),
			"ForwardedFor": r.Header.Get("X-Forwarded-For"),
		})
	})
}
