package netcheck

import (
	"fmt"
	"net/netip"
	"strings"
)

// Default probe destinations: public resolvers' addresses, spread over
// address space, so that a route lookup towards them finds the route an
// ordinary Internet client's reply takes. They are never contacted.
var (
	defaultProbes4 = []string{
		"1.1.1.1", "8.8.8.8", "9.9.9.9", "77.88.8.8", "94.140.14.14",
		"149.112.112.112", "185.228.168.9", "208.67.222.222", "64.6.64.6",
	}
	defaultProbes6 = []string{
		"2001:4860:4860::8888", "2606:4700:4700::1111", "2620:fe::fe",
		"2a02:6b8::feed:ff", "2a10:50c0::ad1:ff", "2620:119:35::35",
	}
)

// probesPerFamily is how many default probes are kept per family: several,
// so that a multipath (ECMP) default shows each of its paths.
const probesPerFamily = 4

// ParseProbe reads a --probe value: an IP address or a CIDR prefix of
// client addresses.
func ParseProbe(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		q, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("probe %q: not an IP address or CIDR prefix (like 203.0.113.0/24)", s)
		}
		p = q.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return p, fmt.Errorf("probe %q: not an IP address or CIDR prefix (like 203.0.113.7)", s)
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	if a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() && p.Bits() == a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("probe %q: use a client address or range, not a loopback, multicast or unspecified address", s)
	}
	return p, nil
}

// probeAddrs picks the destinations replies are checked against: the
// given client ranges (first, middle and last address of each), or the
// default probes that no route longer than /8 (IPv4) or /16 (IPv6) covers,
// so that only default-like routes decide their path.
func probeAddrs(given []netip.Prefix, routes []Route) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) {
		if a.IsValid() && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(given) > 0 {
		for _, p := range given {
			for _, a := range samples(p) {
				add(a)
			}
		}
		return out
	}
	for _, list := range [][]string{defaultProbes4, defaultProbes6} {
		n := 0
		for _, s := range list {
			a := netip.MustParseAddr(s)
			if n < probesPerFamily && !coveredBySpecific(a, routes) {
				add(a)
				n++
			}
		}
		if n == 0 {
			// Every candidate is inside a specific route: still check one.
			add(netip.MustParseAddr(list[0]))
		}
	}
	return out
}

// coveredBySpecific reports whether a route longer than /8 (/16 for IPv6)
// contains a.
func coveredBySpecific(a netip.Addr, routes []Route) bool {
	limit := 8
	if a.Is6() {
		limit = 16
	}
	for _, r := range routes {
		if r.Dst.Bits() > limit && r.Dst.Contains(a) {
			return true
		}
	}
	return false
}

// samples are the first host, the middle and the last host of p (p's one
// address when it has no room for hosts).
func samples(p netip.Prefix) []netip.Addr {
	a := p.Addr()
	host := a.BitLen() - p.Bits()
	if host <= 1 {
		return []netip.Addr{a}
	}
	b := a.AsSlice()
	last := setHostBits(b, p.Bits(), false)
	mid := setHostBits(b, p.Bits(), true)
	out := []netip.Addr{a.Next(), mid}
	if l := last.Prev(); l != mid {
		out = append(out, l)
	}
	return out
}

// setHostBits returns the address with every host bit after the prefix set
// (onlyTop: only the first host bit set).
func setHostBits(b []byte, bits int, onlyTop bool) netip.Addr {
	c := append([]byte(nil), b...)
	for i := bits; i < len(c)*8; i++ {
		if onlyTop && i > bits {
			break
		}
		c[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(c)
	return a
}

// firstPerFamily is the first IPv4 and the first IPv6 address of ps.
func firstPerFamily(ps []netip.Addr) []netip.Addr {
	var out []netip.Addr
	var v4, v6 bool
	for _, p := range ps {
		if p.Is4() && !v4 || p.Is6() && !v6 {
			out = append(out, p)
			v4, v6 = v4 || p.Is4(), v6 || p.Is6()
		}
	}
	return out
}
