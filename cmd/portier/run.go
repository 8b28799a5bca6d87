package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
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
	return serve(cfg, nil, stdout, stderr)
}

// serve runs cfg until SIGINT or SIGTERM, then shuts down gracefully. ready,
// when set, is called once every listener is bound.
func serve(cfg *config.Config, ready func(*engine.Engine), stdout, stderr io.Writer) int {
	logger, accessLog, closeAccess, err := loggers(cfg.Log.Level, cfg.Log.Access, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer closeAccess()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	eng := engine.New(engine.Options{Logger: logger, AccessLog: accessLog})
	if err := eng.Start(cfg); err != nil {
		logger.Error("cannot start", "error", err.Error())
		return 1
	}
	adm, err := startAdmin(cfg, eng, logger)
	if err != nil {
		logger.Error("cannot start", "error", err.Error())
		_ = eng.Shutdown(context.Background())
		return 1
	}
	if ready != nil {
		ready(eng)
	}
	code := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "grace", cfg.ShutdownTimeout.D().String())
	case err := <-eng.Err():
		logger.Error("listener failed", "error", err.Error())
		code = 1
	case err := <-adminErr(adm):
		logger.Error("admin endpoint failed", "error", err.Error())
		code = 1
	}
	stop() // a second signal now kills the process at once
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
	defer cancel()
	if adm != nil {
		_ = adm.Shutdown(sctx)
	}
	if err := eng.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("shutdown", "error", err.Error())
	}
	logger.Info("stopped")
	return code
}
