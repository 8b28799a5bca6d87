package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/portier/portier/internal/admin"
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/telemetry"
)

// configFlag registers -c/--config with PORTIER_CONFIG as its default.
func configFlag(fs *flag.FlagSet) *string {
	p := fs.String("c", os.Getenv("PORTIER_CONFIG"), "configuration `file` (default $PORTIER_CONFIG)")
	fs.StringVar(p, "config", *p, "same as -c")
	return p
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "portier validate: no configuration: use -c FILE or set PORTIER_CONFIG")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err == nil {
		// validate means "build everything without listening": load the
		// certificates and CA files, create the balancers and routers.
		_, err = engine.Build(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d listeners, %d routes, %d backends)\n",
		*path, len(cfg.Listeners), len(cfg.Routes), len(cfg.Backends))
	return 0
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	pidFile := fs.String("pid-file", os.Getenv("PORTIER_PID_FILE"),
		"write the serving process's PID to `file`, also after a binary upgrade (default $PORTIER_PID_FILE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "portier run: no configuration: use -c FILE or set PORTIER_CONFIG")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return serve(cfg, serveOptions{path: *path, pidFile: *pidFile}, stdout, stderr)
}

// serveOptions are what serve needs besides the configuration.
type serveOptions struct {
	// path is the configuration file that reloads read; empty: the
	// configuration cannot be reloaded.
	path string
	// pidFile receives the PID of the process that serves.
	pidFile string
	// ready, when set, is called once every listener is bound.
	ready func(*engine.Engine)
}

// serve runs cfg until SIGINT or SIGTERM, then shuts down gracefully, or
// until a binary upgrade's new process serves, then hands over. SIGHUP,
// the admin API and (with watch: true) a change of the file reload the
// configuration; SIGUSR2 and the admin API upgrade the binary.
func serve(cfg *config.Config, so serveOptions, stdout, stderr io.Writer) int {
	logger, accessLog, closeAccess, err := loggers(cfg.Log.Level, cfg.Log.Access, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer closeAccess()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Taken from the start: a SIGHUP during start-up must not kill the
	// process; it reloads once serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(hup)

	tracer, err := telemetry.New(telemetry.Options{Config: cfg.Tracing, Logger: logger})
	if err != nil {
		logger.Error("cannot start", "error", err.Error())
		return 1
	}
	// Spans still waiting are sent at the end, within a short grace.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracer.Shutdown(ctx)
	}()
	rs := openState(cfg, logger)
	up := newUpgrader(so.pidFile, logger, rs)
	defer up.stop()
	eng := engine.New(engine.Options{
		Logger: logger, AccessLog: accessLog,
		Listen: up.listen, Restore: rs.restore, OnStateChange: rs.notify,
		SampleTrace: tracer.Sample, OnSpan: tracer.OnSpan(),
	})
	if err := eng.Start(cfg); err != nil {
		logger.Error("cannot start", "error", err.Error())
		return 1
	}
	rs.attach(eng)
	network := startNetcheck(ctx, eng, logger)
	p := &process{eng: eng, path: so.path, logger: logger}
	adm, err := startAdmin(cfg, eng, logger, adminHooks{
		reload: p.reloader(), upgrade: up.upgrade, onChange: rs.notify, listen: up.listen,
		network: network,
	})
	if err != nil {
		logger.Error("cannot start", "error", err.Error())
		_ = eng.Shutdown(context.Background())
		return 1
	}
	if err := up.ready(); err != nil {
		logger.Error("cannot tell the old process that this one serves", "error", err.Error())
	}
	stopWatch := p.watch(ctx)
	defer stopWatch()
	if so.ready != nil {
		so.ready(eng)
	}
	code, handover := p.wait(ctx, hup, up, adm)
	// No more upgrades; the copies of the sockets kept for one close, so
	// that sockets closed from here on stop listening.
	up.stop()
	// A second signal now kills the process at once, except after a
	// hand-over: "systemctl stop" signals every process of the unit, and
	// this one is finishing requests within its grace.
	stop()
	if handover {
		ignoreStopSignals(logger)
	}
	sctx, cancel := context.WithTimeout(context.Background(), eng.Snapshot().Config.ShutdownTimeout.D())
	defer cancel()
	if adm != nil {
		_ = adm.Shutdown(sctx)
	}
	if handover {
		err = eng.Handover(sctx)
	} else {
		err = eng.Shutdown(sctx)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("shutdown", "error", err.Error())
	}
	// After a hand-over the new process owns the state file (the upgrade
	// froze it).
	rs.close()
	logger.Info("stopped")
	return code
}

// wait serves until the process should end: a signal to stop, a new
// process that took over (handover), or a failure (code 1). Meanwhile
// SIGHUP reloads and SIGUSR2 upgrades.
func (p *process) wait(ctx context.Context, hup <-chan os.Signal, up *upgrader, adm *admin.Server) (code int, handover bool) {
	grace := func() string { return p.eng.Snapshot().Config.ShutdownTimeout.D().String() }
	for {
		select {
		case sig := <-hup:
			if sig == syscall.SIGUSR2 {
				go func() { _ = up.upgrade() }()
			} else if p.path != "" {
				go p.reload("signal")
			}
		case <-up.exit():
			p.logger.Info("a new process serves; finishing requests in progress", "grace", grace())
			return 0, true
		case <-ctx.Done():
			p.logger.Info("shutting down", "grace", grace())
			return 0, false
		case err := <-p.eng.Err():
			p.logger.Error("listener failed", "error", err.Error())
			return 1, false
		case err := <-adminErr(adm):
			p.logger.Error("admin endpoint failed", "error", err.Error())
			return 1, false
		}
	}
}

// ignoreStopSignals takes SIGTERM and SIGINT from now on, saying so in
// the log, until the process exits.
func ignoreStopSignals(logger *slog.Logger) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sig {
			logger.Info("signal ignored: finishing requests after an upgrade", "signal", s.String())
		}
	}()
}
