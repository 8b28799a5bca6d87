package proxy

import (
	"log/slog"
	"strings"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// Access log attribute keys: the JSON field names of DESIGN.md's access
// line, spelled once.
const (
	keyRequestID       = "request_id"
	keyTraceID         = "trace_id"
	keyClient          = "client"
	keyListener        = "listener"
	keyRoute           = "route"
	keyBackend         = "backend"
	keyServer          = "server"
	keyMethod          = "method"
	keyHost            = "host"
	keyPath            = "path"
	keyStatus          = "status"
	keyBytesIn         = "bytes_in"
	keyBytesOut        = "bytes_out"
	keyDuration        = "duration"
	keyUpstreamConnect = "upstream_connect"
	keyTTFB            = "ttfb"
	keyReason          = "reason"
	keyAttempts        = "attempts"
	keyServers         = "servers"
	keyError           = "error"
	keyConsecutive     = "consecutive_failures"
)

// Reason classes of failed requests (DESIGN.md promise 4). Connect failures
// use upstream.DialError's reasons.
const (
	reasonNoRoute         = "no_route"
	reasonNoHealthyServer = "no_healthy_server"
	reasonResponseTimeout = "response_timeout"
	reasonUpstreamReset   = "upstream_reset"
	reasonBadRequestBody  = "bad_request_body"
	reasonBodyTooLarge    = "body_too_large"
	reasonClientClosed    = "client_closed"
	reasonBadUpgrade      = "bad_upgrade"
)

// statusClientClosed is logged when the client went away before an answer;
// nothing is written to it (nginx's 499).
const statusClientClosed = 499

// accessMsg is the message of every access log line.
const accessMsg = "request"

// logAccess writes the request's access line, if anyone reads it: d is
// the request's duration. A failed request's line adds the reason, the
// last failed attempt's error and its server's count of consecutive
// failures (and for no_healthy_server, why each server could not take it).
func (ex *exchange) logAccess(d time.Duration) {
	al := ex.h.o.AccessLog
	if al == nil {
		return
	}
	ctx := ex.r.Context()
	if !al.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var routeName, backendName, serverName string
	if ex.route != nil {
		routeName = ex.route.Name
	}
	if ex.backend != nil {
		backendName = ex.backend.Name
	}
	if ex.server != nil {
		serverName = ex.server.Name
	}
	bytesIn := ex.body.bytesIn()
	ex.mu.Lock()
	connect := ex.connect
	ex.mu.Unlock()
	var attrs [22]slog.Attr
	a := append(attrs[:0],
		slog.String(keyRequestID, ex.id),
		slog.String(keyTraceID, ex.traceHex()),
		slog.String(keyClient, ex.r.RemoteAddr),
		slog.String(keyListener, ex.h.o.Listener),
		slog.String(keyRoute, routeName),
		slog.String(keyBackend, backendName),
		slog.String(keyServer, serverName),
		slog.String(keyMethod, ex.r.Method),
		slog.String(keyHost, ex.r.Host),
		slog.String(keyPath, ex.r.URL.Path),
		slog.Int(keyStatus, ex.status),
		slog.Int64(keyBytesIn, bytesIn),
		slog.Int64(keyBytesOut, ex.bytesOut),
		slog.Float64(keyDuration, d.Seconds()),
		slog.Float64(keyUpstreamConnect, connect.Seconds()),
		slog.Float64(keyTTFB, ex.ttfb.Seconds()),
	)
	if ex.reason != "" {
		a = append(a, slog.String(keyReason, ex.reason))
	}
	a = append(a, slog.Int(keyAttempts, ex.attempts))
	if e := ex.lastErr; e != nil {
		a = append(a, slog.String(keyError, e.Err), slog.Int(keyConsecutive, ex.streak))
		if e.Err == "" { // a 5xx answer: its status says it all
			a[len(a)-2] = slog.String(keyError, e.Reason)
		}
	}
	if ex.reason == reasonNoHealthyServer && ex.backend != nil {
		// Say which servers could not take the request and why: the
		// operator reading this line should not have to look elsewhere.
		a = append(a, slog.String(keyServers, serversDown(ex.backend)))
	}
	al.LogAttrs(ctx, slog.LevelInfo, accessMsg, a...)
}

// serversDown describes each server of b that cannot take traffic:
// "web-1 down (status 503 since 2026-11-21T10:00:00Z); web-2 maintenance".
func serversDown(b *Backend) string {
	var sb strings.Builder
	for _, s := range b.Servers {
		if s.Available() {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(s.Name)
		sb.WriteByte(' ')
		if a := s.Admin(); a != upstream.Ready {
			sb.WriteString(a.String())
			continue
		}
		h := s.Health()
		if h.State == upstream.Up {
			sb.WriteString("at weight 0")
			continue
		}
		sb.WriteString(h.State.String())
		if h.Reason != "" {
			sb.WriteString(" (" + h.Reason + " since " + h.Since.UTC().Format(time.RFC3339) + ")")
		}
	}
	return sb.String()
}
