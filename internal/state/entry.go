// Package state persists the runtime state of each server across restarts
// and reloads: the operator's overlay (ready, draining, maintenance), a
// weight set through the admin API, and the last health verdict.
//
// Each saved entry carries the identity the server had when it was saved
// (config.ServerIdentity). On load, Match keeps an entry only while the
// configured identity of its server is unchanged; configuration always wins
// over saved state. HAProxy's server-state-file did the opposite and sent
// PROXY protocol v2 bytes to an old TLS port after a config change
// (seeds/001: "HAProxy restored an old port from its state file").
//
// The file is written atomically (temporary file, fsync, rename, fsync of
// the directory), and a file that cannot be trusted is moved aside for the
// operator rather than half-used. Saver coalesces bursts of changes into
// few writes.
//
// It imports config and nothing else of Portier's; it must not import the
// engine, proxy or admin packages, which feed it through Saver's Collect
// callback and apply what Load and Match return.
package state

import (
	"fmt"
	"time"

	"github.com/portier/portier/internal/config"
)

// Admin overlays, as saved in Entry.Admin.
const (
	AdminReady       = "ready"
	AdminDraining    = "draining"
	AdminMaintenance = "maintenance"
)

// Health verdicts, as saved in Entry.Health.
const (
	HealthPending = "pending"
	HealthUp      = "up"
	HealthDown    = "down"
)

// Entry is the saved runtime state of one server.
type Entry struct {
	// Backend and Server name the server; together they are the key.
	Backend string `json:"backend"`
	Server  string `json:"server"`
	// Identity is what the server was when the entry was saved; Match
	// drops the entry when the configured identity differs.
	Identity config.ServerIdentity `json:"identity"`
	// Admin is the operator's overlay: AdminReady, AdminDraining or
	// AdminMaintenance.
	Admin string `json:"admin"`
	// Weight was set through the API, 0 to config.MaxServerWeight. Nil: the configured
	// weight applies.
	Weight *int `json:"weight,omitempty"`
	// ConfiguredWeight is the server's weight in the configuration when an
	// API weight was saved: if the configuration changes the weight, the
	// configuration wins over the saved API weight. Zero with no Weight.
	ConfiguredWeight int `json:"configured_weight,omitempty"`
	// Health is the last verdict: HealthPending, HealthUp or HealthDown.
	Health string `json:"health"`
	// Reason is the last check's result in words ("status 503"); may be
	// empty.
	Reason string `json:"reason,omitempty"`
	// Since is when Health last changed; zero when unknown.
	Since time.Time `json:"since,omitzero"`
}

// key identifies an entry's server.
type key struct{ backend, server string }

func (e *Entry) key() key { return key{e.Backend, e.Server} }

// check reports the first thing wrong with e, or nil.
func (e *Entry) check() error {
	switch {
	case e.Backend == "":
		return fmt.Errorf("backend: must not be empty")
	case e.Server == "":
		return fmt.Errorf("server: must not be empty")
	}
	switch e.Admin {
	case AdminReady, AdminDraining, AdminMaintenance:
	default:
		return fmt.Errorf("admin: %q is not one of ready, draining, maintenance", e.Admin)
	}
	switch e.Health {
	case HealthPending, HealthUp, HealthDown:
	default:
		return fmt.Errorf("health: %q is not one of pending, up, down", e.Health)
	}
	if e.Weight != nil && (*e.Weight < 0 || *e.Weight > config.MaxServerWeight) {
		return fmt.Errorf("weight: %d is not from 0 to %d", *e.Weight, config.MaxServerWeight)
	}
	return nil
}

// checkAll checks every entry and that no server appears twice. It names
// the entry by its index in entries.
func checkAll(entries []Entry) error {
	seen := make(map[key]int, len(entries))
	for i := range entries {
		e := &entries[i]
		if err := e.check(); err != nil {
			return fmt.Errorf("servers[%d]: %w", i, err)
		}
		if j, dup := seen[e.key()]; dup {
			return fmt.Errorf("servers[%d]: backend %q server %q already saved as servers[%d]", i, e.Backend, e.Server, j)
		}
		seen[e.key()] = i
	}
	return nil
}
