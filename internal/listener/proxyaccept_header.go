package listener

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"

	"github.com/pires/go-proxyproto"
)

// proxyReason is why a connection was refused while its PROXY header was
// read.
type proxyReason uint8

const (
	reasonNone      proxyReason = iota
	reasonUntrusted             // a peer outside the trusted networks sent a signature
	reasonMissing               // a trusted peer's first bytes are no header, and one is required
	reasonTimeout               // the header, or the rest of it, did not come in time
	reasonTruncated             // the connection ended inside the header
	reasonOversized             // v1 line over 107 bytes, v2 addresses and TLVs over 4096
	reasonMalformed             // go-proxyproto refused it: version, command, family, address, port, CRLF
	numReasons
)

func (r proxyReason) String() string {
	switch r {
	case reasonUntrusted:
		return "untrusted"
	case reasonMissing:
		return "missing"
	case reasonTimeout:
		return "timeout"
	case reasonTruncated:
		return "truncated"
	case reasonOversized:
		return "oversized"
	case reasonMalformed:
		return "malformed"
	}
	return "none"
}

// ProxyCounts counts the connections a listener closed because of their
// PROXY header, by reason:
//
//	untrusted  a peer outside the trusted networks sent a header
//	missing    a trusted peer sent no header where one is required
//	timeout    no header, or not all of it, within the timeout
//	truncated  the connection ended inside the header
//	oversized  a v1 line over 107 bytes, or v2 addresses and TLVs over 4096
//	malformed  anything else the parser refuses
//
// The zero value is ready; a nil *ProxyCounts counts nothing.
type ProxyCounts struct {
	n [numReasons]atomic.Uint64
}

func (c *ProxyCounts) add(r proxyReason) {
	if c != nil {
		c.n[r].Add(1)
	}
}

// Snapshot returns every reason's count, zeros included.
func (c *ProxyCounts) Snapshot() map[string]uint64 {
	m := make(map[string]uint64, numReasons-1)
	for r := reasonNone + 1; r < numReasons; r++ {
		var v uint64
		if c != nil {
			v = c.n[r].Load()
		}
		m[r.String()] = v
	}
	return m
}

// maybeProxy reports whether a stream starting with b may start with a
// PROXY signature: "PROXY" (v1) or "\r\n\r\n\x00\r\nQUIT\n" (v2).
func maybeProxy(b byte) bool { return b == proxyproto.SIGV1[0] || b == proxyproto.SIGV2[0] }

// readProxyHeader reads the PROXY header at the start of br, if there is
// one. It returns the header; or nil and reasonNone when the stream does
// not start with a signature, having consumed nothing (with the error if
// the stream ended or failed before its first byte); or the reason to
// refuse the connection and the error behind it. A signature from an
// untrusted peer is refused before anything else of it is parsed. The
// whole header is peeked before go-proxyproto parses it, so that a slow,
// cut or oversized header is told apart from a malformed one.
func readProxyHeader(br *bufio.Reader, trusted bool) (*proxyproto.Header, proxyReason, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, reasonNone, err
	}
	version, err := sniffSignature(br)
	switch {
	case err != nil:
		return nil, ioReason(err), err
	case version == 0:
		return nil, reasonNone, nil
	case !trusted:
		return nil, reasonUntrusted, errUntrusted
	}
	if version == 1 {
		if r, err := peekV1Line(br); r != reasonNone {
			return nil, r, err
		}
	} else {
		fixed, err := br.Peek(16)
		if err != nil {
			return nil, ioReason(err), err
		}
		n := int(binary.BigEndian.Uint16(fixed[14:]))
		if n > maxProxyV2Length {
			return nil, reasonOversized, errOversized
		}
		if _, err := br.Peek(16 + n); err != nil {
			return nil, ioReason(err), err
		}
	}
	h, err := proxyproto.Read(br)
	if err != nil {
		return nil, reasonMalformed, err
	}
	return h, reasonNone, nil
}

// sniffSignature returns 1 or 2 when br starts with that version's
// signature, 0 when it does not (nothing is consumed), or the error that
// ended the stream inside a signature.
func sniffSignature(br *bufio.Reader) (int, error) {
	first, err := br.Peek(1)
	if err != nil {
		return 0, err
	}
	sig, version := proxyproto.SIGV1, 1
	switch {
	case first[0] == proxyproto.SIGV2[0]:
		sig, version = proxyproto.SIGV2, 2
	case first[0] != proxyproto.SIGV1[0]:
		return 0, nil
	}
	got, err := br.Peek(len(sig))
	if !bytes.Equal(got, sig[:len(got)]) {
		return 0, nil // not a signature, whatever else happened
	}
	if err != nil {
		return 0, err
	}
	return version, nil
}

// peekV1Line waits until the v1 line's LF is buffered, within its 107
// bytes. go-proxyproto would refuse a line that is not buffered whole.
func peekV1Line(br *bufio.Reader) (proxyReason, error) {
	for {
		buf, _ := br.Peek(br.Buffered())
		head := buf[:min(len(buf), proxyV1Max)]
		if bytes.IndexByte(head, '\n') >= 0 {
			return reasonNone, nil
		}
		if len(head) == proxyV1Max {
			return reasonOversized, errOversized
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return ioReason(err), err
		}
	}
}

// ioReason names a read error met inside a header.
func ioReason(err error) proxyReason {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return reasonTimeout
	}
	return reasonTruncated
}

// headerAddrs returns the client and destination addresses a header
// carries, or nils to keep the socket's: for LOCAL (a check from the peer
// itself), v1 UNKNOWN, and unix socket addresses.
func headerAddrs(h *proxyproto.Header) (remote, local net.Addr) {
	if h.Command.IsLocal() {
		return nil, nil
	}
	return tcpAddr(h.SourceAddr), tcpAddr(h.DestinationAddr)
}

// tcpAddr returns a as a *net.TCPAddr (the header may say UDP; the
// connection is TCP all the same), or nil if it is no IP address.
func tcpAddr(a net.Addr) net.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a
	case *net.UDPAddr:
		return &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone}
	}
	return nil
}
