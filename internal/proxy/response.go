package proxy

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/portier/portier/internal/upstream"
)

// respond relays a server's response: status, end-to-end headers, the body
// as it arrives, then trailers. srv is released when the body is done.
func (ex *exchange) respond(res *http.Response, srv *upstream.Server) {
	defer srv.Release()
	if res.StatusCode == http.StatusSwitchingProtocols {
		ex.switchProtocols(res)
		ex.attemptEnded(srv, res.StatusCode, ex.reason)
		return
	}
	wh := ex.w.Header()
	copyEndToEnd(wh, res.Header)
	if _, ok := res.Header[hdrContentType]; !ok {
		wh[hdrContentType] = nil // no sniffing: pass the response as it is
	}
	wh[hdrRequestID] = ex.idv
	ex.addResponseHeaders(wh, res)
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		wh[hdrTrailer] = []string{strings.Join(keys, ", ")}
	}
	if c := ex.h.o.CloseConn; c != nil && c(ex.r) {
		wh[hdrConnection] = connClose
	}
	ex.status = res.StatusCode
	ex.w.WriteHeader(res.StatusCode)

	reason := ex.copyBody(res)
	res.Body.Close()
	ex.attemptEnded(srv, res.StatusCode, reason)
	if reason != "" {
		ex.reason = reason
		if reason == reasonClientClosed {
			return
		}
		// The status line is out: the only way left to tell the client
		// that the body is incomplete is to break the stream.
		panic(http.ErrAbortHandler)
	}
	// TrailerPrefix works for announced and unannounced trailers alike, on
	// HTTP/1.1 and HTTP/2 (net/http's ResponseWriter docs).
	for k, v := range res.Trailer {
		wh[http.TrailerPrefix+k] = v
	}
}

// addResponseHeaders adds the proxy's own response headers: Via and the
// sticky variant cookie.
func (ex *exchange) addResponseHeaders(wh http.Header, res *http.Response) {
	if ex.h.o.Via {
		v := ex.h.via(res.ProtoMajor, res.ProtoMinor)
		if prior := wh[hdrVia]; len(prior) > 0 {
			wh[hdrVia] = appendValue(prior, v[0])
		} else {
			wh[hdrVia] = v
		}
	}
	if ex.sticky != "" {
		wh[hdrSetCookie] = appendValue(wh[hdrSetCookie], ex.sticky)
	}
}

// copyBody streams the response body to the client with a pooled buffer.
// Streams without a length (chunked, gRPC) and event streams are flushed
// after every read so that each piece reaches the client when the server
// sends it. It returns a failure reason, or "" when the body was complete.
func (ex *exchange) copyBody(res *http.Response) string {
	flush := res.ContentLength < 0 || isEventStream(res.Header)
	var flusher http.Flusher
	if flush {
		var ok bool
		if flusher, ok = ex.w.(http.Flusher); !ok {
			rc := http.NewResponseController(ex.w)
			flusher = flushFunc(func() { _ = rc.Flush() })
		}
	}
	bp := ex.h.bufs.Get().(*[]byte)
	defer ex.h.bufs.Put(bp)
	buf := *bp
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			m, werr := ex.w.Write(buf[:n])
			ex.bytesOut += int64(m)
			if werr != nil {
				return reasonClientClosed
			}
			if flush {
				flusher.Flush()
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF):
			return ""
		case ex.r.Context().Err() != nil:
			return reasonClientClosed
		default:
			ex.h.log.Debug("upstream body", "request_id", ex.id, "error", rerr)
			ex.copyErr = rerr.Error()
			return reasonUpstreamReset
		}
	}
}

type flushFunc func()

func (f flushFunc) Flush() { f() }

// isEventStream reports whether a response is a Server-Sent Events stream.
func isEventStream(h http.Header) bool {
	v := h[hdrContentType]
	if len(v) == 0 || !strings.HasPrefix(v[0], "text/event-stream") {
		return false
	}
	mt, _, err := mime.ParseMediaType(v[0])
	return err == nil && mt == "text/event-stream"
}
