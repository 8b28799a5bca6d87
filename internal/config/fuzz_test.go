package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load. Whatever the input, Load must not
// panic, must return either a configuration or Errors, never both, and a
// configuration it accepts must pass Validate on its own.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*.yaml")
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, file := range append(seeds, examples...) {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("listeners: [{name: a, address: ':1'}]\nroutes: [{name: r, backend: b}]\nbackends: [{name: b, servers: [{name: s, address: 'h:1'}]}]\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b, *b]\n"))
	f.Add([]byte("backends: [{<<: [{name: x}], servers: []}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load("fuzz.yaml", data, testEnv)
		if err == nil {
			if c == nil {
				t.Fatal("Load returned neither a configuration nor an error")
			}
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Load accepted a configuration that Validate refuses: %v", verr)
			}
			return
		}
		if c != nil {
			t.Fatal("Load returned a configuration along with errors")
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("Load returned %T %v, want non-empty Errors", err, err)
		}
		for _, e := range errs {
			if e.Msg == "" {
				t.Fatalf("error without a message: %+v", e)
			}
		}
	})
}
