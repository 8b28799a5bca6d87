package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/portier/portier/internal/netcheck"
)

// Network is the network check of the process (the route watch of
// `portier run`): GET /api/v1/doctor, the "network" field of the status
// and portier_route_changes_total read it.
type Network interface {
	// Findings returns the findings of the latest check.
	Findings() []netcheck.Finding
	// Check runs the check now.
	Check(ctx context.Context) ([]netcheck.Finding, error)
	// RouteChanges counts the route changes seen since start.
	RouteChanges() uint64
}

// Finding is one network finding as the API and the dashboard read it:
// {code, level ("info" or "warn"), address, message}.
type Finding = netcheck.Finding

// doctorBody is the answer of GET /api/v1/doctor.
type doctorBody struct {
	// Warnings counts the findings that need action; `portier doctor`
	// exits 1 when it is above 0.
	Warnings int       `json:"warnings"`
	Findings []Finding `json:"findings"`
}

func (s *Server) routeNetwork(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/doctor", s.doctor)
}

// doctor runs the network check now, as `portier doctor` would in the
// proxy's own network namespace and with its own connections.
func (s *Server) doctor(w http.ResponseWriter, r *http.Request) {
	if s.o.Network == nil {
		writeError(w, http.StatusNotImplemented, "not_available", "this process runs no network check")
		return
	}
	fs, err := s.o.Network.Check(r.Context())
	switch {
	case errors.Is(err, netcheck.ErrUnsupported):
		writeError(w, http.StatusNotImplemented, "unsupported", "%v", err)
	case err != nil:
		s.log.Warn("network check failed", "error", err.Error())
		writeError(w, http.StatusInternalServerError, "check_failed", "the network check failed: %v", err)
	default:
		writeJSON(w, http.StatusOK, doctorBody{Warnings: netcheck.Warnings(fs), Findings: fs})
	}
}

// networkFindings are the route watch's latest findings, or nil without
// a network check.
func (s *Server) networkFindings() []Finding {
	if s.o.Network == nil {
		return nil
	}
	return s.o.Network.Findings()
}
