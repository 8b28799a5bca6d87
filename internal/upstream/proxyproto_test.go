package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/pires/go-proxyproto"
)

// headerCases are PROXY headers with their exact bytes, written out from
// HAProxy's proxy-protocol.txt (sections 2.1 and 2.2).
var headerCases = []struct {
	name   string
	client proxyClient
	v      ProxyVersion
	want   string // v1: the line; v2: hex
}{
	{
		name: "v1 ipv4", v: ProxyV1,
		client: proxyClient{src: ap("127.0.0.2:40000"), dst: ap("127.0.0.1:8080")},
		want:   "PROXY TCP4 127.0.0.2 127.0.0.1 40000 8080\r\n",
	},
	{
		name: "v1 ipv6", v: ProxyV1,
		client: proxyClient{src: ap("[2001:db8::1]:5"), dst: ap("[::1]:443")},
		want:   "PROXY TCP6 2001:db8::1 ::1 5 443\r\n",
	},
	{
		name: "v1 mixed families are both ipv6", v: ProxyV1,
		client: proxyClient{src: ap("192.0.2.7:1000"), dst: ap("[::1]:443")},
		want:   "PROXY TCP6 ::ffff:192.0.2.7 ::1 1000 443\r\n",
	},
	{
		name: "v1 unknown client", v: ProxyV1,
		client: proxyClient{dst: ap("127.0.0.1:8080")},
		want:   "PROXY UNKNOWN\r\n",
	},
	{
		name: "v2 ipv4", v: ProxyV2,
		client: proxyClient{src: ap("127.0.0.2:40000"), dst: ap("127.0.0.1:8080")},
		// signature, 0x21 (v2 PROXY), 0x11 (TCP over IPv4), length 12,
		// addresses, ports.
		want: "0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "7f000002" + "7f000001" + "9c40" + "1f90",
	},
	{
		name: "v2 ipv4 with sni", v: ProxyV2,
		client: proxyClient{src: ap("127.0.0.2:40000"), dst: ap("127.0.0.1:8443"), sni: "shop.example"},
		// length 12 + 3 + 12; TLV 0x02 (authority), length 12, "shop.example".
		want: "0d0a0d0a000d0a515549540a" + "21" + "11" + "001b" + "7f000002" + "7f000001" + "9c40" + "20fb" +
			"02" + "000c" + hex.EncodeToString([]byte("shop.example")),
	},
	{
		name: "v2 ipv6", v: ProxyV2,
		client: proxyClient{src: ap("[2001:db8::1]:5"), dst: ap("[::1]:443")},
		want: "0d0a0d0a000d0a515549540a" + "21" + "21" + "0024" +
			"20010db8000000000000000000000001" + "00000000000000000000000000000001" + "0005" + "01bb",
	},
	{
		name: "v2 unknown client is LOCAL", v: ProxyV2,
		client: proxyClient{sni: "ignored.example"},
		want:   "0d0a0d0a000d0a515549540a" + "20" + "00" + "0000",
	},
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestProxyHeader checks the exact bytes of each header, and that
// go-proxyproto reads back what was meant.
func TestProxyHeader(t *testing.T) {
	for _, tt := range headerCases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.client.header(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if tt.v == ProxyV2 {
				got = hex.EncodeToString(b)
			}
			if got != tt.want {
				t.Errorf("header = %q\nwant     %q", got, tt.want)
			}
			checkHeaderReads(t, b, tt.client, tt.v)
		})
	}
}

// checkHeaderReads parses b as a PROXY header and compares it with c. A
// client without both addresses must read as one without any: UNKNOWN (v1)
// or LOCAL (v2), which go-proxyproto both reads as LOCAL.
func checkHeaderReads(t *testing.T, b []byte, c proxyClient, v ProxyVersion) {
	t.Helper()
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("go-proxyproto cannot read %q: %v", b, err)
	}
	if h.Version != byte(v) {
		t.Errorf("version %d, want %d", h.Version, v)
	}
	if !c.src.IsValid() || !c.dst.IsValid() {
		if h.Command != proxyproto.LOCAL || h.TransportProtocol != proxyproto.UNSPEC {
			t.Errorf("header %q names a connection, want UNKNOWN or LOCAL", b)
		}
		return
	}
	src, dst, ok := h.TCPAddrs()
	if !ok {
		t.Fatalf("header %q has no TCP addresses", b)
	}
	if got := unmap(src.AddrPort()); got != c.src {
		t.Errorf("source %v, want %v", got, c.src)
	}
	if got := unmap(dst.AddrPort()); got != c.dst {
		t.Errorf("destination %v, want %v", got, c.dst)
	}
	if v == ProxyV2 {
		got, err := authority(h)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.sni {
			t.Errorf("authority TLV %q, want %q", got, c.sni)
		}
	}
}

// authority returns the PP2_TYPE_AUTHORITY TLV of h, or "".
func authority(h *proxyproto.Header) (string, error) {
	tlvs, err := h.TLVs()
	if err != nil {
		return "", fmt.Errorf("TLVs: %w", err)
	}
	for _, tlv := range tlvs {
		if tlv.Type == proxyproto.PP2_TYPE_AUTHORITY {
			return string(tlv.Value), nil
		}
	}
	return "", nil
}

// FuzzProxyHeader: any pair of addresses and SNI encodes to a header that
// go-proxyproto reads back as the same client.
func FuzzProxyHeader(f *testing.F) {
	for _, tt := range headerCases {
		src, dst := tt.client.src.Addr().AsSlice(), tt.client.dst.Addr().AsSlice()
		f.Add(src, tt.client.src.Port(), dst, tt.client.dst.Port(), tt.client.sni, tt.v == ProxyV2)
	}
	// The longest SNI passed on, beside the longest addresses.
	v6 := netip.IPv6Loopback().AsSlice()
	f.Add(v6, uint16(1), v6, uint16(2), strings.Repeat("a", maxSNI), true)
	f.Fuzz(func(t *testing.T, src []byte, sport uint16, dst []byte, dport uint16, sni string, v2 bool) {
		s, _ := netip.AddrFromSlice(src)
		d, _ := netip.AddrFromSlice(dst)
		c := proxyClient{src: unmap(netip.AddrPortFrom(s, sport)), dst: unmap(netip.AddrPortFrom(d, dport))}
		v := ProxyV1
		if v2 {
			v, c.sni = ProxyV2, sni
		}
		if len(c.sni) > maxSNI {
			return // clientOf leaves it out
		}
		b, err := c.header(v)
		if err != nil {
			t.Fatalf("header(%+v): %v", c, err)
		}
		checkHeaderReads(t, b, c, v)
	})
}

// TestClientOf reads the client from the fields the proxy's outgoing
// request keeps of the client's request.
func TestClientOf(t *testing.T) {
	tests := []struct {
		name   string
		remote string
		local  net.Addr
		sni    string
		v      ProxyVersion
		want   proxyClient
	}{
		{
			name: "v2 with sni", remote: "127.0.0.2:40000", sni: "shop.example", v: ProxyV2,
			local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443},
			want:  proxyClient{src: ap("127.0.0.2:40000"), dst: ap("127.0.0.1:8443"), sni: "shop.example"},
		},
		{
			name: "v1 ignores sni", remote: "127.0.0.2:40000", sni: "shop.example", v: ProxyV1,
			local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443},
			want:  proxyClient{src: ap("127.0.0.2:40000"), dst: ap("127.0.0.1:8443")},
		},
		{
			name: "ipv4 client of a dual-stack listener", remote: "192.0.2.1:5", v: ProxyV2,
			local: &net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.9"), Port: 80},
			want:  proxyClient{src: ap("192.0.2.1:5"), dst: ap("192.0.2.9:80")},
		},
		{
			name: "v2 leaves out an sni longer than a host name", remote: "127.0.0.2:40000", sni: strings.Repeat("a", maxSNI+1), v: ProxyV2,
			local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443},
			want:  proxyClient{src: ap("127.0.0.2:40000"), dst: ap("127.0.0.1:8443")},
		},
		{
			name: "no addresses", remote: "pipe", v: ProxyV2,
			want: proxyClient{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientOf(clientRequest(t, tt.remote, tt.local, tt.sni), tt.v)
			if got != tt.want {
				t.Errorf("clientOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// clientRequest is an outgoing request as the proxy makes it: carrying the
// client's RemoteAddr, TLS state and listener address.
func clientRequest(t testing.TB, remote string, local net.Addr, sni string) *http.Request {
	t.Helper()
	ctx := context.Background()
	if local != nil {
		ctx = context.WithValue(ctx, http.LocalAddrContextKey, local)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://app.example/", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RemoteAddr = remote
	if sni != "" {
		r.TLS = &tls.ConnectionState{ServerName: sni}
	}
	return r
}

func TestParseProxyVersion(t *testing.T) {
	for in, want := range map[string]ProxyVersion{"": ProxyNone, "none": ProxyNone, "v1": ProxyV1, "v2": ProxyV2} {
		got, err := ParseProxyVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseProxyVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	if _, err := ParseProxyVersion("v3"); err == nil {
		t.Error("ParseProxyVersion(v3) succeeded, want an error")
	}
}
