package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/netcheck"
)

// probeList collects --probe values: repeatable, comma-separated.
type probeList []netip.Prefix

func (p *probeList) String() string {
	s := make([]string, len(*p))
	for i, q := range *p {
		s[i] = q.String()
	}
	return strings.Join(s, ",")
}

func (p *probeList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		q, err := netcheck.ParseProbe(f)
		if err != nil {
			return err
		}
		*p = append(*p, q)
	}
	return nil
}

// cmdDoctor checks that replies to clients leave by the interface that
// holds each listener address, and the rest of netcheck's findings. It
// exits 1 when anything needs action.
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	var probes probeList
	fs.Var(&probes, "probe", "check replies to `CIDR_OR_IP`, a client address or range (repeatable, comma-separated, "+
		"or listed after the flags); default: a few public addresses")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	for _, a := range fs.Args() {
		if err := probes.Set(a); err != nil {
			fmt.Fprintf(stderr, "portier doctor: %v\n", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := netcheck.Scope{Probes: probes}
	if *path == "" {
		fmt.Fprintln(stdout, "no configuration (-c or PORTIER_CONFIG): checking every local address")
		s.Listeners = []netcheck.Listener{{Address: ":0"}}
	} else {
		cfg, err := loadConfig(*path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		s.Listeners = checkedListeners(cfg)
		s.Upstreams = upstreamAddrs(ctx, cfg)
	}
	rep, err := netcheck.Checker{}.Check(ctx, s)
	if errors.Is(err, netcheck.ErrUnsupported) {
		fmt.Fprintf(stdout, "portier doctor: cannot check routes on %s; nothing was checked\n", runtime.GOOS)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "portier doctor: %v\n", err)
		return 1
	}
	for _, f := range rep.Findings {
		fmt.Fprintln(stdout, f)
	}
	warn := netcheck.Warnings(rep.Findings)
	switch {
	case warn > 0:
		fmt.Fprintf(stdout, "portier doctor: %d warning(s), %d note(s)\n", warn, len(rep.Findings)-warn)
		return 1
	case len(rep.Findings) > 0:
		fmt.Fprintf(stdout, "portier doctor: no problem found, %d note(s)\n", len(rep.Findings))
	default:
		fmt.Fprintln(stdout, "portier doctor: no problem found")
	}
	return 0
}

// checkedListeners are the addresses whose reply paths are checked: the
// listeners, and the admin endpoint unless it is off or on loopback.
func checkedListeners(cfg *config.Config) []netcheck.Listener {
	var out []netcheck.Listener
	for _, l := range cfg.Listeners {
		out = append(out, netcheck.Listener{Name: l.Name, Address: l.Address})
	}
	if a := cfg.Admin.Address; a != config.AdminOff {
		host, _, err := net.SplitHostPort(a)
		ip, perr := netip.ParseAddr(host)
		if err == nil && host != "localhost" && !(perr == nil && ip.IsLoopback()) {
			out = append(out, netcheck.Listener{Name: "admin", Address: a})
		}
	}
	return out
}

// upstreamAddrs are the servers' addresses, names resolved, so that doctor
// can tell the proxy's upstream connections from others. A name that
// does not resolve is left out: its connections cannot exist.
func upstreamAddrs(ctx context.Context, cfg *config.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, b := range cfg.Backends {
		for _, s := range b.Servers {
			host, port, err := net.SplitHostPort(s.Address)
			if err != nil {
				continue
			}
			p, err := strconv.ParseUint(port, 10, 16)
			if err != nil {
				continue
			}
			if ip, err := netip.ParseAddr(host); err == nil {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(p)))
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			ips, _ := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
			cancel()
			for _, ip := range ips {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(p)))
			}
		}
	}
	return out
}

// startNetcheck checks the network once listeners are bound (warnings are
// logged, never fatal) and starts the route watch, which follows the
// listeners of each configuration and stops with ctx.
func startNetcheck(ctx context.Context, eng *engine.Engine, logger *slog.Logger) *netcheck.Watch {
	w := netcheck.NewWatch(netcheck.WatchOptions{
		Logger: logger,
		Scope: func() netcheck.Scope {
			return netcheck.Scope{Listeners: checkedListeners(eng.Snapshot().Config), OwnSockets: true}
		},
	})
	w.Start(ctx)
	return w
}
