package proxy

import (
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/upstream"
)

// exchange is one request on its way through the proxy: what the access
// line reports and what the client trace callbacks need. Exchanges are
// pooled with their trace callbacks bound, which saves three allocations
// per request; see recycle for when that is safe.
type exchange struct {
	h     *Handler
	trace httptrace.ClientTrace
	// mu guards rtDone, gotConn and connect, written by client trace
	// callbacks. 1xx callbacks must not write to the client once RoundTrip
	// has returned.
	mu sync.Mutex
	exchangeState
}

// exchangeState is the per-request part of an exchange, zeroed for reuse.
type exchangeState struct {
	w     http.ResponseWriter
	r     *http.Request
	start time.Time

	id      string
	idv     []string // id as a header value, shared by request and response
	vals    []string // backing for header values set per request: one allocation
	trusted bool
	client  netip.Addr
	hasAddr bool
	sticky  string // Set-Cookie value recording a split variant, if any
	ws      bool   // the request is a WebSocket upgrade being passed on

	site     *Site
	route    *Route
	backend  *Backend
	flow     *Flow // counts the request; nil when the site has no Stats
	server   *upstream.Server
	tried    balancer.Tried
	body     *bodyReader
	attempts int
	status   int
	reason   string
	bytesOut int64
	rtStart  time.Time
	ttfb     time.Duration // until the response headers arrived
	failed   bool          // a round trip failed: do not recycle
	// lastErr is the last failed attempt; streak its server's count of
	// failed attempts in a row.
	lastErr *upstream.Failure
	streak  int
	copyErr string // why a response body broke off

	traceContext
	// rec collects the request for Options.OnSpan while it is sampled.
	rec *Span

	rtDone  bool          // guarded by mu
	gotConn bool          // guarded by mu
	newConn bool          // guarded by mu; the attempt opened a connection
	connect time.Duration // guarded by mu; until a connection was ready
}

// ServeHTTP forwards one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex, _ := h.exchanges.Get().(*exchange)
	if ex == nil {
		ex = &exchange{h: h}
		ex.trace.GotConn = ex.onGotConn
		ex.trace.Got1xxResponse = ex.on1xx
	}
	ex.w, ex.r, ex.start = w, r, time.Now()
	ex.serve()
	ex.recycle()
}

// recycle returns ex to the pool unless a transport goroutine may still
// call its trace callbacks: after a failed round trip the transport can
// still be reading that response. A successful round trip has passed every
// 1xx and GotConn callback. A panic (an aborted response) skips recycle.
func (ex *exchange) recycle() {
	if ex.failed {
		return
	}
	ex.exchangeState = exchangeState{}
	ex.h.exchanges.Put(ex)
}

func (ex *exchange) serve() {
	h, r := ex.h, ex.r
	ex.client, ex.hasAddr = clientAddr(r.RemoteAddr)
	ex.trusted = h.trusted(ex.client, ex.hasAddr)
	ex.vals = make([]string, 4)
	ex.startTrace()
	// One string holds a generated request id and the traceparent sent
	// upstream: one allocation for both.
	var buf [idLen + traceparentLen]byte
	b := buf[:0]
	if v := r.Header[hdrRequestID]; ex.trusted && len(v) == 1 && validID(v[0]) {
		ex.idv = v
	} else {
		b = h.ids.appendNext(b)
	}
	n := len(b)
	str := string(appendTraceparent(b, ex.traceID, ex.attempt, ex.flags))
	if n > 0 {
		ex.vals[0] = str[:n]
		ex.idv = ex.vals[0:1:1]
	}
	ex.vals[3] = str[n:]
	ex.id = ex.idv[0]
	ex.w.Header()[hdrRequestID] = ex.idv
	defer ex.finish()

	site := h.site.Load()
	ex.site = site
	rid, ok := -1, false
	if site != nil && site.Router != nil {
		rid, ok = site.Router.Match(r.Host, r.URL.Path, r.Method, r.Header)
	}
	if !ok || rid < 0 || rid >= len(site.Routes) || site.Routes[rid] == nil {
		if site != nil {
			ex.flow = site.unrouted
		}
		ex.fail(http.StatusNotFound, reasonNoRoute)
		return
	}
	ex.route = site.Routes[rid]
	var fi int
	ex.backend, fi = ex.pickBackend()
	if ex.backend == nil {
		ex.flow = ex.route.none
		ex.fail(http.StatusServiceUnavailable, reasonNoHealthyServer)
		return
	}
	if fi < len(ex.route.flows) {
		ex.flow = ex.route.flows[fi]
	}
	ex.forward()
}

// forward sends the request to a server of the backend, retrying on others
// where that is safe, and relays the answer.
func (ex *exchange) forward() {
	be := ex.backend
	out := ex.outgoing()
	key := hashKey(be, ex.r)
	for {
		srv := be.Balancer.Pick(key, &ex.tried)
		if srv == nil {
			if ex.attempts == 0 {
				ex.fail(http.StatusServiceUnavailable, reasonNoHealthyServer)
			} else {
				ex.fail(ex.status, ex.reason)
			}
			return
		}
		ex.tried.Add(srv)
		ex.attempts++
		ex.server = srv
		res, err := ex.roundTrip(out, srv)
		if err == nil {
			if be.Observe != nil {
				bad := be.Count5xx && res.StatusCode >= 500
				be.Observe(srv, !bad, statusReason(res.StatusCode, bad))
			}
			ex.respond(res, srv)
			return
		}
		status, reason, retry := ex.classify(err)
		ex.status, ex.reason = status, reason
		clientFault := reason == reasonBadRequestBody || reason == reasonBodyTooLarge || reason == reasonClientClosed
		if be.Observe != nil && !clientFault {
			be.Observe(srv, false, reason)
		}
		ex.attemptFailed(srv, reason, err, clientFault)
		if !retry || ex.attempts > be.Retries {
			ex.fail(status, reason)
			return
		}
		// A fresh copy: the transport may still hold the last one, its
		// header map included; the next attempt is a span of its own.
		next, u := *out, *out.URL
		next.URL = &u
		next.Header = maps.Clone(out.Header)
		ex.attempt = newSpanID()
		next.Header[hdrTraceparent] = []string{string(appendTraceparent(nil, ex.traceID, ex.attempt, ex.flags))}
		out = &next
	}
}

// outgoing builds the request to send upstream: a shallow copy of the
// client's request with its own URL and header map; header values are
// shared with the client's request and never written in place.
func (ex *exchange) outgoing() *http.Request {
	r, h := ex.r, ex.h
	out := r.WithContext(httptrace.WithClientTrace(r.Context(), &ex.trace))
	out.RequestURI = ""
	out.Close = false
	out.URL = ex.upstreamURL()

	hdr := make(http.Header, len(r.Header)+6)
	copyEndToEnd(hdr, r.Header)
	if hasToken(r.Header[hdrTE], "trailers") {
		hdr[hdrTE] = h.teTrailers // gRPC needs it (RFC 9110 §10.1.4)
	}
	// Only a WebSocket upgrade is passed on, and only where the client's
	// protocol can switch: HTTP/2 has no Upgrade (RFC 9113 §8.6), and an
	// h2c or other upgrade is forwarded as a plain request.
	if r.ProtoMajor == 1 && isWebSocketUpgrade(r.Header) {
		ex.ws = true
		hdr[hdrConnection] = h.connUpgrade
		hdr[hdrUpgrade] = r.Header[hdrUpgrade]
	}
	hdr[hdrRequestID] = ex.idv
	hdr[hdrTraceparent] = ex.vals[3:4:4]
	if !ex.remote {
		// tracestate belongs to the traceparent it came with (§3.3).
		delete(hdr, hdrTracestate)
	}
	ex.setForwarded(hdr)
	if h.o.Via {
		if prior := r.Header[hdrVia]; len(prior) > 0 {
			hdr[hdrVia] = appendValue(prior, h.via(r.ProtoMajor, r.ProtoMinor)[0])
		} else {
			hdr[hdrVia] = h.via(r.ProtoMajor, r.ProtoMinor)
		}
	}
	out.Header = hdr

	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		out.Body = nil
	default:
		// The listener limits the body (max_body_bytes); its
		// *http.MaxBytesError is answered 413 body_too_large here.
		ex.body = &bodyReader{rc: r.Body}
		out.Body = ex.body
		if r.ProtoMajor == 1 {
			// Let the answer stream while the upload still does.
			_ = http.NewResponseController(ex.w).EnableFullDuplex()
		}
	}
	return out
}

// setForwarded sets X-Forwarded-For/-Proto/-Host and, when configured,
// Forwarded. A client's own values are kept (and extended) only when it is a
// trusted proxy; otherwise they are replaced, so that nobody can forge them.
func (ex *exchange) setForwarded(hdr http.Header) {
	r, h := ex.r, ex.h
	ip := clientHost(r.RemoteAddr)
	if prior := r.Header[hdrXFF]; ex.trusted && len(prior) > 0 {
		hdr[hdrXFF] = []string{strings.Join(prior, ", ") + ", " + ip}
	} else {
		ex.vals[1] = ip
		hdr[hdrXFF] = ex.vals[1:2:2]
	}
	if !ex.trusted || len(hdr[hdrXFProto]) == 0 {
		hdr[hdrXFProto] = h.proto
	}
	if !ex.trusted || len(hdr[hdrXFHost]) == 0 {
		ex.vals[2] = r.Host
		hdr[hdrXFHost] = ex.vals[2:3:3]
	}
	if !ex.trusted {
		delete(hdr, hdrForwarded)
	}
	if h.o.Forwarded {
		elem := forwardedElem(ex.client, ex.hasAddr, r.Host, h.proto[0])
		hdr[hdrForwarded] = appendValue(hdr[hdrForwarded], elem)
	}
}

// roundTrip sends out to srv.
func (ex *exchange) roundTrip(out *http.Request, srv *upstream.Server) (*http.Response, error) {
	out.URL.Host = srv.Address
	out.Host = ex.r.Host
	if !ex.backend.PreserveHost {
		out.Host = srv.Address
	}
	ex.mu.Lock()
	ex.rtDone, ex.gotConn, ex.newConn = false, false, false
	ex.rtStart = time.Now()
	ex.mu.Unlock()
	srv.Acquire()
	res, err := srv.Transport.RoundTrip(out)
	ex.ttfb = time.Since(ex.rtStart)
	ex.mu.Lock()
	ex.rtDone = true
	newConn, connect := ex.newConn, ex.connect
	ex.mu.Unlock()
	if f := ex.flow; f != nil {
		if newConn {
			f.Connect.Observe(connect)
		}
		if err == nil {
			f.FirstByte.Observe(ex.ttfb)
		}
	}
	if err != nil {
		ex.failed = true
		srv.Release()
		srv.CountResponse(0)
	} else {
		srv.CountResponse(res.StatusCode)
	}
	return res, err
}

func (ex *exchange) onGotConn(info httptrace.GotConnInfo) {
	ex.mu.Lock()
	ex.gotConn = true
	ex.newConn = !info.Reused
	ex.connect = time.Since(ex.rtStart)
	ex.mu.Unlock()
}

// on1xx relays an informational response (100 Continue, 103 Early Hints)
// to the client with its own headers, then restores the headers prepared
// for the final response.
func (ex *exchange) on1xx(code int, header textproto.MIMEHeader) error {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.rtDone {
		return nil
	}
	wh := ex.w.Header()
	saved := maps.Clone(wh)
	clear(wh)
	copyEndToEnd(wh, http.Header(header))
	ex.w.WriteHeader(code)
	clear(wh)
	maps.Copy(wh, saved)
	return nil
}

// classify names a failed round trip: the status to answer, the reason, and
// whether another server may be tried.
func (ex *exchange) classify(err error) (status int, reason string, retry bool) {
	if berr := ex.body.readErr(); berr != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](berr); ok {
			return http.StatusRequestEntityTooLarge, reasonBodyTooLarge, false
		}
		return http.StatusBadRequest, reasonBadRequestBody, false
	}
	if ex.r.Context().Err() != nil {
		return statusClientClosed, reasonClientClosed, false
	}
	unsent := ex.body == nil || ex.body.n.Load() == 0
	if de, ok := errors.AsType[*upstream.DialError](err); ok {
		return http.StatusBadGateway, de.Reason, unsent
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		ex.mu.Lock()
		gotConn := ex.gotConn
		ex.mu.Unlock()
		if !gotConn {
			// TLS handshake: the request was not sent.
			return http.StatusBadGateway, upstream.ReasonConnectTimeout, unsent
		}
		return http.StatusGatewayTimeout, reasonResponseTimeout, false
	}
	return http.StatusBadGateway, reasonUpstreamReset, ex.body == nil && idempotent(ex.r.Method)
}

// idempotent reports whether a method may be repeated (RFC 9110 §9.2.2).
func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// fail answers the request with an error of its own making: the status,
// the reason in a header and a page naming the reason and the request id
// (see errorpage.go). A client that went away gets nothing.
func (ex *exchange) fail(status int, reason string) {
	ex.status, ex.reason = status, reason
	if status == statusClientClosed {
		return
	}
	p := ex.page(status, reason)
	f := negotiate(ex.r.Header["Accept"])
	var body string
	switch f {
	case pageHTML:
		body = p.html()
	case pageJSON:
		body = p.json()
	default:
		body = p.text()
	}
	wh := ex.w.Header()
	wh[hdrReason] = []string{reason}
	wh[hdrContentType] = []string{pageTypes[f]}
	wh[hdrContentTypeOpts] = []string{"nosniff"}
	wh[hdrCacheControl] = []string{"no-store"}
	if f == pageHTML {
		wh[hdrCSP] = pageCSP
	}
	wh[hdrContentLength] = []string{strconv.Itoa(len(body))}
	if c := ex.h.o.CloseConn; c != nil && c(ex.r) {
		wh[hdrConnection] = connClose
	}
	ex.w.WriteHeader(status)
	n, _ := io.WriteString(ex.w, body)
	ex.bytesOut += int64(n)
}

// statusReason names a 5xx answer counted as a passive-check failure.
func statusReason(code int, bad bool) string {
	if !bad {
		return ""
	}
	return "status " + strconv.Itoa(code)
}
