//go:build linux

package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/netcheck"
	"github.com/portier/portier/internal/netlab"
)

// TestNetworkFindings runs the route watch on the Open Food Facts proxy
// (seeds/000) in a namespace: the status and GET /api/v1/doctor name the
// wrong reply path, and once the default route is repaired the status
// clears and portier_route_changes_total counts the change.
func TestNetworkFindings(t *testing.T) {
	v := netlab.New(t).NewProxyVM()
	v.Bad()
	f := newFixture(t)
	w := netcheck.NewWatch(netcheck.WatchOptions{
		Logger: slog.New(slog.DiscardHandler),
		NetNS:  v.Proxy.Path(),
		Scope: func() netcheck.Scope {
			return netcheck.Scope{Listeners: []netcheck.Listener{{Name: "web", Address: netlab.PubAddr + ":80"}}}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w.Start(ctx)
	a := New(Options{Address: "127.0.0.1:0", Engine: f.eng, Logger: slog.New(slog.DiscardHandler), Network: w})
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	base := "http://" + a.Addr().String()

	var st struct {
		Network []map[string]string `json:"network"`
	}
	code, body := call(t, "GET", base+"/api/v1/status", "", "")
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || len(st.Network) != 1 {
		t.Fatalf("status %d: %v\n%s", code, err, body)
	}
	n := st.Network[0]
	if n["code"] != "reply-iface-mismatch" || n["level"] != "warn" || n["address"] != "198.51.100.10:80" ||
		!strings.Contains(n["message"], "leave by nat0") || len(n) != 4 {
		t.Errorf("network finding in the status: %v", n)
	}
	var doc doctorBody
	code, body = call(t, "GET", base+"/api/v1/doctor", "", "")
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || doc.Warnings != 1 {
		t.Fatalf("doctor %d: %v\n%s", code, err, body)
	}
	if got := metric(t, base, "portier_route_changes_total"); got != "0" {
		t.Errorf("portier_route_changes_total %s before any change", got)
	}

	v.Proxy.IP("route", "replace", "default", "via", netlab.PubGateway, "dev", "pub0")
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, base, "portier_route_changes_total") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the route change was not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body = call(t, "GET", base+"/api/v1/status", "", ""); strings.Contains(body, `"network"`) {
		t.Errorf("status still reports network findings after the repair:\n%s", body)
	}
	code, body = call(t, "GET", base+"/api/v1/doctor", "", "")
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || doc.Warnings != 0 {
		t.Errorf("doctor after the repair %d: %v\n%s", code, err, body)
	}
	// Without a network check, the call says so.
	if code, body = call(t, "GET", f.admin+"/api/v1/doctor", "", ""); code != 501 || !strings.Contains(body, "not_available") {
		t.Errorf("doctor without a network check: %d %s", code, body)
	}
}

// metric returns the value of an unlabelled metric from /metrics.
func metric(t *testing.T, base, name string) string {
	t.Helper()
	_, body := call(t, "GET", base+"/metrics", "", "")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}
