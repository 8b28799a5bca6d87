package listener

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// The ClientHello is peeked here, in the accept path, rather than in the
// router: reading it is connection handling (a deadline, a byte budget,
// bytes to hand on unchanged) like the PROXY header before it, and the
// router stays a pure name -> route table.

// ErrBadClientHello is wrapped by ReadClientHello's error for bytes that
// are not a TLS ClientHello, or one larger than maxClientHello.
var ErrBadClientHello = errors.New("clienthello: malformed")

// TLS framing (RFC 8446 §5.1, §4; RFC 6066 §3).
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	// maxRecordLen is the most a TLSPlaintext fragment may hold (2^14).
	maxRecordLen           = 1 << 14
	handshakeClientHello   = 1
	extensionServerName    = 0
	serverNameTypeHostName = 0
	// maxClientHello bounds the bytes read before the ClientHello is
	// complete, as nginx's ssl_preread does with its 16k preread buffer:
	// real ClientHellos are under 2KiB (a few KiB with post-quantum key
	// shares), and the bound is what one waiting client can cost.
	maxClientHello = 16 << 10
	// maxHostName is the longest server name accepted (RFC 6066 allows
	// 2^16-1 bytes; a DNS name has at most 253).
	maxHostName = 255
)

// ReadClientHello reads from r the TLS records that carry a ClientHello
// (RFC 8446 §4.1.2) without terminating TLS, and returns every byte it
// read, for the caller to pass on unchanged, and the server name the
// client asks for ("" when it sends none). It reads no further than the
// record that completes the ClientHello, but returns whatever that read
// brought along (0-RTT data).
//
// Errors: ErrBadClientHello (wrapped, with what is wrong) for bytes that
// are not a ClientHello or more than 16KiB of them; io.ErrUnexpectedEOF
// when r ends inside one, io.EOF when it ends before any byte; otherwise
// r's error, such as a timeout.
func ReadClientHello(r io.Reader) (raw []byte, sni string, err error) {
	buf := make([]byte, 0, 2048)
	var p helloParser
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := r.Read(buf[len(buf):min(cap(buf), maxClientHello)])
		buf = buf[:len(buf)+n]
		sni, done, perr := p.parse(buf)
		switch {
		case perr != nil:
			return buf, "", perr
		case done:
			return buf, sni, nil
		case len(buf) >= maxClientHello:
			return buf, "", fmt.Errorf("%w: more than %d bytes without a whole ClientHello", ErrBadClientHello, maxClientHello)
		case rerr == io.EOF && len(buf) == 0:
			return buf, "", io.EOF
		case rerr == io.EOF:
			return buf, "", io.ErrUnexpectedEOF
		case rerr != nil:
			return buf, "", rerr
		}
	}
}

// helloParser reads the records at the start of a growing buffer. It
// takes each whole record once, so that a client sending one-byte records
// a byte at a time costs time linear in what it sends.
type helloParser struct {
	off int    // bytes of whole records taken
	msg []byte // the handshake message so far, reassembled across records
	// owned is set once msg is a copy rather than a part of the buffer.
	owned bool
}

// parse reads the records of b past those already taken. It reports the
// server name and done once they hold a whole ClientHello, neither while
// more bytes are needed, and an error as soon as b cannot start one. b
// must begin with the bytes of every earlier call.
func (p *helloParser) parse(b []byte) (sni string, done bool, err error) {
	for {
		off := p.off
		if len(b)-off < recordHeaderLen {
			return "", false, nil
		}
		h := b[off : off+recordHeaderLen]
		n := int(h[3])<<8 | int(h[4])
		switch {
		case h[0] != recordTypeHandshake && off == 0:
			return "", false, fmt.Errorf("%w: not a TLS handshake (first byte %#02x)", ErrBadClientHello, h[0])
		case h[0] != recordTypeHandshake:
			return "", false, fmt.Errorf("%w: record of type %d inside the ClientHello", ErrBadClientHello, h[0])
		case h[1] != 3:
			return "", false, fmt.Errorf("%w: record version %d.%d", ErrBadClientHello, h[1], h[2])
		case n == 0 || n > maxRecordLen:
			return "", false, fmt.Errorf("%w: record length %d", ErrBadClientHello, n)
		}
		if len(b)-off-recordHeaderLen < n {
			return "", false, nil
		}
		frag := b[off+recordHeaderLen : off+recordHeaderLen+n]
		p.off += recordHeaderLen + n
		switch {
		case p.msg == nil && len(frag) >= 4:
			p.msg = frag // one record holds the header: no copy yet
		case p.owned:
			p.msg = append(p.msg, frag...)
		default:
			// A copy of its own, so that appending never writes into b.
			p.msg = append(append(make([]byte, 0, 2*(len(p.msg)+len(frag))), p.msg...), frag...)
			p.owned = true
		}
		msg := p.msg
		if len(msg) < 4 {
			continue
		}
		if msg[0] != handshakeClientHello {
			return "", false, fmt.Errorf("%w: handshake message of type %d, not a ClientHello", ErrBadClientHello, msg[0])
		}
		size := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
		if 4+size > maxClientHello {
			return "", false, fmt.Errorf("%w: ClientHello of %d bytes", ErrBadClientHello, size)
		}
		if len(msg) >= 4+size {
			sni, err := serverName(msg[4 : 4+size])
			return sni, err == nil, err
		}
	}
}

// serverName reads the body of a ClientHello (RFC 8446 §4.1.2, which also
// describes TLS 1.0 to 1.2's) and returns its server_name extension's
// host name, or "".
func serverName(body []byte) (string, error) {
	c := cursor{b: body}
	c.skip(2 + 32) // legacy_version, random
	c.vector(1)    // legacy_session_id
	if suites := c.vector(2); len(suites) < 2 || len(suites)%2 != 0 {
		c.fail("cipher_suites")
	}
	if methods := c.vector(1); len(methods) < 1 {
		c.fail("compression_methods")
	}
	if c.err != nil {
		return "", c.err
	}
	if len(c.b) == 0 {
		return "", nil // no extensions (TLS 1.0 to 1.2 allow that)
	}
	exts := cursor{b: c.vector(2)}
	if c.err == nil && len(c.b) > 0 {
		c.fail("bytes after the extensions")
	}
	sni, seen := "", false
	for c.err == nil && exts.err == nil && len(exts.b) > 0 {
		typ := exts.uint16()
		data := exts.vector(2)
		if exts.err != nil || typ != extensionServerName {
			continue
		}
		if seen {
			exts.fail("two server_name extensions")
			break
		}
		seen = true
		sni = hostName(&exts, data)
	}
	if c.err != nil {
		return "", c.err
	}
	return sni, exts.err
}

// hostName reads a server_name extension's ServerNameList (RFC 6066 §3)
// and returns its host_name; errors go to c.
func hostName(c *cursor, data []byte) string {
	d := cursor{b: data}
	list := cursor{b: d.vector(2)}
	if d.err != nil || len(d.b) > 0 || len(list.b) == 0 {
		c.fail("server_name list")
		return ""
	}
	name := ""
	for len(list.b) > 0 && list.err == nil {
		typ := list.uint8()
		v := list.vector(2)
		if list.err != nil || typ != serverNameTypeHostName {
			continue
		}
		if name != "" {
			c.fail("two host names")
			return ""
		}
		if len(v) == 0 || len(v) > maxHostName {
			c.fail("host name length")
			return ""
		}
		for _, ch := range v {
			if ch <= ' ' || ch >= 0x7f {
				c.fail("host name byte")
				return ""
			}
		}
		name = string(v)
	}
	if list.err != nil {
		c.fail("server_name list")
		return ""
	}
	return name
}

// cursor reads big-endian fields off a byte slice; the first overrun sets
// err and every later read returns zero values.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) fail(what string) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s", ErrBadClientHello, what)
	}
}

func (c *cursor) take(n int) []byte {
	if c.err != nil || n > len(c.b) {
		c.fail("truncated field")
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) skip(n int) { c.take(n) }

func (c *cursor) uint8() int {
	if v := c.take(1); v != nil {
		return int(v[0])
	}
	return 0
}

func (c *cursor) uint16() int {
	if v := c.take(2); v != nil {
		return int(v[0])<<8 | int(v[1])
	}
	return 0
}

// vector reads a field preceded by its length in lenBytes (1 or 2) bytes.
func (c *cursor) vector(lenBytes int) []byte {
	n := c.uint8()
	if lenBytes == 2 {
		n = n<<8 | c.uint8()
	}
	return c.take(n)
}

// peekClientHello reads conn's ClientHello within timeout and returns a
// connection that hands the bytes read to its reader first, so that they
// reach the server unchanged, and the server name.
func peekClientHello(conn net.Conn, timeout time.Duration) (net.Conn, string, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, "", err
	}
	raw, sni, err := ReadClientHello(conn)
	if err != nil {
		return nil, "", err
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, "", err
	}
	return &replayConn{Conn: conn, buf: raw}, sni, nil
}

// replayConn is a connection whose first reads return bytes already read
// from it.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		if len(c.buf) == 0 {
			c.buf = nil // let the ClientHello's bytes go
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn returns the connection underneath, for half-closing it.
func (c *replayConn) NetConn() net.Conn { return c.Conn }
