package listener

import (
	"strings"
	"testing"
)

// FuzzScanHead compares scanHead with a plain reading of the buffer split
// into lines.
func FuzzScanHead(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), "POST", "/", true, -1)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), "GET", "/", true, -1)
	f.Add([]byte("x\r\n\r\nPOST /x HTTP/1.0\nTRANSFER-ENCODING: chunked\n\n0\r\n\r\n"), "POST", "/x", false, -1)
	f.Add([]byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/2", true, -1)
	f.Add([]byte(benchHead), "GET", "/api/v1/items?page=2", true, -1)
	f.Add([]byte("GET / HTTP/1.1\r\nGET / HTTP/1.1\r\n\r\n"), "GET", "/", true, -1)
	f.Add([]byte("OST /2 HTTP/1.1\r\nHost: a\r\n\r\n"), "POST", "/2", true, int('P'))
	f.Add([]byte("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/2", true, int('\n'))
	f.Fuzz(func(t *testing.T, buf []byte, method, target string, atStart bool, lead int) {
		if lead < -1 || lead > 255 || !atStart && lead >= 0 {
			return // Read gives a lead byte only with a trusted start
		}
		q := headQuery{method: method, target: target, atStart: atStart, lead: lead}
		got, gotOK := scanHead(buf, q)
		want, wantOK := referenceScan(string(buf), q)
		if gotOK != wantOK || gotOK && got != want {
			t.Fatalf("scanHead(%q, %+v) = %+v, %v; want %+v, %v", buf, q, got, gotOK, want, wantOK)
		}
	})
}

// referenceScan is scanHead written for clarity rather than speed: the
// lead byte is put in front of the buffer, which is split into lines.
func referenceScan(buf string, q headQuery) (headFacts, bool) {
	if q.lead >= 0 {
		buf = string([]byte{byte(q.lead)}) + buf
	}
	lines := strings.SplitAfter(buf, "\n")
	prefix := q.method + " " + q.target + " "
	start := -1
	for i, line := range lines {
		if (i > 0 || q.atStart) && strings.HasPrefix(line, prefix) && len(line) > len(prefix) {
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
	for i, line := range lines[start+1:] {
		if !strings.HasSuffix(line, "\n") {
			return headFacts{}, false
		}
		if line == "\n" || line == "\r\n" {
			// SplitAfter leaves "" last when buf ends with a line end.
			f.atEnd = start+1+i == len(lines)-2 && lines[len(lines)-1] == ""
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
