package netcheck

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
)

// rtmsg builds a route message: struct rtmsg, then attributes.
func rtmsg(family, dstLen, srcLen, table, typ uint8, attrs ...[]byte) []byte {
	b := []byte{family, dstLen, srcLen, 0, table, 4, 0, typ, 0, 0, 0, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// attr builds one attribute, padded to four bytes.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func ip(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

// nexthop builds one struct rtnexthop with its attributes.
func nexthop(ifindex uint32, attrs ...[]byte) []byte {
	b := make([]byte, 8)
	n := 8
	for _, a := range attrs {
		n += len(a)
	}
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint32(b[4:8], ifindex)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

var names = map[int]string{1: "lo", 2: "eth0", 3: "eth1"}

func routeCases() []struct {
	name string
	msg  []byte
	want string // Route.String(), with table and type
	ok   bool
} {
	mp := append(nexthop(2, attr(rtaGateway, ip("10.0.0.1"))), nexthop(3, attr(rtaGateway, ip("10.0.1.1")))...)
	return []struct {
		name string
		msg  []byte
		want string
		ok   bool
	}{
		{"default v4", rtmsg(afInet, 0, 0, 254, 1, attr(rtaTable, u32(254)), attr(rtaGateway, ip("10.1.0.1")), attr(rtaOif, u32(2))),
			"254  default via 10.1.0.1 dev eth0", true},
		{"connected v4", rtmsg(afInet, 24, 0, 254, 1, attr(rtaDst, ip("10.1.0.0")), attr(rtaOif, u32(3)), attr(rtaPriority, u32(100))),
			"254  10.1.0.0/24 dev eth1 metric 100", true},
		{"table above 255", rtmsg(afInet, 0, 0, 252, 1, attr(rtaTable, u32(1000)), attr(rtaOif, u32(2))),
			"1000  default dev eth0", true},
		{"local", rtmsg(afInet, 32, 0, 255, 2, attr(rtaDst, ip("127.0.0.1")), attr(rtaOif, u32(1))),
			"255 local 127.0.0.1/32 dev lo", true},
		{"v6 source-specific", rtmsg(afInet6, 0, 64, 254, 1, attr(rtaSrc, ip("2001:db8:b::")), attr(rtaGateway, ip("2001:db8:b::1")), attr(rtaOif, u32(3)), attr(rtaPriority, u32(1024))),
			"254  default from 2001:db8:b::/64 via 2001:db8:b::1 dev eth1 metric 1024", true},
		{"multipath", rtmsg(afInet, 0, 0, 254, 1, attr(rtaMultipath, mp)),
			"254  default via 10.0.0.1 dev eth0 via 10.0.1.1 dev eth1", true},
		{"v4 via v6 gateway", rtmsg(afInet, 0, 0, 254, 1, attr(rtaVia, append([]byte{10, 0}, ip("fe80::1")...)), attr(rtaOif, u32(2))),
			"254  default via fe80::1 dev eth0", true},
		{"unknown interface", rtmsg(afInet, 0, 0, 254, 1, attr(rtaOif, u32(9))), "254  default dev if9", true},
		{"other family", rtmsg(28, 0, 0, 254, 1), "", false},
	}
}

func TestParseRoute(t *testing.T) {
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			r, ok, err := parseRoute(tc.msg, names)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if got := fmt.Sprintf("%d %s %s", r.Table, r.Type, r); ok && got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestParseRouteRefusesDamage(t *testing.T) {
	good := rtmsg(afInet, 24, 0, 254, 1, attr(rtaDst, ip("10.1.0.0")), attr(rtaOif, u32(3)))
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"short header", good[:11]},
		{"attribute longer than the message", good[:len(good)-4]},
		{"attribute length below its header", append(rtmsg(afInet, 0, 0, 254, 1), 2, 0, 1, 0)},
		{"prefix length over 32", rtmsg(afInet, 33, 0, 254, 1)},
		{"v6 address in a v4 route", rtmsg(afInet, 24, 0, 254, 1, attr(rtaDst, ip("2001:db8::")))},
		{"short metric", rtmsg(afInet, 0, 0, 254, 1, attr(rtaPriority, []byte{1, 2}))},
		{"short next hop", rtmsg(afInet, 0, 0, 254, 1, attr(rtaMultipath, []byte{12, 0, 0, 0, 2, 0, 0, 0}))},
		{"bad gateway", rtmsg(afInet, 0, 0, 254, 1, attr(rtaGateway, []byte{1, 2, 3}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, ok, err := parseRoute(tc.msg, names); err == nil {
				t.Errorf("no error; got %v, %v", r, ok)
			}
		})
	}
}

// FuzzParseRoute feeds damaged route messages: the parser must return an
// error or a route, never panic, and a route's prefixes must be valid.
func FuzzParseRoute(f *testing.F) {
	for _, tc := range routeCases() {
		f.Add(tc.msg)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok, err := parseRoute(b, names)
		if err != nil || !ok {
			return
		}
		if !r.Dst.IsValid() {
			t.Fatalf("route without a valid destination: %+v", r)
		}
		_ = r.String()
	})
}
