package listener

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
)

// Go's HTTP/1 server hides two framing facts from a handler: it deletes
// Transfer-Encoding from an HTTP/1.0 request (and then frames the body by
// Content-Length or as empty), and it deletes Content-Length from a chunked
// request. RFC 9112 §6.1 and §6.3 call both a smuggling signal that ought to
// be an error, so on plain listeners every connection is wrapped in a
// recordingConn that remembers the slice of its last read, and the guard
// looks for the raw request head there.
//
// Finding the head must not be fooled by a body that contains text shaped
// like a request. A line in the last read is a candidate only if it follows
// a line end inside that read, or if it starts the read and the read before
// ended exactly at a request boundary: at the end of a bodyless request's
// head (the guard knows) or of a chunked body (the guard sees its end).
// Candidates must be unique; anything unclear counts as not found.

// recordingConn is a net.Conn that records which bytes its last read
// returned. It does not copy or scan them: the slice points into net/http's
// bufio buffer, which is not refilled until the server reads again, and the
// server does not read again before the handler has looked at the request
// (for the head) or the body (for body reads, synchronised by net/http's
// body mutex).
type recordingConn struct {
	net.Conn

	// ahead records one-byte reads that got a byte: their count << 8 | the
	// last byte. net/http's background read (which watches for a client going
	// away while a handler runs) makes them from another goroutine, which
	// touches nothing else; the byte it gets precedes the next read's bytes.
	ahead atomic.Uint64

	// The fields below are used by reads of more than one byte, which
	// net/http makes from the connection's serving goroutine, or from a
	// body reader it synchronises with that goroutine, and by the guard.

	last      []byte // what the last read returned
	lead      int    // the byte read ahead just before last, or -1
	trusted   bool   // last starts at a request boundary (after lead, if any)
	boundary  bool   // the bytes read so far end at a request boundary
	seenAhead uint64 // ahead when last was read
}

func newRecordingConn(c net.Conn) *recordingConn {
	return &recordingConn{Conn: c, lead: -1, boundary: true}
}

// Read reads from the connection and records the returned slice.
func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if len(p) == 1 {
		if n == 1 {
			c.ahead.Store((c.ahead.Load()>>8+1)<<8 | uint64(p[0]))
		}
		return n, err
	}
	c.last = p[:n]
	if n == 0 {
		return n, err
	}
	a := c.ahead.Load()
	got := a>>8 - c.seenAhead>>8
	c.seenAhead = a
	c.trusted, c.lead = c.boundary && got <= 1, -1
	if c.trusted && got == 1 {
		c.lead = int(byte(a))
	}
	c.boundary = false
	return n, err
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) usable by
// net/http's response writer, which looks for it on the connection.
func (c *recordingConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// Unwrap returns the connection underneath, for code that needs the
// *net.TCPConn (socket options, PROXY protocol, splice).
func (c *recordingConn) Unwrap() net.Conn { return c.Conn }

func endsWithEmptyLine(b []byte) bool {
	n := len(b)
	return n >= 2 && b[n-1] == '\n' && (b[n-2] == '\n' || n >= 3 && b[n-2] == '\r' && b[n-3] == '\n')
}

// recordingListener wraps every accepted connection in a recordingConn.
type recordingListener struct{ net.Listener }

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newRecordingConn(c), nil
}

// connKey is the context key under which ConnContext stores the
// recordingConn of a plain listener's connection.
type connKey struct{}

func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*recordingConn); ok {
		return context.WithValue(ctx, connKey{}, rc)
	}
	return ctx
}

// headFacts is what the raw head shows that the parsed request does not.
type headFacts struct {
	fieldBytes       int  // bytes of the field lines, line ends included
	fold             bool // a line starts with SP or HTAB (obs-fold, RFC 9112 §5.2)
	transferEncoding bool // a Transfer-Encoding field is present
	contentLength    bool // a Content-Length field is present
	atEnd            bool // the head ends where the read ends
}

// headQuery says what scanHead looks for.
type headQuery struct {
	method, target string // the request line starts with method SP target SP
	atStart        bool   // the buffer starts at a request boundary
	lead           int    // a byte that came just before the buffer, or -1
}

// scanHead finds, in one pass over c.last, the raw head of the request with
// this method and target, and reads its field lines. It reports false when
// the head cannot be told apart with certainty: it spans reads, it is not
// wholly in the last read, or two lines look like its request line.
func (c *recordingConn) scanHead(method, target string) (headFacts, bool) {
	return scanHead(c.last, headQuery{method: method, target: target, atStart: c.trusted, lead: c.lead})
}

func scanHead(buf []byte, q headQuery) (headFacts, bool) {
	var f headFacts
	found, inHead, fields := 0, false, 0
	pos := 0
	if !q.atStart {
		pos = lineAfter(buf, 0)
	} else if q.lead == '\n' {
		q.lead = -1 // a line end before the buffer: the buffer starts a line
	}
	for pos >= 0 && pos < len(buf) {
		next := lineAfter(buf, pos)
		if next < 0 {
			if inHead {
				return f, false // the head goes on in a later read
			}
			next = len(buf)
		}
		line := buf[pos:next]
		switch {
		case pos == 0 && q.lead >= 0 && len(q.method) > 0 && q.method[0] == byte(q.lead) &&
			isRequestLine(line, q.method[1:], q.target),
			(pos > 0 || q.lead < 0) && isRequestLine(line, q.method, q.target):
			if found++; found > 1 {
				return f, false
			}
			inHead, fields = true, next
		case !inHead:
		case len(line) == 1 || len(line) == 2 && line[0] == '\r':
			inHead = false
			f.fieldBytes = pos - fields
			f.atEnd = next == len(buf)
		default:
			inspectLine(&f, line)
		}
		pos = next
	}
	return f, found == 1 && !inHead
}

// inspectLine notes what one field line of a head shows. net/http refuses
// whitespace before the colon, so a name is always followed by ':'.
func inspectLine(f *headFacts, line []byte) {
	switch {
	case line[0] == ' ' || line[0] == '\t':
		f.fold = true
	case len(line) > 17 && line[17] == ':' && equalFoldASCII(line[:17], "transfer-encoding"):
		f.transferEncoding = true
	case len(line) > 14 && line[14] == ':' && equalFoldASCII(line[:14], "content-length"):
		f.contentLength = true
	}
}

// lineAfter returns the offset of the line after the one at pos, or -1.
func lineAfter(buf []byte, pos int) int {
	i := bytes.IndexByte(buf[pos:], '\n')
	if i < 0 {
		return -1
	}
	return pos + i + 1
}

func isRequestLine(b []byte, method, target string) bool {
	n := len(method) + 1 + len(target) + 1
	return len(b) > n && string(b[:len(method)]) == method && b[len(method)] == ' ' &&
		string(b[len(method)+1:n-1]) == target && b[n-1] == ' '
}

// equalFoldASCII reports whether b equals the lower-case ASCII string s
// without regard to case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
