// Package netcheck checks that the network lets Portier answer its clients:
// `portier doctor`, the check at start-up and the route watch of
// `portier run`.
//
// It asks the kernel, over netlink, which way a reply from each listener
// address would leave, and compares that with the interface that holds the
// address (the wrong-gateway outage of seeds/000), looks for default
// routes that race each other, for strict reverse-path filtering that drops
// clients on arrival, and for established connections whose route moved
// under them (the Docker second-network case of seeds/004).
//
// The work is split in two: gathering what the kernel says into Facts
// (Linux only: routes_linux.go, sockets_linux.go) and a pure analysis of
// those Facts into Findings (every OS, tested from recorded tables in
// testdata). It imports nothing from Portier but reads plain listener
// addresses; the data path never imports it.
package netcheck

import (
	"errors"
	"net/netip"
)

// ErrUnsupported is returned where routes cannot be read (not Linux).
var ErrUnsupported = errors.New("netcheck: cannot check routes on this system")

// Listener is an address the proxy accepts connections on.
type Listener struct {
	// Name labels the listener in findings and logs.
	Name string `json:"name"`
	// Address is host:port as configured; an empty host, "0.0.0.0" or
	// "::" means every address (of that family), "localhost" loopback.
	Address string `json:"address"`
}

// Scope says what to check.
type Scope struct {
	// Listeners whose reply paths are checked.
	Listeners []Listener `json:"listeners"`
	// Upstreams are the servers' addresses: an established connection to
	// one of them is the proxy's (used by doctor, which runs beside the
	// proxy and cannot see its sockets). Default none.
	Upstreams []netip.AddrPort `json:"upstreams,omitempty"`
	// Probes are client ranges to check replies to; empty: a few public
	// addresses that only default-like routes cover.
	Probes []netip.Prefix `json:"probes,omitempty"`
	// OwnSockets limits the connection check to this process's sockets
	// (portier run); false: sockets on a listener's port or to an
	// upstream (portier doctor).
	OwnSockets bool `json:"own_sockets,omitempty"`
}

// Report is the result of one check.
type Report struct {
	// Findings, warnings first, in a stable order.
	Findings []Finding
	// Facts is what the kernel said, with the answer to every route
	// lookup the analysis made: enough to replay the analysis.
	Facts *Facts
}

// Checker reads the kernel's tables and runs the check. Everything it asks
// (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETRULE, sock_diag dumps,
// /proc/sys rp_filter, /proc/self/fd) is open to any user: it needs no
// capability.
type Checker struct {
	// NetNS is the path of the network namespace to check, like
	// /run/netns/NAME; empty: the process's own.
	NetNS string
}
