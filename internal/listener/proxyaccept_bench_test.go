package listener

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/pires/go-proxyproto"
)

// BenchmarkReadProxyHeader is the per-connection cost of judging a header
// (the reader comes from the listener's pool in real use).
func BenchmarkReadProxyHeader(b *testing.B) {
	for _, bc := range []struct {
		name    string
		header  []byte
		trusted bool
	}{
		{"v1", []byte("PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n"), true},
		{"v2", v2Header(proxyproto.PROXY, "192.0.2.1:56324", "198.51.100.1:443"), true},
		{"untrusted plain", []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := bytes.NewReader(bc.header)
			br := bufio.NewReaderSize(r, proxyBufSize)
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(bc.header)
				br.Reset(r)
				if _, reason, err := readProxyHeader(br, bc.trusted); reason != reasonNone || err != nil {
					b.Fatal(reason, err)
				}
			}
		})
	}
}
