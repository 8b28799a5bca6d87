// Package upstream holds the runtime view of one server of a backend: where
// it is, how much traffic it should get, whether it may get any now, what it
// is doing, and the connection pool that reaches it.
//
// Everything read on the per-request path is an atomic; nothing here takes a
// lock shared by all requests. It must not import the proxy, balancer,
// engine or admin packages.
package upstream

import (
	"net/http"
	"sync/atomic"
)

// State is a server's health state.
type State uint32

// Server health states. A server with a health check starts Pending (or Down)
// and is sent traffic only once Up.
const (
	Pending State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// Server is one server of a backend.
type Server struct {
	// Backend and Name identify the server; Address is its configured host:port.
	Backend, Name, Address string
	// Transport reaches the server: its keep-alive pool, TLS and HTTP/2.
	Transport http.RoundTripper

	state    atomic.Uint32
	weight   atomic.Int32
	inflight atomic.Int64
	requests atomic.Uint64
}

// NewServer returns a server in the given state with the given weight.
func NewServer(backend, name, address string, weight int, st State) *Server {
	s := &Server{Backend: backend, Name: name, Address: address}
	s.weight.Store(int32(weight))
	s.state.Store(uint32(st))
	return s
}

// State returns the server's health state.
func (s *Server) State() State { return State(s.state.Load()) }

// SetState sets the server's health state.
func (s *Server) SetState(st State) { s.state.Store(uint32(st)) }

// Weight returns the server's current effective weight.
func (s *Server) Weight() int { return int(s.weight.Load()) }

// SetWeight sets the server's effective weight.
func (s *Server) SetWeight(w int) { s.weight.Store(int32(w)) }

// Available reports whether the server may take a new request now.
func (s *Server) Available() bool {
	return s.state.Load() == uint32(Up) && s.weight.Load() > 0
}

// Acquire counts a request or connection starting on the server.
func (s *Server) Acquire() {
	s.inflight.Add(1)
	s.requests.Add(1)
}

// Release counts a request or connection finished on the server.
func (s *Server) Release() { s.inflight.Add(-1) }

// InFlight returns the number of requests and connections in progress.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// Requests returns the number of requests and connections ever started.
func (s *Server) Requests() uint64 { return s.requests.Load() }
