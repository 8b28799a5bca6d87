package router

import (
	"fmt"
	"strings"
)

// SNIRoute is what a TLS passthrough route matches on: the server name a
// client asks for in its ClientHello. ID is the caller's index for the
// route; SNI.Match returns it.
type SNIRoute struct {
	ID int
	// Names are exact names or "*.suffix" wildcards, as Route.Hosts; none
	// makes the default route, which takes every name no other route has.
	Names []string
}

// SNI maps a TLS server name to a route by the rules of a request's host
// (see the package comment): an exact name beats a wildcard, a longer
// wildcard suffix a shorter one, and any name match the default route; on
// a tie the lower ID wins. Names compare without regard to case or a
// trailing dot. A client that sends no name, or one that is no host name
// (it holds a ':'), gets the default route.
//
// It is a Router whose routes only have hosts, so the two never disagree
// on what a name matches. Immutable once built; Match takes no lock and
// does not allocate.
type SNI struct{ r *Router }

// NewSNI builds an SNI router. It returns an error wrapping
// ErrInvalidRoute when a name is malformed.
func NewSNI(routes []SNIRoute) (*SNI, error) {
	specs := make([]Route, len(routes))
	for i, rt := range routes {
		specs[i] = Route{ID: rt.ID, Hosts: rt.Names}
	}
	r, err := New(specs)
	if err != nil {
		return nil, fmt.Errorf("sni: %w", err)
	}
	return &SNI{r: r}, nil
}

// Match returns the ID of the route for a ClientHello's server name, and
// false when no route matches and there is no default route.
func (s *SNI) Match(name string) (int, bool) {
	if s == nil || s.r == nil {
		return 0, false
	}
	if strings.IndexByte(name, ':') >= 0 {
		// The host matcher would take it for host:port.
		name = ""
	}
	return s.r.Match(name, "/", "", nil)
}
