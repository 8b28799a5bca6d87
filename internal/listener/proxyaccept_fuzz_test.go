package listener

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/pires/go-proxyproto"
)

// FuzzReadProxyHeader feeds arbitrary first bytes to the header reader, as
// a trusted and as an untrusted peer, and checks what it may do with them:
// never panic; take nothing from a stream it finds no header in; take no
// more than the header it returns, which go-proxyproto reads the same from
// those bytes alone; refuse any signature from an untrusted peer; and name
// a known reason for every refusal.
func FuzzReadProxyHeader(f *testing.F) {
	for _, tc := range headerCases() {
		f.Add([]byte(tc.send), tc.from == "")
	}
	f.Add(append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x31, 0, 216), true) // unix addresses, cut
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.1 1 2\r"), true)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, trusted bool) {
		br := bufio.NewReaderSize(bytes.NewReader(data), proxyBufSize)
		h, reason, err := readProxyHeader(br, trusted)
		rest, _ := io.ReadAll(br)
		consumed := data[:len(data)-len(rest)]
		switch {
		case reason >= numReasons:
			t.Fatalf("unknown reason %d", reason)
		case reason == reasonTimeout:
			t.Fatalf("timeout from a stream that never waits: %v", err)
		case reason != reasonNone && err == nil:
			t.Fatalf("refused (%s) without an error", reason)
		case reason != reasonNone && h != nil:
			t.Fatalf("refused (%s) and returned a header", reason)
		case reason == reasonNone && h == nil && len(consumed) > 0:
			t.Fatalf("no header, but %d bytes were taken", len(consumed))
		case !trusted && h != nil:
			t.Fatal("a header returned for an untrusted peer")
		case !trusted && (bytes.HasPrefix(data, proxyproto.SIGV1) || bytes.HasPrefix(data, proxyproto.SIGV2)) && reason != reasonUntrusted:
			t.Fatalf("an untrusted signature judged %s", reason)
		}
		if h == nil {
			return
		}
		if max := proxyV1Max; h.Version == 1 && len(consumed) > max {
			t.Fatalf("a v1 header of %d bytes", len(consumed))
		}
		again, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(consumed)))
		if err != nil || !again.EqualsTo(h) {
			t.Fatalf("the %d bytes taken read back as %v, %v; want %v", len(consumed), again, err, h)
		}
		remote, local := headerAddrs(h)
		if h.Command.IsLocal() && (remote != nil || local != nil) {
			t.Fatalf("a LOCAL header gave addresses %v, %v", remote, local)
		}
	})
}
