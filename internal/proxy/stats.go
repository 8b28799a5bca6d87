package proxy

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// bucketBounds are the upper bounds of every histogram's buckets: from half
// a millisecond (the proxy's own share) to a minute (the default response
// timeout). Read-only.
var bucketBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// NumBuckets is the number of bounded buckets of a Histogram.
const NumBuckets = len(bucketBounds)

// BucketBounds returns the upper bounds of a Histogram's buckets in seconds.
func BucketBounds() []float64 {
	out := make([]float64, NumBuckets)
	for i, b := range bucketBounds {
		out[i] = b.Seconds()
	}
	return out
}

// Histogram counts durations into fixed buckets with atomics: observing
// takes no lock and does not allocate.
type Histogram struct {
	counts [NumBuckets + 1]atomic.Uint64 // the last one: above every bound
	sum    atomic.Int64                  // nanoseconds
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < NumBuckets && d > bucketBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Read returns the cumulative count of each bucket (Prometheus' "le"), the
// total count and the sum in seconds.
func (h *Histogram) Read() (buckets [NumBuckets]uint64, count uint64, sum float64) {
	for i := range h.counts {
		count += h.counts[i].Load()
		if i < NumBuckets {
			buckets[i] = count
		}
	}
	return buckets, count, time.Duration(h.sum.Load()).Seconds()
}

// Sum returns the sum of the observed durations.
func (h *Histogram) Sum() time.Duration { return time.Duration(h.sum.Load()) }

// Reasons are the failure classes a request can end with, the values of
// the access log's reason and of the reason label (DESIGN.md promise 4).
var reasons = [...]string{
	reasonNoRoute, reasonNoHealthyServer,
	upstream.ReasonConnectRefused, upstream.ReasonConnectTimeout,
	upstream.ReasonConnectUnreachable, upstream.ReasonDNS, upstream.ReasonConnectError,
	reasonResponseTimeout, reasonUpstreamReset, reasonBadRequestBody,
	reasonBodyTooLarge, reasonClientClosed, reasonBadUpgrade,
}

// numReasons is the number of failure classes; reasonIndex returns it for
// a reason it does not know, which is counted as "other".
const numReasons = len(reasons)

// Reasons returns the failure classes, in the order of ServerCount.Reasons.
func Reasons() []string { return append(reasons[:0:0], reasons[:]...) }

func reasonIndex(r string) int {
	for i, s := range reasons {
		if s == r {
			return i
		}
	}
	return numReasons
}

// ServerCount counts the requests of one Flow whose last attempt was on
// one server (Server "" for those answered without one).
type ServerCount struct {
	Server  string
	classes [6]atomic.Uint64
	reasons [numReasons + 1]atomic.Uint64
}

// Classes returns the requests by status class: [2] counts 2xx, [5] 5xx;
// [0] is unused.
func (c *ServerCount) Classes() [6]uint64 {
	var out [6]uint64
	for i := range c.classes {
		out[i] = c.classes[i].Load()
	}
	return out
}

// Reasons returns the failed requests by reason, in the order of
// Reasons(), with one more for reasons outside it.
func (c *ServerCount) Reasons() [numReasons + 1]uint64 {
	var out [numReasons + 1]uint64
	for i := range c.reasons {
		out[i] = c.reasons[i].Load()
	}
	return out
}

func (c *ServerCount) count(status int, reason string) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 5
	}
	c.classes[class].Add(1)
	if reason != "" {
		c.reasons[reasonIndex(reason)].Add(1)
	}
}

// Flow counts the requests of one route that went to one backend: Backend
// is "" for those that reached no backend, Route "" for those that matched
// no route.
type Flow struct {
	Route, Backend string
	// Duration is the time of whole requests as the client saw them;
	// Connect the time to open a new connection to a server (TCP and TLS);
	// FirstByte the time from sending a request to a server until its
	// response headers came, per attempt.
	Duration, Connect, FirstByte Histogram

	// errors counts the requests answered 500 or above; with Duration's
	// count it makes the flow's totals, which, unlike the rows of servers
	// a reload removes, never go down.
	errors atomic.Uint64
	none   ServerCount
	// servers are indexed by upstream.Server.Slot; replaced, never
	// changed in place, when a reload adds a server.
	servers atomic.Pointer[[]*ServerCount]
}

// row returns the counters of requests last tried on srv (nil: none).
func (f *Flow) row(srv *upstream.Server) *ServerCount {
	if srv == nil {
		return &f.none
	}
	if p := f.servers.Load(); p != nil {
		if i := srv.Slot(); i >= 0 && i < len(*p) && (*p)[i] != nil {
			return (*p)[i]
		}
	}
	return &f.none
}

// Servers returns the per-server counters: first the requests answered
// without a server, then one per server the backend has had.
func (f *Flow) Servers() []*ServerCount {
	out := []*ServerCount{&f.none}
	if p := f.servers.Load(); p != nil {
		for _, c := range *p {
			if c != nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// Requests returns how many requests the flow counted, and how many of
// them were answered 500 or above.
func (f *Flow) Requests() (all, errors uint64) {
	_, all, _ = f.Duration.Read()
	return all, f.errors.Load()
}

// count counts a finished request, last tried on srv (nil: none).
func (f *Flow) count(srv *upstream.Server, status int, reason string, d time.Duration) {
	f.Duration.Observe(d)
	f.row(srv).count(status, reason)
	if status >= 500 {
		f.errors.Add(1)
	}
}

// Stats holds the request counters of every route and backend. One Stats
// lives as long as the process: counters are kept across reloads by route,
// backend and server name, so that they only ever grow (the dashboard and
// Prometheus compute rates from their differences).
type Stats struct {
	mu    sync.Mutex // guards flows and slots
	flows map[flowKey]*Flow
	// slots numbers the servers of each backend, by name, for good: a
	// server keeps its row when a reload adds, removes or reorders others.
	slots    map[string]map[string]int
	unrouted Flow
}

type flowKey struct{ route, backend string }

// NewStats returns empty counters.
func NewStats() *Stats {
	return &Stats{flows: make(map[flowKey]*Flow), slots: make(map[string]map[string]int)}
}

// Attach gives the routes of site their counters and the servers of their
// backends their slots. Call it before site serves.
func (st *Stats) Attach(site *Site) {
	st.mu.Lock()
	defer st.mu.Unlock()
	site.unrouted = &st.unrouted
	for _, r := range site.Routes {
		if r == nil {
			continue
		}
		if len(r.Split) == 0 {
			r.flows = []*Flow{st.flow(r.Name, nameOf(r.Backend), r.Backend)}
			continue
		}
		// Only a split can find no backend: all its weights are 0.
		r.none = st.flow(r.Name, "", nil)
		r.flows = make([]*Flow, len(r.Split))
		for i, v := range r.Split {
			r.flows[i] = st.flow(r.Name, nameOf(v.Backend), v.Backend)
		}
	}
}

func nameOf(b *Backend) string {
	if b == nil {
		return ""
	}
	return b.Name
}

// flow returns the flow of route to b, made or grown to b's servers.
func (st *Stats) flow(route, backend string, b *Backend) *Flow {
	k := flowKey{route, backend}
	f := st.flows[k]
	if f == nil {
		f = &Flow{Route: route, Backend: backend}
		st.flows[k] = f
	}
	if b == nil {
		return f
	}
	slots := st.slots[backend]
	if slots == nil {
		slots = make(map[string]int)
		st.slots[backend] = slots
	}
	var rows []*ServerCount
	if p := f.servers.Load(); p != nil {
		rows = *p
	}
	grown := false
	for _, s := range b.Servers {
		i, ok := slots[s.Name]
		if !ok {
			i = len(slots)
			slots[s.Name] = i
		}
		s.SetSlot(i)
		if i >= len(rows) {
			rows = append(rows[:len(rows):len(rows)], make([]*ServerCount, i+1-len(rows))...)
			grown = true
		}
		if rows[i] == nil {
			if !grown {
				rows = slices.Clone(rows)
				grown = true
			}
			rows[i] = &ServerCount{Server: s.Name}
		}
	}
	if grown {
		f.servers.Store(&rows)
	}
	return f
}

// Retain drops the counters of routes, backends and servers that none of
// sites serves any more, after a reload.
func (st *Stats) Retain(sites []*Site) {
	keep := make(map[*Flow]*Backend)
	for _, s := range sites {
		for _, r := range s.Routes {
			if r == nil {
				continue
			}
			if r.none != nil {
				keep[r.none] = nil
			}
			for i, f := range r.flows {
				if len(r.Split) == 0 {
					keep[f] = r.Backend
				} else if i < len(r.Split) {
					keep[f] = r.Split[i].Backend
				}
			}
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, f := range st.flows {
		b, ok := keep[f]
		if !ok {
			delete(st.flows, k)
			continue
		}
		p := f.servers.Load()
		if b == nil || p == nil {
			continue
		}
		rows := make([]*ServerCount, len(*p))
		for _, s := range b.Servers {
			if i := s.Slot(); i >= 0 && i < len(rows) {
				rows[i] = (*p)[i]
			}
		}
		f.servers.Store(&rows)
	}
}

// Flows returns every flow, requests that matched no route first, then by
// route and backend name.
func (st *Stats) Flows() []*Flow {
	st.mu.Lock()
	out := make([]*Flow, 0, len(st.flows)+1)
	for _, f := range st.flows {
		out = append(out, f)
	}
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b *Flow) int {
		if c := strings.Compare(a.Route, b.Route); c != 0 {
			return c
		}
		return strings.Compare(a.Backend, b.Backend)
	})
	return append([]*Flow{&st.unrouted}, out...)
}
