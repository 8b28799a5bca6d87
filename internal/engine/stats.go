package engine

import (
	"slices"
	"sync"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/listener"
)

// ListenerStats is what /metrics reads of one running listener.
type ListenerStats struct {
	// Name is the listener's configured name.
	Name string
	// Proxy counts the connections closed for their PROXY header, by
	// reason; nil when the listener does not accept the PROXY protocol.
	// The counts survive reloads that replace the listener.
	Proxy *listener.ProxyCounts
	// Active returns the client connections open on the listener now.
	Active func() int64
	// TCP counts a tcp listener's accepted connections and the
	// ClientHellos it dropped, by reason; nil for http and https
	// listeners. The counts survive reloads that replace the listener.
	TCP *listener.TCPCounts
}

// ListenerStats returns the running listeners' counters, in configuration
// order.
func (e *Engine) ListenerStats() []ListenerStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]ListenerStats, 0, len(e.listeners))
	for _, r := range e.listeners {
		if r.ln == nil {
			continue
		}
		out = append(out, ListenerStats{Name: r.name, Proxy: r.ln.ProxyCounts(), Active: r.ln.Active})
	}
	for _, t := range e.tcps {
		out = append(out, ListenerStats{Name: t.name, Proxy: t.ln.ProxyCounts(), TCP: t.ln.Counts(),
			Active: func() int64 { return int64(t.ln.Active()) }})
	}
	if e.snap != nil && len(e.tcps) > 0 {
		order := make(map[string]int, len(e.snap.Config.Listeners))
		for i, l := range e.snap.Config.Listeners {
			order[l.Name] = i
		}
		slices.SortStableFunc(out, func(a, b ListenerStats) int { return order[a.Name] - order[b.Name] })
	}
	return out
}

// countsByName keeps one set of counters per listener name, so that a
// listener that replaces another (a reload that changed its timeouts)
// goes on counting where the old one stopped, as a Prometheus counter
// must. The zero value is ready.
type countsByName[T any] struct {
	mu sync.Mutex // guards m
	m  map[string]*T
}

// of returns the counters of the listener named name.
func (c *countsByName[T]) of(name string) *T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*T)
	}
	n := c.m[name]
	if n == nil {
		n = new(T)
		c.m[name] = n
	}
	return n
}

// sameProxyProtocol reports whether two listeners accept the PROXY
// protocol alike; when they do not, a reload needs a new server on the
// socket, since the accepting wrapper is set up when a server starts.
func sameProxyProtocol(a, b *config.ProxyProtocol) bool {
	if a == nil || b == nil || !a.Accept || !b.Accept {
		return (a == nil || !a.Accept) == (b == nil || !b.Accept)
	}
	return a.Required == b.Required && a.Timeout == b.Timeout && slices.Equal(a.Trusted, b.Trusted)
}
