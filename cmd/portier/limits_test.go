package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMaxBodyBytes: through the whole stack, a body over max_body_bytes is
// answered 413: at once, before reaching the server, when its length is
// declared; as soon as it crosses the limit when it is chunked.
func TestMaxBodyBytes(t *testing.T) {
	var reached atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(be.Close)
	cfg := writeFile(t, "limits.yaml", fmt.Sprintf(`
admin: {address: "off"}
log: {access: "off"}
listeners:
  - {name: web, address: "127.0.0.1:0", limits: {max_body_bytes: 16}}
routes: [{name: all, backend: b}]
backends: [{name: b, servers: [{name: s, address: %q}]}]
`, be.Listener.Addr()))
	p := start(t, 1, "run", "-c", cfg)
	url := "http://" + p.addr("web") + "/"
	send := func(body io.Reader) int {
		resp, err := http.Post(url, "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(strings.NewReader("small")); code != 200 {
		t.Fatalf("a body within the limit: %d", code)
	}
	before := reached.Load()
	if code := send(strings.NewReader(strings.Repeat("x", 100))); code != 413 {
		t.Fatalf("a declared body over the limit: %d, want 413", code)
	}
	if reached.Load() != before {
		t.Fatal("a declared body over the limit reached the server")
	}
	if code := send(io.MultiReader(strings.NewReader(strings.Repeat("x", 100)))); code != 413 {
		t.Fatalf("a chunked body over the limit: %d, want 413", code)
	}
}
