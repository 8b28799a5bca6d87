// Package proxy forwards HTTP requests to the servers of a backend: routing
// lookup, balancing, retries, header rewriting, streaming bodies, 1xx,
// trailers and WebSocket tunnels, and what watches them: the access log
// line, request counters, W3C trace context and error pages. It also
// relays the byte streams of tcp listeners (TCPRelay).
//
// It is the per-request path: no locks shared by all requests, no
// allocations a pre-built Site can avoid. It must not import config
// providers, the engine, the admin API or a telemetry SDK: it hands spans
// to a hook (Options.OnSpan) and keeps counters others read (Stats).
//
// Files: handler.go (Handler, Options, Swap), forward.go (the request way
// up: routing, balancing, retries, failure classes), headers.go (hop-by-hop
// and X-Forwarded-*), response.go (the way down: headers, streaming,
// trailers), websocket.go (tunnels), split.go (weighted variants, hash
// keys), attrs.go (access log keys and reasons), requestid.go, trace.go
// (traceparent, spans), stats.go (counters and histograms per route,
// backend and server), outcome.go (what an attempt or a request counts
// when it ends), errorpage.go (error pages by Accept), failures.go (the
// recent failures), tcp.go (the TCP relay: routing by SNI, connect retries,
// half-close, idle timeout), tcp_log.go (its access line and end reasons).
//
// Only WebSocket upgrades are passed on, and only from HTTP/1.1 clients:
// HTTP/2 has no Upgrade (RFC 9113 §8.6) and extended CONNECT (RFC 8441) is
// not supported, so an HTTP/2 client's request is forwarded as plain HTTP.
// Any other upgrade (h2c, for one) is stripped and the request forwarded as
// plain HTTP/1.1.
package proxy

import (
	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/router"
	"github.com/portier/portier/internal/upstream"
)

// Site is the immutable routing of one listener: built once per
// configuration and swapped atomically on reload.
type Site struct {
	Router *router.Router
	// Routes indexed by router.Route.ID.
	Routes []*Route
	// ErrorDetail shows clients, on Portier's own error pages, which
	// server failed, its address and the error. Default false: only the
	// reason class, the request id and the trace id.
	ErrorDetail bool

	// unrouted counts requests that match no route (see Stats.Attach).
	unrouted *Flow
}

// Route is a route ready to serve.
type Route struct {
	Name string
	// Backend serves the route, unless Split is set.
	Backend *Backend
	// Split spreads clients over several backends by weight.
	Split []Variant
	// StickyCookie, when set, records a client's variant of a split.
	StickyCookie string
	// PathPrefix is the prefix the route matched; StripPrefix removes it
	// from the upstream path and AddPrefix is put in front.
	PathPrefix  string
	StripPrefix bool
	AddPrefix   string

	split splitState
	// flows count the requests sent to Backend, or to each variant of
	// Split by index; none those that no backend took (see Stats.Attach).
	flows []*Flow
	none  *Flow
}

// Variant is one backend of a split route.
type Variant struct {
	Backend *Backend
	Weight  int
}

// HashKind says what the hash policy hashes.
type HashKind uint8

// What a hash balancer hashes.
const (
	HashNone HashKind = iota
	HashClientIP
	HashHeader
	HashCookie
	HashPath
)

// Backend is a backend ready to serve.
type Backend struct {
	Name     string
	Servers  []*upstream.Server
	Balancer balancer.Balancer
	// HashKind and HashName (a header or cookie name) select the hash key.
	HashKind HashKind
	HashName string
	// Retries is how many other servers a request may be tried on.
	Retries int
	// PreserveHost sends the client's Host upstream, else the server address.
	PreserveHost bool
	// Scheme is "http" or "https".
	Scheme string
	// Observe, when set, is told the outcome of every attempt on a server,
	// for passive health checks: ok is false for a failed connect, a reset
	// or a timeout, and for a 5xx response when Count5xx is set.
	Observe  func(s *upstream.Server, ok bool, reason string)
	Count5xx bool
}
