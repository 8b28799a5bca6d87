package proxy

import (
	"log/slog"
	"time"
)

// Access log attribute keys: the JSON field names of DESIGN.md's access
// line, spelled once.
const (
	keyRequestID       = "request_id"
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

// logAccess writes the request's access line, if anyone reads it.
func (ex *exchange) logAccess() {
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
	attrs := [...]slog.Attr{
		slog.String(keyRequestID, ex.id),
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
		slog.Float64(keyDuration, time.Since(ex.start).Seconds()),
		slog.Float64(keyUpstreamConnect, connect.Seconds()),
		slog.Float64(keyTTFB, ex.ttfb.Seconds()),
		slog.String(keyReason, ex.reason),
		slog.Int(keyAttempts, ex.attempts),
	}
	n := len(attrs)
	if ex.reason == "" {
		n-- // reason is only logged on errors; attempts moves up
		attrs[n-1] = attrs[n]
	}
	al.LogAttrs(ctx, slog.LevelInfo, accessMsg, attrs[:n]...)
}
