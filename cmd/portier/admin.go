package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/portier/portier/internal/admin"
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
)

// adminHooks are the admin API's ways into the process.
type adminHooks struct {
	reload   func() engine.ReloadResult
	upgrade  func() error
	onChange func()
	listen   func(network, address string) (net.Listener, error)
	network  admin.Network
}

// startAdmin binds and serves the admin endpoint unless it is "off".
func startAdmin(cfg *config.Config, eng *engine.Engine, logger *slog.Logger, h adminHooks) (*admin.Server, error) {
	if cfg.Admin.Address == config.AdminOff {
		return nil, nil
	}
	token := ""
	if cfg.Admin.TokenFile != "" {
		b, err := os.ReadFile(cfg.Admin.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin.token_file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, fmt.Errorf("admin.token_file: %s is empty", cfg.Admin.TokenFile)
		}
	}
	a := admin.New(admin.Options{
		Address: cfg.Admin.Address, Token: token, Engine: eng, Logger: logger,
		Reload: h.reload, Upgrade: h.upgrade, OnChange: h.onChange, Listen: h.listen,
		Network: h.network,
	})
	if err := a.Start(); err != nil {
		return nil, err
	}
	logger.Info("admin listening", "address", a.Addr().String())
	return a, nil
}

// adminErr is a's error channel, or nil (which never delivers) without one.
func adminErr(a *admin.Server) <-chan error {
	if a == nil {
		return nil
	}
	return a.Err()
}
