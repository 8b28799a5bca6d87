package proxy

import (
	"math/rand/v2"
	"net/http"

	"github.com/portier/portier/internal/balancer"
)

// pickBackend returns the backend that serves the request: the route's
// backend, or for a split the client's sticky variant or a weighted random
// one. It returns nil when a split has no variant with weight.
func (ex *exchange) pickBackend() *Backend {
	rt := ex.route
	if len(rt.Split) == 0 {
		return rt.Backend
	}
	if rt.StickyCookie != "" {
		if c, err := ex.r.Cookie(rt.StickyCookie); err == nil {
			for _, v := range rt.Split {
				if v.Weight > 0 && v.Backend != nil && v.Backend.Name == c.Value {
					return v.Backend
				}
			}
		}
	}
	total := 0
	for _, v := range rt.Split {
		total += max(v.Weight, 0)
	}
	if total == 0 {
		return nil
	}
	// rand/v2's global source is per-thread: no lock shared by requests.
	x := rand.IntN(total)
	var be *Backend
	for _, v := range rt.Split {
		if x < max(v.Weight, 0) {
			be = v.Backend
			break
		}
		x -= max(v.Weight, 0)
	}
	if be != nil && rt.StickyCookie != "" {
		c := http.Cookie{Name: rt.StickyCookie, Value: be.Name, Path: "/",
			HttpOnly: true, SameSite: http.SameSiteLaxMode}
		ex.sticky = c.String()
	}
	return be
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
