package netcheck

import (
	"net/netip"
	"slices"
	"testing"
)

// TestSelectConns: portier run keeps only its own sockets, the ports it
// listens on deciding the side; doctor keeps those on a configured
// listener port or to a configured upstream.
func TestSelectConns(t *testing.T) {
	ap := netip.MustParseAddrPort
	socks := []socket{
		{local: ap("[::]:8080"), inode: 1, listening: true},
		{local: ap("[::ffff:10.0.0.5]:8080"), remote: ap("[::ffff:203.0.113.7]:50000"), inode: 2},
		{local: ap("10.0.0.5:41000"), remote: ap("10.0.1.20:9000"), inode: 3},
		{local: ap("10.0.0.5:22"), remote: ap("203.0.113.8:50001"), inode: 4},   // sshd
		{local: ap("10.0.0.5:8080"), remote: ap("203.0.113.9:50002"), inode: 5}, // another process
		{local: ap("10.0.0.5:42000"), remote: ap("10.0.1.21:9000"), inode: 6},   // another process
	}
	client := Conn{Local: ap("10.0.0.5:8080"), Remote: ap("203.0.113.7:50000"), Side: SideClient}
	upstream := Conn{Local: ap("10.0.0.5:41000"), Remote: ap("10.0.1.20:9000"), Side: SideUpstream}
	other := Conn{Local: ap("10.0.0.5:8080"), Remote: ap("203.0.113.9:50002"), Side: SideClient}
	for _, tc := range []struct {
		name    string
		address string // the listener's configured address
		own     map[uint32]bool
		want    []Conn
	}{
		// ":0" in the configuration: the bound port comes from the socket.
		{name: "run", address: ":0", own: map[uint32]bool{1: true, 2: true, 3: true}, want: []Conn{client, upstream}},
		// doctor cannot tell processes apart on the same port.
		{name: "doctor", address: ":8080", want: []Conn{client, upstream, other}},
		{name: "doctor without a port", address: ":0", want: []Conn{upstream}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Scope{Listeners: []Listener{{Name: "web", Address: tc.address}}, Upstreams: []netip.AddrPort{ap("10.0.1.20:9000")}}
			if got := selectConns(s, socks, tc.own); !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}
