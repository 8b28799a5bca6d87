package engine

import (
	"github.com/portier/portier/internal/proxy"
)

// What the engine keeps for watching requests across reloads: the request
// counters of every route, backend and server, and the recent failures.

// observe gives the routes of snap their request counters and error page
// setting. Call it before snap serves.
func (e *Engine) observe(snap *Snapshot) {
	for _, site := range snap.Sites {
		site.ErrorDetail = snap.Config.ErrorPages.Detail
		e.requests.Attach(site)
	}
}

// forget drops the counters of routes, backends and servers that snap,
// now serving, no longer has.
func (e *Engine) forget(snap *Snapshot) {
	sites := make([]*proxy.Site, 0, len(snap.Sites))
	for _, s := range snap.Sites {
		sites = append(sites, s)
	}
	e.requests.Retain(sites)
}

// RequestStats returns the request counters of every route, backend and
// server, kept across reloads.
func (e *Engine) RequestStats() *proxy.Stats { return e.requests }

// Failures returns the recent requests that failed upstream or in the
// proxy.
func (e *Engine) Failures() *proxy.FailureLog { return e.failures }
