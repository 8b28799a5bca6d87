package netcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Route messages are parsed here rather than by the netlink library,
// because it drops RTA_SRC, the source prefix of IPv6 source-specific
// routes, without which such deliberate setups would look like competing
// default routes.

// rtnetlink constants (linux/rtnetlink.h), spelled here so that the parser
// builds and is tested on every OS.
const (
	afInet  = 2
	afInet6 = 10

	rtaDst       = 1
	rtaSrc       = 2
	rtaOif       = 4
	rtaGateway   = 5
	rtaPriority  = 6
	rtaMultipath = 9
	rtaTable     = 15
	rtaVia       = 18

	rtmFCloned = 0x200

	rtmsgLen     = 12
	rtattrLen    = 4
	rtnexthopLen = 8
)

var routeTypes = map[uint8]string{
	1: "", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
	7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat",
}

var errShort = errors.New("netcheck: route message too short")

// parseRoute decodes the payload of an RTM_NEWROUTE message (struct rtmsg
// and its attributes). ok is false for entries that are not IPv4 or IPv6
// table routes (other families, cached clones). names maps interface
// indexes to names.
func parseRoute(b []byte, names map[int]string) (r Route, ok bool, err error) {
	if len(b) < rtmsgLen {
		return r, false, errShort
	}
	family, dstLen, srcLen, table, typ := b[0], int(b[1]), int(b[2]), int(b[4]), b[7]
	flags := binary.NativeEndian.Uint32(b[8:12])
	bits := 32
	switch family {
	case afInet:
	case afInet6:
		bits = 128
	default:
		return r, false, nil
	}
	if dstLen > bits || srcLen > bits {
		return r, false, fmt.Errorf("netcheck: route message: prefix length %d/%d over %d", dstLen, srcLen, bits)
	}
	t, known := routeTypes[typ]
	if !known {
		t = fmt.Sprintf("type%d", typ)
	}
	r = Route{Table: table, Type: t}
	zero := netip.IPv4Unspecified()
	if family == afInet6 {
		zero = netip.IPv6Unspecified()
	}
	r.Dst = netip.PrefixFrom(zero, dstLen)
	err = walkAttrs(b[rtmsgLen:], func(typ uint16, v []byte) error {
		var err error
		switch typ {
		case rtaDst:
			r.Dst, err = prefixAttr(v, dstLen, bits)
		case rtaSrc:
			r.Src, err = prefixAttr(v, srcLen, bits)
		case rtaGateway:
			r.Gw, err = addrAttr(v)
		case rtaVia:
			r.Gw, err = viaAttr(v)
		case rtaOif:
			var i uint32
			i, err = u32Attr(v)
			r.Dev = ifName(names, int(i))
		case rtaPriority:
			var m uint32
			m, err = u32Attr(v)
			r.Metric = int(m)
		case rtaTable:
			var tb uint32
			tb, err = u32Attr(v)
			r.Table = int(tb)
		case rtaMultipath:
			r.Nexthops, err = parseNexthops(v, names)
		}
		return err
	})
	if err != nil {
		return Route{}, false, err
	}
	return r, flags&rtmFCloned == 0, nil
}

// walkAttrs calls f with each attribute of a netlink attribute list.
func walkAttrs(b []byte, f func(typ uint16, v []byte) error) error {
	for len(b) >= rtattrLen {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if n < rtattrLen || n > len(b) {
			return fmt.Errorf("netcheck: route attribute length %d out of %d bytes", n, len(b))
		}
		if err := f(typ, b[rtattrLen:n]); err != nil {
			return err
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			return nil
		}
		b = b[n:]
	}
	return nil
}

// parseNexthops decodes RTA_MULTIPATH: struct rtnexthop entries, each
// followed by its own attributes.
func parseNexthops(b []byte, names map[int]string) ([]Nexthop, error) {
	var out []Nexthop
	for len(b) >= rtnexthopLen {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < rtnexthopLen || n > len(b) {
			return nil, fmt.Errorf("netcheck: next hop length %d out of %d bytes", n, len(b))
		}
		nh := Nexthop{Dev: ifName(names, int(int32(binary.NativeEndian.Uint32(b[4:8]))))}
		err := walkAttrs(b[rtnexthopLen:n], func(typ uint16, v []byte) error {
			var err error
			switch typ {
			case rtaGateway:
				nh.Gw, err = addrAttr(v)
			case rtaVia:
				nh.Gw, err = viaAttr(v)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, nh)
		n = (n + 3) &^ 3
		if n > len(b) {
			break
		}
		b = b[n:]
	}
	return out, nil
}

func prefixAttr(v []byte, length, bits int) (netip.Prefix, error) {
	if len(v)*8 != bits {
		return netip.Prefix{}, fmt.Errorf("netcheck: route prefix of %d bytes in a %d-bit family", len(v), bits)
	}
	a, _ := netip.AddrFromSlice(v)
	return netip.PrefixFrom(a, length), nil
}

func addrAttr(v []byte) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(v)
	if !ok {
		return a, fmt.Errorf("netcheck: address of %d bytes", len(v))
	}
	return a.Unmap(), nil
}

// viaAttr decodes RTA_VIA (struct rtvia: family, then the address), the
// IPv6 gateway of an IPv4 route.
func viaAttr(v []byte) (netip.Addr, error) {
	if len(v) < 2 {
		return netip.Addr{}, errShort
	}
	return addrAttr(v[2:])
}

func u32Attr(v []byte) (uint32, error) {
	if len(v) < 4 {
		return 0, errShort
	}
	return binary.NativeEndian.Uint32(v[:4]), nil
}

func ifName(names map[int]string, i int) string {
	if i == 0 {
		return ""
	}
	if n, ok := names[i]; ok {
		return n
	}
	return fmt.Sprintf("if%d", i)
}
