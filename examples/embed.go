// Package examples holds Portier's example configurations. Every *.yaml here
// is validated by a test; demo.yaml is embedded in the binary for
// `portier demo`.
package examples

import _ "embed"

//go:embed demo.yaml
var demo string

// Demo returns the configuration `portier demo` runs.
func Demo() []byte { return []byte(demo) }
