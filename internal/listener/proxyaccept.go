package listener

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// PROXY protocol accept (https://www.haproxy.org/download/3.0/doc/proxy-protocol.txt):
// a load balancer in front of Portier opens each connection with a header
// naming the client it stands for. go-proxyproto parses the header; this
// file decides when to believe it. Only peers in Trusted may send one: from
// anyone else a header would let a client choose its own address, so it
// closes the connection. The header is read in the connection's own
// goroutine, on its first use (net/http asks for RemoteAddr first thing, a
// TCP relay asks before it dials), never in the accept loop: one slow peer
// cannot hold up the others.

// DefaultProxyTimeout is the header timeout of a ProxyAccept whose Timeout
// is zero.
const DefaultProxyTimeout = 5 * time.Second

// maxProxyV2Length bounds the address and TLV bytes of a v2 header, as
// go-proxyproto's own default does (MaxV2HeaderSize): a few hundred bytes
// is what load balancers send.
const maxProxyV2Length = 4096

// proxyV1Max is the longest v1 header, CRLF included (spec §2.1).
const proxyV1Max = 107

// proxyBufSize holds the longest v2 header allowed, so that it can be
// peeked whole under the header deadline before it is parsed.
const proxyBufSize = 16 + maxProxyV2Length

// ProxyAccept says whose PROXY protocol headers a listener believes. The
// zero value trusts nobody: a header closes its connection.
type ProxyAccept struct {
	// Trusted are the peer networks whose header is believed. A peer
	// outside them that sends one has its connection closed. Default none.
	Trusted []netip.Prefix
	// Required closes a trusted peer's connection that does not start
	// with a header (HAProxy's accept-proxy). Default false: a trusted peer
	// may also connect without one and keeps its own address.
	Required bool
	// Timeout bounds the wait for a trusted peer's header, from the
	// connection's first use, and for the rest of anyone's header once
	// its signature has begun. Default 0: DefaultProxyTimeout.
	Timeout time.Duration
}

func (pa *ProxyAccept) trusts(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range pa.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ProxyError is why a connection was closed while its PROXY header was
// read. Reads and writes on the connection return it.
type ProxyError struct {
	// Reason is one of the reasons ProxyCounts counts.
	Reason string
	// Err is what the parser or the socket said.
	Err error
}

func (e *ProxyError) Error() string { return "proxy protocol: " + e.Reason + ": " + e.Err.Error() }
func (e *ProxyError) Unwrap() error { return e.Err }

// Errors that have no error of their own behind them.
var (
	errUntrusted = errors.New("header from a peer outside the trusted networks")
	errMissing   = errors.New("a trusted peer's connection does not start with a header")
	errOversized = errors.New("header longer than allowed")
)

// WrapProxy returns ln with the PROXY protocol accepted on each connection
// as pa says: the connections it returns report the client address a
// trusted header carries as their RemoteAddr (and its destination as
// LocalAddr), and read what follows the header. A refused header closes
// its connection, counts its reason in counts (nil: not counted), and
// makes the connection's reads and writes return a *ProxyError; Accept
// itself never blocks on a header and never fails because of one.
//
// A v2 LOCAL header (a health check from the peer itself) and a v1
// UNKNOWN one keep the socket's addresses. A peer that closes before
// sending a byte is not counted: a load balancer's connect check does that.
func WrapProxy(ln net.Listener, pa ProxyAccept, counts *ProxyCounts) net.Listener {
	if pa.Timeout <= 0 {
		pa.Timeout = DefaultProxyTimeout
	}
	pl := &proxyListener{Listener: ln, pa: pa, counts: counts}
	pl.bufs.New = func() any { return bufio.NewReaderSize(nil, proxyBufSize) }
	return pl
}

type proxyListener struct {
	net.Listener
	pa     ProxyAccept
	counts *ProxyCounts
	// bufs holds the readers a header is read through; a connection gives
	// its reader back once what it read past the header is consumed.
	bufs sync.Pool
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c, l: l, trusted: l.pa.trusts(c.RemoteAddr())}, nil
}

// proxyConn reads a PROXY header, if its peer may or must send one, before
// anything else. A trusted peer's header is read on the first Read, Write,
// RemoteAddr or LocalAddr, since all of them depend on it. An untrusted
// peer's addresses are its own and its writes need not wait, so only the
// first read looks for a header, to refuse it.
type proxyConn struct {
	net.Conn
	l       *proxyListener
	trusted bool

	// ready is set once the header is settled (read, absent, or refused).
	ready atomic.Bool
	// drained is set once nothing read past the header is left in br.
	drained atomic.Bool
	// deadline is the caller's read deadline (UnixNano; 0: none), put
	// back once the header's own deadline is no longer needed.
	deadline atomic.Int64

	mu sync.Mutex // guards the fields below; held while the header is read
	// err is why the connection was refused, for every later call.
	err error
	// br holds what was read past the header; nil once drained.
	br            *bufio.Reader
	remote, local net.Addr // from the header; nil: the socket's own
}

// settle reads the header if that has not been done yet. An untrusted
// peer's wait for its first byte is bounded by the caller's deadline only
// (a client may be slow to speak); if that deadline ends the wait, the
// error is returned and the next read waits again.
func (c *proxyConn) settle() error {
	if c.ready.Load() {
		return c.err // written before ready was set, never after
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready.Load() {
		return c.err
	}
	if c.br == nil {
		br := c.l.bufs.Get().(*bufio.Reader)
		br.Reset(c.Conn)
		c.br = br
	}
	final, err := c.readHeader()
	if !final {
		return err
	}
	c.err = err
	if err != nil || c.br.Buffered() == 0 {
		c.release()
	}
	c.ready.Store(true)
	return err
}

// release gives br back once nothing in it is left to read, or the
// connection was refused. c.mu is held.
func (c *proxyConn) release() {
	if c.br != nil {
		c.br.Reset(nil)
		c.l.bufs.Put(c.br)
		c.br = nil
	}
	if c.err == nil {
		c.drained.Store(true)
	}
}

// readHeader reads and judges the header with c.mu held. final is false
// when an untrusted peer's first byte did not come before the caller's
// deadline.
func (c *proxyConn) readHeader() (final bool, err error) {
	pa := &c.l.pa
	if c.trusted {
		_ = c.Conn.SetReadDeadline(c.headerDeadline())
		defer c.restoreDeadline()
	}
	first, err := c.br.Peek(1)
	switch {
	case err == nil:
	case isTimeout(err) && !c.trusted:
		return false, err
	case isTimeout(err) && pa.Required:
		return true, c.refuse(reasonTimeout, err)
	case isTimeout(err):
		return true, nil // an optional header did not come: none
	default:
		return true, err // closed or reset before a byte: not a refusal
	}
	if !c.trusted && maybeProxy(first[0]) {
		_ = c.Conn.SetReadDeadline(c.headerDeadline())
		defer c.restoreDeadline()
	}
	h, reason, err := readProxyHeader(c.br, c.trusted)
	switch {
	case reason != reasonNone:
		return true, c.refuse(reason, err)
	case err != nil:
		return true, err
	case h == nil && c.trusted && pa.Required:
		return true, c.refuse(reasonMissing, errMissing)
	case h != nil:
		c.remote, c.local = headerAddrs(h)
	}
	return true, nil
}

// refuse counts reason and closes the connection. c.mu is held.
func (c *proxyConn) refuse(r proxyReason, err error) error {
	c.l.counts.add(r)
	_ = c.Conn.Close()
	return &ProxyError{Reason: r.String(), Err: err}
}

// headerDeadline is when the header must have arrived: Timeout from now,
// or the caller's deadline if that is sooner.
func (c *proxyConn) headerDeadline() time.Time {
	d := time.Now().Add(c.l.pa.Timeout)
	if n := c.deadline.Load(); n != 0 && n < d.UnixNano() {
		return time.Unix(0, n)
	}
	return d
}

func (c *proxyConn) restoreDeadline() {
	var t time.Time
	if n := c.deadline.Load(); n != 0 {
		t = time.Unix(0, n)
	}
	_ = c.Conn.SetReadDeadline(t)
}

func (c *proxyConn) Read(p []byte) (int, error) {
	if c.drained.Load() {
		return c.Conn.Read(p)
	}
	if err := c.settle(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.br == nil {
		c.mu.Unlock()
		return c.Conn.Read(p)
	}
	// What is buffered comes back without touching the socket.
	n, err := c.br.Read(p)
	if c.br.Buffered() == 0 {
		c.release()
	}
	c.mu.Unlock()
	return n, err
}

// WriteTo hands what follows the header to w, and then the socket itself,
// so that io.Copy from the connection still splices.
func (c *proxyConn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if !c.drained.Load() {
		if err := c.settle(); err != nil {
			return 0, err
		}
		c.mu.Lock()
		if c.br != nil {
			buf, _ := c.br.Peek(c.br.Buffered())
			m, err := w.Write(buf)
			n = int64(m)
			c.release()
			if err != nil {
				c.mu.Unlock()
				return n, err
			}
		}
		c.mu.Unlock()
	}
	m, err := io.Copy(w, c.Conn)
	return n + m, err
}

func (c *proxyConn) Write(p []byte) (int, error) {
	if c.trusted {
		if err := c.settle(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// ReadFrom keeps the socket's own ReadFrom (sendfile, splice) usable.
func (c *proxyConn) ReadFrom(r io.Reader) (int64, error) {
	if c.trusted {
		if err := c.settle(); err != nil {
			return 0, err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// RemoteAddr is the client a trusted header names, else the peer.
func (c *proxyConn) RemoteAddr() net.Addr {
	if c.trusted && c.settle() == nil && c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// LocalAddr is the address the client connected to, as a trusted header
// names it, else the socket's.
func (c *proxyConn) LocalAddr() net.Addr {
	if c.trusted && c.settle() == nil && c.local != nil {
		return c.local
	}
	return c.Conn.LocalAddr()
}

func (c *proxyConn) SetDeadline(t time.Time) error {
	c.deadline.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *proxyConn) SetReadDeadline(t time.Time) error {
	c.deadline.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
