package engine

import (
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// carried is what a reload keeps of the servers of the configuration it
// replaces, by "backend/server".
type carried map[string]carriedServer

// inherited marks old as a server whose state a new one took over: the
// same server, reached through a new pool. Its WebSockets are not cut.
func (c carried) inherited(old *upstream.Server) {
	k := old.Backend + "/" + old.Name
	cs := c[k]
	cs.replaced = true
	c[k] = cs
}

// continued reports whether s lives on in the new configuration as itself
// or through a successor that inherited its state.
func (c carried) continued(s *upstream.Server) bool {
	cs, ok := c[s.Backend+"/"+s.Name]
	return ok && cs.srv == s && cs.replaced
}

type carriedServer struct {
	srv    *upstream.Server
	config config.Server
	// identity and reach decide what is kept: a server whose identity
	// changed is a new server; one whose identity is the same but whose
	// connection settings changed keeps its state with a new pool.
	identity config.ServerIdentity
	reach    reach
	// replaced is set when a new server inherited this one's state.
	replaced bool
}

// carry indexes the servers of s for the next build.
func carry(s *Snapshot) carried {
	if s == nil {
		return nil
	}
	out := make(carried)
	for i := range s.Config.Backends {
		bc := &s.Config.Backends[i]
		b := s.Backends[bc.Name]
		reach := reachOf(bc)
		for j := range bc.Servers {
			sc := bc.Servers[j]
			out[bc.Name+"/"+sc.Name] = carriedServer{
				srv: b.Servers[j], config: sc,
				identity: bc.Identity(&sc), reach: reach,
			}
		}
	}
	return out
}

// reuse returns the running server to keep for sc, or nil with the server
// whose state a new one should inherit (or nil for a new server). reach is
// reachOf(bc).
func (c carried) reuse(bc *config.Backend, sc *config.Server, r reach) (keep, inherit *upstream.Server) {
	old, ok := c[bc.Name+"/"+sc.Name]
	if !ok || old.identity != bc.Identity(sc) {
		return nil, nil
	}
	if old.reach != r {
		inherit = old.srv
		return nil, inherit
	}
	return old.srv, nil
}

// adopt settles the configured weight of a kept or inherited server: a
// changed configured weight wins over one set through the API; an
// unchanged one leaves the API's in place.
func (c carried) adopt(srv *upstream.Server, bc *config.Backend, sc *config.Server) {
	if c[bc.Name+"/"+sc.Name].config.Weight != sc.Weight {
		srv.ResetWeight(sc.Weight)
	}
}

// reach is everything else about how a backend's servers are reached
// that lives in a server's connection pool; a change needs new pools.
type reach struct {
	timeouts     config.BackendTimeouts
	maxIdleConns int
	tls          config.BackendTLS
	hasTLS       bool
	http2        bool
}

func reachOf(bc *config.Backend) reach {
	r := reach{timeouts: bc.Timeouts, maxIdleConns: bc.MaxIdleConns, http2: bc.HTTP2}
	if bc.TLS != nil {
		r.tls, r.hasTLS = *bc.TLS, true
	}
	return r
}
