package main

import (
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/cloudflare/tableflip"
)

// upgrader hands the listening sockets to a new binary (SIGUSR2, POST
// /api/v1/upgrade or "portier upgrade") with cloudflare/tableflip: the
// new process starts with the same arguments, takes the sockets, and once
// it serves, this one stops accepting, finishes its requests and exits.
// Where tableflip cannot run, upgrades answer an error and everything
// else works.
type upgrader struct {
	upg    *tableflip.Upgrader // nil when not available
	err    error               // why upg is nil
	logger *slog.Logger
	state  *runtimeState
	mu     sync.Mutex // one upgrade at a time
}

func newUpgrader(pidFile string, logger *slog.Logger, rs *runtimeState) *upgrader {
	u := &upgrader{logger: logger.With("component", "upgrade"), state: rs}
	u.upg, u.err = tableflip.New(tableflip.Options{PIDFile: pidFile})
	if u.err != nil {
		u.logger.Warn("binary upgrades are not available", "error", u.err.Error())
	} else if u.upg.HasParent() {
		u.logger.Info("started by a binary upgrade: taking over the listening sockets")
	}
	return u
}

// listen binds a socket, or takes the one the old process handed over.
func (u *upgrader) listen(network, address string) (net.Listener, error) {
	if u.upg == nil {
		return net.Listen(network, address)
	}
	return u.upg.Listen(network, address)
}

// ready tells the old process, if any, that this one serves; it then
// stops accepting and exits.
func (u *upgrader) ready() error {
	if u.upg == nil {
		return nil
	}
	return u.upg.Ready()
}

// upgrade starts the new binary and returns once it serves, or why it
// could not. The state file is saved first for the new process to load.
func (u *upgrader) upgrade() error {
	if u.upg == nil {
		return errors.Join(errors.New("binary upgrades are not available"), u.err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.logger.Info("upgrade: starting the new binary")
	u.state.freeze()
	if err := u.upg.Upgrade(); err != nil {
		u.state.thaw()
		u.logger.Error("upgrade failed; this process serves on", "error", err.Error())
		return err
	}
	u.logger.Info("upgrade: the new process serves")
	return nil
}

// exit is closed when a new process has taken over.
func (u *upgrader) exit() <-chan struct{} {
	if u.upg == nil {
		return nil
	}
	return u.upg.Exit()
}

func (u *upgrader) stop() {
	if u.upg != nil {
		u.upg.Stop()
	}
}
