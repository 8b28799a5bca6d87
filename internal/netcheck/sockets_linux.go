//go:build linux

package netcheck

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpListen      = 10
)

// conns reads the TCP socket table with sock_diag (what `ss -t` reads; no
// privilege needed) and keeps the proxy's connections: with OwnSockets,
// the sockets whose inodes this process holds open (/proc/self/fd), else
// those on a listener's port or to an upstream.
func (k *kernel) conns(s Scope) ([]Conn, error) {
	var socks []socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		list, err := k.h.SocketDiagTCP(fam)
		if err != nil && len(list) == 0 {
			return nil, fmt.Errorf("netcheck: sockets: %w", err)
		}
		for _, sk := range list {
			if sk.State != tcpEstablished && sk.State != tcpListen {
				continue
			}
			l, _ := netip.AddrFromSlice(sk.ID.Source)
			r, _ := netip.AddrFromSlice(sk.ID.Destination)
			socks = append(socks, socket{
				local:     netip.AddrPortFrom(l, sk.ID.SourcePort),
				remote:    netip.AddrPortFrom(r, sk.ID.DestinationPort),
				inode:     sk.INode,
				listening: sk.State == tcpListen,
			})
		}
	}
	var own map[uint32]bool
	if s.OwnSockets {
		var err error
		if own, err = ownInodes(); err != nil {
			return nil, err
		}
	}
	return selectConns(s, socks, own), nil
}

// ownInodes are the inodes of the sockets this process has open.
func ownInodes() (map[uint32]bool, error) {
	const dir = "/proc/self/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("netcheck: own sockets: %w", err)
	}
	own := map[uint32]bool{}
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed since the listing
		}
		if ino, ok := parseSocketLink(target); ok {
			own[ino] = true
		}
	}
	return own, nil
}
