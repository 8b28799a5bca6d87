package netcheck

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// connGroup is the connections that share a finding.
type connGroup struct {
	side    string
	address string
	example Conn
	what    string // how their packets leave now: a format, see connPath
	n       int
}

// checkConns reports the proxy's established connections whose packets
// would now leave by another interface than the one holding their local
// address: the interface they came by. They stall without an error, as
// long-lived connections did when Docker attached a second network and
// moved the default route (seeds/004).
func (a *analysis) checkConns() {
	groups := map[string]*connGroup{}
	var order []string
	for _, c := range a.f.Conns {
		what, bad := a.connPath(c)
		if !bad {
			continue
		}
		address := c.Local.String()
		if c.Side == SideUpstream {
			address = c.Remote.String()
		}
		key := c.Side + " " + address + " " + what
		g := groups[key]
		if g == nil {
			g = &connGroup{side: c.Side, address: address, example: c, what: what}
			groups[key] = g
			order = append(order, key)
		}
		g.n++
	}
	for _, key := range order {
		g := groups[key]
		noun, its, they := "connection", "its", "it stalls"
		if g.n > 1 {
			noun, its, they = "connections", "their", "they stall"
		}
		came := "came in"
		if g.side == SideUpstream {
			came = "went out"
		}
		a.add(Warn, CodeConnIfaceMismatch, g.address, fmt.Sprintf(
			"%d %s %s (e.g. %s to %s) %s: %s without an error. "+
				"Restore the route, or close the %s so that clients and servers reconnect.",
			g.n, g.side, noun, g.example.Local, g.example.Remote, fmt.Sprintf(g.what, came, its), they, noun))
	}
}

// connPath says how the connection's packets would leave now, and
// whether that is wrong. The description is a format: %[1]s is "came in"
// or "went out", %[2]s "its" or "their".
func (a *analysis) connPath(c Conn) (string, bool) {
	l, r := c.Local.Addr().Unmap(), c.Remote.Addr().Unmap()
	if l.IsLoopback() || r.IsLoopback() || l.IsLinkLocalUnicast() {
		return "", false
	}
	devs := a.owners[l]
	if len(devs) == 0 {
		return "%[1]s by an address that no interface holds any more", true
	}
	if a.vip(devs) {
		return "", false
	}
	on := strings.Join(devs, ", ")
	ans := a.lookup(Query{Dst: r, Src: l})
	switch {
	case ans.Err == ErrUnreachable:
		return "%[1]s by " + on + ", but no route leads back to the peer any more", true
	case ans.Err != "", slices.Contains(devs, ans.Dev):
		return "", false
	}
	if _, ok := a.markFix(l, devs, r); ok {
		return "", false
	}
	return "%[1]s by " + on + ", but %[2]s packets now leave by " + ans.Dev + " (" + ans.String() + ")", true
}

// selectConns keeps the sockets that are the proxy's connections and says
// which side each is on. own, when not nil, is the set of this process's
// socket inodes (portier run); otherwise (portier doctor) a connection is
// the proxy's when its local port is a listener's or its peer an upstream.
func selectConns(s Scope, socks []socket, own map[uint32]bool) []Conn {
	ports := listenerPorts(s.Listeners)
	if own != nil {
		// The bound ports, which ":0" in the configuration does not say.
		for _, sk := range socks {
			if sk.listening && own[sk.inode] {
				ports[sk.local.Port()] = true
			}
		}
	}
	var out []Conn
	for _, sk := range socks {
		if sk.listening || own != nil && !own[sk.inode] {
			continue
		}
		c := Conn{Local: unmapPort(sk.local), Remote: unmapPort(sk.remote)}
		switch {
		case ports[c.Local.Port()]:
			c.Side = SideClient
		case own != nil || slices.Contains(s.Upstreams, c.Remote):
			c.Side = SideUpstream
		default:
			continue
		}
		out = append(out, c)
	}
	return out
}

// socket is an entry of the kernel's TCP socket table.
type socket struct {
	local, remote netip.AddrPort
	inode         uint32
	listening     bool
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// listenerPorts are the configured listeners' ports (0 when unknown).
func listenerPorts(ls []Listener) map[uint16]bool {
	ports := map[uint16]bool{}
	for _, l := range ls {
		if i := strings.LastIndexByte(l.Address, ':'); i >= 0 {
			if p, err := strconv.ParseUint(l.Address[i+1:], 10, 16); err == nil && p != 0 {
				ports[uint16(p)] = true
			}
		}
	}
	return ports
}

// parseSocketLink reads the inode of a /proc/PID/fd link to a socket,
// "socket:[12345]".
func parseSocketLink(s string) (uint32, bool) {
	rest, ok := strings.CutPrefix(s, "socket:[")
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}
