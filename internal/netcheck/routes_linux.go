//go:build linux

package netcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Check gathers the facts and analyses them.
func (c Checker) Check(ctx context.Context, s Scope) (Report, error) {
	return c.check(ctx, s, true)
}

// check runs the check; without conns it skips the socket table, which
// the route watch reads only when routes changed.
func (c Checker) check(ctx context.Context, s Scope, conns bool) (Report, error) {
	k, err := openKernel(c.NetNS)
	if err != nil {
		return Report{}, err
	}
	defer k.close()
	f, err := k.facts(s, conns)
	if err != nil {
		return Report{}, err
	}
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("netcheck: %w", err)
	}
	look := k.recorder(f)
	rep := Report{Findings: analyze(s, f, look), Facts: f}
	// The host's own default route, for the route watch.
	for _, p := range firstPerFamily(probeAddrs(s.Probes, f.Routes)) {
		look(Query{Dst: p})
	}
	return rep, nil
}

// kernel is a netlink connection to one network namespace.
type kernel struct {
	ns    netns.NsHandle // netns.None() for the process's own
	h     *netlink.Handle
	dump  *nl.NetlinkSocket // route dumps, parsed by parseRoute
	names map[int]string
}

func openKernel(path string) (*kernel, error) {
	k := &kernel{ns: netns.None()}
	if path != "" {
		ns, err := netns.GetFromPath(path)
		if err != nil {
			return nil, fmt.Errorf("netcheck: network namespace %s: %w", path, err)
		}
		k.ns = ns
	}
	h, err := netlink.NewHandleAt(k.ns, unix.NETLINK_ROUTE, unix.NETLINK_INET_DIAG)
	if err != nil {
		k.close()
		return nil, fmt.Errorf("netcheck: netlink: %w", err)
	}
	k.h = h
	if k.dump, err = nl.GetNetlinkSocketAt(k.ns, netns.None(), unix.NETLINK_ROUTE); err != nil {
		k.close()
		return nil, fmt.Errorf("netcheck: netlink: %w", err)
	}
	return k, nil
}

func (k *kernel) close() {
	if k.h != nil {
		k.h.Close()
	}
	if k.dump != nil {
		k.dump.Close()
	}
	if k.ns.IsOpen() {
		_ = k.ns.Close()
	}
}

// facts reads the tables: links, addresses, routes, rules, rp_filter and,
// for the connection check, the proxy's TCP connections.
func (k *kernel) facts(s Scope, conns bool) (*Facts, error) {
	f := &Facts{Lookups: []Lookup{}}
	links, err := k.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netcheck: interfaces: %w", err)
	}
	k.names = map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		k.names[a.Index] = a.Name
		kind := l.Type()
		if a.Flags&net.FlagLoopback != 0 {
			kind = "loopback"
		}
		f.Links = append(f.Links, Link{Name: a.Name, Kind: kind, Up: a.Flags&net.FlagUp != 0 && a.OperState != netlink.OperDown})
	}
	addrs, err := k.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("netcheck: addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		f.Addrs = append(f.Addrs, Addr{Dev: k.names[a.LinkIndex], Prefix: netip.PrefixFrom(ip.Unmap(), ones)})
	}
	if f.Routes, err = k.routes(); err != nil {
		return nil, err
	}
	if f.Rules, err = k.rules(); err != nil {
		return nil, err
	}
	f.RPFilter = k.rpFilter(f.Links)
	if conns {
		if f.Conns, err = k.conns(s); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// routes dumps every table of both families.
func (k *kernel) routes() ([]Route, error) {
	var msgs [][]byte
	var err error
	for range 3 { // a dump interrupted by a change is retried
		req := &nl.NetlinkRequest{
			NlMsghdr: unix.NlMsghdr{Len: unix.SizeofNlMsghdr, Type: unix.RTM_GETROUTE, Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP},
			Sockets:  map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: k.dump}},
		}
		req.AddData(&nl.RtMsg{RtMsg: unix.RtMsg{Family: unix.AF_UNSPEC}})
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWROUTE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("netcheck: routes: %w", err)
	}
	var out []Route
	for _, m := range msgs {
		r, ok, err := parseRoute(m, k.names)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (k *kernel) rules() ([]Rule, error) {
	var out []Rule
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := k.h.RuleList(fam)
		if err != nil {
			return nil, fmt.Errorf("netcheck: rules: %w", err)
		}
		for _, r := range rs {
			rule := Rule{Priority: r.Priority, V6: fam == netlink.FAMILY_V6, Mark: r.Mark, Table: r.Table}
			if r.Src != nil {
				if a, ok := netip.AddrFromSlice(r.Src.IP); ok {
					ones, _ := r.Src.Mask.Size()
					rule.Src = netip.PrefixFrom(a.Unmap(), ones)
				}
			}
			out = append(out, rule)
		}
	}
	return out, nil
}

// rpFilter reads net.ipv4.conf.{all,IFACE}.rp_filter in the namespace. The
// files show the namespace of the reading thread, so for another namespace
// the read runs on a thread moved there for the time of the read.
func (k *kernel) rpFilter(links []Link) map[string]int {
	m := map[string]int{}
	read := func() {
		for _, name := range append([]string{"all"}, linkNames(links)...) {
			b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + name + "/rp_filter")
			if err != nil {
				continue
			}
			if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				m[name] = v
			}
		}
	}
	if !k.ns.IsOpen() {
		read()
	} else if err := inNamespace(k.ns, read); err != nil {
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// inNamespace runs f on a locked OS thread moved into ns, then moves the
// thread back. Were that to fail, the thread stays locked and Go ends it
// with the goroutine, so no other code ever runs in ns by accident.
func inNamespace(ns netns.NsHandle, f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		f()
		if err := netns.Set(orig); err != nil {
			errc <- err
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

func linkNames(links []Link) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.Name
	}
	return out
}

// recorder answers the analysis's lookups live and records them in f.
func (k *kernel) recorder(f *Facts) func(Query) Answer {
	return func(q Query) Answer {
		ans := k.lookup(q)
		f.Lookups = append(f.Lookups, Lookup{Query: q, Answer: ans})
		return ans
	}
}

// lookup asks the kernel, like `ip route get`: the path (Dev, Gw), then
// with fib-match the table entry (Prefix, Metric, Table). With Iif it is
// the input path, where only success or failure matters.
func (k *kernel) lookup(q Query) Answer {
	o := &netlink.RouteGetOptions{Mark: q.Mark, Iif: q.Iif}
	if q.Src.IsValid() {
		o.SrcAddr = q.Src.AsSlice()
	}
	rs, err := k.h.RouteGetWithOptions(q.Dst.AsSlice(), o)
	if err != nil || len(rs) == 0 {
		return Answer{Err: lookupErr(err)}
	}
	ans := Answer{Dev: k.names[rs[0].LinkIndex], Gw: ipAddr(rs[0].Gw), Table: rs[0].Table}
	if q.Iif != "" {
		return ans
	}
	o.FIBMatch = true
	if fib, err := k.h.RouteGetWithOptions(q.Dst.AsSlice(), o); err == nil && len(fib) > 0 {
		ans.Table, ans.Metric = fib[0].Table, fib[0].Priority
		ans.Prefix = netip.PrefixFrom(unspecified(q.Dst), 0)
		if d := fib[0].Dst; d != nil {
			if a, ok := netip.AddrFromSlice(d.IP); ok {
				ones, _ := d.Mask.Size()
				ans.Prefix = netip.PrefixFrom(a.Unmap(), ones)
			}
		}
	}
	return ans
}

func lookupErr(err error) string {
	switch {
	case err == nil:
		return "no route returned"
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
		return ErrUnreachable
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EXDEV):
		return ErrInvalid
	}
	return err.Error()
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}
