package listener

import (
	"strings"
	"testing"
)

// FuzzScanHead compares scanHead with a plain reading of the buffer split
// into lines.
func FuzzScanHead(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), "POST", "/", true)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), "GET", "/", true)
	f.Add([]byte("x\r\n\r\nPOST /x HTTP/1.0\nTRANSFER-ENCODING: chunked\n\n0\r\n\r\n"), "POST", "/x", false)
	f.Add([]byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/2", true)
	f.Add([]byte(benchHead), "GET", "/api/v1/items?page=2", true)
	f.Add([]byte("GET / HTTP/1.1\r\nGET / HTTP/1.1\r\n\r\n"), "GET", "/", true)
	f.Fuzz(func(t *testing.T, buf []byte, method, target string, atStart bool) {
		got, gotOK := scanHead(buf, atStart, method, target)
		want, wantOK := referenceScan(string(buf), atStart, method, target)
		if gotOK != wantOK || gotOK && got != want {
			t.Fatalf("scanHead(%q, %v, %q, %q) = %+v, %v; want %+v, %v",
				buf, atStart, method, target, got, gotOK, want, wantOK)
		}
	})
}

// referenceScan is scanHead written for clarity rather than speed.
func referenceScan(buf string, atStart bool, method, target string) (headFacts, bool) {
	lines := strings.SplitAfter(buf, "\n")
	prefix := method + " " + target + " "
	start := -1
	for i, line := range lines {
		if (i > 0 || atStart) && strings.HasPrefix(line, prefix) && len(line) > len(prefix) {
			if start >= 0 {
				return headFacts{}, false
			}
			start = i
		}
	}
	if start < 0 {
		return headFacts{}, false
	}
	var f headFacts
	for _, line := range lines[start+1:] {
		if !strings.HasSuffix(line, "\n") {
			return headFacts{}, false
		}
		if line == "\n" || line == "\r\n" {
			return f, true
		}
		f.fieldBytes += len(line)
		if line[0] == ' ' || line[0] == '\t' {
			f.fold = true
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch asciiLower(name) {
		case "transfer-encoding":
			f.transferEncoding = true
		case "content-length":
			f.contentLength = true
		}
	}
	return headFacts{}, false
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
