package engine

import (
	"log/slog"
	"strings"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/state"
	"github.com/portier/portier/internal/upstream"
)

// RuntimeState returns the runtime state of every server, stamped with its
// configured identity, for the state file.
func (s *Snapshot) RuntimeState() []state.Entry {
	var out []state.Entry
	for i := range s.Config.Backends {
		bc := &s.Config.Backends[i]
		for j, srv := range s.Backends[bc.Name].Servers {
			h := srv.Health()
			e := state.Entry{
				Backend:  bc.Name,
				Server:   srv.Name,
				Identity: bc.Identity(&bc.Servers[j]),
				Admin:    srv.Admin().String(),
				Health:   h.State.String(),
				Reason:   h.Reason,
				Since:    h.Since,
			}
			if w, ok := srv.APIWeight(); ok {
				e.Weight = &w
				e.ConfiguredWeight = bc.Servers[j].Weight
			}
			out = append(out, e)
		}
	}
	return out
}

// identityOf looks servers up in cfg for state.Match, through an index
// made once: a reload matches every server.
func identityOf(cfg *config.Config) func(backend, server string) (config.ServerIdentity, bool) {
	type key struct{ backend, server string }
	ids := make(map[key]config.ServerIdentity)
	for i := range cfg.Backends {
		bc := &cfg.Backends[i]
		for j := range bc.Servers {
			ids[key{bc.Name, bc.Servers[j].Name}] = bc.Identity(&bc.Servers[j])
		}
	}
	return func(backend, server string) (config.ServerIdentity, bool) {
		id, ok := ids[key{backend, server}]
		return id, ok
	}
}

// Restore applies saved runtime state to the servers of s before it
// serves: the operator's overlay, an API-set weight, the last health. An
// entry whose server's configured identity differs is dropped (the
// configuration wins) and returned, with what changed, for the log.
func (s *Snapshot) Restore(saved []state.Entry) (dropped []state.Dropped) {
	kept, dropped, _ := state.Match(saved, identityOf(s.Config))
	for _, e := range kept {
		srv, sc := s.server(e.Backend, e.Server)
		if srv == nil {
			continue
		}
		switch e.Admin {
		case state.AdminDraining:
			srv.SetAdmin(upstream.Draining)
		case state.AdminMaintenance:
			srv.SetAdmin(upstream.Maintenance)
		}
		// An API weight holds while the configured weight is the one it
		// was set over; a new configured weight wins.
		if e.Weight != nil && e.ConfiguredWeight == sc.Weight {
			srv.SetAPIWeight(*e.Weight)
		}
		switch e.Health {
		case state.HealthUp:
			srv.SetHealth(upstream.Up, e.Reason, e.Since)
		case state.HealthDown:
			srv.SetHealth(upstream.Down, e.Reason, e.Since)
		}
	}
	for _, b := range s.Backends {
		b.Balancer.Reweight()
	}
	return dropped
}

// server returns a server of s with its configuration, or nil.
func (s *Snapshot) server(backend, name string) (*upstream.Server, *config.Server) {
	bc := s.Config.Backend(backend)
	if bc == nil {
		return nil, nil
	}
	for i, srv := range s.Backends[backend].Servers {
		if srv.Name == name {
			return srv, &bc.Servers[i]
		}
	}
	return nil, nil
}

// LogDropped writes one line per server whose saved state was dropped
// because its configured identity changed, naming each changed field with
// its old and new value.
func LogDropped(logger *slog.Logger, msg string, dropped []state.Dropped) {
	for _, d := range dropped {
		changes := make([]string, len(d.Changes))
		for i, c := range d.Changes {
			changes[i] = c.String()
		}
		attrs := []any{"backend", d.Backend, "server", d.Server,
			"changed", strings.Join(changes, "; "),
			"dropped_admin", d.Saved.Admin, "dropped_health", d.Saved.Health}
		if d.Saved.Weight != nil {
			attrs = append(attrs, "dropped_weight", *d.Saved.Weight)
		}
		logger.Warn(msg, attrs...)
	}
}
