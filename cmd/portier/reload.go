package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/provider/file"
)

// process is the running proxy as the reload triggers see it.
type process struct {
	eng    *engine.Engine
	path   string
	logger *slog.Logger
}

// reloader returns the admin API's reload hook, or nil when there is no
// file to reload.
func (p *process) reloader() func() engine.ReloadResult {
	if p.path == "" {
		return nil
	}
	return func() engine.ReloadResult { return p.reload("api") }
}

// reload reads the configuration file again and swaps it in; trigger
// (signal, api, file) goes to the log. A refused reload is logged with
// every error; the running configuration serves on.
func (p *process) reload(trigger string) engine.ReloadResult {
	res := p.eng.Reload(func() (*config.Config, error) { return loadConfig(p.path) })
	if res.Err != nil {
		p.logger.Error("reload refused; the running configuration keeps serving",
			"trigger", trigger, "error", res.Err.Error())
		return res
	}
	if res.Diff.Empty() {
		p.logger.Info("reload: the configuration is unchanged", "trigger", trigger)
		return res
	}
	p.logger.Info("reload done", "trigger", trigger, "took", res.Took.String())
	var later []string
	for _, c := range res.Diff.Changes {
		for _, prefix := range []string{"admin", "log", "state", "tracing"} {
			if c.Path == prefix || strings.HasPrefix(c.Path, prefix+".") {
				later = append(later, c.Path)
			}
		}
	}
	if len(later) > 0 {
		p.logger.Warn("these settings take effect at the next start or upgrade", "settings", strings.Join(later, ", "))
	}
	return res
}

// watch reloads when the configuration file changes, while the running
// configuration says watch: true; the returned func stops watching.
func (p *process) watch(ctx context.Context) (stop func()) {
	if p.path == "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	_, err := file.Watch(ctx, file.WatchOptions{Path: p.path, Logger: p.logger}, func() {
		if p.eng.Snapshot().Config.Watch {
			p.reload("file")
		}
	})
	if err != nil {
		p.logger.Warn("cannot watch the configuration file; reload with SIGHUP or the API", "error", err.Error())
	}
	return cancel
}
