package balancer

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/portier/portier/internal/upstream"
)

// FNV-1a 64-bit parameters (draft-eastlake-fnv).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// HashString returns a stable 64-bit hash of s: FNV-1a followed by the
// splitmix64 finaliser, which spreads FNV's weak low bits over the whole
// word. It is the same on every machine and in every process, so a key maps
// to the same server on every node; it does not allocate.
func HashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix64(h)
}

// HashBytes is HashString for a byte slice: HashBytes(b) == HashString(string(b)).
func HashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix64(h)
}

// mix64 is splitmix64's finaliser.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// pointsPer100 is the number of ring points a server of weight 100 gets.
const pointsPer100 = 160

// hashRing is consistent hashing on a ring, ketama style: each server owns
// points in proportion to its weight, placed by hashing its name, so adding
// or removing one server moves only the keys that land next to its points.
type hashRing struct {
	servers []*upstream.Server
	ring    atomic.Pointer[ring]
	mu      sync.Mutex // serialises Reweight; Pick never takes it
}

// ring is an immutable snapshot of the points, sorted by position.
type ring struct {
	points []ringPoint
}

type ringPoint struct {
	pos    uint64
	server int32 // index into hashRing.servers
}

func newHash(servers []*upstream.Server) *hashRing {
	h := &hashRing{servers: servers}
	h.Reweight()
	return h
}

// Reweight rebuilds the ring from the servers' current weights.
func (h *hashRing) Reweight() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring.Store(buildRing(h.servers))
}

// maxRingPoints bounds the ring's size (16 bytes a point); only weights far
// beyond the configurable range reach it, and then every server's share of
// points is scaled down alike.
const maxRingPoints = 1 << 20

// ringPoints returns how many points each server gets: pointsPer100 per 100
// of weight, rounded up, so that any positive weight gets at least 2.
func ringPoints(servers []*upstream.Server) []int {
	counts := make([]int, len(servers))
	total := 0
	for i, s := range servers {
		if w := s.Weight(); w > 0 {
			counts[i] = (w*pointsPer100 + 99) / 100
			total += counts[i]
		}
	}
	if total > maxRingPoints {
		for i, n := range counts {
			if n > 0 {
				counts[i] = max(1, int(int64(n)*maxRingPoints/int64(total)))
			}
		}
	}
	return counts
}

func buildRing(servers []*upstream.Server) *ring {
	var points []ringPoint
	for i, n := range ringPoints(servers) {
		s := servers[i]
		buf := make([]byte, 0, len(s.Name)+12)
		for j := 0; j < n; j++ {
			buf = append(append(append(buf[:0], s.Name...), '#'), strconv.Itoa(j)...)
			points = append(points, ringPoint{pos: HashBytes(buf), server: int32(i)})
		}
	}
	// Ties between positions (rare) are broken by name so that the ring does
	// not depend on the order servers are listed in.
	slices.SortFunc(points, func(a, b ringPoint) int {
		if a.pos != b.pos {
			if a.pos < b.pos {
				return -1
			}
			return 1
		}
		na, nb := servers[a.server].Name, servers[b.server].Name
		if na < nb {
			return -1
		} else if na > nb {
			return 1
		}
		return int(a.server - b.server)
	})
	return &ring{points: points}
}

// Pick returns the server owning the first point at or after key, walking
// clockwise past servers that are unavailable or tried, so that a server
// going down moves only its own keys.
func (h *hashRing) Pick(key uint64, tried *Tried) *upstream.Server {
	pts := h.ring.Load().points
	n := len(pts)
	if n == 0 {
		return nil
	}
	// Binary search for the first point with pos >= key.
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if pts[mid].pos < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := 0; i < n; i++ {
		j := lo + i
		if j >= n {
			j -= n
		}
		if s := h.servers[pts[j].server]; usable(s, tried) {
			return s
		}
	}
	return nil
}
