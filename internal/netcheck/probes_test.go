package netcheck

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var probeCases = []struct {
	in, want, err string
}{
	{in: "203.0.113.7", want: "203.0.113.7/32"},
	{in: " 203.0.113.0/24 ", want: "203.0.113.0/24"},
	{in: "203.0.113.9/24", want: "203.0.113.0/24"},
	{in: "2001:db8:c::7", want: "2001:db8:c::7/128"},
	{in: "::ffff:203.0.113.7", want: "203.0.113.7/32"},
	{in: "0.0.0.0/0", want: "0.0.0.0/0"},
	{in: "example.com", err: "not an IP address"},
	{in: "203.0.113.0/33", err: "not an IP address"},
	{in: "fe80::1%eth0", err: "not an IP address"},
	{in: "127.0.0.1", err: "not a loopback"},
	{in: "224.0.0.1", err: "not a loopback"},
	{in: "0.0.0.0", err: "not a loopback"},
	{in: "", err: "not an IP address"},
}

func TestParseProbe(t *testing.T) {
	for _, tc := range probeCases {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParseProbe(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseProbe(%q) = %v, %v; want an error with %q", tc.in, p, err, tc.err)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Fatalf("ParseProbe(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
			}
		})
	}
}

// FuzzParseProbe: every accepted probe is a valid, masked prefix whose
// samples lie inside it.
func FuzzParseProbe(f *testing.F) {
	for _, tc := range probeCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseProbe(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("ParseProbe(%q) = %v: not a masked prefix", s, p)
		}
		for _, a := range samples(p) {
			if !p.Contains(a) {
				t.Fatalf("sample %v outside %v", a, p)
			}
		}
	})
}

func TestSamples(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.0/24", "203.0.113.1 203.0.113.128 203.0.113.254"},
		{"203.0.113.7/32", "203.0.113.7"},
		{"203.0.113.6/31", "203.0.113.6"},
		{"203.0.113.4/30", "203.0.113.5 203.0.113.6"},
		{"2001:db8:c::/64", "2001:db8:c::1 2001:db8:c:0:8000:: 2001:db8:c:0:ffff:ffff:ffff:fffe"},
	} {
		var got []string
		for _, a := range samples(netip.MustParsePrefix(tc.in)) {
			got = append(got, a.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("samples(%s) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

// TestDefaultProbesAvoidSpecificRoutes: a default probe inside a route
// longer than /8 would test that route, not the default one.
func TestDefaultProbesAvoidSpecificRoutes(t *testing.T) {
	routes := []Route{
		{Table: TableMain, Dst: netip.MustParsePrefix("0.0.0.0/0")},
		{Table: TableMain, Dst: netip.MustParsePrefix("1.0.0.0/8")},      // not more specific than /8: kept
		{Table: 100, Dst: netip.MustParsePrefix("8.8.8.0/24")},           // any table counts
		{Table: TableMain, Dst: netip.MustParsePrefix("2606:4700::/32")}, // covers the second IPv6 probe
	}
	got := probeAddrs(nil, routes)
	for _, bad := range []string{"8.8.8.8", "2606:4700:4700::1111"} {
		if slices.Contains(got, netip.MustParseAddr(bad)) {
			t.Errorf("probe %s is inside a specific route: %v", bad, got)
		}
	}
	if !slices.Contains(got, netip.MustParseAddr("1.1.1.1")) || len(got) != 2*probesPerFamily {
		t.Errorf("probes %v: want %d per family, 1.1.1.1 among them", got, probesPerFamily)
	}
}
