package balancer

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/portier/portier/internal/upstream"
)

// randomTwo is the power of two choices: draw two servers at random, in
// proportion to their weights, and send the request to the one with less
// load per unit of weight. It spreads load almost as well as least_conn
// without scanning every server, and without the herd that least_conn
// causes when many proxies see the same counts.
type randomTwo struct {
	servers []*upstream.Server
	cum     atomic.Pointer[[]uint64] // prefix sums of weights; last is the total
	mu      sync.Mutex               // serialises Reweight; Pick never takes it
}

func newRandomTwo(servers []*upstream.Server) *randomTwo {
	r := &randomTwo{servers: servers}
	r.Reweight()
	return r
}

// Reweight recomputes the prefix sums from the servers' current weights.
func (r *randomTwo) Reweight() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cum := make([]uint64, len(r.servers))
	var total uint64
	for i, s := range r.servers {
		total += uint64(max(s.Weight(), 0))
		cum[i] = total
	}
	r.cum.Store(&cum)
}

// drawTries bounds the draws made before falling back to a scan when few
// servers are usable.
const drawTries = 8

// Pick draws until it has two usable servers (or gives up and scans) and
// returns the less loaded.
func (r *randomTwo) Pick(_ uint64, tried *Tried) *upstream.Server {
	cum := *r.cum.Load()
	if len(cum) == 0 || cum[len(cum)-1] == 0 {
		return scanFrom(r.servers, rand.IntN(max(len(r.servers), 1)), tried)
	}
	total := cum[len(cum)-1]
	var a *upstream.Server
	for range drawTries {
		s := r.servers[search(cum, rand.Uint64N(total))]
		if !usable(s, tried) {
			continue
		}
		if a == nil {
			a = s
			continue
		}
		aw, sw := int64(a.Weight()), int64(s.Weight())
		if aw > 0 && sw > 0 && lessLoaded(s.InFlight(), sw, a.InFlight(), aw) {
			return s
		}
		return a
	}
	if a != nil {
		return a
	}
	return scanFrom(r.servers, rand.IntN(len(r.servers)), tried)
}

// search returns the index of the first prefix sum greater than x: the
// server whose weight interval holds x.
func search(cum []uint64, x uint64) int {
	lo, hi := 0, len(cum)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if cum[mid] <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
