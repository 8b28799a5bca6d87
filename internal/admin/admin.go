// Package admin serves Portier's admin endpoint: the JSON API that reads
// status and changes server state and weight, /metrics, /healthz,
// /readyz, and the dashboard at / (dashboard.go, files in ui/). Reads are
// open on the admin address; writes need the bearer token.
//
// It reads the engine's live snapshot and calls into the engine; the data
// path never imports it.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/proxy"
)

// Engine is what the admin endpoint needs of the running proxy.
type Engine interface {
	// Snapshot returns the configuration being served.
	Snapshot() *engine.Snapshot
	// ReloadStats counts reloads for /metrics.
	ReloadStats() engine.ReloadStats
	// History returns the last reloads, oldest first.
	History() []engine.ReloadResult
	// ListenerStats returns the running listeners' counters for /metrics.
	ListenerStats() []engine.ListenerStats
	// RequestStats returns the request counters of every route, backend
	// and server, for /metrics and the status.
	RequestStats() *proxy.Stats
	// Failures returns the recent failed requests, for GET /api/v1/errors.
	Failures() *proxy.FailureLog
}

// Options configure the admin endpoint.
type Options struct {
	// Address to listen on, host:port.
	Address string
	// Token authorises mutating calls; empty means none is accepted unless
	// the address is loopback, where writes are then open.
	Token string
	// Engine is the running proxy.
	Engine Engine
	// Logger is the process log; component=admin is added.
	Logger *slog.Logger
	// Reload reloads the configuration, for POST /api/v1/reload. Nil:
	// that call answers 501.
	Reload func() engine.ReloadResult
	// Upgrade starts a new binary with the listening sockets, for POST
	// /api/v1/upgrade, and returns once it serves or failed. Nil: that
	// call answers 501.
	Upgrade func() error
	// OnChange is called after a call changed a server's state or weight,
	// so that runtime state can be saved. Nil: not called.
	OnChange func()
	// Listen binds the admin address instead of net.Listen, for a binary
	// upgrade that hands the socket over. Nil: net.Listen.
	Listen func(network, address string) (net.Listener, error)
	// Network is the network check, for GET /api/v1/doctor, the status
	// and /metrics. Nil: the doctor call answers 501.
	Network Network
}

// Server is the admin endpoint.
type Server struct {
	o    Options
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
	errc chan error
}

// New returns an admin endpoint that does not listen yet.
func New(o Options) *Server {
	s := &Server{o: o, log: o.Logger.With("component", "admin"), errc: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", newMetricsHandler(o.Engine, newNetworkCollector(o.Network)))
	mux.HandleFunc("GET /api/v1/status", s.status)
	mux.HandleFunc("POST /api/v1/backends/{backend}/servers/{server}/state", s.write(s.setState))
	mux.HandleFunc("PUT /api/v1/backends/{backend}/servers/{server}/weight", s.write(s.setWeight))
	mux.HandleFunc("POST /api/v1/reload", s.write(s.reload))
	mux.HandleFunc("POST /api/v1/upgrade", s.write(s.upgrade))
	mux.HandleFunc("GET /api/v1/reloads", s.reloads)
	mux.HandleFunc("GET /api/v1/errors", s.listErrors)
	s.routeDashboard(mux)
	s.routeNetwork(mux)
	mux.HandleFunc("/", s.notFound)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	return s
}

// Listen binds the admin address.
func (s *Server) Listen() error {
	listen := s.o.Listen
	if listen == nil {
		listen = net.Listen
	}
	ln, err := listen("tcp", s.o.Address)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Start binds the admin address and serves in the background; Err reports
// a failure to serve.
func (s *Server) Start() error {
	if err := s.Listen(); err != nil {
		return err
	}
	go func() {
		if err := s.Serve(); err != nil {
			s.errc <- err
		}
	}()
	return nil
}

// Err delivers an error that stopped the endpoint serving.
func (s *Server) Err() <-chan error { return s.errc }

// Shutdown stops the endpoint, waiting for calls in progress until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// apiError is the JSON body of every error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, apiError{Code: code, Message: fmt.Sprintf(format, args...)})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path)
}

// write guards a mutating handler with the bearer token.
func (s *Server) write(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portier"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "this call needs the header Authorization: Bearer <admin token>")
			return
		}
		next(w, r)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.o.Token == "" {
		// Validation refuses a non-loopback admin address without a token.
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.o.Token)) == 1
}
