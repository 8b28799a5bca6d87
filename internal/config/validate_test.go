package config

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// validConfig is a small configuration built in code that passes Validate;
// each case below breaks one rule of it.
func validConfig() *Config {
	c := New()
	c.Listeners = []Listener{NewListener("web", "127.0.0.1:8080")}
	c.Backends = []Backend{
		NewBackend("app", NewServer("a", "127.0.0.1:9001"), NewServer("b", "app-2.internal:9002")),
		NewBackend("app-v2", NewServer("a", "127.0.0.1:9003")),
	}
	c.Routes = []Route{NewRoute("all", "app")}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(c *Config)
		wantPaths []string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no listeners", mutate: func(c *Config) { c.Listeners = nil }, wantPaths: []string{"listeners"}},
		{name: "admin on all addresses without token", mutate: func(c *Config) { c.Admin.Address = ":9901" },
			wantPaths: []string{"admin.address"}},
		{name: "admin on all addresses with token", mutate: func(c *Config) { c.Admin = Admin{Address: ":9901", TokenFile: "/t"} }},
		{name: "admin off", mutate: func(c *Config) { c.Admin.Address = AdminOff }},
		{name: "bad log level", mutate: func(c *Config) { c.Log.Level = "verbose" }, wantPaths: []string{"log.level"}},
		{name: "duplicate listener name and address", mutate: func(c *Config) {
			c.Listeners = append(c.Listeners, NewListener("web", "127.0.0.1:8080"))
		}, wantPaths: []string{"listeners[1].name", "listeners[1].address"}},
		{name: "port zero may repeat", mutate: func(c *Config) {
			c.Listeners = []Listener{NewListener("a", "127.0.0.1:0"), NewListener("b", "127.0.0.1:0")}
		}},
		{name: "listener on a host name", mutate: func(c *Config) { c.Listeners[0].Address = "example.com:80" },
			wantPaths: []string{"listeners[0].address"}},
		{name: "listener port out of range", mutate: func(c *Config) { c.Listeners[0].Address = ":70000" },
			wantPaths: []string{"listeners[0].address"}},
		{name: "name with space", mutate: func(c *Config) { c.Listeners[0].Name = "my web" },
			wantPaths: []string{"listeners[0].name"}},
		{name: "https without certificates", mutate: func(c *Config) { c.Listeners[0].Protocol = ProtocolHTTPS },
			wantPaths: []string{"listeners[0].tls.certificates"}},
		{name: "two default certificates", mutate: func(c *Config) {
			c.Listeners[0].Protocol = ProtocolHTTPS
			c.Listeners[0].TLS = &ListenerTLS{Certificates: []Certificate{
				{CertFile: "a.pem", KeyFile: "a.key", Default: true},
				{CertFile: "b.pem", Default: true},
			}}
		}, wantPaths: []string{"listeners[0].tls.certificates[1].key_file", "listeners[0].tls.certificates[1].default"}},
		{name: "tls on http", mutate: func(c *Config) { c.Listeners[0].TLS = &ListenerTLS{} },
			wantPaths: []string{"listeners[0].tls"}},
		{name: "h2c on tcp", mutate: func(c *Config) {
			l := NewListener("db", ":5432")
			l.Protocol, l.Backend, l.H2C = ProtocolTCP, "app", true
			c.Listeners = append(c.Listeners, l)
		}, wantPaths: []string{"listeners[1].h2c"}},
		{name: "tcp without backend", mutate: func(c *Config) {
			l := NewListener("db", ":5432")
			l.Protocol = ProtocolTCP
			c.Listeners = append(c.Listeners, l)
		}, wantPaths: []string{"listeners[1].backend"}},
		{name: "route on tcp and http listeners", mutate: func(c *Config) {
			l := NewListener("db", ":5432")
			l.Protocol = ProtocolTCP
			c.Listeners = append(c.Listeners, l)
			c.Routes[0].Listeners = []string{"db", "web", "nope"}
		}, wantPaths: []string{"routes[0].listeners[2]", "routes[0].listeners[1]"}},
		{name: "proxy protocol from anyone", mutate: func(c *Config) {
			c.Listeners[0].ProxyProtocol = NewProxyProtocol()
		}, wantPaths: []string{"listeners[0].proxy_protocol.trusted"}},
		{name: "proxy protocol from a trusted network", mutate: func(c *Config) {
			c.Listeners[0].ProxyProtocol = NewProxyProtocol(Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}},
		{name: "proxy protocol off needs nothing", mutate: func(c *Config) {
			c.Listeners[0].ProxyProtocol = &ProxyProtocol{}
		}},
		{name: "proxy protocol without timeout, with a zero network", mutate: func(c *Config) {
			pp := NewProxyProtocol(Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Prefix{})
			pp.Timeout = 0
			c.Listeners[0].ProxyProtocol = pp
		}, wantPaths: []string{"listeners[0].proxy_protocol.trusted[1]", "listeners[0].proxy_protocol.timeout"}},
		{name: "no read header timeout", mutate: func(c *Config) { c.Listeners[0].Timeouts.ReadHeader = 0 },
			wantPaths: []string{"listeners[0].timeouts.read_header"}},
		{name: "unknown backend", mutate: func(c *Config) { c.Routes[0].Backend = "nope" },
			wantPaths: []string{"routes[0].backend"}},
		{name: "backend and split", mutate: func(c *Config) {
			c.Routes[0].Split = []SplitTarget{{Backend: "app", Weight: 1}}
		}, wantPaths: []string{"routes[0]"}},
		{name: "split weights", mutate: func(c *Config) {
			c.Routes[0].Backend = ""
			c.Routes[0].Split = []SplitTarget{{Backend: "app", Weight: 0}, {Backend: "app", Weight: 0}, {Backend: "x", Weight: 20000}}
		}, wantPaths: []string{"routes[0].split[1].backend", "routes[0].split[2].backend", "routes[0].split[2].weight", "routes[0].split"}},
		{name: "sticky without split", mutate: func(c *Config) { c.Routes[0].Sticky = NewSticky() },
			wantPaths: []string{"routes[0].sticky"}},
		{name: "sticky split", mutate: func(c *Config) {
			c.Routes[0].Backend = ""
			c.Routes[0].Split = []SplitTarget{{Backend: "app", Weight: 80}, {Backend: "app-v2", Weight: 20}}
			c.Routes[0].Sticky = NewSticky()
		}},
		{name: "bad hosts", mutate: func(c *Config) {
			c.Routes[0].Hosts = []string{"a.example.com", "a.example.com", "*", "x.*.com", "a.com:80", "Upper.com", "bad..name", "*.ok.com", "::1"}
		}, wantPaths: []string{"routes[0].hosts[1]", "routes[0].hosts[2]", "routes[0].hosts[3]", "routes[0].hosts[4]", "routes[0].hosts[5]", "routes[0].hosts[6]"}},
		{name: "bad path prefix and methods", mutate: func(c *Config) {
			c.Routes[0].PathPrefix = "api?x"
			c.Routes[0].Methods = []string{"GET", "get", "GET", "BAD METHOD"}
			c.Routes[0].AddPrefix = "v1"
		}, wantPaths: []string{"routes[0].path_prefix", "routes[0].methods[1]", "routes[0].methods[2]", "routes[0].methods[3]", "routes[0].add_prefix"}},
		{name: "bad header matcher", mutate: func(c *Config) {
			c.Routes[0].Headers = map[string]string{"X Bad": "1", "X-Ok": "a\nb"}
		}, wantPaths: []string{"routes[0].headers.X Bad", "routes[0].headers.X-Ok"}},
		{name: "same traffic", mutate: func(c *Config) {
			r := NewRoute("again", "app-v2")
			c.Routes = append(c.Routes, r)
		}, wantPaths: []string{"routes[1]"}},
		{name: "same traffic on one shared host", mutate: func(c *Config) {
			c.Routes[0].Hosts = []string{"a.com", "b.com"}
			r := NewRoute("again", "app-v2")
			r.Hosts = []string{"c.com", "b.com"}
			c.Routes = append(c.Routes, r)
		}, wantPaths: []string{"routes[1]"}},
		{name: "different traffic", mutate: func(c *Config) {
			for i, r := range []Route{NewRoute("api", "app"), NewRoute("api-slash", "app"), NewRoute("post", "app"), NewRoute("beta", "app")} {
				switch i {
				case 0:
					r.PathPrefix = "/api"
				case 1:
					r.PathPrefix = "/api/"
				case 2:
					r.Methods = []string{"POST"}
				case 3:
					r.Headers = map[string]string{"X-Beta": "1"}
				}
				c.Routes = append(c.Routes, r)
			}
		}},
		{name: "duplicate route name", mutate: func(c *Config) {
			r := NewRoute("all", "app")
			r.PathPrefix = "/x"
			c.Routes = append(c.Routes, r)
		}, wantPaths: []string{"routes[1].name"}},
		{name: "bad backend settings", mutate: func(c *Config) {
			b := &c.Backends[0]
			b.Balance, b.InitialState, b.Retries, b.MaxIdleConns, b.SendProxyProtocol = "fastest", "maybe", -1, -1, "v3"
			b.Timeouts.Connect = 0
		}, wantPaths: []string{"backends[0].balance", "backends[0].initial_state", "backends[0].retries",
			"backends[0].max_idle_conns", "backends[0].timeouts.connect", "backends[0].send_proxy_protocol"}},
		{name: "bad hash key", mutate: func(c *Config) { c.Backends[0].Balance, c.Backends[0].HashKey = BalanceHash, "query:x" },
			wantPaths: []string{"backends[0].hash_key"}},
		{name: "bad health check", mutate: func(c *Config) {
			h := NewHealth("status")
			h.Rise, h.Fall, h.Interval, h.ExpectStatus, h.Method = 0, 0, 0, []string{"200", "600"}, "G ET"
			c.Backends[0].Health = h
		}, wantPaths: []string{"backends[0].health.path", "backends[0].health.method", "backends[0].health.interval",
			"backends[0].health.rise", "backends[0].health.fall", "backends[0].health.expect_status[1]"}},
		{name: "health path and tcp", mutate: func(c *Config) {
			h := NewHealth("/status")
			h.TCP = true
			c.Backends[0].Health = h
		}, wantPaths: []string{"backends[0].health"}},
		{name: "passive zero", mutate: func(c *Config) { c.Backends[0].Passive = &Passive{} },
			wantPaths: []string{"backends[0].passive.consecutive_failures", "backends[0].passive.eject_for"}},
		{name: "contradicting tls", mutate: func(c *Config) {
			c.Backends[0].TLS = &BackendTLS{CAFile: "ca.pem", InsecureSkipVerify: true, ServerName: "bad name"}
		}, wantPaths: []string{"backends[0].tls.server_name", "backends[0].tls.insecure_skip_verify"}},
		{name: "bad servers", mutate: func(c *Config) {
			c.Backends[0].Servers = []Server{
				NewServer("a", "127.0.0.1:0"), NewServer("a", "no-port"), NewServer("c", "bad_host!:80"),
				NewServer("d", "127.0.0.1:9001"), NewServer("e", "127.0.0.1:9001"), {Name: "f", Address: "10.0.0.1:1", Weight: 1001},
			}
		}, wantPaths: []string{"backends[0].servers[0].address", "backends[0].servers[1].name", "backends[0].servers[1].address",
			"backends[0].servers[2].address", "backends[0].servers[4].address", "backends[0].servers[5].weight"}},
		{name: "server send_proxy_protocol", mutate: func(c *Config) {
			c.Backends[0].SendProxyProtocol = ProxyProtocolV2
			c.Backends[0].Servers[0].SendProxyProtocol = ProxyProtocolV1
			c.Backends[0].Servers[1].SendProxyProtocol = "send-proxy-v2"
			c.Backends[1].Servers[0].SendProxyProtocol = ProxyProtocolNone
		}, wantPaths: []string{"backends[0].servers[1].send_proxy_protocol"}},
		{name: "no servers", mutate: func(c *Config) { c.Backends[1].Servers = nil },
			wantPaths: []string{"backends[1].servers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(c)
			err := c.Validate()
			if got := errorPaths(t, err); !slices.Equal(got, tt.wantPaths) {
				t.Errorf("Validate() error paths = %q, want %q\n%v", got, tt.wantPaths, err)
			}
		})
	}
}

// errorPaths returns the key paths of Validate's errors, in order.
func errorPaths(t *testing.T, err error) []string {
	t.Helper()
	var errs Errors
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("Validate() returned %T, want Errors", err)
	}
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	return paths
}

func TestStartsDown(t *testing.T) {
	tests := []struct {
		name    string
		backend Backend
		want    bool
	}{
		{name: "no health check", backend: NewBackend("a"), want: false},
		{name: "health check", backend: Backend{Health: NewHealth("/")}, want: true},
		{name: "health check, explicitly up", backend: Backend{Health: NewHealth("/"), InitialState: StateUp}, want: false},
		{name: "no check, explicitly down", backend: Backend{InitialState: StateDown}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.backend.StartsDown(); got != tt.want {
				t.Errorf("StartsDown() = %v, want %v", got, tt.want)
			}
		})
	}
}
