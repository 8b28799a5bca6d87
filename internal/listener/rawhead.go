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
// looks for the raw request head there when it needs to.

// recordingConn is a net.Conn that records which bytes its last read
// returned. It does not copy or scan them: the slice points into net/http's
// bufio buffer, which is not refilled until the server reads again, and the
// server does not read again before the handler has looked at the request
// (for the head) or the body (for body reads, synchronised by net/http's
// body mutex).
type recordingConn struct {
	net.Conn

	// The fields below ones are written by reads of more than one byte,
	// which net/http makes from the connection's serving goroutine, or from
	// a body reader it synchronises with that goroutine.

	// ones counts bytes got by one-byte reads. net/http's background read
	// (which watches for a client going away while a handler runs) reads one
	// byte from another goroutine, so it only touches this atomic counter.
	ones atomic.Uint32

	last          []byte // what the last read returned
	split         bool   // a one-byte read got a byte between the read before last and last
	cleanEnd      bool   // the read before last ended with an empty line, or there was none
	lastEndsClean bool   // last ends with an empty line
	seenOnes      uint32 // ones when split was last judged
}

func newRecordingConn(c net.Conn) *recordingConn {
	return &recordingConn{Conn: c, cleanEnd: true, lastEndsClean: true}
}

// Read reads from the connection and records the returned slice.
func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if len(p) == 1 {
		if n == 1 {
			c.ones.Add(1)
		}
		return n, err
	}
	c.last = p[:n]
	if n == 0 {
		return n, err
	}
	o := c.ones.Load()
	c.split, c.seenOnes = o != c.seenOnes, o
	// Judge how this read ends now: by the next read, net/http may have
	// reused the buffer under it.
	c.cleanEnd, c.lastEndsClean = c.lastEndsClean, endsWithEmptyLine(p[:n])
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
}

// scanHead finds, in one pass over c.last, the raw head of the request
// whose request line starts with method SP target SP, and reads its field
// lines. It reports false when the head cannot be told apart with
// certainty: it spans reads, it is not wholly in the last read, or two
// lines look like its request line.
func (c *recordingConn) scanHead(method, target string) (headFacts, bool) {
	// A head at offset 0 is trusted only if the read before ended with an
	// empty line and no out-of-band byte from a background read came between.
	return scanHead(c.last, c.cleanEnd && !c.split, method, target)
}

func scanHead(buf []byte, atStart bool, method, target string) (headFacts, bool) {
	var f headFacts
	found, inHead, fields := 0, false, 0
	pos := 0
	if !atStart {
		pos = lineAfter(buf, 0)
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
		case isRequestLine(line, method, target):
			if found++; found > 1 {
				return f, false
			}
			inHead, fields = true, next
		case !inHead:
		case len(line) == 1 || len(line) == 2 && line[0] == '\r':
			inHead = false
			f.fieldBytes = pos - fields
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
