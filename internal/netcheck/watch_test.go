package netcheck

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// TestDebounceDelay drives the debounce with made-up times (a fake clock):
// each event restarts the quiet time, but never past the first event plus
// the maximum delay.
func TestDebounceDelay(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const d, maxDelay = 100 * time.Millisecond, 500 * time.Millisecond
	for _, tc := range []struct {
		name  string
		since time.Duration // of the first event of the burst
		want  time.Duration
	}{
		{"first event", 0, d},
		{"event during the quiet time", 50 * time.Millisecond, d},
		{"near the maximum", 450 * time.Millisecond, 50 * time.Millisecond},
		{"at the maximum", 500 * time.Millisecond, 0},
		{"past the maximum", 2 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := debounceDelay(t0, t0.Add(tc.since), d, maxDelay); got != tc.want {
				t.Errorf("delay %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDiffRoutes: one change per distinct old -> new pair, naming the
// listeners whose replies move; the default route's own key joins the
// same line.
func TestDiffRoutes(t *testing.T) {
	a := netip.MustParseAddr
	p0 := netip.MustParsePrefix("0.0.0.0/0")
	viaEth0 := Answer{Dev: "eth0", Gw: a("172.24.34.1"), Table: TableMain, Prefix: p0}
	viaEth1 := Answer{Dev: "eth1", Gw: a("172.24.35.1"), Table: TableMain, Prefix: p0}
	ls := []Listener{{"web", ":8080"}, {"admin", "172.24.34.5:9901"}, {"other", "10.9.9.9:80"}}
	old := map[routeKey]Answer{
		{dst: a("1.1.1.1")}:                        viaEth0,
		{src: a("172.24.34.5"), dst: a("1.1.1.1")}: viaEth0,
		{src: a("172.24.34.5"), dst: a("8.8.8.8")}: viaEth0,
		{src: a("10.9.9.9"), dst: a("1.1.1.1")}:    {Dev: "eth2", Table: 100, Prefix: p0},
	}
	now := map[routeKey]Answer{
		{dst: a("1.1.1.1")}:                        viaEth1,
		{src: a("172.24.34.5"), dst: a("1.1.1.1")}: viaEth1,
		{src: a("172.24.34.5"), dst: a("8.8.8.8")}: viaEth1,
		{src: a("10.9.9.9"), dst: a("1.1.1.1")}:    {Dev: "eth2", Table: 100, Prefix: p0},
		{src: a("172.24.35.5"), dst: a("1.1.1.1")}: viaEth1, // new address: not a change
	}
	got := diffRoutes(old, now, ls)
	want := []routeChange{{from: "default via 172.24.34.1 dev eth0", to: "default via 172.24.35.1 dev eth1", listeners: "web, admin"}}
	if len(got) != len(want) || got[0] != want[0] {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	if got := diffRoutes(now, now, ls); len(got) != 0 {
		t.Errorf("no change reported as %+v", got)
	}
	// Only the default route moved (the listener uses table 100).
	got = diffRoutes(map[routeKey]Answer{{dst: a("1.1.1.1")}: viaEth0}, map[routeKey]Answer{{dst: a("1.1.1.1")}: {Err: ErrUnreachable}}, ls)
	if len(got) != 1 || got[0].listeners != "none" || got[0].to != "unreachable" {
		t.Errorf("default route removed: %+v", got)
	}
}

func TestParseSocketLink(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[4294967295]", 4294967295, true},
		{"socket:[4294967296]", 0, false},
		{"pipe:[12345]", 0, false},
		{"socket:[12a]", 0, false},
		{"socket:[]", 0, false},
		{"/dev/null", 0, false},
	} {
		if got, ok := parseSocketLink(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("parseSocketLink(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseSocketLink(f *testing.F) {
	f.Add("socket:[12345]")
	f.Add("anon_inode:[eventpoll]")
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseSocketLink(s)
		if !ok {
			return
		}
		v, err := strconv.ParseUint(s[len("socket:["):len(s)-1], 10, 32)
		if err != nil || uint32(v) != n {
			t.Fatalf("parseSocketLink(%q) = %d", s, n)
		}
	})
}
