package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/portier/portier/internal/config"
)

const diffUsage = `Usage: portier diff [--json] OLD.yaml NEW.yaml

Prints what a reload from OLD to NEW would change, one line per change:
  + routes.shop-api                                  added
  - backends.old                                     removed
  ~ backends.pages.servers.web-01.address: a -> b    changed, old -> new
Exits 0 when they are the same, 1 when they differ, 2 on an error.

Flags:
`

// cmdDiff prints what a reload from one configuration to another would
// change; it exits 0 when they are the same, 1 when they differ, 2 on error.
func cmdDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, diffUsage)
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, `print the diff as JSON, as POST /api/v1/reload returns it: {"changes": [{"op", "path", "old", "new"}]}`)
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(files) != 2 {
		fs.Usage()
		return 2
	}
	var cfgs [2]*config.Config
	for i, path := range files {
		cfg, err := loadConfig(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		cfgs[i] = cfg
	}
	d := config.Compare(cfgs[0], cfgs[1])
	if *asJSON {
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "portier diff: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprint(stdout, d.String())
	}
	if d.Empty() {
		return 0
	}
	return 1
}

// parseInterspersed parses fs from args with flags allowed after the
// positional arguments too ("portier diff old.yaml new.yaml --json"), and
// returns the positional ones. A lone "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		if len(args) > fs.NArg() && args[len(args)-fs.NArg()-1] == "--" {
			return append(rest, fs.Args()...), nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
