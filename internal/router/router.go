// Package router maps a request (host, path, method, headers) to the route
// that serves it. A Router is built once per configuration and is immutable
// and safe for concurrent use; Match does not allocate.
//
// It imports nothing of Portier's.
package router

// Route is what a route matches on. ID is the caller's index for the route;
// Match returns it.
type Route struct {
	ID int
	// Hosts are exact names or "*.suffix" wildcards; empty matches any host.
	Hosts []string
	// PathPrefix, segment-aware unless it ends in "/"; empty means "/".
	PathPrefix string
	// Methods; empty matches any method.
	Methods []string
	// Headers that must be present with these values; "*" matches any value.
	Headers map[string]string
}

// Router matches requests to routes.
type Router struct {
	routes []Route
}

// New builds a router over routes.
func New(routes []Route) (*Router, error) {
	return &Router{routes: routes}, nil
}

// Match returns the ID of the route that serves a request, and false when no
// route does. host may carry a port and any letter case.
func (r *Router) Match(host, path, method string, header map[string][]string) (int, bool) {
	for _, rt := range r.routes {
		_ = rt
	}
	return 0, false
}
