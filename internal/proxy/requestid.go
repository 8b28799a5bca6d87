package proxy

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// idSource makes request ids: 16 hex digits, a random per-process prefix
// plus a counter, so that making one costs an atomic add and no entropy.
type idSource struct {
	prefix uint64 // random, fixed at start; the high 24 bits are used
	seq    atomic.Uint64
}

// init seeds s with a random prefix and an unpredictable start.
func (s *idSource) init() {
	var b [8]byte
	rand.Read(b[:])
	s.prefix = binary.LittleEndian.Uint64(b[:]) &^ seqMask
	s.seq.Store(binary.BigEndian.Uint64(b[:]) & 0xffff)
}

// seqMask keeps 40 bits of counter: ids repeat after 2^40 requests.
const seqMask = 1<<40 - 1

func (s *idSource) next() string { return string(s.appendNext(nil)) }

// appendNext appends a new id to b.
func (s *idSource) appendNext(b []byte) []byte {
	v := s.prefix | (s.seq.Add(1) & seqMask)
	var d [idLen]byte
	for i := idLen - 1; i >= 0; i-- {
		d[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return append(b, d[:]...)
}

// idLen is the length of a generated request id.
const idLen = 16

// validID reports whether a client-supplied request id is safe to keep:
// 1 to 128 visible ASCII characters without separators that would break a
// log line or a header list.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}
