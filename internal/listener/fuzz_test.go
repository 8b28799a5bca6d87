package listener

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzInspectHead compares inspectHead with a plain reading of the head
// split into lines.
func FuzzInspectHead(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.0\nTRANSFER-ENCODING: chunked\n\n"))
	f.Add([]byte(benchHead))
	f.Fuzz(func(t *testing.T, head []byte) {
		got := inspectHead(head)
		var want headFacts
		lines := strings.Split(string(head), "\n")
		for _, line := range lines[1:] {
			if line == "" {
				continue
			}
			if line[0] == ' ' || line[0] == '\t' {
				want.fold = true
				continue
			}
			name, _, ok := strings.Cut(line, ":")
			if !ok || name == "" {
				continue
			}
			want.transferEncoding = want.transferEncoding || asciiLower(name) == "transfer-encoding"
			want.contentLength = want.contentLength || asciiLower(name) == "content-length"
		}
		if got != want {
			t.Fatalf("inspectHead(%q) = %+v, want %+v", head, got, want)
		}
	})
}

// asciiLower lowers ASCII letters only, as HTTP field names are compared.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// FuzzFindHead checks that a head found in a read starts at a line start
// with the request line and ends at its first empty line.
func FuzzFindHead(f *testing.F) {
	f.Add([]byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/2", true)
	f.Add([]byte("x\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\n\r\n0\r\n\r\n"), "POST", "/x", false)
	f.Fuzz(func(t *testing.T, buf []byte, method, target string, clean bool) {
		c := &recordingConn{last: buf, cleanEnd: clean}
		head := c.findHead(method, target)
		if head == nil {
			return
		}
		i := bytes.Index(buf, head)
		if i < 0 || i == 0 && !clean || i > 0 && buf[i-1] != '\n' {
			t.Fatalf("head %q not at a trusted line start of %q", head, buf)
		}
		if !bytes.HasPrefix(head, []byte(method+" "+target+" ")) {
			t.Fatalf("head %q does not start with the request line", head)
		}
		if !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\n\r\n")) {
			t.Fatalf("head %q does not end with an empty line", head)
		}
		if e := headEnd(head); e != len(head) {
			t.Fatalf("head %q runs past its first empty line", head)
		}
	})
}
