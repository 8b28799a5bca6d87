package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/portier/portier/internal/config"
)

// cmdDiff prints what a reload from one configuration to another would
// change; it exits 0 when they are the same, 1 when they differ, 2 on error.
func cmdDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: portier diff OLD.yaml NEW.yaml")
		return 2
	}
	var cfgs [2]*config.Config
	for i, path := range fs.Args() {
		cfg, err := loadConfig(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		cfgs[i] = cfg
	}
	d := config.Compare(cfgs[0], cfgs[1])
	if d.Empty() {
		fmt.Fprintln(stdout, "no changes")
		return 0
	}
	fmt.Fprint(stdout, d.String())
	return 1
}
