// Command portier is the Portier reverse proxy and load balancer.
//
// This package is wiring only: flags, loggers, the engine and signals.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Portier: a reverse proxy and load balancer.

Usage:
  portier demo                          quick start: the proxy on examples/demo.yaml in front of two built-in backends
  portier run -c portier.yaml           run the proxy (or set PORTIER_CONFIG)
  portier validate -c portier.yaml      check a configuration: every error, with file, line and key
  portier proxy --from :8080 --to 127.0.0.1:9001,127.0.0.1:9002
                                        proxy without a configuration file
  portier diff old.yaml new.yaml        what a reload from old to new would change
  portier doctor [-c portier.yaml] [--probe CIDR_OR_IP ...]
                                        check that replies to clients leave by the right interface; exit 1 on a warning
  portier ctl status|drain|maint|ready|weight|reload|upgrade ...
                                        the admin API from the command line
  portier upgrade [-c portier.yaml]     start the new binary on the running one's sockets (same as ctl upgrade)
  portier version                       print the version

Run "portier COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "proxy":
		return cmdProxy(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "ctl":
		return cmdCtl(rest, stdout, stderr)
	case "upgrade":
		return cmdCtl(append(rest, "upgrade"), stdout, stderr)
	case "diff":
		return cmdDiff(rest, stdout, stderr)
	case "doctor":
		return cmdDoctor(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "portier: unknown command %q\n\n%s", cmd, usage)
	return 2
}
