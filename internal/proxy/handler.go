package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Options configure a Handler. The zero value forwards plain HTTP with no
// trusted proxies, no Via or Forwarded header, no body limit and no access
// log.
type Options struct {
	// Listener is the name of the listener the handler serves, for the
	// access log.
	Listener string
	// TLS says the listener speaks HTTPS; it sets X-Forwarded-Proto and
	// Forwarded proto=.
	TLS bool
	// TrustedProxies are the client networks whose own X-Forwarded-*,
	// Forwarded and X-Request-ID headers are kept. Default none: every
	// client's values are replaced.
	TrustedProxies []netip.Prefix
	// Via adds "Via: <version> portier" to requests and responses
	// (RFC 9110 §7.6.3). Default off.
	Via bool
	// Forwarded adds an RFC 7239 Forwarded header to requests. Default off.
	Forwarded bool
	// Logger is the process log; the handler adds component=proxy.
	// Default: discard.
	Logger *slog.Logger
	// AccessLog receives one line per request at level Info. Nil means no
	// access log, and no cost for it.
	AccessLog *slog.Logger
	// CloseConn, when set, is asked just before a response's headers are
	// written whether the client connection should close after it (its
	// listener is retiring); if so the response says "Connection: close".
	// Nil: never.
	CloseConn func(*http.Request) bool
	// SampleTrace decides whether a request that starts a new trace (its
	// client sent no valid traceparent) is sampled: the flag sent upstream
	// in traceparent, and whether OnSpan hears of it. A request with a
	// valid traceparent follows its client's flag. Nil: every new trace is
	// sampled.
	SampleTrace func(TraceID) bool
	// OnSpan, when set, receives every sampled request once it is
	// finished, with its attempts on servers. It runs on the request's
	// goroutine, so it must not block, and must not keep the *Span after
	// it returns. Nil: nothing is recorded, at no cost.
	OnSpan func(*Span)
	// Failures, when set, records every request answered with an error of
	// Portier's own of 500 or above, and every response a server broke
	// off. Nil: not recorded.
	Failures *FailureLog
}

// Handler forwards HTTP requests by the routing of the current Site.
type Handler struct {
	o    Options
	log  *slog.Logger
	site atomic.Pointer[Site]
	ids  idSource

	// proto is the value of X-Forwarded-Proto; via the Via values by the
	// client's protocol. Shared read-only slices, never appended to in place.
	proto []string
	via10 []string
	via11 []string
	via20 []string
	// teTrailers and connUpgrade are request header values, shared alike.
	teTrailers  []string
	connUpgrade []string
	bufs        sync.Pool // *[]byte of copyBufSize
	exchanges   sync.Pool // *exchange, see exchange.recycle
	spans       sync.Pool // *Span, see exchange.exportSpan
	tunnel      tunnels
}

const copyBufSize = 32 << 10

// NewHandler returns a handler serving site.
func NewHandler(o Options, site *Site) *Handler {
	h := &Handler{o: o}
	h.ids.init()
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	h.log = lg.With("component", "proxy")
	h.proto = []string{"http"}
	if o.TLS {
		h.proto = []string{"https"}
	}
	h.via10 = []string{"1.0 portier"}
	h.via11 = []string{"1.1 portier"}
	h.via20 = []string{"2.0 portier"}
	h.teTrailers = []string{"trailers"}
	h.connUpgrade = []string{"Upgrade"}
	h.bufs.New = func() any {
		b := make([]byte, copyBufSize)
		return &b
	}
	h.tunnel.set = make(map[io.Closer]struct{})
	h.site.Store(site)
	return h
}

// Swap makes site the routing for new requests. Requests in flight finish
// with the Site they started with.
func (h *Handler) Swap(site *Site) { h.site.Store(site) }

// CloseTunnels closes every WebSocket tunnel in progress, for shutdown:
// http.Server.Shutdown does not know hijacked connections.
func (h *Handler) CloseTunnels() { h.tunnel.closeAll() }

// Tunnels returns the number of WebSocket tunnels in progress.
func (h *Handler) Tunnels() int {
	h.tunnel.mu.Lock()
	defer h.tunnel.mu.Unlock()
	return len(h.tunnel.set)
}

// via returns the Via value for a message of the given protocol version.
func (h *Handler) via(major, minor int) []string {
	switch {
	case major == 2:
		return h.via20
	case major == 1 && minor == 0:
		return h.via10
	}
	return h.via11
}

// tunnels is the set of open WebSocket tunnels. Only upgrade requests touch
// it, so one mutex is no cost to ordinary requests.
type tunnels struct {
	mu  sync.Mutex
	set map[io.Closer]struct{} // guarded by mu
}

func (t *tunnels) add(c io.Closer) {
	t.mu.Lock()
	t.set[c] = struct{}{}
	t.mu.Unlock()
}

func (t *tunnels) remove(c io.Closer) {
	t.mu.Lock()
	delete(t.set, c)
	t.mu.Unlock()
}

func (t *tunnels) closeAll() {
	t.mu.Lock()
	all := make([]io.Closer, 0, len(t.set))
	for c := range t.set {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
