package balancer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRoundRobinSmooth(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    string // names of one period, twice
	}{
		{name: "nginx example 5,1,1", weights: []int{5, 1, 1}, want: "s0 s0 s1 s0 s2 s0 s0 s0 s0 s1 s0 s2 s0 s0"},
		{name: "equal weights", weights: []int{3, 3, 3}, want: "s0 s1 s2 s0 s1 s2"},
		{name: "gcd reduced", weights: []int{100, 50}, want: "s0 s1 s0 s0 s1 s0"},
		{name: "zero weight left out", weights: []int{2, 0, 1}, want: "s0 s2 s0 s0 s2 s0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			servers := newServers(tt.weights...)
			b := mustNew(t, "round_robin", servers)
			var got []string
			for range strings.Count(tt.want, " ") + 1 {
				got = append(got, b.Pick(0, nil).Name)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("picks %q; want %q", g, tt.want)
			}
		})
	}
}

// TestRoundRobinNoBursts checks smoothness over random weight sets: at every
// point of the schedule each server's count stays within 1 of its exact
// share, so no server gets a burst of picks.
func TestRoundRobinNoBursts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		weights := make([]int, 2+rng.IntN(6))
		total := 0
		for i := range weights {
			weights[i] = 1 + rng.IntN(20)
			total += weights[i]
		}
		sched := SmoothSchedule(weights, maxSchedule)
		count := make([]int, len(weights))
		g := 0
		for _, w := range weights {
			g = gcd(g, w)
		}
		if len(sched) != total/g {
			t.Fatalf("weights %v: period %d; want %d", weights, len(sched), total/g)
		}
		for k, idx := range sched {
			count[idx]++
			for i, w := range weights {
				if dev := math.Abs(float64(count[i]) - float64(k+1)*float64(w)/float64(total)); dev >= 1 {
					t.Fatalf("weights %v: after %d picks server %d has %d, share %.2f",
						weights, k+1, i, count[i], float64(k+1)*float64(w)/float64(total))
				}
			}
		}
	}
}

func TestSmoothScheduleScaled(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		limit   int
	}{
		{name: "huge and tiny", weights: []int{1_000_000, 1, 3}, limit: 1 << 16},
		{name: "many servers", weights: []int{70000, 70000, 50000, 1, 2}, limit: 1 << 16},
		{name: "small limit", weights: []int{997, 991, 983}, limit: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched := SmoothSchedule(tt.weights, tt.limit)
			if len(sched) > tt.limit+len(tt.weights) {
				t.Errorf("period %d; limit %d", len(sched), tt.limit)
			}
			seen := make([]int, len(tt.weights))
			for _, idx := range sched {
				seen[idx]++
			}
			total := 0
			for _, w := range tt.weights {
				total += w
			}
			for i, w := range tt.weights {
				if seen[i] == 0 {
					t.Errorf("server %d (weight %d) missing from the schedule", i, w)
				}
				share, want := float64(seen[i])/float64(len(sched)), float64(w)/float64(total)
				if math.Abs(share-want) > 0.02 {
					t.Errorf("server %d: share %.4f; want %.4f", i, share, want)
				}
			}
		})
	}
}

// TestRoundRobinSkipKeepsProportions: with a server down, the others still
// share traffic by weight, rather than the server after the down one in the
// schedule inheriting its slots.
func TestRoundRobinSkipKeepsProportions(t *testing.T) {
	servers := newServers(5, 1, 1, 3)
	b := mustNew(t, "round_robin", servers)
	servers[0].SetState(0)
	got := counts(t, b, servers, 10000, nil)
	checkShares(t, got[1:], []int{1, 1, 3}, 0.01)
}

// BenchmarkReweight measures rebuilding a schedule, which slow start does
// every 100ms while a server ramps.
func BenchmarkReweight(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			weights := make([]int, n)
			for i := range weights {
				weights[i] = 100 + i*7%900 // gcd 1: the longest period
			}
			bal := mustNew(b, "round_robin", newServers(weights...))
			b.ReportAllocs()
			for b.Loop() {
				bal.Reweight()
			}
		})
	}
}
