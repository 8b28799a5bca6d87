package netcheck

import (
	"fmt"
	"net/netip"
	"strings"
)

// Kernel routing table numbers (linux/rtnetlink.h).
const (
	TableDefault = 253
	TableMain    = 254
	TableLocal   = 255
)

// Facts is what the kernel said about one network namespace: interfaces,
// addresses, routes of every table, policy rules, reverse-path filter
// settings, the proxy's connections, and the answers to the route lookups
// the analysis asked. Its JSON form is the recorded input of the golden
// tests and can be written by hand.
type Facts struct {
	Links  []Link  `json:"links"`
	Addrs  []Addr  `json:"addrs"`
	Routes []Route `json:"routes"`
	Rules  []Rule  `json:"rules,omitempty"`
	// RPFilter is net.ipv4.conf.{all,IFACE}.rp_filter by "all" or
	// interface name; missing when it could not be read.
	RPFilter map[string]int `json:"rp_filter,omitempty"`
	Conns    []Conn         `json:"conns,omitempty"`
	Lookups  []Lookup       `json:"lookups"`
}

// Link is a network interface.
type Link struct {
	Name string `json:"name"`
	// Kind is the kernel's link type ("veth", "bridge", "dummy", ...),
	// "loopback" for lo and "device" for a plain NIC.
	Kind string `json:"kind"`
	Up   bool   `json:"up"`
}

// Addr is an address on an interface, with its prefix length.
type Addr struct {
	Dev    string       `json:"dev"`
	Prefix netip.Prefix `json:"prefix"`
}

// Route is one entry of a routing table.
type Route struct {
	Table int `json:"table"`
	// Type is "" for unicast, else "local", "broadcast", "unreachable",
	// "blackhole", "prohibit", ...
	Type string       `json:"type,omitempty"`
	Dst  netip.Prefix `json:"dst"`
	// Src is the source prefix of an IPv6 source-specific route
	// ("from 2001:db8::/64"); zero: any source.
	Src      netip.Prefix `json:"src,omitzero"`
	Gw       netip.Addr   `json:"gw,omitzero"`
	Dev      string       `json:"dev,omitempty"`
	Metric   int          `json:"metric,omitempty"`
	Nexthops []Nexthop    `json:"nexthops,omitempty"`
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Gw  netip.Addr `json:"gw,omitzero"`
	Dev string     `json:"dev,omitempty"`
}

// Rule is a policy routing rule (`ip rule`).
type Rule struct {
	Priority int          `json:"priority"`
	V6       bool         `json:"v6,omitempty"`
	Src      netip.Prefix `json:"src,omitzero"`
	Mark     uint32       `json:"mark,omitempty"`
	Table    int          `json:"table"`
}

// Conn is an established TCP connection of the proxy.
type Conn struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// Side is "client" (accepted by a listener) or "upstream" (dialled to
	// a server).
	Side string `json:"side"`
}

// Connection sides.
const (
	SideClient   = "client"
	SideUpstream = "upstream"
)

// Query is one route lookup, like `ip route get DST from SRC [iif DEV]
// [mark MARK]`. Without Iif it is the output path a reply takes; with Iif
// it is the input path of a packet arriving on Iif, rp_filter included.
type Query struct {
	Dst  netip.Addr `json:"dst"`
	Src  netip.Addr `json:"src,omitzero"`
	Iif  string     `json:"iif,omitempty"`
	Mark uint32     `json:"mark,omitempty"`
}

// Answer is the kernel's answer to a Query: the way the packet goes (Dev,
// Gw) and the table entry that matched (Table, Prefix, Metric: the
// fib-match lookup).
type Answer struct {
	// Err is "" when a route was found, else ErrUnreachable, ErrInvalid
	// or the kernel's message.
	Err    string       `json:"err,omitempty"`
	Dev    string       `json:"dev,omitempty"`
	Gw     netip.Addr   `json:"gw,omitzero"`
	Table  int          `json:"table,omitempty"`
	Prefix netip.Prefix `json:"prefix,omitzero"`
	Metric int          `json:"metric,omitempty"`
}

// Lookup errors as recorded in Answer.Err.
const (
	// ErrUnreachable: ENETUNREACH/EHOSTUNREACH; with a source that is not
	// a local address, the kernel answers this too.
	ErrUnreachable = "unreachable"
	// ErrInvalid: EINVAL/EXDEV; on the input path, a packet the kernel
	// drops (reverse-path filter, martian source).
	ErrInvalid = "invalid"
	// ErrNotRecorded: a replayed lookup that the recording lacks.
	ErrNotRecorded = "not recorded"
)

// Lookup is a query and its answer.
type Lookup struct {
	Query  Query  `json:"query"`
	Answer Answer `json:"answer"`
}

// String describes where the answer sends packets, as the route watch logs
// it: "default via 10.1.0.1 dev eth0 table 100 metric 5".
func (a Answer) String() string {
	if a.Err != "" {
		return a.Err
	}
	var b strings.Builder
	switch {
	case !a.Prefix.IsValid():
		b.WriteString("route")
	case a.Prefix.Bits() == 0:
		b.WriteString("default")
	default:
		b.WriteString(a.Prefix.String())
	}
	if a.Gw.IsValid() {
		fmt.Fprintf(&b, " via %s", a.Gw)
	}
	if a.Dev != "" {
		fmt.Fprintf(&b, " dev %s", a.Dev)
	}
	if a.Table != 0 && a.Table != TableMain {
		fmt.Fprintf(&b, " table %s", tableName(a.Table))
	}
	if a.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", a.Metric)
	}
	return b.String()
}

func tableName(t int) string {
	switch t {
	case TableMain:
		return "main"
	case TableLocal:
		return "local"
	case TableDefault:
		return "default"
	}
	return fmt.Sprint(t)
}

// String describes the route like `ip route`.
func (r Route) String() string {
	var b strings.Builder
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Src.IsValid() && r.Src.Bits() > 0 {
		fmt.Fprintf(&b, " from %s", r.Src)
	}
	for _, nh := range r.paths() {
		if nh.Gw.IsValid() {
			fmt.Fprintf(&b, " via %s", nh.Gw)
		}
		if nh.Dev != "" {
			fmt.Fprintf(&b, " dev %s", nh.Dev)
		}
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	return b.String()
}

// paths is the route's next hops: its multipath list, or its one gateway.
func (r Route) paths() []Nexthop {
	if len(r.Nexthops) > 0 {
		return r.Nexthops
	}
	return []Nexthop{{Gw: r.Gw, Dev: r.Dev}}
}

// Replay analyses recorded facts again, answering the route lookups from
// the recording (ErrNotRecorded for one it lacks).
func Replay(s Scope, f *Facts) []Finding {
	answers := map[Query]Answer{}
	for _, l := range f.Lookups {
		answers[l.Query] = l.Answer
	}
	return analyze(s, f, func(q Query) Answer {
		if a, ok := answers[q]; ok {
			return a
		}
		return Answer{Err: ErrNotRecorded}
	})
}
