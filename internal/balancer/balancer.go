// Package balancer picks a server of a backend for each request. One file
// per policy behind the one small Balancer interface; New is the only place
// that chooses between them:
//
//   - round_robin (roundrobin.go): smooth weighted round robin, nginx's
//     algorithm, precomputed into a schedule walked by an atomic counter;
//   - least_conn (leastconn.go): fewest requests in flight per unit of weight;
//   - random_two (randomtwo.go): the better of two weighted random draws;
//   - hash (hash.go): consistent hashing on a ring of weighted points, keyed
//     by HashString/HashBytes of the client IP, a header, a cookie or the path.
//
// Every policy skips servers that are not Available and those the request
// already tried, returns nil when none is left, and picks without a lock and
// without allocating. Weights are read from the servers; policies that
// precompute from them do so again on Reweight.
//
// It imports upstream and nothing else of Portier's.
package balancer

import (
	"errors"
	"fmt"

	"github.com/portier/portier/internal/upstream"
)

// ErrUnknownPolicy is wrapped by New's error for a policy it does not know.
var ErrUnknownPolicy = errors.New("unknown balancing policy")

// New returns a balancer of the named policy over servers: "round_robin",
// "least_conn", "random_two" or "hash". The servers slice is copied; the
// servers themselves are shared with the caller, whose state and weight
// changes the balancer sees (call Reweight after a weight change).
func New(policy string, servers []*upstream.Server) (Balancer, error) {
	servers = append([]*upstream.Server(nil), servers...)
	switch policy {
	case "round_robin":
		return newRoundRobin(servers), nil
	case "least_conn":
		return newLeastConn(servers), nil
	case "random_two":
		return newRandomTwo(servers), nil
	case "hash":
		return newHash(servers), nil
	}
	return nil, fmt.Errorf("balancer: %q: %w", policy, ErrUnknownPolicy)
}

// usable reports whether s may be picked for a request that has tried tried.
func usable(s *upstream.Server, tried *Tried) bool {
	return s.Available() && !tried.Has(s)
}

// lessLoaded reports whether a carries less load per unit of weight than b:
// a.InFlight/a.Weight < b.InFlight/b.Weight, cross-multiplied so that no
// division or float is needed. Both must have a positive weight.
func lessLoaded(aIn, aW, bIn, bW int64) bool {
	return aIn*bW < bIn*aW
}

// Balancer picks a server for a request.
type Balancer interface {
	// Pick returns an available server that is not in tried, or nil if there
	// is none. key is the hash of the request's hash key; only the hash
	// policy reads it. Pick is safe for concurrent use and must not allocate.
	Pick(key uint64, tried *Tried) *upstream.Server
	// Reweight is called after a server's weight changed, so that policies
	// that precompute from weights can do so again.
	Reweight()
}

// Tried is the small set of servers a request has already been tried on.
// The zero value is empty.
//
// Pick does not allocate, but Go's escape analysis cannot see through an
// interface call: a Tried declared on the caller's stack and passed as
// &tried to Balancer.Pick is moved to the heap (one allocation per request).
// Keep it in a per-request struct that is already on the heap or pooled, or
// pass nil on the first attempt.
type Tried struct {
	n       int
	servers [8]*upstream.Server
}

// Add records s as tried. Beyond capacity, the oldest entry is forgotten.
func (t *Tried) Add(s *upstream.Server) {
	t.servers[t.n%len(t.servers)] = s
	t.n++
}

// Has reports whether s was tried.
func (t *Tried) Has(s *upstream.Server) bool {
	if t == nil {
		return false
	}
	for i := 0; i < t.n && i < len(t.servers); i++ {
		if t.servers[i] == s {
			return true
		}
	}
	return false
}

// Len returns the number of servers recorded.
func (t *Tried) Len() int { return t.n }
