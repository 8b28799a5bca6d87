package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/portier/portier/internal/balancer"
)

// pickBackend returns the backend that serves the request, with its index
// in the route's flows: the route's backend, or for a split the client's
// sticky variant or a weighted one. It returns nil when a split has no
// variant with weight.
func (ex *exchange) pickBackend() (*Backend, int) {
	rt := ex.route
	if len(rt.Split) == 0 {
		return rt.Backend, 0
	}
	if rt.StickyCookie != "" {
		if c, err := ex.r.Cookie(rt.StickyCookie); err == nil {
			for i, v := range rt.Split {
				if v.Weight > 0 && v.Backend != nil && v.Backend.Name == c.Value && canServe(v.Backend) {
					return v.Backend, i
				}
			}
		}
	}
	// A smooth weighted schedule, walked by an atomic counter: 80/20 sends
	// exactly 4 in 5 requests to the first variant, interleaved, with no
	// lock shared by requests.
	seq := rt.split.schedule(rt.Split)
	if len(seq) == 0 {
		return nil, 0
	}
	// A variant with no server that can take the request is passed over
	// for the next one in the schedule: a split must not send 80% of the
	// traffic to a drained or failed variant. When none can, the first
	// pick stands and answers no_healthy_server.
	start := rt.split.next.Add(1) - 1
	vi := int(seq[start%uint64(len(seq))])
	be := rt.Split[vi].Backend
	for i := uint64(1); i < uint64(len(seq)) && !canServe(be); i++ {
		ni := int(seq[(start+i)%uint64(len(seq))])
		if next := rt.Split[ni].Backend; canServe(next) {
			be, vi = next, ni
		}
	}
	if be != nil && rt.StickyCookie != "" {
		c := http.Cookie{Name: rt.StickyCookie, Value: be.Name, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode}
		ex.sticky = c.String()
	}
	return be, vi
}

// hashKey is the hash of the request's hash key, or 0 when the backend's
// policy reads none.
func hashKey(be *Backend, r *http.Request) uint64 {
	var s string
	switch be.HashKind {
	case HashNone:
		return 0
	case HashClientIP:
		s = clientHost(r.RemoteAddr)
	case HashHeader:
		s = r.Header.Get(be.HashName)
	case HashCookie:
		if c, err := r.Cookie(be.HashName); err == nil {
			s = c.Value
		}
	case HashPath:
		s = r.URL.Path
	}
	return balancer.HashString(s)
}

// canServe reports whether any server of b may take a new request.
func canServe(b *Backend) bool {
	for _, s := range b.Servers {
		if s.Available() {
			return true
		}
	}
	return false
}

// splitState is a split route's schedule of variants, built on first use.
type splitState struct {
	once sync.Once
	seq  []int32
	next atomic.Uint64
}

// maxSplitSchedule bounds a schedule's length; weights are scaled down to
// fit, which keeps the shares to within a small fraction of a percent.
const maxSplitSchedule = 1 << 12

// schedule returns one period of smooth weighted round robin over the
// variants: 80/20 is four in five, spread out rather than in runs.
func (st *splitState) schedule(vs []Variant) []int32 {
	st.once.Do(func() {
		w := make([]int, len(vs))
		for i, v := range vs {
			if v.Backend != nil {
				w[i] = max(v.Weight, 0)
			}
		}
		st.seq = balancer.SmoothSchedule(w, maxSplitSchedule)
	})
	return st.seq
}
