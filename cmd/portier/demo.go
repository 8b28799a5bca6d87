package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/portier/portier/examples"
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/demo"
	"github.com/portier/portier/internal/engine"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load("examples/demo.yaml", examples.Demo(), nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	backends, err := demo.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "portier demo: %v\n", err)
		return 1
	}
	defer backends.Close()
	return serve(cfg, serveOptions{ready: func(e *engine.Engine) {
		for _, l := range cfg.Listeners {
			fmt.Fprintf(stderr, "\nPortier demo is running.\n\n  Open   http://%s/   and refresh: about 80%% blue, 20%% green.\n  Try    for i in $(seq 20); do curl -s http://%s/; done | sort | uniq -c\n\nThe configuration is examples/demo.yaml. Stop with Ctrl-C.\n",
				e.Addr(l.Name), e.Addr(l.Name))
		}
		if a := cfg.Admin.Address; a != config.AdminOff {
			fmt.Fprintf(stderr, "  Watch  http://%s/   the dashboard: every server, live rates, errors, reloads\n"+
				"  Admin  portier ctl status   (or http://%s/api/v1/status, /metrics, /readyz)\n"+
				"  Drain  portier ctl drain blue/blue-1   then refresh: every answer is green\n\n", a, a)
		}
	}}, stdout, stderr)
}
