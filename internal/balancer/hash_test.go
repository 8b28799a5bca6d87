package balancer

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"

	"github.com/portier/portier/internal/upstream"
)

func TestHashStringIsFNV1aThenSplitmix(t *testing.T) {
	for _, s := range []string{"", "a", "10.0.0.1", "web-1#159", "a much longer key with spaces and ünïcödé"} {
		t.Run(s, func(t *testing.T) {
			f := fnv.New64a()
			f.Write([]byte(s))
			want := mix64(f.Sum64())
			if got := HashString(s); got != want {
				t.Errorf("HashString = %#x; want %#x", got, want)
			}
			if got := HashBytes([]byte(s)); got != want {
				t.Errorf("HashBytes = %#x; want %#x", got, want)
			}
		})
	}
}

// TestHashStringStable pins values, so that a change to the hash (which
// would move every sticky client on upgrade) fails here. The values are
// FNV-1a 64 of the input followed by splitmix64's finaliser.
func TestHashStringStable(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{in: "", want: mix64(0xcbf29ce484222325)},
		{in: "a", want: mix64(0xaf63dc4c8601ec8c)},
		{in: "foobar", want: mix64(0x85944171f73967e8)},
	}
	for _, tt := range tests {
		if got := HashString(tt.in); got != tt.want {
			t.Errorf("HashString(%q) = %#x; want %#x", tt.in, got, tt.want)
		}
	}
	// splitmix64 seeded with 0 yields mix64(γ), mix64(2γ), ...: its
	// reference implementation's first two outputs.
	const gamma = 0x9e3779b97f4a7c15
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4} {
		if got := mix64(uint64(i+1) * gamma); got != want {
			t.Errorf("mix64(%d·γ) = %#x; want %#x", i+1, got, want)
		}
	}
}

func TestHashDoesNotAllocate(t *testing.T) {
	b := []byte("192.168.10.20")
	s := "192.168.10.20"
	if n := testing.AllocsPerRun(100, func() { HashString(s); HashBytes(b) }); n != 0 {
		t.Errorf("allocated %v times", n)
	}
}

// hashKeys are the keys the ring tests map.
func hashKeys(n int) []uint64 {
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = HashString(fmt.Sprintf("client-%d", i))
	}
	return keys
}

// mapping returns the name of the server each key maps to.
func mapping(t *testing.T, b Balancer, keys []uint64) []string {
	t.Helper()
	names := make([]string, len(keys))
	for i, k := range keys {
		s := b.Pick(k, nil)
		if s == nil {
			t.Fatalf("key %d: nil", i)
		}
		names[i] = s.Name
	}
	return names
}

func TestHashSameKeySameServer(t *testing.T) {
	keys := hashKeys(2000)
	servers := newServers(100, 100, 50, 100, 200)
	first := mapping(t, mustNew(t, "hash", servers), keys)
	if again := mapping(t, mustNew(t, "hash", servers), keys); !slices.Equal(first, again) {
		t.Error("two rings over the same servers map keys differently")
	}
	// Fresh Server values listed in another order: the ring depends only on
	// names and weights, so every node of a cluster agrees.
	reversed := slices.Clone(newServers(100, 100, 50, 100, 200))
	slices.Reverse(reversed)
	if other := mapping(t, mustNew(t, "hash", reversed), keys); !slices.Equal(first, other) {
		t.Error("server order changed the mapping")
	}
	seen := map[string]bool{}
	for _, n := range first {
		seen[n] = true
	}
	if len(seen) != len(servers) {
		t.Errorf("keys reached %d of %d servers", len(seen), len(servers))
	}
}

func TestHashAddServerMovesOneShare(t *testing.T) {
	keys := hashKeys(10000)
	for _, n := range []int{4, 9} {
		t.Run(fmt.Sprintf("%d+1", n), func(t *testing.T) {
			weights := make([]int, n+1)
			for i := range weights {
				weights[i] = 100
			}
			all := newServers(weights...)
			before := mapping(t, mustNew(t, "hash", all[:n]), keys)
			after := mapping(t, mustNew(t, "hash", all), keys)
			newName := all[n].Name
			moved := 0
			for i := range keys {
				if before[i] == after[i] {
					continue
				}
				moved++
				if after[i] != newName {
					t.Fatalf("key %d moved from %s to %s, not to the new server %s", i, before[i], after[i], newName)
				}
			}
			frac, ideal := float64(moved)/float64(len(keys)), 1/float64(n+1)
			t.Logf("%d servers -> %d: %.4f of keys moved (ideal %.4f)", n, n+1, frac, ideal)
			if frac < 0.5*ideal || frac > 1.6*ideal {
				t.Errorf("moved %.4f of keys; want about %.4f", frac, ideal)
			}
		})
	}
}

func TestHashServerLossMovesOnlyItsKeys(t *testing.T) {
	keys := hashKeys(10000)
	tests := []struct {
		name string
		lose func(servers []*upstream.Server) Balancer
	}{
		{name: "marked down", lose: func(servers []*upstream.Server) Balancer {
			b := mustNew(t, "hash", servers)
			servers[2].SetState(upstream.Down)
			return b
		}},
		{name: "removed", lose: func(servers []*upstream.Server) Balancer {
			return mustNew(t, "hash", slices.Delete(slices.Clone(servers), 2, 3))
		}},
		{name: "weight 0 and Reweight", lose: func(servers []*upstream.Server) Balancer {
			b := mustNew(t, "hash", servers)
			servers[2].SetWeight(0)
			b.Reweight()
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			servers := newServers(100, 100, 100, 100, 100)
			before := mapping(t, mustNew(t, "hash", servers), keys)
			// Without s2 at all: what every way of losing it must give, so
			// its keys spread over the others rather than pile onto one.
			removed := mapping(t, mustNew(t, "hash", slices.Delete(slices.Clone(servers), 2, 3)), keys)
			after := mapping(t, tt.lose(servers), keys)
			if !slices.Equal(after, removed) {
				t.Error("mapping differs from a ring built without the lost server")
			}
			lost := servers[2].Name
			own := 0
			for i := range keys {
				if before[i] == lost {
					own++
					if after[i] == lost {
						t.Fatalf("key %d still on the lost server", i)
					}
				} else if after[i] != before[i] {
					t.Fatalf("key %d moved from %s to %s though %s was lost", i, before[i], after[i], lost)
				}
			}
			if own == 0 {
				t.Fatal("the lost server owned no keys")
			}
			heirs := map[string]bool{}
			for i := range keys {
				if before[i] == lost {
					heirs[after[i]] = true
				}
			}
			if len(heirs) < 2 {
				t.Errorf("the lost server's keys went to %d server(s); want them spread", len(heirs))
			}
		})
	}
}

func TestHashWeights(t *testing.T) {
	keys := hashKeys(10000)
	weights := []int{100, 200, 50}
	servers := newServers(weights...)
	names := mapping(t, mustNew(t, "hash", servers), keys)
	got := make([]int, len(servers))
	for _, n := range names {
		got[slices.IndexFunc(servers, func(s *upstream.Server) bool { return s.Name == n })]++
	}
	// Ring placement is random-like: a few percent off the weights.
	checkShares(t, got, weights, 0.05)
}

func TestRingPoints(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []int
	}{
		{name: "160 per 100", weights: []int{100, 50, 1000}, want: []int{160, 80, 1600}},
		{name: "small weights round up", weights: []int{1, 0, 3}, want: []int{2, 0, 5}},
		{name: "huge weights scaled alike", weights: []int{10_000_000, 10_000_000, 1}, want: []int{524287, 524287, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ringPoints(newServers(tt.weights...)); !slices.Equal(got, tt.want) {
				t.Errorf("ringPoints = %v; want %v", got, tt.want)
			}
		})
	}
}
