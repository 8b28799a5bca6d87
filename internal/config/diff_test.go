package config

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{name: "same", mutate: func(*Config) {}, want: "no changes\n"},
		{name: "route renamed", mutate: func(c *Config) {
			c.Routes[0].Name = "everything"
		}, want: "- routes.all\n+ routes.everything\n"},
		{name: "route fields", mutate: func(c *Config) {
			c.Routes[0].Hosts = []string{"a.example.com", "*.b.example.com"}
			c.Routes[0].Backend = "app-v2"
			c.Routes[0].Headers = map[string]string{"X-Env": "prod", "X-Beta": "*"}
		}, want: "~ routes.all.hosts: [] -> [a.example.com, *.b.example.com]\n" +
			"~ routes.all.headers: {} -> {X-Beta: *, X-Env: prod}\n" +
			"~ routes.all.backend: app -> app-v2\n"},
		{name: "section appears", mutate: func(c *Config) {
			c.Backends[0].Balance = BalanceLeastConn
			c.Backends[0].Timeouts.Connect = Duration(1e9)
			c.Backends[0].Health = NewHealth("/status")
		}, want: "~ backends.app.balance: round_robin -> least_conn\n" +
			"~ backends.app.health: none -> {path: /status, method: GET, interval: 2s, fast_interval: 500ms, " +
			"down_interval: 5s, timeout: 1s, rise: 2, fall: 3, expect_status: [200-399]}\n" +
			"~ backends.app.timeouts.connect: 5s -> 1s\n"},
		{name: "section goes", mutate: func(c *Config) {
			c.Backends[1].Health = nil
		}, want: "~ backends.app-v2.health: {path: /, method: GET, interval: 2s, fast_interval: 500ms, " +
			"down_interval: 5s, timeout: 1s, rise: 2, fall: 3, expect_status: [200-399]} -> none\n"},
		{name: "nested field of a section", mutate: func(c *Config) {
			c.Backends[1].Health.Interval = Duration(90e9)
		}, want: "~ backends.app-v2.health.interval: 2s -> 1m30s\n"},
		{name: "servers", mutate: func(c *Config) {
			b := &c.Backends[0]
			b.Servers[0].Weight = 50
			b.Servers[1].Address = "10.0.0.9:9002"
			b.Servers = append(b.Servers, NewServer("c", "127.0.0.1:9009"))
			c.Backends[1].Servers = nil
		}, want: "~ backends.app.servers.a.weight: 100 -> 50\n" +
			"~ backends.app.servers.b.address: app-2.internal:9002 -> 10.0.0.9:9002\n" +
			"+ backends.app.servers.c\n" +
			"- backends.app-v2.servers.a\n"},
		{name: "backend removed, not its servers", mutate: func(c *Config) {
			c.Backends = c.Backends[:1]
		}, want: "- backends.app-v2\n"},
		{name: "listener and settings", mutate: func(c *Config) {
			c.Listeners[0].Limits.MaxBodyBytes = 1 << 20
			c.Listeners[0].TrustedProxies = []Prefix{{netip.MustParsePrefix("10.0.0.0/8")}}
			c.Admin.TokenFile = "/etc/portier/admin.token"
			c.Log.Level = "debug"
			c.ShutdownTimeout = Duration(5e9)
		}, want: "~ admin.token_file: \"\" -> /etc/portier/admin.token\n" +
			"~ log.level: info -> debug\n" +
			"~ shutdown_timeout: 30s -> 5s\n" +
			"~ listeners.web.trusted_proxies: [] -> [10.0.0.0/8]\n" +
			"~ listeners.web.limits.max_body_bytes: 0 -> 1MiB\n"},
		{name: "nil and empty lists are the same", mutate: func(c *Config) {
			c.Routes[0].Hosts = []string{}
			c.Routes[0].Headers = map[string]string{}
			c.Resolvers = []string{}
		}, want: "no changes\n"},
		{name: "routes added around a kept one are no reorder", mutate: func(c *Config) {
			c.Routes = []Route{NewRoute("zero", "app"), c.Routes[0], NewRoute("api", "app")}
		}, want: "+ routes.api\n+ routes.zero\n"},
		{name: "servers reordered", mutate: func(c *Config) {
			s := c.Backends[0].Servers
			s[0], s[1] = s[1], s[0]
		}, want: "~ backends.app.servers (order): [a, b] -> [b, a]\n"},
		{name: "names that need quotes", mutate: func(c *Config) {
			c.Backends[0].Servers[0].Name = "a.internal"
			c.Backends[0].Servers[1].Address = "10.0.0.9:9002"
		}, want: "- backends.app.servers.a\n" +
			"+ backends.app.servers.\"a.internal\"\n" +
			"~ backends.app.servers.b.address: app-2.internal:9002 -> 10.0.0.9:9002\n"},
		{name: "values that need quotes", mutate: func(c *Config) {
			c.Backends[0].SendProxyProtocol = ""
			c.Backends[0].HashKey = "header:X User"
		}, want: "~ backends.app.hash_key: client_ip -> \"header:X User\"\n" +
			"~ backends.app.send_proxy_protocol: none -> \"\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := compareBase(), compareBase()
			tt.mutate(new)
			d := Compare(old, new)
			if got := d.String(); got != tt.want {
				t.Errorf("Compare().String() =\n%s\nwant:\n%s", got, tt.want)
			}
			if d.Empty() != (tt.want == "no changes\n") {
				t.Errorf("Empty() = %v", d.Empty())
			}
			assertMirror(t, d, Compare(new, old))
		})
	}
}

// assertMirror checks that back, the diff from new to old, undoes d: every
// addition a removal, every old value the new one.
func assertMirror(t *testing.T, d, back Diff) {
	t.Helper()
	if len(back.Changes) != len(d.Changes) {
		t.Fatalf("reverse diff has %d changes, want %d:\n%s", len(back.Changes), len(d.Changes), back)
	}
	undo := map[Op]Op{OpAdd: OpRemove, OpRemove: OpAdd, OpChange: OpChange, OpReorder: OpReorder}
	want := map[Change]bool{}
	for _, c := range d.Changes {
		want[Change{Op: undo[c.Op], Path: c.Path, Old: c.New, New: c.Old}] = true
	}
	for _, c := range back.Changes {
		if !want[c] {
			t.Errorf("reverse diff has %q, which does not undo a change of:\n%s", c, d)
		}
	}
}

func compareBase() *Config {
	c := validConfig()
	c.Backends[1].Health = NewHealth("/")
	c.Backends[0].HashKey = HashClientIP
	return c
}

// TestCompareOrder: equal routes are tried in file order, so swapping two
// is a change even though each is the same.
func TestCompareOrder(t *testing.T) {
	old := validConfig()
	old.Routes = append(old.Routes, NewRoute("api", "app"), NewRoute("gone", "app"))
	new := validConfig()
	new.Routes = []Route{NewRoute("new", "app"), NewRoute("api", "app"), old.Routes[0]}
	d := Compare(old, new)
	want := "~ routes (order): [all, api] -> [api, all]\n- routes.gone\n+ routes.new\n"
	if got := d.String(); got != want {
		t.Errorf("Compare().String() =\n%s\nwant:\n%s", got, want)
	}
	assertMirror(t, d, Compare(new, old))
}

func TestCompareNil(t *testing.T) {
	d := Compare(nil, validConfig())
	want := "+ listeners.web\n+ routes.all\n+ backends.app\n+ backends.app-v2\n"
	// Settings at their defaults differ from the zero configuration too.
	if got := d.String(); !strings.HasSuffix(got, want) || !strings.Contains(got, "~ admin.address: \"\" -> 127.0.0.1:9901\n") {
		t.Errorf("Compare(nil, c) =\n%s\nwant it to end in:\n%s", got, want)
	}
	if got := Compare(nil, nil); got.Changes == nil || !got.Empty() {
		t.Errorf("Compare(nil, nil) = %#v, want no changes, not nil", got)
	}
}

func TestDiffJSON(t *testing.T) {
	js, err := json.Marshal(Compare(validConfig(), validConfig()))
	if err != nil {
		t.Fatal(err)
	}
	if string(js) != `{"changes":[]}` {
		t.Errorf("no changes as JSON = %s", js)
	}
	c := validConfig()
	c.Routes = nil
	c.Backends[0].Servers[0].Weight = 5
	js, err = json.Marshal(Compare(validConfig(), c))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[{"op":"remove","path":"routes.all"},` +
		`{"op":"change","path":"backends.app.servers.a.weight","old":"100","new":"5"}]}`
	if string(js) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", js, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[Duration]string{
		0: "0s", 500e6: "500ms", 2e9: "2s", 60e9: "1m", 90e9: "1m30s",
		3600e9: "1h", 5400e9: "1h30m", 3601e9: "1h0m1s",
	} {
		if got := formatDuration(d.D()); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d.D(), got, want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 512: "512", 1 << 10: "1KiB", 32 << 10: "32KiB", 10 << 20: "10MiB", 1 << 40: "1TiB",
		1000: "1KB", 1e7: "10MB", 2e12: "2TB", 1500: "1500", 1<<20 + 1: "1048577",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		var back Size
		if err := back.UnmarshalText([]byte(formatSize(n))); err != nil || int64(back) != n {
			t.Errorf("formatSize(%d) = %q reads back as %d, %v", n, formatSize(n), back, err)
		}
	}
}
