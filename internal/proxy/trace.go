package proxy

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/), by hand: the
// data path propagates traceparent itself and hands finished spans to
// Options.OnSpan, so that it never imports a tracing SDK.

// TraceID identifies a trace (§3.2.2.3).
type TraceID [16]byte

// SpanID identifies a span; a traceparent's parent-id is one (§3.2.2.4).
type SpanID [8]byte

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether s is all zeros: no span.
func (s SpanID) IsZero() bool { return s == SpanID{} }

// Trace flags (§3.2.2.5): sampled, and Level 2's random trace id.
const (
	flagSampled byte = 0x01
	flagRandom  byte = 0x02
)

// traceparentLen is the length of a version 00 traceparent.
const traceparentLen = 55

// parseTraceparent reads a traceparent header value. A version other than
// 00 is read by its version 00 prefix, as §3.2.4 asks of a vendor that
// knows only 00; ff, upper-case hex and all-zero ids are invalid.
func parseTraceparent(s string) (trace TraceID, parent SpanID, flags byte, ok bool) {
	if len(s) < traceparentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace, parent, 0, false
	}
	ver, ok1 := hexByte(s[0], s[1])
	if !ok1 || ver == 0xff || (ver == 0 && len(s) != traceparentLen) ||
		(len(s) > traceparentLen && s[traceparentLen] != '-') {
		return trace, parent, 0, false
	}
	if !hexBytes(trace[:], s[3:35]) || !hexBytes(parent[:], s[36:52]) {
		return trace, parent, 0, false
	}
	flags, ok1 = hexByte(s[53], s[54])
	if !ok1 || trace == (TraceID{}) || parent.IsZero() {
		return trace, parent, 0, false
	}
	return trace, parent, flags, true
}

// hexBytes decodes lower-case hex s into dst, which is len(s)/2 long.
func hexBytes(dst []byte, s string) bool {
	for i := range dst {
		b, ok := hexByte(s[2*i], s[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexDigit(hi)
	l, ok2 := hexDigit(lo)
	return h<<4 | l, ok1 && ok2
}

// hexDigit reads a lower-case hex digit; §3.2.2 allows no other case.
func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

// appendTraceparent appends a version 00 traceparent.
func appendTraceparent(b []byte, trace TraceID, span SpanID, flags byte) []byte {
	b = append(b, '0', '0', '-')
	for _, c := range trace {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	b = append(b, '-')
	for _, c := range span {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(b, '-', hexDigits[flags>>4], hexDigits[flags&0xf])
}

// newSpanID returns a random, non-zero span id. math/rand/v2's global
// source is safe for concurrent use and takes no lock.
func newSpanID() SpanID {
	var s SpanID
	for s.IsZero() {
		putUint64(s[:], rand.Uint64())
	}
	return s
}

func newTraceID() TraceID {
	var t TraceID
	for t == (TraceID{}) {
		putUint64(t[:8], rand.Uint64())
		putUint64(t[8:], rand.Uint64())
	}
	return t
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// Span is a finished request as a trace sees it: the proxy's span, a
// child of the client's span (or the root of a new trace), with one child
// span per attempt on a server. It is handed to Options.OnSpan, which
// must not keep it after returning.
type Span struct {
	TraceID TraceID
	SpanID  SpanID
	// Parent is the client's span; zero when the request started the trace.
	Parent SpanID
	// TraceState is the client's tracestate, passed on unchanged.
	TraceState string
	Start, End time.Time

	RequestID string
	Listener  string
	Client    string // the client's address, ip:port
	Method    string
	Scheme    string // of the client's request: http or https
	Host      string
	Path      string
	Proto     string // HTTP/1.1, HTTP/2.0
	Route     string
	Backend   string
	Status    int    // answered to the client; 499 when it went away
	Reason    string // the failure class, if any
	Attempts  []Attempt
}

// Attempt is one try of a request on a server, a child of its Span. Its
// SpanID is the parent-id the server saw in traceparent.
type Attempt struct {
	SpanID     SpanID
	Server     string
	Address    string // host:port
	Start, End time.Time
	Status     int    // the server's status; 0 when it gave none
	Reason     string // the failure class, if it failed
	Err        string // the error's text, if it failed
}

// maxAttempts bounds the attempts a Span records.
const maxAttempts = 16

// traceContext is a request's place in its trace.
type traceContext struct {
	traceID TraceID
	// parent is the client's span, zero when the request starts the trace;
	// self the proxy's span for the request; attempt the span of the
	// current attempt on a server, the parent-id that server sees.
	parent, self, attempt SpanID
	flags                 byte
	// remote says the client sent a valid traceparent; only then is its
	// tracestate passed on.
	remote bool
}

// startTrace joins the client's trace, or starts one when the client sent
// no valid traceparent (§3.2: an invalid one is ignored, and tracestate
// with it). A sampled request is recorded for Options.OnSpan.
func (ex *exchange) startTrace() {
	if v := ex.r.Header[hdrTraceparent]; len(v) == 1 {
		if t, p, f, ok := parseTraceparent(v[0]); ok {
			ex.traceID, ex.parent, ex.remote = t, p, true
			ex.flags = f & (flagSampled | flagRandom)
		}
	}
	if !ex.remote {
		ex.traceID = newTraceID()
		ex.flags = flagRandom
		if s := ex.h.o.SampleTrace; s == nil || s(ex.traceID) {
			ex.flags |= flagSampled
		}
	}
	ex.self, ex.attempt = newSpanID(), newSpanID()
	if ex.flags&flagSampled != 0 && ex.h.o.OnSpan != nil {
		ex.rec, _ = ex.h.spans.Get().(*Span)
		if ex.rec == nil {
			ex.rec = &Span{Attempts: make([]Attempt, 0, 4)}
		}
	}
}

// traceHex returns the trace id in hex, a part of the traceparent value
// sent upstream.
func (ex *exchange) traceHex() string {
	if len(ex.vals) < 4 || len(ex.vals[3]) != traceparentLen {
		return ""
	}
	return ex.vals[3][3:35]
}

// addAttempt records an attempt on srv that ended at end, while the
// request is sampled.
func (ex *exchange) addAttempt(srv *upstream.Server, status int, reason string, end time.Time) {
	sp := ex.rec
	if sp == nil || len(sp.Attempts) == maxAttempts {
		return
	}
	a := Attempt{SpanID: ex.attempt, Server: srv.Name, Address: srv.Address,
		Start: ex.rtStart, End: end, Status: status, Reason: reason}
	if reason != "" && ex.lastErr != nil {
		a.Err = ex.lastErr.Err
	}
	sp.Attempts = append(sp.Attempts, a)
}

// exportSpan hands the finished, sampled request to Options.OnSpan.
func (ex *exchange) exportSpan(end time.Time) {
	sp := ex.rec
	if sp == nil {
		return
	}
	r := ex.r
	sp.TraceID, sp.SpanID, sp.Parent = ex.traceID, ex.self, ex.parent
	if ex.remote {
		sp.TraceState = strings.Join(r.Header[hdrTracestate], ",")
	}
	sp.Start, sp.End = ex.start, end
	sp.RequestID, sp.Listener, sp.Client = ex.id, ex.h.o.Listener, r.RemoteAddr
	sp.Method, sp.Scheme, sp.Host, sp.Path, sp.Proto = r.Method, ex.h.proto[0], r.Host, r.URL.Path, r.Proto
	if ex.route != nil {
		sp.Route = ex.route.Name
	}
	if ex.backend != nil {
		sp.Backend = ex.backend.Name
	}
	sp.Status, sp.Reason = ex.status, ex.reason
	ex.h.o.OnSpan(sp)
	clear(sp.Attempts)
	*sp = Span{Attempts: sp.Attempts[:0]}
	ex.h.spans.Put(sp)
	ex.rec = nil
}
