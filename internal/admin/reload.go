package admin

import (
	"errors"
	"net/http"

	"github.com/portier/portier/internal/config"
)

// ReloadAnswer is the body of the answer to POST /api/v1/reload.
type ReloadAnswer struct {
	OK bool `json:"ok"`
	// Diff is what the reload changed; no changes when it was refused.
	Diff config.Diff `json:"diff"`
	// Errors are why it was refused, each with its place in the file when
	// known.
	Errors []*config.Error `json:"errors"`
	TookMS float64         `json:"took_ms"`
}

// reload reloads the configuration: 200 with the diff when it serves, 422
// with every error when it was refused (the old one serves on).
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.o.Reload == nil {
		writeError(w, http.StatusNotImplemented, "not_reloadable", "this process has no configuration file to reload")
		return
	}
	res := s.o.Reload()
	ans := ReloadAnswer{OK: res.OK(), Diff: res.Diff, Errors: []*config.Error{}, TookMS: float64(res.Took.Microseconds()) / 1000}
	if ans.Diff.Changes == nil {
		ans.Diff.Changes = []config.Change{}
	}
	if res.Err != nil {
		ans.Errors = reloadErrors(res.Err)
		writeJSON(w, http.StatusUnprocessableEntity, ans)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// reloadErrors lists a reload's errors: a configuration's problems one by
// one with their places, anything else as one message.
func reloadErrors(err error) []*config.Error {
	var list config.Errors
	if errors.As(err, &list) {
		return list
	}
	return []*config.Error{{Msg: err.Error()}}
}

// upgrade starts the new binary and hands it the listening sockets; this
// process then finishes its work and exits.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) {
	if s.o.Upgrade == nil {
		writeError(w, http.StatusNotImplemented, "not_upgradable", "binary upgrades are not available in this process")
		return
	}
	if err := s.o.Upgrade(); err != nil {
		writeError(w, http.StatusInternalServerError, "upgrade_failed", "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "message": "the new process serves; this one finishes its requests and exits"})
}
