package proxy

import (
	"time"

	"github.com/portier/portier/internal/upstream"
)

// What happens once an attempt or a request is over: the server's error
// counters, the request counters, the failure log, the access line and
// the span. Only failures allocate.

// attemptFailed records an attempt on srv that got no response. A failure
// of the client's making (its body, or it went away) is not the server's.
func (ex *exchange) attemptFailed(srv *upstream.Server, reason string, err error, clientFault bool) {
	now := time.Now()
	if !clientFault {
		f := &upstream.Failure{Reason: reason, Err: err.Error(), At: now}
		ex.streak = srv.CountFailure(now.Sub(ex.rtStart), f)
		ex.lastErr = f
	}
	ex.addAttempt(srv, 0, reason, now)
}

// attemptEnded records an attempt on srv whose response was relayed (or
// broken off: reason says why). A 5xx answer counts as the server's
// failure, as does a response it broke off or a bad upgrade.
func (ex *exchange) attemptEnded(srv *upstream.Server, code int, reason string) {
	now := time.Now()
	d := now.Sub(ex.rtStart)
	switch {
	case reason == reasonUpstreamReset || reason == reasonBadUpgrade:
		f := &upstream.Failure{Reason: reason, Err: ex.copyErr, At: now}
		ex.streak = srv.CountFailure(d, f)
		ex.lastErr = f
	case code >= 500:
		f := &upstream.Failure{Reason: statusReason(code, true), At: now}
		ex.streak = srv.CountFailure(d, f)
		ex.lastErr = f
	default:
		srv.CountSuccess(d)
	}
	if reason == reasonClientClosed {
		reason = ""
	}
	ex.addAttempt(srv, code, reason, now)
}

// finish counts the request, records a failure, writes the access line
// and hands the span over. It runs even when the response was aborted.
func (ex *exchange) finish() {
	end := time.Now()
	d := end.Sub(ex.start)
	if f := ex.flow; f != nil {
		f.count(ex.server, ex.status, ex.reason, d)
	}
	if ex.h.o.Failures != nil && serverSide(ex.reason) {
		ex.recordFailure(end)
	}
	ex.logAccess(d)
	ex.exportSpan(end)
}

// serverSide reports whether a failure reason is the upstream's or the
// proxy's, not the client's.
func serverSide(reason string) bool {
	switch reason {
	case "", reasonNoRoute, reasonBadRequestBody, reasonBodyTooLarge, reasonClientClosed:
		return false
	}
	return true
}

func (ex *exchange) recordFailure(at time.Time) {
	fr := FailureRecord{
		Time: at, RequestID: ex.id, TraceID: ex.traceHex(), Listener: ex.h.o.Listener,
		Reason: ex.reason, Status: ex.status, Attempts: ex.attempts,
	}
	if ex.route != nil {
		fr.Route = ex.route.Name
	}
	if ex.backend != nil {
		fr.Backend = ex.backend.Name
	}
	if ex.server != nil && ex.attempts > 0 {
		fr.Server = ex.server.Name
		fr.ConsecutiveFailures = ex.streak
	}
	if ex.lastErr != nil {
		fr.Err = ex.lastErr.Err
	}
	if ex.reason == reasonNoHealthyServer && ex.backend != nil && fr.Err == "" {
		fr.Err = serversDown(ex.backend)
	}
	ex.h.o.Failures.Add(fr)
}
