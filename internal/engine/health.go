package engine

import (
	"fmt"
	"log/slog"

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
			OnChange:  b.Balancer.Reweight,
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

// stopHealth stops every check of the snapshot.
func (s *Snapshot) stopHealth() {
	for _, m := range s.Monitors {
		m.Stop()
	}
}
