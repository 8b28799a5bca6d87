package config

import (
	"os"
	"testing"
)

// BenchmarkLoad measures loading the full example, which a reload does once.
func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile("../../examples/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("full.yaml", data, testEnv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompare measures the diff of two loaded configurations.
func BenchmarkCompare(b *testing.B) {
	data, err := os.ReadFile("../../examples/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	old, err := Load("full.yaml", data, testEnv)
	if err != nil {
		b.Fatal(err)
	}
	new, _ := Load("full.yaml", data, testEnv)
	new.Backends[0].Servers[0].Weight = 1
	b.ReportAllocs()
	for b.Loop() {
		if d := Compare(old, new); d.Empty() {
			b.Fatal("no difference found")
		}
	}
}
