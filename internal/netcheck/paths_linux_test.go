//go:build linux

package netcheck

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/netlab"
)

// rpDrops reads the namespace's count of packets dropped by the
// reverse-path filter (TcpExt IPReversePathFilter in /proc/net/netstat).
func rpDrops(t *testing.T, ns *netlab.NS) int {
	t.Helper()
	out, err := ns.Command("cat", "/proc/net/netstat").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if j := slices.Index(names, "IPReversePathFilter"); j > 0 && j < len(values) {
			n, _ := strconv.Atoi(values[j])
			return n
		}
	}
	t.Fatal("no IPReversePathFilter counter in /proc/net/netstat")
	return 0
}

// TestRPFilter: strict reverse-path filtering with an asymmetric path
// drops the clients' packets on arrival (the kernel's own counter says
// so), and deliberate setups with it are not flagged.
func TestRPFilter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(*netlab.ProxyVM)
		sysctls []string
		warns   []string
		drops   bool // the client's SYN is dropped by rp_filter
	}{{
		name: "strict, asymmetric", setup: (*netlab.ProxyVM).Bad, sysctls: []string{"net.ipv4.conf.all.rp_filter=1"}, drops: true,
		warns: []string{"warn reply-iface-mismatch 198.51.100.10:80", "warn rp-filter-drop 198.51.100.10:80"},
	}, {
		name: "loose, asymmetric", setup: (*netlab.ProxyVM).Bad, sysctls: []string{"net.ipv4.conf.all.rp_filter=2"},
		warns: []string{"warn reply-iface-mismatch 198.51.100.10:80"},
	}, {
		name: "strict on the interface, symmetric", setup: (*netlab.ProxyVM).Fixed, sysctls: []string{"net.ipv4.conf.pub0.rp_filter=1"},
		warns: []string{},
	}, {
		name: "strict, source rule", setup: (*netlab.ProxyVM).SourceRule, sysctls: []string{"net.ipv4.conf.all.rp_filter=1"},
		warns: []string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			v := netlab.New(t).NewProxyVM()
			tc.setup(v)
			for _, s := range tc.sysctls {
				v.Proxy.Sysctl(s)
			}
			serveHello(t, v.Proxy)
			fs := check(t, v.Proxy, Scope{Listeners: []Listener{{Name: "web", Address: netlab.PubAddr + ":80"}}}, "")
			if got := warnings(fs); !slices.Equal(got, tc.warns) {
				t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.warns, "\n"))
			}
			before := rpDrops(t, v.Proxy)
			wait := 5 * time.Second
			if len(tc.warns) > 0 {
				wait = time.Second // the client gets no answer: this bounds the wait
			}
			got := served(t, v.Client, netlab.PubAddr+":80", wait)
			if got != (len(tc.warns) == 0) {
				t.Errorf("client served: %v", got)
			}
			if dropped := rpDrops(t, v.Proxy) > before; dropped != tc.drops {
				t.Errorf("reverse-path filter dropped the client's packets: %v, want %v", dropped, tc.drops)
			}
		})
	}
}

// TestLocalAddresses: a VIP on lo (or on a dummy interface, where the
// kernel has them) answers by whatever route fits (info), loopback
// listeners only serve this host (info), and an address on no interface
// is a warning.
func TestLocalAddresses(t *testing.T) {
	v := netlab.New(t).NewProxyVM()
	v.Fixed()
	v.Proxy.IP("addr", "add", "192.0.2.80/32", "dev", "lo")
	listeners := []Listener{
		{Name: "vip-lo", Address: "192.0.2.80:80"},
		{Name: "local", Address: "127.0.0.1:81"},
		{Name: "local6", Address: "[::1]:81"},
		{Name: "gone", Address: "192.0.2.200:80"},
	}
	want := []string{
		"warn listen-addr-missing 192.0.2.200:80",
		"info local-only 127.0.0.1:81",
		"info local-only [::1]:81",
		"info reply-iface-mismatch 192.0.2.80:80",
	}
	vips := []string{"192.0.2.80:80"}
	if err := v.Proxy.TryIP("link", "add", "vip0", "type", "dummy"); err != nil {
		// testdata/local-addresses-dummy.facts.json covers the analysis.
		t.Logf("no dummy interface on this kernel: %v", err)
	} else {
		v.Proxy.IP("addr", "add", "192.0.2.90/32", "dev", "vip0")
		v.Proxy.IP("link", "set", "vip0", "up")
		listeners = append(listeners, Listener{Name: "vip-dummy", Address: "192.0.2.90:80"})
		want = append(want, "info reply-iface-mismatch 192.0.2.90:80")
		vips = append(vips, "192.0.2.90:80")
	}
	v.Router.IP("route", "add", "192.0.2.0/24", "via", netlab.PubAddr)
	serveHello(t, v.Proxy)
	fs := check(t, v.Proxy, Scope{Listeners: listeners}, "local-addresses")
	if got := summary(fs); !slices.Equal(got, want) {
		t.Errorf("findings\n%s\nwant\n%s", dump(fs), strings.Join(want, "\n"))
	}
	for _, addr := range vips {
		if !served(t, v.Client, addr, 5*time.Second) {
			t.Errorf("client not served by the VIP %s", addr)
		}
	}
}

// TestMultipathDefault: one multipath default route over both sides is a
// deliberate spread, not competing routes; whether replies take the path
// of their source address depends on the kernel (it prefers it since
// 6.12; before, a hash decides, and the reply check samples it with
// several probes: testdata/multipath-hashed.facts.json).
func TestMultipathDefault(t *testing.T) {
	v := netlab.New(t).NewProxyVM()
	v.Proxy.IP("route", "add", "default",
		"nexthop", "via", netlab.NATGateway, "dev", "nat0",
		"nexthop", "via", netlab.PubGateway, "dev", "pub0")
	fs := check(t, v.Proxy, Scope{Listeners: []Listener{{Name: "web", Address: "0.0.0.0:80"}}}, "multipath-default")
	for _, w := range warnings(fs) {
		if !strings.HasPrefix(w, "warn reply-iface-mismatch ") {
			t.Errorf("unexpected warning %s:\n%s", w, dump(fs))
		}
	}
	t.Logf("findings on this kernel:\n%s", dump(fs))
}
