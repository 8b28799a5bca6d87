package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/portier/portier/internal/upstream"

	"github.com/portier/portier/internal/health"
)

// startHealth starts the active and passive checks of every backend that
// has them. On error, those already started are stopped.
func (s *Snapshot) startHealth(logger *slog.Logger) error {
	s.Monitors = make(map[string]*health.Monitor)
	for i := range s.Config.Backends {
		c := &s.Config.Backends[i]
		if c.Health == nil && c.Passive == nil {
			continue
		}
		b := s.Backends[c.Name]
		m, err := health.Start(health.Options{
			Backend:   c.Name,
			Servers:   b.Servers,
			Check:     c.Health,
			TLS:       s.backendTLS[c.Name],
			Passive:   c.Passive,
			SlowStart: c.SlowStart.D(),
			Logger:    logger,
			OnChange: func() {
				b.Balancer.Reweight()
				if s.notify != nil {
					s.notify()
				}
			},
			OnCheck: func(srv *upstream.Server, ok bool, _ string) {
				srv.CountCheck(ok)
			},
		})
		if err != nil {
			s.stopHealth()
			return fmt.Errorf("backends[%d] (%s): health: %w", i, c.Name, err)
		}
		s.Monitors[c.Name] = m
		b.Observe = m.Observe
		b.Count5xx = c.Passive != nil && c.Passive.Count5xx
	}
	return nil
}

// stopHealth stops every check and resolver of the snapshot.
func (s *Snapshot) stopHealth() {
	for _, m := range s.Monitors {
		m.Stop()
	}
	for _, r := range s.resolvers {
		r.Stop()
	}
}

// startResolvers resolves the host names of servers once (a name that does
// not resolve leaves its server down with the reason, and Portier starts
// anyway), then keeps re-resolving them every resolve_interval.
func (s *Snapshot) startResolvers(logger *slog.Logger) {
	res := dnsResolver(s.Config.Resolvers)
	// Each first resolution may wait for a DNS timeout; run them together
	// so that a DNS outage delays the start by one timeout, not one per
	// backend.
	s.resolvers = make([]*upstream.Resolver, len(s.Config.Backends))
	var wg sync.WaitGroup
	for i := range s.Config.Backends {
		c := &s.Config.Backends[i]
		b := s.Backends[c.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.resolvers[i] = upstream.StartResolver(upstream.ResolverOptions{
				Servers:  b.Servers,
				Interval: c.ResolveInterval.D(),
				Resolver: res,
				// An active check reports a name that does not resolve itself.
				OwnsHealth: func(*upstream.Server) bool { return c.Health == nil },
				OnChange:   b.Balancer.Reweight,
				Logger:     logger.With("component", "dns"),
			})
		}()
	}
	wg.Wait()
}

// dnsResolver asks the given DNS servers in turn, or the system's resolver
// when there are none.
func dnsResolver(servers []string) *net.Resolver {
	if len(servers) == 0 {
		return net.DefaultResolver
	}
	var next atomic.Uint32
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, servers[int(next.Add(1))%len(servers)])
		},
	}
}
