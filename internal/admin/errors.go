package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/portier/portier/internal/proxy"
)

// ErrorRecord is one entry of GET /api/v1/errors: a request that failed
// upstream or in the proxy (a 502, 503 or 504 of Portier's own, or a
// response a server broke off), with what an operator needs to find it.
type ErrorRecord struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	TraceID   string    `json:"trace_id,omitempty"`
	Listener  string    `json:"listener"`
	Route     string    `json:"route"`
	Backend   string    `json:"backend"`
	// Server is the last server tried; empty when no server could take
	// the request (no_healthy_server).
	Server string `json:"server"`
	Reason string `json:"reason"`
	// Status is what the client got.
	Status int `json:"status"`
	// Error is the error's text; it may name addresses.
	Error               string `json:"error,omitempty"`
	Attempts            int    `json:"attempts"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
}

// ErrorList is the body of GET /api/v1/errors.
type ErrorList struct {
	// Errors are newest first.
	Errors []ErrorRecord `json:"errors"`
}

// listErrors answers GET /api/v1/errors[?limit=N]: the last N failures
// (default: all kept, up to proxy.DefaultFailureLogSize), newest first.
func (s *Server) listErrors(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_limit", "limit must be a whole number of 1 or more, not %q", v)
			return
		}
		limit = n
	}
	out := ErrorList{Errors: []ErrorRecord{}}
	for _, f := range s.o.Engine.Failures().Recent(limit) {
		out.Errors = append(out.Errors, errorRecord(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func errorRecord(f proxy.FailureRecord) ErrorRecord {
	return ErrorRecord{
		Time: f.Time.UTC(), RequestID: f.RequestID, TraceID: f.TraceID, Listener: f.Listener,
		Route: f.Route, Backend: f.Backend, Server: f.Server, Reason: f.Reason, Status: f.Status,
		Error: f.Err, Attempts: f.Attempts, ConsecutiveFailures: f.ConsecutiveFailures,
	}
}
