package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/portier/portier/internal/config"
)

func cmdProxy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", ":8080", "`address` to listen on")
	to := fs.String("to", "", "comma-separated server `addresses` (host:port)")
	balance := fs.String("balance", config.BalanceRoundRobin, "round_robin, least_conn, random_two or hash")
	access := fs.String("access-log", "stdout", `access log: "stdout", "stderr", "off" or a file`)
	h2c := fs.Bool("h2c", false, "accept HTTP/2 with prior knowledge")
	http2 := fs.Bool("http2", false, "speak HTTP/2 (h2c) to the servers")
	admin := fs.String("admin", "off", `admin `+"`address`"+`, or "off"`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := proxyConfig(proxyFlags{from: *from, to: *to, balance: *balance,
		access: *access, h2c: *h2c, http2: *http2, admin: *admin})
	if err != nil {
		fmt.Fprintf(stderr, "portier proxy: %v\n", err)
		return 2
	}
	return serve(cfg, serveOptions{}, stdout, stderr)
}

type proxyFlags struct {
	from, to, balance, access, admin string
	h2c, http2                       bool
}

// proxyConfig builds the configuration `portier proxy` runs: one listener,
// one route of everything, one backend of the given servers.
func proxyConfig(f proxyFlags) (*config.Config, error) {
	if strings.TrimSpace(f.to) == "" {
		return nil, fmt.Errorf("--to: at least one server address is required")
	}
	cfg := config.New()
	cfg.Admin.Address = f.admin
	cfg.Log.Access = f.access
	l := config.NewListener("proxy", f.from)
	l.H2C = f.h2c
	cfg.Listeners = append(cfg.Listeners, l)
	var servers []config.Server
	for i, addr := range strings.Split(f.to, ",") {
		servers = append(servers, config.NewServer(fmt.Sprintf("server-%d", i+1), strings.TrimSpace(addr)))
	}
	b := config.NewBackend("default", servers...)
	b.Balance = f.balance
	b.HTTP2 = f.http2
	cfg.Backends = append(cfg.Backends, b)
	cfg.Routes = append(cfg.Routes, config.NewRoute("default", "default"))
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
