package balancer

import "github.com/portier/portier/internal/upstream"

// leastConn picks the available server with the fewest requests in flight
// per unit of weight. The scan starts at a rotating offset and keeps the
// first of equal servers, so equal servers share the load instead of the
// first one taking it all. The offset walks the smooth weighted round-robin
// schedule rather than plain 0,1,2...: when the servers are idle (every
// ratio 0, the common case for fast requests) traffic still follows the
// weights, as nginx does by breaking least_conn ties with weighted round robin.
type leastConn struct {
	servers []*upstream.Server
	start   rotation
}

func newLeastConn(servers []*upstream.Server) *leastConn {
	l := &leastConn{servers: servers}
	l.start.rebuild(servers)
	return l
}

// Reweight rebuilds the tie-breaking schedule; the load comparison reads
// weights on every Pick.
func (l *leastConn) Reweight() { l.start.rebuild(l.servers) }

// Pick scans every server once.
func (l *leastConn) Pick(_ uint64, tried *Tried) *upstream.Server {
	n := len(l.servers)
	if n == 0 {
		return nil
	}
	start := l.start.take(n)
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
