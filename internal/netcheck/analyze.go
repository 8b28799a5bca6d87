package netcheck

import (
	"net"
	"net/netip"
	"slices"
	"strings"
)

// analysis is one pass over Facts: the indexes it needs and the findings
// it collects.
type analysis struct {
	f    *Facts
	look func(Query) Answer
	// answers memoises look: connections share peers.
	answers map[Query]Answer
	owners  map[netip.Addr][]string // address -> interfaces holding it
	links   map[string]Link
	gwDevs  map[string]bool // interfaces with a gateway or default route
	// tables records which targets' replies use which table.
	tables map[tableKey][]*target
	out    []Finding
}

type tableKey struct {
	v6    bool
	table int
}

// target is one listener IP address, with the listeners on it.
type target struct {
	addr      netip.Addr
	ports     []string
	listeners []string
	// explicit: configured as such, not found by expanding a wildcard.
	explicit bool
}

// analyze turns facts into findings; look answers route lookups (live, or
// replayed from a recording).
func analyze(s Scope, f *Facts, look func(Query) Answer) []Finding {
	a := &analysis{
		f: f, look: look, answers: map[Query]Answer{},
		owners: map[netip.Addr][]string{}, links: map[string]Link{},
		gwDevs: map[string]bool{}, tables: map[tableKey][]*target{},
	}
	a.index()
	probes := probeAddrs(s.Probes, f.Routes)
	for _, t := range a.targets(s.Listeners) {
		a.checkTarget(t, probes)
	}
	a.competingDefaults()
	a.checkConns()
	sortFindings(a.out)
	if a.out == nil {
		a.out = []Finding{}
	}
	return a.out
}

func (a *analysis) index() {
	for _, l := range a.f.Links {
		a.links[l.Name] = l
	}
	for _, ad := range a.f.Addrs {
		ip := ad.Prefix.Addr().Unmap()
		if !slices.Contains(a.owners[ip], ad.Dev) {
			a.owners[ip] = append(a.owners[ip], ad.Dev)
		}
	}
	for _, r := range a.f.Routes {
		if r.Type != "" {
			continue
		}
		for _, nh := range r.paths() {
			if nh.Dev != "" && (nh.Gw.IsValid() || r.Dst.Bits() == 0) {
				a.gwDevs[nh.Dev] = true
			}
		}
	}
}

// lookup asks each distinct query once.
func (a *analysis) lookup(q Query) Answer {
	if ans, ok := a.answers[q]; ok {
		return ans
	}
	ans := a.look(q)
	a.answers[q] = ans
	return ans
}

func (a *analysis) add(level Level, code, address, msg string) {
	a.out = append(a.out, Finding{Code: code, Level: level, Address: address, Message: msg})
}

// targets expands the listeners into the IP addresses they accept on: a
// wildcard becomes every address of its family except loopback and
// link-local ones.
func (a *analysis) targets(ls []Listener) []*target {
	var out []*target
	byAddr := map[netip.Addr]*target{}
	add := func(ip netip.Addr, port, name string, explicit bool) {
		t := byAddr[ip]
		if t == nil {
			t = &target{addr: ip}
			byAddr[ip] = t
			out = append(out, t)
		}
		t.explicit = t.explicit || explicit
		if !slices.Contains(t.ports, port) {
			t.ports = append(t.ports, port)
		}
		if !slices.Contains(t.listeners, name) {
			t.listeners = append(t.listeners, name)
		}
	}
	for _, l := range ls {
		host, port, err := net.SplitHostPort(l.Address)
		if err != nil {
			continue // validation refuses such addresses
		}
		switch host {
		case "", "::", "0.0.0.0":
			for _, ad := range a.f.Addrs {
				ip := ad.Prefix.Addr().Unmap()
				if a.links[ad.Dev].Kind == "loopback" || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
					continue
				}
				if host == "0.0.0.0" && !ip.Is4() {
					continue
				}
				add(ip, port, l.Name, false)
			}
		case "localhost":
			add(netip.MustParseAddr("127.0.0.1"), port, l.Name, true)
		default:
			ip, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			add(ip.Unmap().WithZone(""), port, l.Name, true)
		}
	}
	return out
}

// address is the finding's address: ip:port, or the IP for several ports
// or an unknown one (0).
func (t *target) address() string {
	if len(t.ports) == 1 && t.ports[0] != "0" {
		return net.JoinHostPort(t.addr.String(), t.ports[0])
	}
	return t.addr.String()
}

// prefix names the listeners on the target, to start a message: "listener
// web: " or "listeners web, api: "; nothing for unnamed ones.
func (t *target) prefix() string {
	names := slices.DeleteFunc(slices.Clone(t.listeners), func(n string) bool { return n == "" })
	switch len(names) {
	case 0:
		return ""
	case 1:
		return "listener " + names[0] + ": "
	}
	return "listeners " + strings.Join(names, ", ") + ": "
}

// probeResult is one probe whose reply leaves by the wrong interface.
type probeResult struct {
	probe netip.Addr
	ans   Answer
}

// checkTarget checks the reply path of one listener address.
func (a *analysis) checkTarget(t *target, probes []netip.Addr) {
	if t.addr.IsLoopback() || t.addr.IsLinkLocalUnicast() {
		if t.explicit {
			a.add(Info, CodeLocalOnly, t.address(), t.prefix()+t.addr.String()+
				" is a loopback or link-local address: only this host (or its link) can connect.")
		}
		return
	}
	devs := a.owners[t.addr]
	if len(devs) == 0 {
		a.add(Warn, CodeListenAddrMissing, t.address(), t.prefix()+t.addr.String()+
			" is not on any interface: the listener cannot bind it (or, with ip_nonlocal_bind, serves nobody). "+
			"Add the address to an interface, or fix the listener's address.")
		return
	}
	var bad []probeResult
	var unreachable []netip.Addr
	n := 0
	for _, p := range probes {
		if p.Is4() != t.addr.Is4() {
			continue
		}
		n++
		ans := a.lookup(Query{Dst: p, Src: t.addr})
		switch {
		case ans.Err == ErrUnreachable:
			unreachable = append(unreachable, p)
		case ans.Err != "":
		default:
			k := tableKey{v6: t.addr.Is6(), table: ans.Table}
			if k.table == 0 {
				k.table = TableMain
			}
			if !slices.Contains(a.tables[k], t) {
				a.tables[k] = append(a.tables[k], t)
			}
			if !slices.Contains(devs, ans.Dev) {
				bad = append(bad, probeResult{p, ans})
			}
		}
	}
	if n > 0 && len(unreachable) == n {
		a.add(Info, CodeNoRoute, t.address(), t.prefix()+"no route from "+t.addr.String()+
			" to addresses beyond the local networks (e.g. "+unreachable[0].String()+
			"): only clients on directly connected networks can be answered.")
		return
	}
	if len(bad) > 0 {
		a.mismatch(t, devs, bad, n)
	}
	if t.addr.Is4() && !a.vip(devs) && a.reachable(devs, t.addr) {
		a.checkRPFilter(t, devs[0], probes)
	}
}

// vip reports whether the address is held on loopback or a dummy
// interface: a VIP, whose replies leave by whatever route fits.
func (a *analysis) vip(devs []string) bool {
	for _, d := range devs {
		if k := a.links[d].Kind; k == "loopback" || k == "dummy" {
			return true
		}
	}
	return false
}

// reachable reports whether clients beyond the address's own network can
// reach it: its interface has a gateway, or it is a public address.
func (a *analysis) reachable(devs []string, ip netip.Addr) bool {
	for _, d := range devs {
		if a.gwDevs[d] {
			return true
		}
	}
	return public(ip)
}

// public reports whether ip is a globally routed unicast address (not
// RFC 1918, ULA, shared CGNAT space or link-local).
func public(ip netip.Addr) bool {
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip)
}

// connected is the prefix of the address on its interface, for messages.
func (a *analysis) connected(ip netip.Addr) string {
	for _, ad := range a.f.Addrs {
		if ad.Prefix.Addr().Unmap() == ip {
			return ad.Prefix.Masked().String()
		}
	}
	return ip.String()
}
