package balancer

import (
	"sync"
	"sync/atomic"

	"github.com/portier/portier/internal/upstream"
)

// maxSchedule bounds a round-robin period; larger weight sums are scaled
// down to fit.
const maxSchedule = 1 << 16

// scheduleWork bounds the steps of building a schedule (period × servers),
// under 10ms: slow start rebuilds it every 100ms while a server ramps, so a
// backend of many servers gets a shorter period (coarser weights) instead.
const scheduleWork = 1 << 22

// scheduleLimit returns the longest period worth building for n servers.
func scheduleLimit(n int) int {
	return max(min(maxSchedule, scheduleWork/max(n, 1)), 4*n)
}

// maxSkips bounds how many schedule slots one Pick consumes looking for a
// usable server before it falls back to a plain scan.
const maxSkips = 128

// roundRobin is smooth weighted round robin (nginx's algorithm), computed
// once per weight change into a schedule: the sequence of server indexes
// over one period. Pick walks it with one atomic counter, so it needs no
// lock and picks are spread the way nginx spreads them (weights 5,1,1 give
// a a b a c a a), without bursts.
type roundRobin struct {
	servers []*upstream.Server
	sched   rotation
}

func newRoundRobin(servers []*upstream.Server) *roundRobin {
	r := &roundRobin{servers: servers}
	r.sched.rebuild(servers)
	return r
}

// Reweight rebuilds the schedule from the servers' current weights.
func (r *roundRobin) Reweight() { r.sched.rebuild(r.servers) }

// Pick takes the next slot of the schedule. A slot whose server is
// unavailable or tried is given up and the next one taken, so the servers
// that remain share the traffic in proportion to their weights. After
// maxSkips slots (only when the usable servers hold a tiny share of the
// weight) it scans.
func (r *roundRobin) Pick(_ uint64, tried *Tried) *upstream.Server {
	sched := *r.sched.schedule.Load()
	if n := uint64(len(sched)); n > 0 {
		for i := 0; i < maxSkips && i < len(sched); i++ {
			slot := (r.sched.next.Add(1) - 1) % n
			if s := r.servers[sched[slot]]; usable(s, tried) {
				return s
			}
		}
	}
	return scanFrom(r.servers, int(r.sched.next.Load()&0x7fffffff), tried)
}

// rotation is a smooth weighted round-robin schedule and the counter that
// walks it.
type rotation struct {
	schedule atomic.Pointer[[]int32]
	next     atomic.Uint64
	mu       sync.Mutex // serialises rebuild; readers never take it
}

// rebuild computes the schedule from the servers' current weights.
func (r *rotation) rebuild(servers []*upstream.Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	weights := make([]int, len(servers))
	for i, s := range servers {
		weights[i] = max(s.Weight(), 0)
	}
	sched := SmoothSchedule(weights, scheduleLimit(len(servers)))
	r.schedule.Store(&sched)
}

// take returns the server index of the next slot, or one of n in turn when
// the schedule is empty (every weight was 0 when it was built).
func (r *rotation) take(n int) int {
	sched := *r.schedule.Load()
	k := r.next.Add(1) - 1
	if len(sched) == 0 {
		return int(k % uint64(n))
	}
	return int(sched[k%uint64(len(sched))])
}

// scanFrom returns the first usable server at or after start, wrapping.
func scanFrom(servers []*upstream.Server, start int, tried *Tried) *upstream.Server {
	n := len(servers)
	if n == 0 {
		return nil
	}
	start %= n
	if start < 0 {
		start += n
	}
	for i := 0; i < n; i++ {
		j := start + i
		if j >= n {
			j -= n
		}
		if usable(servers[j], tried) {
			return servers[j]
		}
	}
	return nil
}

// smoothSchedule returns one period of smooth weighted round robin over
// weights: sum(weights)/gcd(weights) entries, each an index into weights.
// Weights are scaled down (keeping every positive weight at least 1) when
// the period would exceed limit.
func SmoothSchedule(weights []int, limit int) []int32 {
	w := reduceWeights(weights, limit)
	total := 0
	for _, x := range w {
		total += x
	}
	if total == 0 {
		return nil
	}
	// Servers of weight 0 never win; leaving them out keeps the inner loop,
	// run period × servers times, to an add and a compare.
	type entry struct {
		current, weight int
		index           int32
	}
	entries := make([]entry, 0, len(w))
	for i, x := range w {
		if x > 0 {
			entries = append(entries, entry{weight: x, index: int32(i)})
		}
	}
	sched := make([]int32, 0, total)
	for range total {
		best := 0
		entries[0].current += entries[0].weight
		top := entries[0].current
		for i := 1; i < len(entries); i++ {
			e := &entries[i]
			e.current += e.weight
			if e.current > top {
				best, top = i, e.current
			}
		}
		entries[best].current -= total
		sched = append(sched, entries[best].index)
	}
	return sched
}

// reduceWeights divides weights by their gcd and scales them so that their
// sum is at most about limit.
func reduceWeights(weights []int, limit int) []int {
	w := append([]int(nil), weights...)
	total := 0
	for _, x := range w {
		total += x
	}
	if total > limit {
		for i, x := range w {
			if x > 0 {
				w[i] = max(1, int(int64(x)*int64(limit)/int64(total)))
			}
		}
	}
	g := 0
	for _, x := range w {
		g = gcd(g, x)
	}
	if g > 1 {
		for i := range w {
			w[i] /= g
		}
	}
	return w
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
