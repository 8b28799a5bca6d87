package balancer

import (
	"sync/atomic"

	"github.com/portier/portier/internal/upstream"
)

// leastConn picks the available server with the fewest requests in flight
// per unit of weight. Equal servers are scanned from a rotating start so that
// they share the load instead of the first one taking it all.
type leastConn struct {
	servers []*upstream.Server
	next    atomic.Uint64
}

func newLeastConn(servers []*upstream.Server) *leastConn {
	return &leastConn{servers: servers}
}

// Reweight does nothing: weights are read on every Pick.
func (l *leastConn) Reweight() {}

// Pick scans every server once.
func (l *leastConn) Pick(_ uint64, tried *Tried) *upstream.Server {
	n := len(l.servers)
	if n == 0 {
		return nil
	}
	start := int(l.next.Add(1) % uint64(n))
	var best *upstream.Server
	var bestIn, bestW int64
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		s := l.servers[j]
		if !usable(s, tried) {
			continue
		}
		in, w := s.InFlight(), int64(s.Weight())
		if w <= 0 {
			continue // weight changed since Available
		}
		if best == nil || lessLoaded(in, w, bestIn, bestW) {
			best, bestIn, bestW = s, in, w
		}
	}
	return best
}
