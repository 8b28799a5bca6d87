// Package upstream holds the runtime view of one server of a backend: where
// it is, how much traffic it should get, whether it may get any now, what it
// is doing, and the connection pool that reaches it.
//
// Everything read on the per-request path is an atomic; nothing here takes a
// lock shared by all requests. It must not import the proxy, balancer,
// engine or admin packages.
package upstream

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// State is a server's health state.
type State uint32

// Server health states. A server with a health check starts Pending (or Down)
// and is sent traffic only once Up.
const (
	Pending State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "unknown"
}

// Admin is the operator's overlay on a server's health.
type Admin uint32

// Admin overlays. Draining and Maintenance take no new request or
// connection whatever the server's health; in-flight work finishes.
const (
	Ready Admin = iota
	Draining
	Maintenance
)

func (a Admin) String() string {
	switch a {
	case Ready:
		return "ready"
	case Draining:
		return "draining"
	case Maintenance:
		return "maintenance"
	}
	return "unknown"
}

// Health is the last health verdict on a server and why.
type Health struct {
	State State
	// Reason is the last check's result in words: "status 503",
	// "connection refused", "timeout after 1s"; empty while pending.
	Reason string
	// Since is when State last changed.
	Since time.Time
}

// Server is one server of a backend.
type Server struct {
	// Backend and Name identify the server; Address is its configured host:port.
	Backend, Name, Address string
	// Transport reaches the server: its keep-alive pool, TLS and HTTP/2.
	Transport http.RoundTripper

	// state mirrors health.State for the per-request path.
	state atomic.Uint32
	admin atomic.Uint32
	// adminGen counts SetAdmin calls, so that a timer started by one change
	// can tell whether another came after it.
	adminGen atomic.Uint64
	// target is where connections go for a server named by host name
	// (see resolve.go); nil for one addressed by IP.
	target atomic.Pointer[dialTarget]
	health atomic.Pointer[Health]
	// base is the configured (or API-set) weight; weight is the effective
	// one the balancers read, lower than base during slow start.
	base   atomic.Int32
	weight atomic.Int32
	// weightSet is true while base is a weight set through the admin API
	// rather than the configured one.
	weightSet atomic.Bool
	inflight  atomic.Int64
	requests  atomic.Uint64
	// responses counts answers by status class: 1xx..5xx, and 0 for
	// requests that got no response from the server.
	responses [6]atomic.Uint64
	// checks counts active health checks: [0] failed, [1] passed.
	checks [2]atomic.Uint64
	// failures counts attempts that failed or got a 5xx answer; streak
	// those in a row, up to the last success; busy the nanoseconds
	// attempts took, until their response was relayed or they failed.
	failures atomic.Uint64
	streak   atomic.Int64
	busy     atomic.Int64
	lastErr  atomic.Pointer[Failure]
	// slot is the server's row in the request counters of its backend's
	// routes, stable across reloads (see proxy.Stats); -1 until set.
	slot atomic.Int32

	longMu sync.Mutex // guards long
	// long holds the server's long-lived connections (WebSocket tunnels,
	// TCP streams) so that a drain can close them after its timeout.
	long map[io.Closer]struct{}
}

// NewServer returns a server in the given state with the given weight.
func NewServer(backend, name, address string, weight int, st State) *Server {
	s := &Server{Backend: backend, Name: name, Address: address}
	s.base.Store(int32(weight))
	s.weight.Store(int32(weight))
	s.state.Store(uint32(st))
	s.health.Store(&Health{State: st, Since: time.Now()})
	s.slot.Store(-1)
	return s
}

// State returns the server's health state.
func (s *Server) State() State { return State(s.state.Load()) }

// SetState sets the server's health state without a reason.
func (s *Server) SetState(st State) { s.SetHealth(st, "", time.Now()) }

// Health returns the server's last health verdict.
func (s *Server) Health() Health { return *s.health.Load() }

// SetHealth records a health verdict at now. Since moves only when the state
// changes; it reports whether it did.
func (s *Server) SetHealth(st State, reason string, now time.Time) bool {
	old := s.health.Load()
	h := &Health{State: st, Reason: reason, Since: old.Since}
	changed := old.State != st
	if changed {
		h.Since = now
	}
	s.health.Store(h)
	s.state.Store(uint32(st))
	return changed
}

// Admin returns the operator's overlay.
func (s *Server) Admin() Admin { return Admin(s.admin.Load()) }

// SetAdmin sets the operator's overlay and returns the generation of this
// change (see AdminGeneration).
func (s *Server) SetAdmin(a Admin) uint64 {
	s.admin.Store(uint32(a))
	return s.adminGen.Add(1)
}

// AdminGeneration returns the generation of the last SetAdmin.
func (s *Server) AdminGeneration() uint64 { return s.adminGen.Load() }

// Weight returns the server's current effective weight.
func (s *Server) Weight() int { return int(s.weight.Load()) }

// SetWeight sets the server's effective weight.
func (s *Server) SetWeight(w int) { s.weight.Store(int32(w)) }

// BaseWeight returns the configured or API-set weight.
func (s *Server) BaseWeight() int { return int(s.base.Load()) }

// SetBaseWeight sets the configured or API-set weight, and the effective
// weight with it.
func (s *Server) SetBaseWeight(w int) {
	s.base.Store(int32(w))
	s.weight.Store(int32(w))
}

// SetAPIWeight sets the weight as the admin API does: like SetBaseWeight,
// and remembered as the operator's choice, which a reload keeps for as
// long as the configured weight stays what it was.
func (s *Server) SetAPIWeight(w int) {
	s.weightSet.Store(true)
	s.SetBaseWeight(w)
}

// APIWeight returns the weight set through the admin API, and false when
// the server has its configured weight.
func (s *Server) APIWeight() (int, bool) {
	if !s.weightSet.Load() {
		return 0, false
	}
	return s.BaseWeight(), true
}

// ResetWeight drops any weight set through the admin API and sets the
// configured one.
func (s *Server) ResetWeight(configured int) {
	s.weightSet.Store(false)
	s.SetBaseWeight(configured)
}

// Inherit gives s the runtime state of old, a server it replaces while
// keeping its identity (a reload changed only how it is reached, such as a
// timeout): health, operator overlay, an API-set weight and the counters.
// In-flight requests and long-lived connections stay with old. Call it
// before s serves.
func (s *Server) Inherit(old *Server) {
	h := old.Health()
	s.health.Store(&h)
	s.state.Store(uint32(h.State))
	s.admin.Store(old.admin.Load())
	if w, ok := old.APIWeight(); ok {
		s.SetAPIWeight(w)
	}
	s.requests.Store(old.requests.Load())
	for i := range s.responses {
		s.responses[i].Store(old.responses[i].Load())
	}
	for i := range s.checks {
		s.checks[i].Store(old.checks[i].Load())
	}
	s.failures.Store(old.failures.Load())
	s.streak.Store(old.streak.Load())
	s.busy.Store(old.busy.Load())
	s.lastErr.Store(old.lastErr.Load())
	s.slot.Store(old.slot.Load())
	if t := old.target.Load(); t != nil {
		s.target.Store(t)
	}
}

// Available reports whether the server may take a new request now.
func (s *Server) Available() bool {
	return s.state.Load() == uint32(Up) && s.admin.Load() == uint32(Ready) && s.weight.Load() > 0
}

// Acquire counts a request or connection starting on the server.
func (s *Server) Acquire() {
	s.inflight.Add(1)
	s.requests.Add(1)
}

// Release counts a request or connection finished on the server.
func (s *Server) Release() { s.inflight.Add(-1) }

// InFlight returns the number of requests and connections in progress.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// Requests returns the number of requests and connections ever started.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// CountResponse counts a response from the server with HTTP status code, or
// 0 when the attempt got no response.
func (s *Server) CountResponse(code int) {
	class := code / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s.responses[class].Add(1)
}

// Responses returns the response counts by status class; index 0 counts
// attempts that got no response.
func (s *Server) Responses() [6]uint64 {
	var out [6]uint64
	for i := range s.responses {
		out[i] = s.responses[i].Load()
	}
	return out
}

// ClassName names a status class index of Responses: "2xx", or "none".
func ClassName(class int) string {
	if class < 1 || class > 5 {
		return "none"
	}
	return string(rune('0'+class)) + "xx"
}

// Track registers a long-lived connection to the server; the returned func
// unregisters it. Only such connections pay for the lock.
func (s *Server) Track(c io.Closer) (untrack func()) {
	s.longMu.Lock()
	if s.long == nil {
		s.long = make(map[io.Closer]struct{})
	}
	s.long[c] = struct{}{}
	s.longMu.Unlock()
	return func() {
		s.longMu.Lock()
		delete(s.long, c)
		s.longMu.Unlock()
	}
}

// CloseLongLived closes every long-lived connection to the server and
// returns how many there were.
func (s *Server) CloseLongLived() int {
	s.longMu.Lock()
	cs := make([]io.Closer, 0, len(s.long))
	for c := range s.long {
		cs = append(cs, c)
	}
	s.longMu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return len(cs)
}

// CountCheck counts an active health check's result.
func (s *Server) CountCheck(ok bool) {
	if ok {
		s.checks[1].Add(1)
	} else {
		s.checks[0].Add(1)
	}
}

// Checks returns the counts of failed and passed active health checks.
func (s *Server) Checks() (failed, passed uint64) {
	return s.checks[0].Load(), s.checks[1].Load()
}

// Failure is the last failed attempt on a server.
type Failure struct {
	// Reason is the failure class ("connect_refused", "response_timeout",
	// "status 503"); Err the error's text, which may name addresses.
	Reason, Err string
	At          time.Time
}

// CountSuccess records an attempt that got an answer below 500 and took d:
// the run of consecutive failures ends.
func (s *Server) CountSuccess(d time.Duration) {
	s.busy.Add(int64(d))
	// Read first: a store on every success would bounce the cache line
	// between cores for nothing.
	if s.streak.Load() != 0 {
		s.streak.Store(0)
	}
}

// CountFailure records an attempt that failed, or got a 5xx answer, after
// d, and returns how many attempts in a row have now failed.
func (s *Server) CountFailure(d time.Duration, f *Failure) int {
	s.busy.Add(int64(d))
	s.failures.Add(1)
	s.lastErr.Store(f)
	return int(s.streak.Add(1))
}

// Failures returns the number of attempts that failed or got a 5xx answer.
func (s *Server) Failures() uint64 { return s.failures.Load() }

// Streak returns the number of consecutive attempts that failed.
func (s *Server) Streak() int { return int(s.streak.Load()) }

// Busy returns the total time attempts on the server took.
func (s *Server) Busy() time.Duration { return time.Duration(s.busy.Load()) }

// LastFailure returns the last failed attempt, or nil if none did.
func (s *Server) LastFailure() *Failure { return s.lastErr.Load() }

// Slot returns the server's row in its backend's request counters, or -1.
func (s *Server) Slot() int { return int(s.slot.Load()) }

// SetSlot sets the server's row in its backend's request counters.
func (s *Server) SetSlot(i int) { s.slot.Store(int32(i)) }
