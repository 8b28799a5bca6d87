package proxy

import (
	"strings"
	"sync"
	"testing"

	"github.com/portier/portier/internal/upstream"
)

const (
	sampleTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	sampleParent = "00f067aa0ba902b7"
	sampleTP     = "00-" + sampleTrace + "-" + sampleParent + "-01"
)

var traceparentCases = []struct {
	name  string
	in    string
	ok    bool
	flags byte
}{
	{name: "valid sampled", in: sampleTP, ok: true, flags: 1},
	{name: "valid not sampled", in: "00-" + sampleTrace + "-" + sampleParent + "-00", ok: true},
	{name: "unknown flags kept as read", in: "00-" + sampleTrace + "-" + sampleParent + "-ff", ok: true, flags: 0xff},
	{name: "future version, longer", in: "cc-" + sampleTrace + "-" + sampleParent + "-01-what-the-future-holds", ok: true, flags: 1},
	{name: "future version, same length", in: "01-" + sampleTrace + "-" + sampleParent + "-01", ok: true, flags: 1},
	{name: "future version without dash after flags", in: "01-" + sampleTrace + "-" + sampleParent + "-01x"},
	{name: "version 00 too long", in: sampleTP + "-x"},
	{name: "version ff", in: "ff-" + sampleTrace + "-" + sampleParent + "-01"},
	{name: "upper case", in: "00-" + strings.ToUpper(sampleTrace) + "-" + sampleParent + "-01"},
	{name: "zero trace id", in: "00-" + strings.Repeat("0", 32) + "-" + sampleParent + "-01"},
	{name: "zero parent id", in: "00-" + sampleTrace + "-" + strings.Repeat("0", 16) + "-01"},
	{name: "short", in: "00-" + sampleTrace + "-" + sampleParent + "-1"},
	{name: "bad separator", in: "00_" + sampleTrace + "-" + sampleParent + "-01"},
	{name: "not hex", in: "00-" + sampleTrace[:31] + "g-" + sampleParent + "-01"},
	{name: "empty", in: ""},
}

func TestParseTraceparent(t *testing.T) {
	for _, tt := range traceparentCases {
		t.Run(tt.name, func(t *testing.T) {
			tr, p, f, ok := parseTraceparent(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if tr.String() != sampleTrace || p.String() != sampleParent || f != tt.flags {
				t.Errorf("got %s %s %02x", tr, p, f)
			}
			if out := string(appendTraceparent(nil, tr, p, f&flagSampled)); out[:52] != sampleTP[:52] {
				t.Errorf("written back as %q", out)
			}
		})
	}
}

func FuzzParseTraceparent(f *testing.F) {
	for _, tt := range traceparentCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, p, fl, ok := parseTraceparent(s)
		if !ok {
			return
		}
		if tr == (TraceID{}) || p.IsZero() || len(s) < traceparentLen {
			t.Fatalf("accepted %q", s)
		}
		// What was read is written back the same, lower-case as it came.
		if out := string(appendTraceparent(nil, tr, p, fl)); out[2:] != s[2:traceparentLen] {
			t.Fatalf("%q written back as %q", s, out)
		}
	})
}

// spanSink keeps the spans OnSpan is given.
type spanSink struct {
	mu    sync.Mutex
	spans []Span // guarded by mu
}

func (s *spanSink) add(sp *Span) {
	c := *sp
	c.Attempts = append([]Attempt(nil), sp.Attempts...)
	s.mu.Lock()
	s.spans = append(s.spans, c)
	s.mu.Unlock()
}

func (s *spanSink) take(t *testing.T) Span {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spans) != 1 {
		t.Fatalf("%d spans, want 1", len(s.spans))
	}
	sp := s.spans[0]
	s.spans = nil
	return sp
}

// TestTracePropagation: the server sees the client's trace with the
// proxy's attempt as its parent; without a valid traceparent a new trace
// starts and tracestate is dropped; the span handed to OnSpan matches what
// the server saw, and the access line names the trace.
func TestTracePropagation(t *testing.T) {
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	sink := &spanSink{}
	logs := newLogSink()
	h := NewHandler(Options{Listener: "web", OnSpan: sink.add, AccessLog: logs.logger()}, oneRoute(t, be))
	tests := []struct {
		name        string
		traceparent []string
		tracestate  string
		joins       bool // the client's trace is kept
	}{
		{name: "valid", traceparent: []string{sampleTP}, tracestate: "vendor=x,other=y", joins: true},
		{name: "absent", tracestate: "vendor=x"},
		{name: "invalid", traceparent: []string{"00-xyz"}, tracestate: "vendor=x"},
		{name: "two headers", traceparent: []string{sampleTP, sampleTP}, tracestate: "vendor=x"},
	}
	for _, p := range clientProtos() {
		base, c := startProxy(t, h, p.h2)
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				req := mustReq(t, "GET", base+"/x", "")
				req.Header["Traceparent"] = tt.traceparent
				req.Header.Set("Tracestate", tt.tracestate)
				e, _ := getEcho(t, c, req)
				got := e.Header.Get("Traceparent")
				tr, parent, flags, ok := parseTraceparent(got)
				if !ok || len(got) != traceparentLen || flags&flagSampled == 0 {
					t.Fatalf("upstream traceparent %q", got)
				}
				state := e.Header.Get("Tracestate")
				if tt.joins {
					if tr.String() != sampleTrace || parent.String() == sampleParent || state != tt.tracestate {
						t.Errorf("upstream saw %q, tracestate %q; want trace %s, a new parent, tracestate %q", got, state, sampleTrace, tt.tracestate)
					}
				} else if tr.String() == sampleTrace || state != "" {
					t.Errorf("upstream saw %q, tracestate %q; want a new trace and no tracestate", got, state)
				}
				sp := sink.take(t)
				if sp.TraceID != tr || len(sp.Attempts) != 1 || sp.Attempts[0].SpanID != parent || sp.SpanID == parent {
					t.Errorf("span %s/%s with attempts %+v; upstream saw %q", sp.TraceID, sp.SpanID, sp.Attempts, got)
				}
				if wantParent := ""; tt.joins {
					if sp.Parent.String() != sampleParent || sp.TraceState != tt.tracestate {
						t.Errorf("span parent %s state %q, want the client's", sp.Parent, sp.TraceState)
					}
				} else if !sp.Parent.IsZero() {
					t.Errorf("a new trace's span has parent %s, want none%s", sp.Parent, wantParent)
				}
				if sp.Status != 200 || sp.Route != "all" || sp.Backend != "b" || sp.Listener != "web" || sp.Attempts[0].Status != 200 {
					t.Errorf("span %+v", sp)
				}
				if line := logs.next(t); line[keyTraceID] != tr.String() {
					t.Errorf("access line trace_id %v, want %s", line[keyTraceID], tr)
				}
			})
		}
	}
}

// TestTraceSampling: a new trace is sampled as SampleTrace says, a joined
// one as its client says; only sampled requests reach OnSpan.
func TestTraceSampling(t *testing.T) {
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	sink := &spanSink{}
	never := func(TraceID) bool { return false }
	base, c := startProxy(t, NewHandler(Options{OnSpan: sink.add, SampleTrace: never}, oneRoute(t, be)), false)
	tests := []struct {
		name        string
		traceparent string
		sampled     bool
	}{
		{name: "new trace, sampler says no"},
		{name: "client sampled", traceparent: sampleTP, sampled: true},
		{name: "client not sampled", traceparent: sampleTP[:53] + "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustReq(t, "GET", base+"/", "")
			if tt.traceparent != "" {
				req.Header.Set("Traceparent", tt.traceparent)
			}
			e, _ := getEcho(t, c, req)
			_, _, flags, ok := parseTraceparent(e.Header.Get("Traceparent"))
			if !ok || (flags&flagSampled != 0) != tt.sampled {
				t.Errorf("upstream traceparent %q, want sampled %v", e.Header.Get("Traceparent"), tt.sampled)
			}
			sink.mu.Lock()
			n := len(sink.spans)
			sink.spans = nil
			sink.mu.Unlock()
			if (n == 1) != tt.sampled {
				t.Errorf("%d spans recorded, want sampled %v", n, tt.sampled)
			}
		})
	}
}

// TestTraceRetries: each attempt is a span of its own, and the server of
// each sees that attempt as its parent.
func TestTraceRetries(t *testing.T) {
	live := startBackend(t, echoHeaders())
	be := newBackend(t, "b", upstream.TransportOptions{}, deadAddr(t), live)
	be.Retries = 1
	sink := &spanSink{}
	base, c := startProxy(t, NewHandler(Options{OnSpan: sink.add}, oneRoute(t, be)), false)
	req := mustReq(t, "GET", base+"/", "")
	req.Header.Set("Traceparent", sampleTP)
	e, _ := getEcho(t, c, req)
	_, parent, _, _ := parseTraceparent(e.Header.Get("Traceparent"))
	sp := sink.take(t)
	if len(sp.Attempts) != 2 {
		t.Fatalf("attempts %+v, want 2", sp.Attempts)
	}
	first, second := sp.Attempts[0], sp.Attempts[1]
	if first.Reason != upstream.ReasonConnectRefused || first.Err == "" || first.Status != 0 {
		t.Errorf("first attempt %+v, want connect_refused with its error", first)
	}
	if second.SpanID != parent || first.SpanID == second.SpanID || second.Status != 200 || second.Address != live {
		t.Errorf("second attempt %+v; the server saw parent %s", second, parent)
	}
}
