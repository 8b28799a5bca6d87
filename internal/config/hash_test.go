package config

import "testing"

func TestHash(t *testing.T) {
	a, err := Load("a.yaml", []byte(tracingBase), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same settings written otherwise, and with a default spelled out.
	b, err := Load("b.yaml", []byte("backends: [{name: app, retries: 2, servers: [{name: a, address: \"127.0.0.1:9001\"}]}]\n"+
		"routes: [{name: all, backend: app}]\nlisteners: [{name: web, address: \"127.0.0.1:8080\"}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load("c.yaml", []byte(tracingBase+"tracing: {sample_ratio: 0.5}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := a.Hash(); len(h) != 12 || h != b.Hash() || h == c.Hash() {
		t.Errorf("hashes %s %s %s: want 12 digits, the first two equal, the third not", a.Hash(), b.Hash(), c.Hash())
	}
}
