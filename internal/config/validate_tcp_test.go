package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// tcpConfig is a valid configuration with a plain tcp listener ("db",
// relaying to backend "pg") and a passthrough one ("tls") with two sni
// routes and a default route.
func tcpConfig() *Config {
	c := validConfig()
	db := NewListener("db", "127.0.0.1:5432")
	db.Protocol, db.Backend = ProtocolTCP, "pg"
	tls := NewListener("tls", "127.0.0.1:8443")
	tls.Protocol = ProtocolTCP
	c.Listeners = append(c.Listeners, db, tls)
	c.Backends = append(c.Backends,
		NewBackend("pg", NewServer("p", "127.0.0.1:5433")),
		NewBackend("a", NewServer("a", "127.0.0.1:9443")),
		NewBackend("b", NewServer("b", "127.0.0.1:9444")))
	ra, rb, rd := NewRoute("a", "a"), NewRoute("b", "b"), NewRoute("other", "app")
	ra.Listeners, ra.SNI = []string{"tls"}, []string{"a.test"}
	rb.Listeners, rb.SNI = []string{"tls"}, []string{"b.test", "*.b.test"}
	rd.Listeners = []string{"tls"}
	c.Routes = append(c.Routes, ra, rb, rd)
	return c
}

func TestValidateTCP(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(c *Config)
		wantPaths []string
		wantMsg   string // in the first error, if set
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no default route", mutate: func(c *Config) { c.Routes = c.Routes[:3] }},
		{name: "neither backend nor routes", mutate: func(c *Config) { c.Routes = c.Routes[:1] },
			wantPaths: []string{"listeners[2].backend"}, wantMsg: "needs a backend to relay to (plain TCP), or routes"},
		{name: "backend and routes", mutate: func(c *Config) { c.Listeners[2].Backend = "pg" },
			wantPaths: []string{"listeners[2].backend"}, wantMsg: `listed by route "a" (routes[1])`},
		{name: "unknown backend", mutate: func(c *Config) { c.Listeners[1].Backend = "nope" },
			wantPaths: []string{"listeners[1].backend"}},
		{name: "client_hello zero", mutate: func(c *Config) { c.Listeners[2].Timeouts.ClientHello = 0 },
			wantPaths: []string{"listeners[2].timeouts.client_hello"}},
		{name: "http-only keys on a tcp route", mutate: func(c *Config) {
			r := &c.Routes[1]
			r.Hosts, r.PathPrefix, r.Methods = []string{"a.test"}, "/api", []string{"GET"}
			r.Headers, r.StripPrefix, r.AddPrefix = map[string]string{"X": "1"}, true, "/v1"
		}, wantPaths: []string{"routes[1].hosts", "routes[1].path_prefix", "routes[1].methods",
			"routes[1].headers", "routes[1].strip_prefix", "routes[1].add_prefix"},
			wantMsg: `a route on tcp listener "tls" matches by sni, not hosts`},
		{name: "split on a tcp route", mutate: func(c *Config) {
			r := &c.Routes[1]
			r.Backend, r.Split, r.Sticky = "", []SplitTarget{{Backend: "a", Weight: 1}}, NewSticky()
		}, wantPaths: []string{"routes[1].split", "routes[1].sticky"}},
		{name: "sni on an http route", mutate: func(c *Config) { c.Routes[0].SNI = []string{"x.test"} },
			wantPaths: []string{"routes[0].sni"}, wantMsg: "only applies to routes on tcp listeners"},
		{name: "tcp and http listeners", mutate: func(c *Config) { c.Routes[1].Listeners = []string{"tls", "web"} },
			wantPaths: []string{"routes[1]", "routes[1].listeners[1]"}},
		{name: "bad sni names", mutate: func(c *Config) {
			c.Routes[1].SNI = []string{"A.test", "*", "a.*.test", "10.0.0.1", "a.test", "a.test"}
		}, wantPaths: []string{"routes[1].sni[0]", "routes[1].sni[1]", "routes[1].sni[2]", "routes[1].sni[3]", "routes[1].sni[5]"}},
		{name: "name claimed twice", mutate: func(c *Config) { c.Routes[2].SNI = []string{"a.test"} },
			wantPaths: []string{"routes[2].sni[0]"}, wantMsg: `"a.test" is already routed by route "a" (routes[1]) on listener "tls"`},
		{name: "two default routes", mutate: func(c *Config) { c.Routes[1].SNI = nil },
			wantPaths: []string{"routes[3]"}, wantMsg: `listener "tls" already has a default route (one without sni): route "a" (routes[1])`},
		{name: "backend speaking tls and http2", mutate: func(c *Config) {
			c.Backends[2].TLS, c.Backends[2].HTTP2 = &BackendTLS{}, true
		}, wantPaths: []string{"backends[2].tls", "backends[2].http2"}, wantMsg: `tcp listener "db" relays bytes as they are`},
		{name: "hash by header", mutate: func(c *Config) { c.Backends[3].Balance, c.Backends[3].HashKey = BalanceHash, "header:X" },
			wantPaths: []string{"backends[3].hash_key"}, wantMsg: `route "a" on tcp listener "tls" has no headers`},
		{name: "hash by client ip", mutate: func(c *Config) { c.Backends[3].Balance = BalanceHash }},
		{name: "trusted proxies on tcp", mutate: func(c *Config) {
			c.Listeners[1].TrustedProxies = []Prefix{{}}
		}, wantPaths: []string{"listeners[1].trusted_proxies"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tcpConfig()
			tt.mutate(c)
			err := c.Validate()
			if got := errorPaths(t, err); !slices.Equal(got, tt.wantPaths) {
				t.Errorf("Validate() error paths = %q, want %q\n%v", got, tt.wantPaths, err)
			}
			var errs Errors
			if tt.wantMsg != "" && errors.As(err, &errs) && !strings.Contains(errs[0].Msg, tt.wantMsg) {
				t.Errorf("first error %q does not say %q", errs[0].Msg, tt.wantMsg)
			}
		})
	}
}

// TestLoadTCP loads a file with both kinds of tcp listener: the defaults
// are set and a tcp-only error points at its line.
func TestLoadTCP(t *testing.T) {
	const file = `listeners:
  - {name: tls, address: "127.0.0.1:8443", protocol: tcp}
routes:
  - {name: a, listeners: [tls], sni: [a.test], backend: a}
  - {name: other, listeners: [tls], backend: a, hosts: [x.test]}
backends:
  - {name: a, servers: [{name: a, address: "127.0.0.1:9443"}]}
`
	_, err := Load("p.yaml", []byte(file), nil)
	if err == nil || err.Error() != `p.yaml:5:49: routes[1].hosts: a route on tcp listener "tls" matches by sni, not hosts: a TLS stream passes through unread` {
		t.Fatalf("Load() error = %v", err)
	}
	ok := strings.Replace(file, ", hosts: [x.test]", "", 1)
	c, err := Load("p.yaml", []byte(ok), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Listeners[0].Timeouts; got.ClientHello.D().String() != "5s" || got.Idle.D().String() != "1m0s" {
		t.Errorf("tcp listener timeouts = %+v, want client_hello 5s and idle 60s", got)
	}
	if got := c.Routes[0].SNI; !slices.Equal(got, []string{"a.test"}) {
		t.Errorf("sni = %q", got)
	}
}
