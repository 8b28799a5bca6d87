package listener

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
)

// realClientHello returns the first flight of Go's TLS client with cfg: a
// ClientHello in one record, as a browser or curl would send it.
func realClientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		_ = tls.Client(c, cfg).Handshake()
		c.Close()
	}()
	hdr := make([]byte, recordHeaderLen)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// refragment splits the handshake message of a one-record ClientHello
// into records of at most size bytes each.
func refragment(rec []byte, size int) []byte {
	msg := rec[recordHeaderLen:]
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// goServerName is the server name crypto/tls's own server reads from
// hello, or false if it refuses the ClientHello.
func goServerName(t testing.TB, hello []byte) (string, bool) {
	t.Helper()
	c, s := net.Pipe()
	go func() {
		c.Write(hello)
		io.Copy(io.Discard, c)
	}()
	defer c.Close()
	var name string
	seen := false
	srv := tls.Server(s, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		name, seen = h.ServerName, true
		return nil, errors.New("enough")
	}})
	_ = srv.Handshake()
	s.Close()
	return name, seen
}

func TestReadClientHelloReal(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + ".test"
	tests := []struct {
		name    string
		cfg     *tls.Config
		wantSNI string
	}{
		{name: "tls 1.3", cfg: &tls.Config{ServerName: "a.test"}, wantSNI: "a.test"},
		{name: "tls 1.2 only", cfg: &tls.Config{ServerName: "b.test", MaxVersion: tls.VersionTLS12}, wantSNI: "b.test"},
		{name: "upper case kept", cfg: &tls.Config{ServerName: "Www.B.Test"}, wantSNI: "Www.B.Test"},
		{name: "long name", cfg: &tls.Config{ServerName: long}, wantSNI: long},
		{name: "ip address: no sni", cfg: &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true}},
		{name: "no name", cfg: &tls.Config{InsecureSkipVerify: true}},
		{name: "alpn", cfg: &tls.Config{ServerName: "h2.test", NextProtos: []string{"h2", "http/1.1"}}, wantSNI: "h2.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hello := realClientHello(t, tt.cfg)
			if want, ok := goServerName(t, hello); !ok || want != tt.wantSNI {
				t.Fatalf("crypto/tls reads server name %q (%v), the case wants %q", want, ok, tt.wantSNI)
			}
			readers := map[string]func([]byte) io.Reader{
				"whole":        func(b []byte) io.Reader { return bytes.NewReader(b) },
				"byte by byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
			}
			inputs := map[string][]byte{
				"one record":       hello,
				"records of 1":     refragment(hello, 1),
				"records of 100":   refragment(hello, 100),
				"with data behind": append(append([]byte{}, hello...), "early"...),
			}
			for rn, reader := range readers {
				for in, b := range inputs {
					raw, sni, err := ReadClientHello(reader(b))
					if err != nil || sni != tt.wantSNI {
						t.Errorf("%s, %s: ReadClientHello = %q, %v; want %q", in, rn, sni, err, tt.wantSNI)
					}
					if !bytes.HasPrefix(b, raw) || len(raw) < len(b)-len("early") {
						t.Errorf("%s, %s: returned %d of %d bytes read", in, rn, len(raw), len(b))
					}
				}
			}
		})
	}
}

func TestReadClientHelloErrors(t *testing.T) {
	hello := realClientHello(t, &tls.Config{ServerName: "a.test"})
	huge := []byte{recordTypeHandshake, 3, 1, 0, 4, handshakeClientHello, 0x01, 0, 0}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{name: "nothing", in: nil, want: io.EOF},
		{name: "plain http", in: []byte("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), want: ErrBadClientHello},
		{name: "sslv2 hello", in: []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, want: ErrBadClientHello},
		{name: "alert record", in: []byte{21, 3, 1, 0, 2, 2, 40}, want: ErrBadClientHello},
		{name: "record version", in: []byte{recordTypeHandshake, 2, 0, 0, 4, 1, 0, 0, 0}, want: ErrBadClientHello},
		{name: "empty record", in: []byte{recordTypeHandshake, 3, 1, 0, 0}, want: ErrBadClientHello},
		{name: "record too long", in: []byte{recordTypeHandshake, 3, 1, 0x40, 0x01}, want: ErrBadClientHello},
		{name: "server hello", in: []byte{recordTypeHandshake, 3, 3, 0, 4, 2, 0, 0, 0}, want: ErrBadClientHello},
		{name: "hello over 16KiB", in: huge, want: ErrBadClientHello},
		{name: "empty body", in: []byte{recordTypeHandshake, 3, 1, 0, 4, 1, 0, 0, 0}, want: ErrBadClientHello},
		{name: "header only", in: hello[:recordHeaderLen], want: io.ErrUnexpectedEOF},
		{name: "cut in the middle", in: hello[:len(hello)/2], want: io.ErrUnexpectedEOF},
		{name: "one byte short", in: hello[:len(hello)-1], want: io.ErrUnexpectedEOF},
		{name: "other record type after the first", in: append(refragment(hello, 10)[:15], 23, 3, 3, 0, 1, 0), want: ErrBadClientHello},
		{name: "16KiB of records without a whole hello", in: manyRecords(), want: ErrBadClientHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sni, err := ReadClientHello(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadClientHello = %q, %v; want %v", sni, err, tt.want)
			}
		})
	}
}

// manyRecords is a ClientHello header announcing 16000 bytes, delivered a
// byte a record: past 16KiB of records it is still not whole.
func manyRecords() []byte {
	out := []byte{recordTypeHandshake, 3, 1, 0, 4, handshakeClientHello, 0, 0x3e, 0x80}
	for len(out) < maxClientHello+10 {
		out = append(out, recordTypeHandshake, 3, 1, 0, 1, 0)
	}
	return out
}

// TestReadClientHelloTampered: a real ClientHello with one length field
// made to lie is refused, never read past its end.
func TestReadClientHelloTampered(t *testing.T) {
	hello := realClientHello(t, &tls.Config{ServerName: "a.test"})
	// The server_name extension: type 0, then its length, list length,
	// name type 0 and the name's length, then "a.test".
	i := bytes.Index(hello, []byte("a.test"))
	if i < 9 {
		t.Fatal("no server name in the ClientHello")
	}
	for _, tc := range []struct {
		name string
		at   int
		to   byte
	}{
		{name: "name length too long", at: i - 1, to: 200},
		{name: "list length too long", at: i - 4, to: 200},
		{name: "list length too short", at: i - 4, to: 2},
		{name: "extension length too long", at: i - 6, to: 250},
		{name: "name holds a space", at: i + 1, to: ' '},
		{name: "name holds a control byte", at: i + 1, to: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(hello)
			b[tc.at] = tc.to
			if _, sni, err := ReadClientHello(bytes.NewReader(b)); !errors.Is(err, ErrBadClientHello) {
				t.Errorf("ReadClientHello = %q, %v; want ErrBadClientHello", sni, err)
			}
		})
	}
}

// FuzzReadClientHello reads arbitrary bytes a byte at a time and all at
// once: neither may panic, both must agree, what is returned is a prefix
// of the input, and a ClientHello read is incomplete one byte shorter.
// The seeds are real ClientHellos and the error cases above.
func FuzzReadClientHello(f *testing.F) {
	for _, cfg := range []*tls.Config{
		{ServerName: "a.test"},
		{ServerName: "b.test", MaxVersion: tls.VersionTLS12},
		{InsecureSkipVerify: true},
	} {
		hello := realClientHello(f, cfg)
		f.Add(hello)
		f.Add(refragment(hello, 7))
		f.Add(hello[:len(hello)-1])
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{recordTypeHandshake, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		raw1, sni1, err1 := ReadClientHello(iotest.OneByteReader(bytes.NewReader(in)))
		raw2, sni2, err2 := ReadClientHello(bytes.NewReader(in))
		if !bytes.HasPrefix(in, raw1) || !bytes.HasPrefix(in, raw2) {
			t.Fatalf("returned bytes that were not read")
		}
		if (err1 == nil) != (err2 == nil) || sni1 != sni2 || errors.Is(err1, ErrBadClientHello) != errors.Is(err2, ErrBadClientHello) {
			t.Fatalf("byte by byte: %q, %v; whole: %q, %v", sni1, err1, sni2, err2)
		}
		if err1 != nil {
			return
		}
		if !bytes.HasPrefix(raw2, raw1) {
			t.Fatalf("byte by byte read %d bytes, not a prefix of the %d read whole", len(raw1), len(raw2))
		}
		if _, _, err := ReadClientHello(bytes.NewReader(raw1[:len(raw1)-1])); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("one byte short of a ClientHello: %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

func BenchmarkReadClientHello(b *testing.B) {
	hello := realClientHello(b, &tls.Config{ServerName: "www.b.test"})
	r := bytes.NewReader(hello)
	b.ReportAllocs()
	b.SetBytes(int64(len(hello)))
	for b.Loop() {
		r.Reset(hello)
		if _, sni, err := ReadClientHello(r); err != nil || sni != "www.b.test" {
			b.Fatal(sni, err)
		}
	}
}
