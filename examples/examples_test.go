// Package examples holds example configurations; its test loads every one of
// them, so that an example can never drift from what Portier accepts.
package examples

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/portier/portier/internal/config"
)

// noEnv makes every ${VAR:-default} take its default, whatever the
// environment of the test run.
func noEnv(string) (string, bool) { return "", false }

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d examples, want the demo and at least one more", len(files))
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Load(file, data, noEnv)
			if err != nil {
				t.Fatalf("example does not load:\n%v", err)
			}
			if len(c.Routes) == 0 && !hasTCP(c) {
				t.Errorf("example serves nothing: no routes and no tcp listener")
			}
		})
	}
}

func hasTCP(c *config.Config) bool {
	for _, l := range c.Listeners {
		if l.Protocol == config.ProtocolTCP {
			return true
		}
	}
	return false
}

// TestDemo pins what `portier demo` relies on: one listener on loopback and
// an 80/20 split between the blue and the green backend, one loopback server
// each. The split is not sticky, so that refreshing a browser shows both.
func TestDemo(t *testing.T) {
	data, err := os.ReadFile("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load("demo.yaml", data, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners) != 1 || c.Listeners[0].Address != "127.0.0.1:8080" {
		t.Errorf("listeners = %+v, want one on 127.0.0.1:8080", c.Listeners)
	}
	if len(c.Routes) != 1 || len(c.Routes[0].Split) != 2 || c.Routes[0].Sticky != nil {
		t.Fatalf("routes = %+v, want one split of two, not sticky", c.Routes)
	}
	want := map[string]int{"blue": 80, "green": 20}
	for _, v := range c.Routes[0].Split {
		if want[v.Backend] != v.Weight {
			t.Errorf("variant %s has weight %d, want %d", v.Backend, v.Weight, want[v.Backend])
		}
		b := c.Backend(v.Backend)
		if b == nil || len(b.Servers) != 1 {
			t.Fatalf("backend %s = %+v, want one server", v.Backend, b)
		}
		if addr := b.Servers[0].Address; addr != "127.0.0.1:9001" && addr != "127.0.0.1:9002" {
			t.Errorf("demo server address %s is not one the demo serves", addr)
		}
	}
}
