package netcheck

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// mismatch reports replies that leave by another interface than the one
// holding the address: a warning, unless the setup makes it right (a VIP,
// a firewall-mark rule, an interface no outside client can reach).
func (a *analysis) mismatch(t *target, devs []string, bad []probeResult, n int) {
	first := bad[0]
	on := strings.Join(devs, ", ")
	if a.vip(devs) {
		a.add(Info, CodeReplyIfaceMismatch, t.address(), fmt.Sprintf(
			"%s%s is on %s (a local VIP); replies leave by %s (%s), as expected for an address held there.",
			t.prefix(), t.addr, on, first.ans.Dev, first.ans))
		return
	}
	if r, ok := a.markFix(t.addr, devs, first.probe); ok {
		a.add(Info, CodeReplyIfaceMismatch, t.address(), fmt.Sprintf(
			"%sunmarked replies from %s leave by %s (%s), but the rule `fwmark %#x lookup %s` sends marked ones by %s: "+
				"right if the firewall marks this listener's connections (CONNMARK), which doctor cannot see.",
			t.prefix(), t.addr, first.ans.Dev, first.ans, r.Mark, tableName(r.Table), on))
		return
	}
	if !a.reachable(devs, t.addr) {
		a.add(Info, CodeReplyIfaceMismatch, t.address(), fmt.Sprintf(
			"%s%s is on %s, which has no gateway, so only clients on %s reach it; replies to others would leave by %s. "+
				"Nothing to do unless clients come from beyond that network.",
			t.prefix(), t.addr, on, a.connected(t.addr), first.ans.Dev))
		return
	}
	share := ""
	if len(bad) < n {
		share = fmt.Sprintf(" for %d of %d probe destinations (a multipath route)", len(bad), n)
	}
	a.add(Warn, CodeReplyIfaceMismatch, t.address(), fmt.Sprintf(
		"%s%s is on %s, but replies to clients beyond %s leave by %s (%s, e.g. to %s)%s: they never arrive. "+
			"Make the default route go by %s, or add `ip rule add from %s lookup TABLE` with a default route by %s in TABLE.",
		t.prefix(), t.addr, on, a.connected(t.addr), first.ans.Dev, first.ans, first.probe, share,
		devs[0], t.addr, devs[0]))
}

// markFix finds a firewall-mark rule whose table sends replies from src to
// dst by one of devs.
func (a *analysis) markFix(src netip.Addr, devs []string, dst netip.Addr) (Rule, bool) {
	for _, r := range a.f.Rules {
		if r.Mark == 0 || r.V6 != src.Is6() {
			continue
		}
		ans := a.lookup(Query{Dst: dst, Src: src, Mark: r.Mark})
		if ans.Err == "" && slices.Contains(devs, ans.Dev) {
			return r, true
		}
	}
	return Rule{}, false
}

// checkRPFilter asks the input path whether a client's packet arriving on
// dev for the target is accepted: strict reverse-path filtering drops it
// when the route back leaves by another interface.
func (a *analysis) checkRPFilter(t *target, dev string, probes []netip.Addr) {
	for _, p := range probes {
		if !p.Is4() {
			continue
		}
		ans := a.lookup(Query{Dst: t.addr, Src: p, Iif: dev})
		if ans.Err != ErrInvalid {
			continue
		}
		back := a.lookup(Query{Dst: p, Src: t.addr})
		why := "the kernel's reverse-path check"
		if all, ok := a.f.RPFilter["all"]; ok {
			why = fmt.Sprintf("the reverse-path filter (rp_filter: all=%d, %s=%d)", all, dev, a.f.RPFilter[dev])
		}
		via := "no route back to them exists"
		if back.Err == "" {
			via = "the route back to them leaves by " + back.Dev
		}
		a.add(Warn, CodeRPFilterDrop, t.address(), fmt.Sprintf(
			"%spackets from clients (e.g. %s) arriving on %s for %s are dropped by %s, because %s. "+
				"Fix the route back, or set net.ipv4.conf.%s.rp_filter=2 (loose) and net.ipv4.conf.all.rp_filter to 0 or 2.",
			t.prefix(), p, dev, t.addr, why, via, dev))
		return
	}
}

// competingDefaults reports, per table that replies use, separate default
// routes of the same lowest metric that lead out by different interfaces:
// the kernel picks one by neighbour (ARP) state and can switch at any
// moment.
func (a *analysis) competingDefaults() {
	keys := make([]tableKey, 0, len(a.tables))
	for k := range a.tables {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y tableKey) int {
		if x.v6 != y.v6 {
			if x.v6 {
				return 1
			}
			return -1
		}
		return x.table - y.table
	})
	for _, k := range keys {
		groups := map[string][]*target{}
		var order []string
		for _, t := range a.tables[k] {
			rs := a.defaultsFor(k, t.addr)
			if len(rs) == 0 {
				continue
			}
			desc := describeRoutes(rs)
			if groups[desc] == nil {
				order = append(order, desc)
			}
			groups[desc] = append(groups[desc], t)
		}
		for _, desc := range order {
			ts := groups[desc]
			var addrs []string
			for _, t := range ts {
				addrs = append(addrs, t.addr.String())
			}
			a.add(Warn, CodeCompetingDefaults, ts[0].address(), fmt.Sprintf(
				"replies from %s use table %s, where default routes of the same metric compete: %s. "+
					"The kernel picks one by ARP state and may switch at any moment (the two-gateway race). "+
					"Keep one default route per table, give the others a higher metric, or route each address with `ip rule from`.",
				strings.Join(addrs, ", "), tableName(k.table), desc))
		}
	}
}

// defaultsFor returns the default routes of the table that compete for
// replies from src, or nil when they do not: those whose source prefix
// contains src (the longest such prefix wins), at the lowest metric, when
// they lead out by more than one interface.
func (a *analysis) defaultsFor(k tableKey, src netip.Addr) []Route {
	var cands []Route
	best := -1
	for _, r := range a.f.Routes {
		if r.Table != k.table || r.Type != "" || r.Dst.Bits() != 0 || r.Dst.Addr().Is6() != k.v6 {
			continue
		}
		sb := 0
		if r.Src.IsValid() {
			if !r.Src.Contains(src) {
				continue
			}
			sb = r.Src.Bits()
		}
		if sb > best {
			best, cands = sb, nil
		}
		if sb == best {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	low := cands[0].Metric
	for _, r := range cands {
		low = min(low, r.Metric)
	}
	var out []Route
	devs := map[string]bool{}
	for _, r := range cands {
		if r.Metric != low {
			continue
		}
		out = append(out, r)
		for _, nh := range r.paths() {
			devs[nh.Dev] = true
		}
	}
	// One multipath route is a deliberate spread, by a hash (and, since
	// Linux 6.12, preferring the path that holds the source address); the
	// reply check samples it. Separate routes are what races.
	if len(out) < 2 || len(devs) < 2 {
		return nil
	}
	return out
}

func describeRoutes(rs []Route) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, "; ")
}
