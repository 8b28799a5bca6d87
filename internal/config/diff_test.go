package config

import (
	"encoding/json"
	"slices"
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
		{name: "route added and removed", mutate: func(c *Config) {
			c.Routes[0].Name = "everything"
		}, want: "+ route everything\n- route all\n"},
		{name: "route changed", mutate: func(c *Config) {
			c.Routes[0].Hosts = []string{"a.example.com"}
			c.Routes[0].Backend = "app-v2"
		}, want: "~ route all: hosts, backend\n"},
		{name: "backend settings", mutate: func(c *Config) {
			c.Backends[0].Balance = BalanceLeastConn
			c.Backends[0].Timeouts.Connect = Duration(1e9)
			c.Backends[0].Health = NewHealth("/status")
		}, want: "~ backend app: balance, health, timeouts.connect\n"},
		{name: "nested optional section", mutate: func(c *Config) {
			c.Backends[1].Health.Interval = Duration(1e9)
		}, want: "~ backend app-v2: health.interval\n"},
		{name: "servers", mutate: func(c *Config) {
			b := &c.Backends[0]
			b.Servers[0].Weight = 50
			b.Servers[1].Address = "10.0.0.9:9002"
			b.Servers = append(b.Servers, NewServer("c", "127.0.0.1:9009"))
			c.Backends[1].Servers = nil
		}, want: "+ server app/c\n- server app-v2/a\n~ server app/a: weight\n~ server app/b: address\n"},
		{name: "backend removed takes its servers", mutate: func(c *Config) {
			c.Backends = c.Backends[:1]
		}, want: "- backend app-v2\n- server app-v2/a\n"},
		{name: "listener and settings", mutate: func(c *Config) {
			c.Listeners[0].Limits.MaxBodyBytes = 1 << 20
			c.Listeners[0].TrustedProxies = []Prefix{{}}
			c.Log.Level = "debug"
			c.ShutdownTimeout = Duration(5e9)
		}, want: "~ listener web: trusted_proxies, limits.max_body_bytes\n~ log.level\n~ shutdown_timeout\n"},
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
			// The reverse diff swaps additions and removals.
			back := Compare(new, old)
			if !slices.Equal(back.Routes.Added, d.Routes.Removed) || !slices.Equal(back.Servers.Removed, d.Servers.Added) {
				t.Errorf("reverse diff does not mirror: %+v vs %+v", back, d)
			}
		})
	}
}

func compareBase() *Config {
	c := validConfig()
	c.Backends[1].Health = NewHealth("/")
	return c
}

func TestCompareNil(t *testing.T) {
	d := Compare(nil, validConfig())
	if got := strings.Join(d.Backends.Added, ","); got != "app,app-v2" {
		t.Errorf("backends added from nothing = %q", got)
	}
	if got := strings.Join(d.Servers.Added, ","); got != "app-v2/a,app/a,app/b" {
		t.Errorf("servers added from nothing = %q", got)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"listeners":{"added":["web"]}`) {
		t.Errorf("JSON = %s", js)
	}
}

func TestServerIdentity(t *testing.T) {
	b := NewBackend("app")
	s := NewServer("a", "10.0.0.1:80")
	base := b.Identity(&s)
	tests := []struct {
		name   string
		change func(b *Backend, s *Server)
		want   []string
	}{
		{name: "weight is not identity", change: func(_ *Backend, s *Server) { s.Weight = 1 }},
		{name: "address", change: func(_ *Backend, s *Server) { s.Address = "10.0.0.2:80" }, want: []string{"address"}},
		{name: "tls", change: func(b *Backend, _ *Server) { b.TLS = &BackendTLS{ServerName: "x"} }, want: []string{"tls", "server_name"}},
		{name: "proxy protocol", change: func(b *Backend, _ *Server) { b.SendProxyProtocol = ProxyProtocolV2 }, want: []string{"send_proxy_protocol"}},
		{name: "http2", change: func(b *Backend, _ *Server) { b.HTTP2 = true }, want: []string{"http2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b2, s2 := b, s
			tt.change(&b2, &s2)
			if got := base.Differences(b2.Identity(&s2)); !slices.Equal(got, tt.want) {
				t.Errorf("Differences() = %q, want %q", got, tt.want)
			}
		})
	}
}
