package listener

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// guard is the handler that stands between net/http and the proxy: it
// enforces the listener's limits and closes the framing gaps that net/http
// leaves (see rawhead.go). A normal request costs a few comparisons and one
// walk over its raw head lines (plain listeners) or its header map (TLS,
// HTTP/2); it allocates nothing.
type guard struct {
	next      http.Handler
	maxURI    int   // request target bytes, 414 above
	maxHeader int   // header field bytes, 431 above
	maxBody   int64 // request body bytes, 413 above; 0: no limit
	tls       bool  // no raw head available: close instead of inspecting
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.RequestURI) > g.maxURI {
		reject(w, r, http.StatusRequestURITooLong)
		return
	}
	chunked := r.ProtoMajor == 1 && len(r.TransferEncoding) > 0
	fieldBytes := -1 // unknown until counted
	var rc *recordingConn
	if r.ProtoMajor == 1 {
		if !g.tls {
			rc, _ = r.Context().Value(connKey{}).(*recordingConn)
		}
		var ok bool
		if fieldBytes, ok = checkFraming(w, r, rc, chunked); !ok {
			return
		}
	}
	if fieldBytes < 0 {
		fieldBytes = headerBytes(r, g.maxHeader)
	}
	if fieldBytes > g.maxHeader {
		reject(w, r, http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if g.maxBody > 0 && r.ContentLength > g.maxBody {
		reject(w, r, http.StatusRequestEntityTooLarge)
		return
	}
	if chunked || g.maxBody > 0 && r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		g.serveWatched(w, r, rc)
		return
	}
	g.next.ServeHTTP(w, r)
}

// checkFraming applies RFC 9112 §6 to an HTTP/1 request and reports whether
// it may go on, and the size of its raw field lines when it read them (else
// -1). Requests that net/http may have reframed (HTTP/1.0, whose
// Transfer-Encoding it drops, and chunked ones, whose Content-Length it
// drops) are refused when the raw head shows both framings, and answered
// with Connection: close when the raw head cannot be found. On TLS listeners
// (rc is nil) there is no raw head, so such requests always close the
// connection after their response: a smuggled remainder is never read as a
// next request.
func checkFraming(w http.ResponseWriter, r *http.Request, rc *recordingConn, chunked bool) (int, bool) {
	http10 := r.ProtoMinor == 0
	var f headFacts
	found := false
	if rc != nil {
		f, found = rc.scanHead(r.Method, r.RequestURI)
		// A bodyless request whose head ends the read leaves the connection
		// at a request boundary: the next read starts a request.
		rc.boundary = found && f.atEnd && !chunked && r.ContentLength == 0
	}
	if !found {
		// obs-fold cannot be checked; net/http replaces it with SP, which
		// RFC 9112 §5.2 allows. Framing must not stay ambiguous: close.
		if http10 || chunked {
			w.Header().Set("Connection", "close")
		}
		return -1, true
	}
	switch {
	case f.fold, // RFC 9112 §5.2: a server may reject obs-fold with 400.
		http10 && f.transferEncoding, // RFC 9112 §6.1: must be treated as faulty.
		chunked && f.contentLength:   // RFC 9112 §6.3: ought to be an error.
		reject(w, r, http.StatusBadRequest)
		return -1, false
	}
	return f.fieldBytes, true
}

// headerBytes sums the request's header fields the way max_header_bytes
// counts them: name, value and 4 bytes (": " and CRLF) per field, Host
// included. It stops counting once past limit.
func headerBytes(r *http.Request, limit int) int {
	n := len("Host: \r\n") + len(r.Host)
	for k, vv := range r.Header {
		for _, v := range vv {
			n += len(k) + len(v) + 4
		}
		if n > limit {
			break
		}
	}
	return n
}

// serveWatched serves a request whose body framing is checked while the
// handler reads it (a chunked body, whose chunk sizes net/http parses
// lazily, or a body of unknown length under a size limit). A framing error
// or an exceeded limit turns the response into 400 or 413 if the handler
// has not sent its status yet, whatever the handler answered.
func (g *guard) serveWatched(w http.ResponseWriter, r *http.Request, rc *recordingConn) {
	b := &watchedBody{rc: r.Body}
	if g.maxBody > 0 {
		b.rc = http.MaxBytesReader(w, r.Body, g.maxBody)
	}
	r.Body = b
	ww := &watchedWriter{ResponseWriter: w, r: r, body: b}
	g.next.ServeHTTP(ww, r)
	if status := int(b.status.Load()); !ww.sent && status != 0 {
		reject(w, r, status)
	}
	if rc != nil && b.eof.Load() {
		// The chunked body was read to its end, so net/http reads the
		// connection no more for it. If the read that brought that end ends
		// with it (an empty line), the next read starts a request.
		rc.boundary = endsWithEmptyLine(rc.last)
	}
}

// watchedBody notes the end of the body and the status a read error calls
// for. The handler may read it from another goroutine (a transport copying
// it upstream), hence the atomics.
type watchedBody struct {
	rc     io.ReadCloser
	status atomic.Int32 // 400 or 413 after a failed read, else 0
	eof    atomic.Bool  // the body was read to its end
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof.Store(true)
	case err != nil && b.status.Load() == 0:
		status := int32(http.StatusBadRequest)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		b.status.Store(status)
	}
	return n, err
}

func (b *watchedBody) Close() error { return b.rc.Close() }

// errBodyRefused is returned to a handler writing a response that the guard
// replaced with 400 or 413.
var errBodyRefused = errors.New("listener: request body refused")

// watchedWriter replaces the handler's response with the body's error
// status when the body failed before the status line was sent.
type watchedWriter struct {
	http.ResponseWriter
	r        *http.Request
	body     *watchedBody
	sent     bool // a final status went out (the handler's or ours)
	replaced bool // ours did
}

func (w *watchedWriter) WriteHeader(code int) {
	if w.sent {
		return
	}
	if status := int(w.body.status.Load()); status != 0 {
		w.sent, w.replaced = true, true
		reject(w.ResponseWriter, w.r, status)
		return
	}
	if code >= 200 {
		w.sent = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return 0, errBodyRefused
	}
	return w.ResponseWriter.Write(p)
}

// Flush keeps streaming handlers streaming.
func (w *watchedWriter) Flush() {
	if !w.sent {
		w.WriteHeader(http.StatusOK)
	}
	if !w.replaced {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// reject answers code with a short plain-text body and, on HTTP/1, closes
// the connection after it.
func reject(w http.ResponseWriter, r *http.Request, code int) {
	text := strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	if r.ProtoMajor == 1 {
		h.Set("Connection", "close")
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(text)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text)
}
