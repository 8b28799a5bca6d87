package admin

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
)

// Reloads is the body of GET /api/v1/reloads.
type Reloads struct {
	// Reloads are the last reloads since the process started, newest
	// first; the engine keeps the last 20.
	Reloads []ReloadRecord `json:"reloads"`
}

// ReloadRecord is one reload: when, how long, and what it changed or why
// it was refused.
type ReloadRecord struct {
	Time   time.Time `json:"time"`
	TookMS float64   `json:"took_ms"`
	OK     bool      `json:"ok"`
	// Error is why the reload was refused, one problem per line; Errors
	// lists them with their places in the file. Both empty when it served.
	Error  string          `json:"error,omitempty"`
	Errors []*config.Error `json:"errors"`
	// Diff is what the reload changed; no changes when it was refused or
	// the configuration was the same.
	Diff config.Diff `json:"diff"`
}

func reloadRecord(res engine.ReloadResult) ReloadRecord {
	rec := ReloadRecord{
		Time: res.At.UTC(), TookMS: float64(res.Took.Microseconds()) / 1000,
		OK: res.OK(), Errors: []*config.Error{}, Diff: res.Diff,
	}
	if rec.Diff.Changes == nil {
		rec.Diff.Changes = []config.Change{}
	}
	if res.Err != nil {
		rec.Error = res.Err.Error()
		rec.Errors = reloadErrors(res.Err)
	}
	return rec
}

// reloadHistory lists the engine's last reloads, newest first, at most
// limit of them (all when limit <= 0).
func reloadHistory(e Engine, limit int) Reloads {
	h := e.History()
	slices.Reverse(h)
	if limit > 0 && len(h) > limit {
		h = h[:limit]
	}
	out := Reloads{Reloads: make([]ReloadRecord, len(h))}
	for i, res := range h {
		out.Reloads[i] = reloadRecord(res)
	}
	return out
}

// reloads answers GET /api/v1/reloads[?limit=N].
func (s *Server) reloads(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_limit", "limit must be a positive integer, not %q", v)
			return
		}
		limit = n
	}
	writeJSON(w, http.StatusOK, reloadHistory(s.o.Engine, limit))
}
