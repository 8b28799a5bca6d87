package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/proxy"
	"github.com/portier/portier/internal/upstream"
)

// Status is the body of GET /api/v1/status.
type Status struct {
	Listeners []ListenerStatus `json:"listeners"`
	Routes    []RouteStatus    `json:"routes"`
	Backends  []BackendStatus  `json:"backends"`
	// Network is the route watch's latest findings (netcheck).
	Network []Finding `json:"network,omitempty"`
}

// ListenerStatus describes one listener.
type ListenerStatus struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
}

// RouteStatus describes one route and whether it can serve.
type RouteStatus struct {
	Name     string   `json:"name"`
	Backends []string `json:"backends"`
	// Ready is false when no backend of the route has a server that can
	// take traffic; Reason then says why.
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// BackendStatus describes one backend and its servers.
type BackendStatus struct {
	Name    string         `json:"name"`
	Balance string         `json:"balance"`
	Servers []ServerStatus `json:"servers"`
}

// ServerStatus describes one server.
type ServerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// State is the one word an operator reads: draining or maintenance
	// when set, else the health state (pending, up, down).
	State  string    `json:"state"`
	Health string    `json:"health"`
	Admin  string    `json:"admin"`
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Weight is the effective weight; BaseWeight the configured or set one.
	Weight     int    `json:"weight"`
	BaseWeight int    `json:"base_weight"`
	InFlight   int64  `json:"in_flight"`
	Requests   uint64 `json:"requests"`
}

func serverStatus(s *upstream.Server) ServerStatus {
	h := s.Health()
	st := ServerStatus{
		Name: s.Name, Address: s.Address,
		State: h.State.String(), Health: h.State.String(), Admin: s.Admin().String(),
		Reason: h.Reason, Since: h.Since.UTC(),
		Weight: s.Weight(), BaseWeight: s.BaseWeight(),
		InFlight: s.InFlight(), Requests: s.Requests(),
	}
	if a := s.Admin(); a != upstream.Ready {
		st.State = a.String()
	}
	return st
}

// buildStatus describes a snapshot, in configuration order.
func buildStatus(snap *engine.Snapshot) Status {
	cfg := snap.Config
	st := Status{Listeners: []ListenerStatus{}, Routes: []RouteStatus{}, Backends: []BackendStatus{}}
	for _, l := range cfg.Listeners {
		st.Listeners = append(st.Listeners, ListenerStatus{Name: l.Name, Address: l.Address, Protocol: l.Protocol})
	}
	for _, r := range cfg.Routes {
		rs := RouteStatus{Name: r.Name}
		if r.Backend != "" {
			rs.Backends = []string{r.Backend}
		}
		for _, t := range r.Split {
			if t.Weight > 0 {
				rs.Backends = append(rs.Backends, t.Backend)
			}
		}
		rs.Ready, rs.Reason = routeReady(snap, rs.Backends)
		st.Routes = append(st.Routes, rs)
	}
	for _, bc := range cfg.Backends {
		b := snap.Backends[bc.Name]
		bs := BackendStatus{Name: bc.Name, Balance: bc.Balance, Servers: []ServerStatus{}}
		for _, s := range b.Servers {
			bs.Servers = append(bs.Servers, serverStatus(s))
		}
		st.Backends = append(st.Backends, bs)
	}
	return st
}

// routeReady reports whether any of the backends has a server that can take
// traffic, and if not, why not, server by server.
func routeReady(snap *engine.Snapshot, backends []string) (bool, string) {
	reason := ""
	for _, name := range backends {
		b := snap.Backends[name]
		for _, s := range b.Servers {
			if s.Available() {
				return true, ""
			}
			reason += fmt.Sprintf("%s/%s is %s; ", name, s.Name, whyNot(s))
		}
	}
	if reason == "" {
		return false, "no backend with weight"
	}
	return false, reason[:len(reason)-2]
}

func whyNot(s *upstream.Server) string {
	if a := s.Admin(); a != upstream.Ready {
		return a.String()
	}
	h := s.Health()
	if h.State != upstream.Up {
		if h.Reason != "" {
			return fmt.Sprintf("%s (%s since %s)", h.State, h.Reason, h.Since.UTC().Format(time.RFC3339))
		}
		return h.State.String()
	}
	return "at weight 0"
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := buildStatus(s.o.Engine.Snapshot())
	st.Network = s.networkFindings()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// readyz is 200 only when every route has a server that can take traffic;
// otherwise 503 naming each route that cannot and why.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st := buildStatus(s.o.Engine.Snapshot())
	body, code := "ready\n", http.StatusOK
	for _, rt := range st.Routes {
		if !rt.Ready {
			if code == http.StatusOK {
				body, code = "", http.StatusServiceUnavailable
			}
			body += fmt.Sprintf("route %s: no server can take traffic: %s\n", rt.Name, rt.Reason)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// lookup finds the server named in the request path, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*proxy.Backend, *upstream.Server, bool) {
	snap := s.o.Engine.Snapshot()
	bn, sn := r.PathValue("backend"), r.PathValue("server")
	b := snap.Backends[bn]
	if b == nil {
		writeError(w, http.StatusNotFound, "unknown_backend", "no backend named %q", bn)
		return nil, nil, false
	}
	for _, srv := range b.Servers {
		if srv.Name == sn {
			return b, srv, true
		}
	}
	writeError(w, http.StatusNotFound, "unknown_server", "backend %q has no server named %q", bn, sn)
	return nil, nil, false
}

// decode reads a small JSON body strictly into v, or answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_body", "the body must be JSON like %s: %v", example(v), err)
		return false
	}
	return true
}

func example(v any) string {
	switch v.(type) {
	case *stateBody:
		return `{"state": "drain"}`
	case *weightBody:
		return `{"weight": 50}`
	}
	return "{}"
}

type stateBody struct {
	State string `json:"state"`
}

type weightBody struct {
	Weight *int `json:"weight"`
}

func (s *Server) setState(w http.ResponseWriter, r *http.Request) {
	var body stateBody
	if !decode(w, r, &body) {
		return
	}
	var a upstream.Admin
	switch body.State {
	case "drain", "draining":
		a = upstream.Draining
	case "maintenance", "maint":
		a = upstream.Maintenance
	case "ready":
		a = upstream.Ready
	default:
		writeError(w, http.StatusBadRequest, "bad_state", `state must be "drain", "maintenance" or "ready", not %q`, body.State)
		return
	}
	_, srv, ok := s.lookup(w, r)
	if !ok {
		return
	}
	old := srv.Admin()
	gen := srv.SetAdmin(a)
	s.log.Info("server state set", "backend", srv.Backend, "server", srv.Name, "from", old.String(), "to", a.String(), "client", r.RemoteAddr)
	if a != upstream.Ready {
		s.closeLongLivedLater(srv, gen, s.drainTimeout(srv.Backend))
	}
	s.changed()
	writeJSON(w, http.StatusOK, serverStatus(srv))
}

// drainTimeout is the configured drain_timeout of a backend.
func (s *Server) drainTimeout(backend string) time.Duration {
	if b := s.o.Engine.Snapshot().Config.Backend(backend); b != nil {
		return b.DrainTimeout.D()
	}
	return 0
}

// closeLongLivedLater closes the server's WebSockets once d has passed, if
// no other state change (gen is this one's) came in between: in-flight
// requests finish on their own, but a long-lived connection would hold a
// drained server for ever.
func (s *Server) closeLongLivedLater(srv *upstream.Server, gen uint64, d time.Duration) {
	time.AfterFunc(d, func() { s.closeLongLived(srv, gen, d) })
}

// closeLongLived closes the server's long-lived connections unless its
// state changed after change gen; it returns how many it closed.
func (s *Server) closeLongLived(srv *upstream.Server, gen uint64, after time.Duration) int {
	if srv.AdminGeneration() != gen {
		return 0
	}
	n := srv.CloseLongLived()
	if n > 0 {
		s.log.Info("drain timeout: closed long-lived connections", "backend", srv.Backend, "server", srv.Name, "connections", n, "after", after.String())
	}
	return n
}

func (s *Server) setWeight(w http.ResponseWriter, r *http.Request) {
	var body weightBody
	if !decode(w, r, &body) {
		return
	}
	if body.Weight == nil || *body.Weight < 0 || *body.Weight > config.MaxServerWeight {
		writeError(w, http.StatusBadRequest, "bad_weight", "weight must be an integer from 0 to %d", config.MaxServerWeight)
		return
	}
	b, srv, ok := s.lookup(w, r)
	if !ok {
		return
	}
	old := srv.BaseWeight()
	srv.SetAPIWeight(*body.Weight)
	b.Balancer.Reweight()
	s.log.Info("server weight set", "backend", srv.Backend, "server", srv.Name, "from", old, "to", *body.Weight, "client", r.RemoteAddr)
	s.changed()
	writeJSON(w, http.StatusOK, serverStatus(srv))
}

// changed tells the owner of runtime state that a call changed it.
func (s *Server) changed() {
	if s.o.OnChange != nil {
		s.o.OnChange()
	}
}
