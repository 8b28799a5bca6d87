package listener

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// Loopback addresses of the peers in these tests: the load balancer is
// trusted, the other one is not.
const (
	trustedPeer = "127.0.0.1"
	otherPeer   = "127.0.0.2"
)

var trustedNet = []netip.Prefix{netip.MustParsePrefix(trustedPeer + "/32")}

// v2Header formats a v2 header of cmd from src to dst.
func v2Header(cmd proxyproto.ProtocolVersionAndCommand, src, dst string) []byte {
	s, d := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst))
	h := proxyproto.HeaderProxyFromAddrs(2, s, d)
	h.Command = cmd
	b, err := h.Format()
	if err != nil {
		panic(err)
	}
	return b
}

// v2Raw is a v2 header with the given version/command and family bytes
// and a declared length, followed by body.
func v2Raw(verCmd, family byte, length uint16, body []byte) []byte {
	b := append(append([]byte{}, proxyproto.SIGV2...), verCmd, family, 0, 0)
	binary.BigEndian.PutUint16(b[14:], length)
	return append(b, body...)
}

// headerCase is a connection's first bytes and how they are judged.
type headerCase struct {
	name    string
	send    string // what the peer sends, then it stops sending
	from    string // the peer's address; default trustedPeer
	partial bool   // the peer sends and then waits instead of ending
	// wantRemote and wantLocal are the addresses the connection reports;
	// empty: the socket's own.
	wantRemote, wantLocal string
	wantData              string // what reads return after the header
	wantReason            string // the refusal; empty: accepted
}

func headerCases() []headerCase {
	v2 := string(v2Header(proxyproto.PROXY, "192.0.2.1:56324", "198.51.100.1:443"))
	v2v6 := string(v2Header(proxyproto.PROXY, "[2001:db8::1]:40000", "[2001:db8::2]:8443"))
	local := string(v2Header(proxyproto.LOCAL, "192.0.2.1:56324", "198.51.100.1:443"))
	return []headerCase{
		{name: "v1", send: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nhello",
			wantRemote: "192.0.2.1:56324", wantLocal: "198.51.100.1:443", wantData: "hello"},
		{name: "v1 ipv6", send: "PROXY TCP6 2001:db8::1 2001:db8::2 40000 8443\r\n",
			wantRemote: "[2001:db8::1]:40000", wantLocal: "[2001:db8::2]:8443"},
		{name: "v1 unknown keeps the peer", send: "PROXY UNKNOWN\r\nping", wantData: "ping"},
		{name: "v2", send: v2 + "GET / HTTP/1.1\r\n\r\n",
			wantRemote: "192.0.2.1:56324", wantLocal: "198.51.100.1:443", wantData: "GET / HTTP/1.1\r\n\r\n"},
		{name: "v2 ipv6", send: v2v6 + "x", wantRemote: "[2001:db8::1]:40000", wantLocal: "[2001:db8::2]:8443", wantData: "x"},
		{name: "v2 with tlvs", send: string(v2Raw(0x21, 0x11, 12+7, append(
			[]byte{192, 0, 2, 9, 198, 51, 100, 1, 0x30, 0x39, 0x01, 0xbb}, 0x02, 0, 4, 'a', '.', 'e', 'x'))) + "y",
			wantRemote: "192.0.2.9:12345", wantLocal: "198.51.100.1:443", wantData: "y"},
		{name: "v2 local keeps the peer", send: local + "health", wantData: "health"},
		{name: "closed before a byte is not counted"},
		{name: "untrusted plain client", from: otherPeer, send: "GET / HTTP/1.1\r\n\r\n", wantData: "GET / HTTP/1.1\r\n\r\n"},
		{name: "untrusted client starting like a header", from: otherPeer, send: "POST / HTTP/1.1\r\n\r\n", wantData: "POST / HTTP/1.1\r\n\r\n"},
		{name: "untrusted v1", from: otherPeer, send: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nx", wantReason: "untrusted"},
		{name: "untrusted v2", from: otherPeer, send: v2, wantReason: "untrusted"},
		{name: "untrusted v2 local", from: otherPeer, send: local, wantReason: "untrusted"},
		{name: "trusted without header", send: "GET / HTTP/1.1\r\n\r\n", wantReason: "missing"},
		{name: "v1 oversized", send: "PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n", wantReason: "oversized"},
		{name: "v1 oversized without end", send: "PROXY " + strings.Repeat("x", 200), wantReason: "oversized"},
		{name: "v2 oversized", send: string(v2Raw(0x21, 0x11, 5000, nil)), wantReason: "oversized"},
		{name: "v1 garbage", send: "PROXY TCP4 not-an-ip 198.51.100.1 1 2\r\n", wantReason: "malformed"},
		{name: "v1 bad family", send: "PROXY UDP4 192.0.2.1 198.51.100.1 1 2\r\n", wantReason: "malformed"},
		{name: "v1 without cr", send: "PROXY TCP4 192.0.2.1 198.51.100.1 1 2\n", wantReason: "malformed"},
		{name: "v1 port out of range", send: "PROXY TCP4 192.0.2.1 198.51.100.1 70000 2\r\n", wantReason: "malformed"},
		{name: "v2 bad version", send: string(v2Raw(0x31, 0x11, 12, make([]byte, 12))), wantReason: "malformed"},
		{name: "v2 bad command", send: string(v2Raw(0x2f, 0x11, 12, make([]byte, 12))), wantReason: "malformed"},
		{name: "v2 length too short for ipv4", send: string(v2Raw(0x21, 0x11, 4, make([]byte, 4))), wantReason: "malformed"},
		{name: "v1 truncated", send: "PROXY TCP4 192.0.2.1", wantReason: "truncated"},
		{name: "v2 truncated signature", send: string(proxyproto.SIGV2[:7]), wantReason: "truncated"},
		{name: "v2 truncated body", send: v2[:20], wantReason: "truncated"},
		{name: "untrusted truncated signature", from: otherPeer, send: "PRO", wantReason: "truncated"},
		{name: "slow: nothing", partial: true, wantReason: "timeout"},
		{name: "slow: v1 half", send: "PROXY TCP4 192.0.2.1 ", partial: true, wantReason: "timeout"},
		{name: "slow: v2 half", send: v2[:20], partial: true, wantReason: "timeout"},
		{name: "slow: untrusted half signature", from: otherPeer, send: "\r\n\r\n", partial: true, wantReason: "timeout"},
	}
}

// accepted is what a server saw of one connection.
type accepted struct {
	remote, local string
	data          string
	err           error
}

// proxyServer serves wrapped connections on loopback: for each it reports
// the addresses the connection gives and what reading it to the end gets.
func proxyServer(t *testing.T, pa ProxyAccept) (string, *ProxyCounts, <-chan accepted) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	counts := new(ProxyCounts)
	wl := WrapProxy(ln, pa, counts)
	out := make(chan accepted, 16)
	go func() {
		for {
			c, err := wl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Addresses first, as net/http and a TCP relay ask for them.
				a := accepted{remote: c.RemoteAddr().String(), local: c.LocalAddr().String()}
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				b, err := io.ReadAll(c)
				a.data, a.err = string(b), err
				out <- a
			}()
		}
	}()
	return wl.Addr().String(), counts, out
}

// dialFrom connects to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestProxyAccept(t *testing.T) {
	for _, tc := range headerCases() {
		t.Run(tc.name, func(t *testing.T) {
			pa := ProxyAccept{Trusted: trustedNet, Required: true, Timeout: 20 * time.Second}
			if tc.partial {
				pa.Timeout = 200 * time.Millisecond
			}
			addr, counts, seen := proxyServer(t, pa)
			from := tc.from
			if from == "" {
				from = trustedPeer
			}
			c := dialFrom(t, from, addr)
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			if !tc.partial {
				_ = c.CloseWrite()
			}
			a := <-seen
			checkAccepted(t, tc, a, c)
			checkCounts(t, counts, tc.wantReason)
			if tc.wantReason != "" {
				// The client sees its connection closed, not left open.
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadAll(c); isTimeout(err) {
					t.Errorf("the refused connection was left open")
				}
			}
		})
	}
}

func checkAccepted(t *testing.T, tc headerCase, a accepted, c net.Conn) {
	t.Helper()
	wantRemote, wantLocal := tc.wantRemote, tc.wantLocal
	if wantRemote == "" {
		wantRemote = c.LocalAddr().String()
	}
	if wantLocal == "" {
		wantLocal = c.RemoteAddr().String()
	}
	if tc.wantReason != "" {
		var pe *ProxyError
		if !errors.As(a.err, &pe) || pe.Reason != tc.wantReason {
			t.Fatalf("read error %v, want a refusal for %q", a.err, tc.wantReason)
		}
		if a.data != "" {
			t.Errorf("read %q from a refused connection", a.data)
		}
		return
	}
	if a.err != nil {
		t.Fatalf("read error %v", a.err)
	}
	if a.remote != wantRemote || a.local != wantLocal {
		t.Errorf("RemoteAddr %s, LocalAddr %s; want %s, %s", a.remote, a.local, wantRemote, wantLocal)
	}
	if a.data != tc.wantData {
		t.Errorf("read %q after the header, want %q", a.data, tc.wantData)
	}
}

// checkCounts checks that reason (if any) was counted once and nothing else.
func checkCounts(t *testing.T, counts *ProxyCounts, reason string) {
	t.Helper()
	for r, n := range counts.Snapshot() {
		want := uint64(0)
		if r == reason {
			want = 1
		}
		if n != want {
			t.Errorf("count %s = %d, want %d", r, n, want)
		}
	}
	if _, ok := counts.Snapshot()[reason]; reason != "" && !ok {
		t.Errorf("Snapshot has no reason %q", reason)
	}
}

// TestProxyAcceptOptional: with Required false a trusted peer may connect
// without a header, even one that waits for the server to speak first.
func TestProxyAcceptOptional(t *testing.T) {
	pa := ProxyAccept{Trusted: trustedNet, Timeout: 100 * time.Millisecond}
	addr, counts, seen := proxyServer(t, pa)
	for _, tc := range []struct {
		name, send, wantRemote string
		wait                   bool // the peer sends nothing until the header timeout passed
	}{
		{name: "header", send: "PROXY TCP4 192.0.2.1 198.51.100.1 1000 80\r\nabc", wantRemote: "192.0.2.1:1000"},
		{name: "no header", send: "abc"},
		{name: "silent at first", send: "abc", wait: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, trustedPeer, addr)
			if tc.wait {
				// The server asks for the address first; it gets the
				// socket's once the header timeout passed without a byte.
				// Only then (three timeouts later) does this peer speak.
				buf := make([]byte, 1)
				_ = c.SetReadDeadline(time.Now().Add(3 * pa.Timeout))
				if _, err := c.Read(buf); !isTimeout(err) {
					t.Fatalf("read before speaking: %v", err)
				}
			}
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			_ = c.CloseWrite()
			a := <-seen
			want := tc.wantRemote
			if want == "" {
				want = c.LocalAddr().String()
			}
			if a.err != nil || a.remote != want || !strings.HasSuffix(a.data, "abc") {
				t.Errorf("got %+v, want remote %s and data abc", a, want)
			}
		})
	}
	checkCounts(t, counts, "")
}

// TestProxyAcceptSlowPeerBlocksNobody: while one trusted peer holds its
// connection in the middle of a header, others are accepted and served.
// (The table above shows a slow header closed when its timeout ends.)
func TestProxyAcceptSlowPeerBlocksNobody(t *testing.T) {
	pa := ProxyAccept{Trusted: trustedNet, Required: true, Timeout: time.Minute}
	addr, counts, seen := proxyServer(t, pa)
	slow := dialFrom(t, trustedPeer, addr)
	if _, err := io.WriteString(slow, "PROXY TCP4"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c := dialFrom(t, trustedPeer, addr)
		if _, err := io.WriteString(c, "PROXY TCP4 192.0.2.1 198.51.100.1 1000 80\r\nfast"); err != nil {
			t.Fatal(err)
		}
		_ = c.CloseWrite()
		if a := <-seen; a.err != nil || a.data != "fast" {
			t.Fatalf("client %d behind a slow one: %+v", i, a)
		}
	}
	// The slow peer gives up: its header ends cut short.
	_ = slow.CloseWrite()
	a := <-seen
	var pe *ProxyError
	if !errors.As(a.err, &pe) || pe.Reason != "truncated" {
		t.Fatalf("slow peer: %v, want a refusal of a truncated header", a.err)
	}
	checkCounts(t, counts, "truncated")
}

// TestProxyAcceptRelay copies a proxied connection to a server and back
// the way a TCP relay does, with io.Copy (WriteTo and ReadFrom): the bytes
// after the header arrive whole, and the reply comes back.
func TestProxyAcceptRelay(t *testing.T) {
	pa := ProxyAccept{Trusted: trustedNet, Required: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := WrapProxy(ln, pa, nil)
	t.Cleanup(func() { wl.Close() })
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upstream.Close() })
	go func() { // the server: answers with what it got, upper-cased
		c, err := upstream.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		_, _ = c.Write(bytes.ToUpper(b))
	}()
	client := make(chan string, 1)
	go func() { // the relay
		c, err := wl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		client <- c.RemoteAddr().String()
		u, err := net.Dial("tcp", upstream.Addr().String())
		if err != nil {
			return
		}
		defer u.Close()
		_, _ = io.Copy(u, c) // WriteTo
		_ = u.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(c, u) // ReadFrom
	}()
	c := dialFrom(t, trustedPeer, wl.Addr().String())
	payload := strings.Repeat("payload ", 2000)
	if _, err := io.WriteString(c, "PROXY TCP4 192.0.2.1 198.51.100.1 1000 80\r\n"+payload); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWrite()
	if got := <-client; got != "192.0.2.1:1000" {
		t.Errorf("relay saw client %s", got)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != strings.ToUpper(payload) {
		t.Errorf("reply: %d bytes, %v; want the %d bytes sent, upper-cased", len(got), err, len(payload))
	}
}

func TestProxyCountsSnapshot(t *testing.T) {
	var nilCounts *ProxyCounts
	nilCounts.add(reasonMalformed) // must not panic
	got := nilCounts.Snapshot()
	want := []string{"untrusted", "missing", "timeout", "truncated", "oversized", "malformed"}
	if len(got) != len(want) {
		t.Fatalf("Snapshot() = %v, want the reasons %v", got, want)
	}
	for _, r := range want {
		if n, ok := got[r]; !ok || n != 0 {
			t.Errorf("Snapshot()[%q] = %d, %v", r, n, ok)
		}
	}
}
