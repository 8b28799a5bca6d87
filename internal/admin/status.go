package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	// ActiveConnections is the client connections open now.
	ActiveConnections int64 `json:"active_connections"`
}

// RouteStatus describes one route and whether it can serve.
type RouteStatus struct {
	Name     string   `json:"name"`
	Backends []string `json:"backends"`
	// Ready is false when no backend of the route has a server that can
	// take traffic; Reason then says why.
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
	// Requests counts the route's answered requests since the start (kept
	// across reloads); Errors those answered 500 or above, Portier's own
	// included; DurationSeconds is the sum of their durations. Rates come
	// from the differences between two reads.
	Requests        uint64  `json:"requests"`
	Errors          uint64  `json:"errors"`
	DurationSeconds float64 `json:"duration_seconds"`
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
	// Errors counts the attempts that failed or got a 5xx answer;
	// DurationSeconds is the sum of the time attempts took;
	// ConsecutiveFailures the failed attempts in a row up to now.
	Errors              uint64  `json:"errors"`
	DurationSeconds     float64 `json:"duration_seconds"`
	ConsecutiveFailures int     `json:"consecutive_failures"`
	// LastError is the last failed attempt's reason and error, and
	// LastErrorAt when it happened; absent when none failed.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

func serverStatus(s *upstream.Server) ServerStatus {
	h := s.Health()
	st := ServerStatus{
		Name: s.Name, Address: s.Address,
		State: h.State.String(), Health: h.State.String(), Admin: s.Admin().String(),
		Reason: h.Reason, Since: h.Since.UTC(),
		Weight: s.Weight(), BaseWeight: s.BaseWeight(),
		InFlight: s.InFlight(), Requests: s.Requests(),
		Errors: s.Failures(), DurationSeconds: s.Busy().Seconds(), ConsecutiveFailures: s.Streak(),
	}
	if a := s.Admin(); a != upstream.Ready {
		st.State = a.String()
	}
	if f := s.LastFailure(); f != nil {
		st.LastError, st.LastErrorAt = failureWords(f), f.At.UTC()
	}
	return st
}

// failureWords is a failure's reason and error in one line, the reason
// said once: "connect_refused: dial tcp 10.0.0.1:80: connection refused".
func failureWords(f *upstream.Failure) string {
	switch {
	case f.Err == "":
		return f.Reason
	case strings.Contains(f.Err, f.Reason):
		return f.Err
	}
	return f.Reason + ": " + f.Err
}

// statusOf is buildStatus of the engine's snapshot with the counters that
// live beside it: requests per route, connections per listener.
func statusOf(e Engine) Status {
	st := buildStatus(e.Snapshot())
	active := make(map[string]int64)
	for _, ls := range e.ListenerStats() {
		if ls.Active != nil {
			active[ls.Name] += ls.Active()
		}
	}
	for i := range st.Listeners {
		st.Listeners[i].ActiveConnections = active[st.Listeners[i].Name]
	}
	if rs := e.RequestStats(); rs != nil {
		byRoute := make(map[string]*RouteStatus, len(st.Routes))
		for i := range st.Routes {
			byRoute[st.Routes[i].Name] = &st.Routes[i]
		}
		for _, f := range rs.Flows() {
			r := byRoute[f.Route]
			if r == nil {
				continue
			}
			all, errs := f.Requests()
			r.Requests += all
			r.Errors += errs
			r.DurationSeconds += f.Duration.Sum().Seconds()
		}
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
	st := statusOf(s.o.Engine)
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
