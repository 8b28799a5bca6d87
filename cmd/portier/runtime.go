package main

import (
	"log/slog"
	"sync/atomic"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/state"
)

// runtimeState keeps the servers' runtime state in state.file: loaded at
// start, saved after each change and at shutdown. Its methods do nothing
// without a file.
type runtimeState struct {
	logger *slog.Logger
	path   string
	saved  []state.Entry
	eng    atomic.Pointer[engine.Engine] // set once serving
	// saver is nil without a file, and while frozen for an upgrade.
	saver atomic.Pointer[state.Saver]
}

// openState reads the state file of cfg. A missing file is no state; a bad
// one is reported once, moved aside by state.Load, and Portier starts with
// the configured state.
func openState(cfg *config.Config, logger *slog.Logger) *runtimeState {
	rs := &runtimeState{logger: logger.With("component", "state"), path: cfg.State.File}
	path := rs.path
	if path == "" {
		return rs
	}
	saved, err := state.Load(path)
	if err != nil {
		rs.logger.Warn("the state file cannot be used; starting with the configured state", "error", err.Error())
	}
	rs.saved = saved
	rs.thaw()
	return rs
}

// freeze saves what is pending and stops saving, before a binary upgrade:
// the new process loads the file and owns it from then on.
func (rs *runtimeState) freeze() {
	if s := rs.saver.Swap(nil); s != nil {
		if err := s.Close(); err != nil {
			rs.logger.Error("cannot save the runtime state", "error", err.Error())
		}
	}
}

// thaw starts saving again, after a failed upgrade.
func (rs *runtimeState) thaw() {
	if rs.path != "" {
		rs.saver.Store(state.NewSaver(state.SaverOptions{Path: rs.path, Collect: rs.collect, Logger: rs.logger}))
		rs.notify()
	}
}

// restore applies the saved state to a snapshot before it serves.
func (rs *runtimeState) restore(snap *engine.Snapshot) {
	if len(rs.saved) == 0 {
		return
	}
	dropped := snap.Restore(rs.saved)
	engine.LogDropped(rs.logger, "saved state dropped: the configuration changed the server", dropped)
	rs.logger.Info("runtime state restored", "servers", len(rs.saved)-len(dropped))
}

// attach starts saving changes of eng's servers.
func (rs *runtimeState) attach(eng *engine.Engine) {
	rs.eng.Store(eng)
	rs.notify()
}

func (rs *runtimeState) collect() []state.Entry {
	// A saver writes only after a notify, and notify waits for attach.
	return rs.eng.Load().Snapshot().RuntimeState()
}

// notify says that some server's state may have changed.
func (rs *runtimeState) notify() {
	if s := rs.saver.Load(); s != nil && rs.eng.Load() != nil {
		s.Notify()
	}
}

// close saves the state a last time and stops saving, at shutdown.
func (rs *runtimeState) close() {
	s := rs.saver.Swap(nil)
	if s == nil || rs.eng.Load() == nil {
		return
	}
	err := s.Flush()
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rs.logger.Error("cannot save the runtime state", "error", err.Error())
	}
}
