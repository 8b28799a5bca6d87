package state

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/portier/portier/internal/config"
)

// benchEntries returns n entries spread over ten backends.
func benchEntries(n int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{
			Backend:  fmt.Sprintf("backend-%d", i%10),
			Server:   fmt.Sprintf("web-%04d", i),
			Identity: config.ServerIdentity{Address: fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256), SendProxyProtocol: "none"},
			Admin:    AdminReady,
			Health:   HealthUp,
			Reason:   "status 200",
		}
	}
	return es
}

// BenchmarkSave1000 measures a save of 1000 servers, fsyncs included.
func BenchmarkSave1000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.json")
	es := benchEntries(1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := Save(path, es); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad1000 measures a load of 1000 servers.
func BenchmarkLoad1000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.json")
	if err := Save(path, benchEntries(1000)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}
