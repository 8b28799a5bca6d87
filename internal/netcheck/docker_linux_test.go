//go:build linux

package netcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/netlab"
)

// pair is a long-lived connection: the end in the app and the far end.
type pair struct{ app, far net.Conn }

// longLived opens, in the Docker topology, a client connection to the
// app's listener on :8080 and an upstream connection from the app to a
// server on the Internet side, as a proxy holds WebSockets and Redis.
func longLived(t *testing.T, d *netlab.DockerApp) (client, upstream pair) {
	t.Helper()
	listen := func(ns *netlab.NS, addr string) net.Listener {
		var ln net.Listener
		if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	dial := func(ns *netlab.NS, addr string) net.Conn {
		var c net.Conn
		if err := ns.Do(func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	accept := func(ln net.Listener) net.Conn {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	web := listen(d.App, ":8080")
	server := listen(d.Client, netlab.ClientAddr+":9000")
	client.far = dial(d.Client, netlab.AppAddr+":8080")
	client.app = accept(web)
	upstream.app = dial(d.App, netlab.ClientAddr+":9000")
	upstream.far = accept(server)
	return client, upstream
}

// delivers reports whether bytes written by the app reach the far end;
// wait bounds the wait for a connection that went dead.
func delivers(t *testing.T, p pair, wait time.Duration) bool {
	t.Helper()
	if _, err := p.app.Write([]byte("x")); err != nil {
		return false
	}
	p.far.SetReadDeadline(time.Now().Add(wait))
	_, err := io.ReadFull(p.far, make([]byte, 1))
	return err == nil
}

var web8080 = []Listener{{Name: "web", Address: ":8080"}}

// TestDockerApp reproduces seeds/004: a second network attached to a
// running container moves its default route, and its long-lived
// connections, client side and upstream side, go silently dead.
func TestDockerApp(t *testing.T) {
	d := netlab.New(t).NewDockerApp()
	client, upstream := longLived(t, d)
	own := Scope{Listeners: web8080, OwnSockets: true}
	if fs := check(t, d.App, own, ""); len(warnings(fs)) != 0 {
		t.Fatalf("before the second network:\n%s", dump(fs))
	}
	if !delivers(t, client, 5*time.Second) || !delivers(t, upstream, 5*time.Second) {
		t.Fatal("connections do not work before the second network")
	}
	d.AttachSecond()
	want := []string{
		"warn conn-iface-mismatch 172.24.34.5:8080",
		"warn conn-iface-mismatch 203.0.113.7:9000",
	}
	// run: the process's own sockets; doctor: by listener port and upstream.
	doctor := Scope{Listeners: web8080, Upstreams: []netip.AddrPort{netip.MustParseAddrPort(netlab.ClientAddr + ":9000")}}
	for name, s := range map[string]Scope{"dockerapp-attached": own, "": doctor} {
		fs := check(t, d.App, s, name)
		if got := warnings(fs); !slices.Equal(got, want) {
			t.Errorf("own sockets %v: warnings\n%s\nwant\n%s", s.OwnSockets, dump(fs), strings.Join(want, "\n"))
		}
	}
	if delivers(t, client, time.Second) || delivers(t, upstream, time.Second) {
		t.Error("a connection still delivers after the default route moved: the test reproduces nothing")
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the logged JSON lines whose msg is msg.
func (s *syncBuffer) lines(msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(s.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestWatchSeesDefaultRouteChange: when Docker moves the default route,
// the watch logs one line naming the old and the new route and the
// listeners they move, counts one change, and publishes the dead
// connections.
func TestWatchSeesDefaultRouteChange(t *testing.T) {
	d := netlab.New(t).NewDockerApp()
	longLived(t, d)
	var logs syncBuffer
	w := NewWatch(WatchOptions{
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		NetNS:  d.App.Path(),
		Scope:  func() Scope { return Scope{Listeners: web8080, OwnSockets: true} },
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w.Start(ctx)
	if fs := w.Findings(); fs == nil || len(warnings(fs)) != 0 {
		t.Fatalf("findings at start: %v", fs)
	}
	d.AttachSecond()
	changed := time.Now()
	for w.RouteChanges() == 0 {
		if time.Since(changed) > 5*time.Second {
			t.Fatalf("no route change seen; log:\n%s", logs.b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(changed)
	t.Logf("route change logged %v after the default route moved", took)
	if took > time.Second {
		t.Errorf("route change logged after %v, want within 1s", took)
	}
	// A full evaluation now finds nothing new to count.
	w.Evaluate(ctx, true)
	if n := w.RouteChanges(); n != 1 {
		t.Errorf("%d route changes counted, want 1", n)
	}
	lines := logs.lines("route changed")
	if len(lines) != 1 {
		t.Fatalf("%d route change lines, want 1:\n%s", len(lines), logs.b.String())
	}
	l := lines[0]
	if l["from"] != "default via 172.24.34.1 dev eth0" || l["to"] != "default via 172.24.35.1 dev eth1" || l["listeners"] != "web" {
		t.Errorf("route change line: %v", l)
	}
	if got := warnings(w.Findings()); !slices.Contains(got, "warn conn-iface-mismatch 172.24.34.5:8080") {
		t.Errorf("published findings after the change: %v", got)
	}
	if len(logs.lines(w.Findings()[0].Message)) != 1 {
		t.Errorf("the new warning was not logged once:\n%s", logs.b.String())
	}
}
