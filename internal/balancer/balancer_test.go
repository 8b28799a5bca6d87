package balancer

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/portier/portier/internal/upstream"
)

var policies = []string{"round_robin", "least_conn", "random_two", "hash"}

// newServers returns Up servers named s0, s1, ... with the given weights.
func newServers(weights ...int) []*upstream.Server {
	servers := make([]*upstream.Server, len(weights))
	for i, w := range weights {
		servers[i] = upstream.NewServer("b", fmt.Sprintf("s%d", i), fmt.Sprintf("127.0.0.1:%d", 9000+i), w, upstream.Up)
	}
	return servers
}

func mustNew(t testing.TB, policy string, servers []*upstream.Server) Balancer {
	t.Helper()
	b, err := New(policy, servers)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewUnknownPolicy(t *testing.T) {
	for _, policy := range []string{"", "roundrobin", "ip_hash", "Round_Robin"} {
		t.Run(policy, func(t *testing.T) {
			if _, err := New(policy, newServers(1)); !errors.Is(err, ErrUnknownPolicy) {
				t.Errorf("New(%q) error = %v; want ErrUnknownPolicy", policy, err)
			}
		})
	}
}

// counts picks n times with keys from a fixed sequence and returns the
// number of picks per server index; Pick returning nil fails the test.
func counts(t *testing.T, b Balancer, servers []*upstream.Server, n int, tried *Tried) []int {
	t.Helper()
	index := map[*upstream.Server]int{}
	for i, s := range servers {
		index[s] = i
	}
	got := make([]int, len(servers))
	for i := range n {
		s := b.Pick(HashString(fmt.Sprint(i)), tried)
		if s == nil {
			t.Fatalf("pick %d: nil", i)
		}
		got[index[s]]++
	}
	return got
}

func TestUnavailableNeverPicked(t *testing.T) {
	tests := []struct {
		name string
		down func(s *upstream.Server)
	}{
		{name: "state down", down: func(s *upstream.Server) { s.SetState(upstream.Down) }},
		{name: "state pending", down: func(s *upstream.Server) { s.SetState(upstream.Pending) }},
		{name: "weight 0", down: func(s *upstream.Server) { s.SetWeight(0) }},
	}
	for _, policy := range policies {
		for _, tt := range tests {
			t.Run(policy+"/"+tt.name, func(t *testing.T) {
				servers := newServers(5, 3, 2, 1)
				b := mustNew(t, policy, servers)
				tt.down(servers[0])
				tt.down(servers[2])
				got := counts(t, b, servers, 2000, nil)
				if got[0] != 0 || got[2] != 0 {
					t.Errorf("picks per server %v: unavailable servers 0 and 2 were picked", got)
				}
				if got[1] == 0 || got[3] == 0 {
					t.Errorf("picks per server %v: an available server got nothing", got)
				}
				for _, s := range servers {
					tt.down(s)
				}
				if s := b.Pick(1, nil); s != nil {
					t.Errorf("all servers unavailable: Pick = %s; want nil", s.Name)
				}
			})
		}
	}
}

func TestTriedSkipped(t *testing.T) {
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			servers := newServers(5, 3, 2)
			b := mustNew(t, policy, servers)
			var tried Tried
			tried.Add(servers[0])
			tried.Add(servers[1])
			got := counts(t, b, servers, 1000, &tried)
			if got[0] != 0 || got[1] != 0 || got[2] != 1000 {
				t.Errorf("picks per server %v with s0, s1 tried; want all on s2", got)
			}
			tried.Add(servers[2])
			if s := b.Pick(7, &tried); s != nil {
				t.Errorf("every server tried: Pick = %s; want nil", s.Name)
			}
		})
	}
}

func TestNoServers(t *testing.T) {
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			b := mustNew(t, policy, nil)
			b.Reweight()
			if s := b.Pick(1, nil); s != nil {
				t.Errorf("Pick = %v; want nil", s)
			}
		})
	}
}

// checkShares fails if a server's share of picks is off its share of the
// weight by more than tolerance.
func checkShares(t *testing.T, got, weights []int, tolerance float64) {
	t.Helper()
	total, sum := 0, 0
	for i := range got {
		total += got[i]
		sum += weights[i]
	}
	for i := range got {
		share, want := float64(got[i])/float64(total), float64(weights[i])/float64(sum)
		if math.Abs(share-want) > tolerance {
			t.Errorf("server %d: share %.4f, want %.4f ± %.2f (picks %v, weights %v)", i, share, want, tolerance, got, weights)
		}
	}
}

func TestWeightsHonouredIdle(t *testing.T) {
	tests := []struct {
		policy    string
		tolerance float64
	}{
		{policy: "round_robin", tolerance: 0.001},
		{policy: "least_conn", tolerance: 0.001},
		{policy: "random_two", tolerance: 0.03},
	}
	weights := []int{50, 30, 15, 5}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			servers := newServers(weights...)
			checkShares(t, counts(t, mustNew(t, tt.policy, servers), servers, 10000, nil), weights, tt.tolerance)
		})
	}
}

// simulate keeps about concurrency requests in flight: each step picks a
// server and starts a request on it, then finishes one in-flight request
// chosen at random, as requests of random length would. It returns the
// picks per server.
func simulate(t *testing.T, b Balancer, servers []*upstream.Server, picks, concurrency int) []int {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	index := map[*upstream.Server]int{}
	for i, s := range servers {
		index[s] = i
	}
	got := make([]int, len(servers))
	var inflight []*upstream.Server
	for range picks {
		s := b.Pick(rng.Uint64(), nil)
		if s == nil {
			t.Fatal("Pick = nil")
		}
		s.Acquire()
		got[index[s]]++
		inflight = append(inflight, s)
		if len(inflight) > concurrency {
			i := rng.IntN(len(inflight))
			inflight[i].Release()
			inflight[i] = inflight[len(inflight)-1]
			inflight = inflight[:len(inflight)-1]
		}
	}
	return got
}

func TestWeightsHonouredUnderLoad(t *testing.T) {
	weights := []int{50, 30, 15, 5}
	for _, policy := range []string{"least_conn", "random_two", "round_robin"} {
		t.Run(policy, func(t *testing.T) {
			servers := newServers(weights...)
			got := simulate(t, mustNew(t, policy, servers), servers, 10000, 40)
			checkShares(t, got, weights, 0.03)
		})
	}
}

func TestAvailabilityChangeSeenWithoutReweight(t *testing.T) {
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			servers := newServers(1, 1)
			b := mustNew(t, policy, servers)
			servers[0].SetState(upstream.Down)
			for i := range 100 {
				if s := b.Pick(uint64(i), nil); s != servers[1] {
					t.Fatalf("pick %d = %v; want s1", i, s)
				}
			}
			servers[0].SetState(upstream.Up)
			servers[1].SetState(upstream.Down)
			for i := range 100 {
				if s := b.Pick(uint64(i), nil); s != servers[0] {
					t.Fatalf("pick %d = %v; want s0", i, s)
				}
			}
		})
	}
}

func TestReweight(t *testing.T) {
	for _, policy := range []string{"round_robin", "least_conn", "random_two"} {
		t.Run(policy, func(t *testing.T) {
			servers := newServers(1, 1)
			b := mustNew(t, policy, servers)
			servers[0].SetWeight(9)
			b.Reweight()
			checkShares(t, counts(t, b, servers, 10000, nil), []int{9, 1}, 0.03)
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	// The proxy keeps Tried in its per-request state, as Tried's doc asks.
	type request struct{ tried Tried }
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			servers := newServers(5, 3, 2, 1, 1, 1)
			servers[1].SetState(upstream.Down)
			b := mustNew(t, policy, servers)
			req := &request{}
			key := uint64(0)
			allocs := testing.AllocsPerRun(1000, func() {
				req.tried = Tried{}
				key += 0x9e3779b97f4a7c15
				req.tried.Add(b.Pick(key, nil))
				req.tried.Add(b.Pick(key, &req.tried))
				b.Pick(key, &req.tried)
			})
			if allocs != 0 {
				t.Errorf("Pick allocated %v times per run", allocs)
			}
		})
	}
}

// TestConcurrentPicks runs picks on several goroutines while weights and
// states change and Reweight runs; under -race it proves Pick and Reweight
// may run at once. A server that stays down throughout is never picked.
func TestConcurrentPicks(t *testing.T) {
	for _, policy := range policies {
		t.Run(policy, func(t *testing.T) {
			servers := newServers(5, 3, 2, 1, 4)
			servers[4].SetState(upstream.Down)
			b := mustNew(t, policy, servers)
			stop := make(chan struct{})
			var changer sync.WaitGroup
			changer.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					servers[i%3].SetWeight(1 + i%7)
					servers[1+i%3].SetState(upstream.State(1 + i%2))
					b.Reweight()
				}
			})
			var pickers sync.WaitGroup
			var bad sync.Map
			for g := range 4 {
				pickers.Go(func() {
					for i := range 2000 {
						var tried Tried
						s := b.Pick(uint64(g*1_000_003+i)*0x9e3779b97f4a7c15, &tried)
						if s == servers[4] {
							bad.Store(i, s.Name)
						}
						if s != nil {
							s.Acquire()
							s.Release()
						}
					}
				})
			}
			pickers.Wait()
			close(stop)
			changer.Wait()
			bad.Range(func(k, v any) bool {
				t.Errorf("pick %v returned down server %v", k, v)
				return false
			})
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, policy := range policies {
		b.Run(policy, func(b *testing.B) {
			servers := newServers(100, 100, 50, 50, 20, 20, 10, 10)
			bal := mustNew(b, policy, servers)
			b.ReportAllocs()
			key := uint64(0)
			for b.Loop() {
				key += 0x9e3779b97f4a7c15
				if bal.Pick(key, nil) == nil {
					b.Fatal("nil")
				}
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, policy := range policies {
		b.Run(policy, func(b *testing.B) {
			servers := newServers(100, 100, 50, 50, 20, 20, 10, 10)
			bal := mustNew(b, policy, servers)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := rand.Uint64()
				for pb.Next() {
					key += 0x9e3779b97f4a7c15
					if bal.Pick(key, nil) == nil {
						panic("nil")
					}
				}
			})
		})
	}
}
