package health_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/health"
	"github.com/portier/portier/internal/upstream"
)

// TestSlowStartShare proves the promise with a real balancer: in the first
// tenth of the slow-start window a new server gets at most a fifth of the
// share it gets once the ramp is over.
func TestSlowStartShare(t *testing.T) {
	for _, policy := range []string{"round_robin", "least_conn", "random_two"} {
		t.Run(policy, func(t *testing.T) {
			firstTenth, final := shares(t, policy)
			t.Logf("%s: share in the first tenth %.3f, final %.3f", policy, firstTenth, final)
			if final < 0.4 {
				t.Fatalf("final share %.3f, want about a half", final)
			}
			if firstTenth > final/5 {
				t.Errorf("share in the first tenth %.3f, above a fifth of the final %.3f", firstTenth, final)
			}
		})
	}
}

// shares runs a serving server and a new one through a 20s ramp and
// returns the new server's share of picks over the first tenth, and after.
func shares(t *testing.T, policy string) (firstTenth, final float64) {
	const window = 20 * time.Second
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	addr := ok.Listener.Addr().String()
	old := upstream.NewServer("b", "old", addr, 100, upstream.Up)
	fresh := upstream.NewServer("b", "new", addr, 100, upstream.Down)
	bal, err := balancer.New(policy, []*upstream.Server{old, fresh})
	if err != nil {
		t.Fatal(err)
	}
	h := config.NewHealth("/")
	h.Rise, h.Interval = 1, config.Duration(time.Hour)
	clk := health.NewFakeClock(time.Unix(1e9, 0))
	m, err := health.Start(health.Options{Backend: "b", Servers: []*upstream.Server{old, fresh},
		Check: h, SlowStart: window, Clock: clk, Seed: 7, OnChange: bal.Reweight})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	for fresh.State() != upstream.Up {
		d, _ := clk.Next()
		clk.Advance(d)
	}
	// pick makes n picks and returns the new server's part of them.
	pick := func(n int) float64 {
		got := 0
		for range n {
			s := bal.Pick(uint64(n), nil)
			if s == fresh {
				got++
			}
		}
		return float64(got) / float64(n)
	}
	var sum float64
	const slices = 20
	for range slices {
		sum += pick(500)
		clk.Advance(window / 10 / slices)
	}
	clk.Advance(window)
	return sum / slices, pick(10000)
}
