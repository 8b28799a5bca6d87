package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the testdata golden files (errors, diff) from the current output")

// testEnv is the environment the golden files are loaded with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"LISTEN_ADDRESS": ":8080",
		"APP_HOST":       "10.0.0.7",
		"RETRIES":        "three",
		"WEIGHT":         "50",
	}[name]
	return v, ok
}

// TestLoadErrors loads each testdata/errors/*.yaml and compares the whole
// error text, every problem with its position and path, to the .golden
// file beside it. Run with -update after a deliberate change of wording.
func TestLoadErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Load(filepath.Base(file), data, testEnv)
			if err == nil {
				t.Fatalf("Load succeeded, want errors")
			}
			if c != nil {
				t.Errorf("Load returned a configuration along with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load returned %T, want Errors", err)
			}
			got := err.Error() + "\n"
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".golden", got)
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	const src = `
listeners:
  - {name: web, address: ":8080"}
routes:
  - {name: all, backend: app}
backends:
  - name: app
    health: {path: /status}
    passive: {}
    servers:
      - {name: a, address: "127.0.0.1:9001"}
  - name: plain
    servers:
      - {name: a, address: "127.0.0.1:9002", weight: 0}
`
	c, err := Load("defaults.yaml", []byte(src), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	l, r, b, plain := c.Listeners[0], c.Routes[0], c.Backends[0], c.Backends[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"admin.address", c.Admin.Address, "127.0.0.1:9901"},
		{"log.level", c.Log.Level, "info"},
		{"log.access", c.Log.Access, "stdout"},
		{"shutdown_timeout", c.ShutdownTimeout.D(), 30 * time.Second},
		{"listener protocol", l.Protocol, ProtocolHTTP},
		{"listener via", l.Via, true},
		{"listener forwarded", l.Forwarded, false},
		{"listener read_header", l.Timeouts.ReadHeader.D(), 10 * time.Second},
		{"listener idle", l.Timeouts.Idle.D(), 60 * time.Second},
		{"listener max_header_bytes", l.Limits.MaxHeaderBytes, Size(32 << 10)},
		{"listener max_uri_bytes", l.Limits.MaxURIBytes, Size(8 << 10)},
		{"listener max_body_bytes", l.Limits.MaxBodyBytes, Size(0)},
		{"route path_prefix", r.PathPrefix, "/"},
		{"route listeners", c.ListenersOf(&r), []string{"web"}},
		{"backend balance", b.Balance, BalanceRoundRobin},
		{"backend hash_key", b.HashKey, HashClientIP},
		{"backend retries", b.Retries, 2},
		{"backend max_idle_conns", b.MaxIdleConns, 64},
		{"backend preserve_host", b.PreserveHost, true},
		{"backend send_proxy_protocol", b.SendProxyProtocol, ProxyProtocolNone},
		{"backend connect", b.Timeouts.Connect.D(), 5 * time.Second},
		{"backend response_header", b.Timeouts.ResponseHeader.D(), 60 * time.Second},
		{"backend idle", b.Timeouts.Idle.D(), 90 * time.Second},
		{"initial_state with health", b.InitialState, StateDown},
		{"initial_state without health", plain.InitialState, StateUp},
		{"health method", b.Health.Method, "GET"},
		{"health interval", b.Health.Interval.D(), 2 * time.Second},
		{"health fast_interval", b.Health.FastInterval.D(), 500 * time.Millisecond},
		{"health down_interval", b.Health.DownInterval.D(), 5 * time.Second},
		{"health timeout", b.Health.Timeout.D(), time.Second},
		{"health rise", b.Health.Rise, 2},
		{"health fall", b.Health.Fall, 3},
		{"health expect_status", b.Health.ExpectStatus, []string{"200-399"}},
		{"passive consecutive_failures", b.Passive.ConsecutiveFailures, 5},
		{"passive eject_for", b.Passive.EjectFor.D(), 30 * time.Second},
		{"server weight", b.Servers[0].Weight, 100},
		{"explicit zero weight", plain.Servers[0].Weight, 0},
		{"no tls", b.TLS == nil, true},
		{"no sticky", r.Sticky == nil, true},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !equalAny(ch.got, ch.want) {
				t.Errorf("got %#v, want %#v", ch.got, ch.want)
			}
		})
	}
}

func equalAny(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return strings.Join(as, "\x00") == strings.Join(bs, "\x00")
	}
	return a == b
}

func TestLoadValues(t *testing.T) {
	const src = `
admin: {address: "${ADMIN:-127.0.0.1:9901}", token_file: /etc/portier/token}
listeners:
  - name: web
    address: "${LISTEN_ADDRESS}"
    h2c: true
    via: false
    trusted_proxies: [10.0.0.0/8, 192.0.2.1]
    limits: {max_header_bytes: 64KiB, max_uri_bytes: 4096, max_body_bytes: 10MB}
    timeouts: {read_header: 1m30s}
routes:
  - name: shop
    hosts: [Shop.Example.COM, "*.shop.example.com"]
    path_prefix: /api
    methods: [GET, POST]
    headers: {X-Env: "*"}
    split:
      - {backend: app, weight: 80}
      - {backend: app-v2, weight: 20}
    sticky: {}
backends:
  - name: app
    balance: hash
    hash_key: header:X-User
    health: &health {path: /healthz, interval: 750ms, rise: 1}
    retries: ${WEIGHT}
    servers:
      - {name: a, address: "${APP_HOST}:${APP_PORT:-9001}"}
  - name: app-v2
    health: {<<: *health, rise: 4}
    tls: {server_name: app.internal}
    servers:
      - {name: a, address: "[::1]:9002", weight: 0x10}
`
	c, err := Load("values.yaml", []byte(src), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	l, r, app, v2 := c.Listeners[0], c.Routes[0], c.Backends[0], c.Backends[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"admin default from env", c.Admin.Address, "127.0.0.1:9901"},
		{"listen address from env", l.Address, ":8080"},
		{"h2c", l.H2C, true},
		{"via off", l.Via, false},
		{"trusted network", l.TrustedProxies[0].String(), "10.0.0.0/8"},
		{"trusted host", l.TrustedProxies[1].String(), "192.0.2.1/32"},
		{"max_header_bytes", l.Limits.MaxHeaderBytes, Size(64 << 10)},
		{"max_uri_bytes", l.Limits.MaxURIBytes, Size(4096)},
		{"max_body_bytes", l.Limits.MaxBodyBytes, Size(10e6)},
		{"read_header", l.Timeouts.ReadHeader.D(), 90 * time.Second},
		{"idle keeps default", l.Timeouts.Idle.D(), 60 * time.Second},
		{"hosts lower-cased", r.Hosts, []string{"shop.example.com", "*.shop.example.com"}},
		{"methods", r.Methods, []string{"GET", "POST"}},
		{"header matcher", r.Headers["X-Env"], "*"},
		{"split", len(r.Split), 2},
		{"split weight", r.Split[1].Weight, 20},
		{"sticky default cookie", r.Sticky.Cookie, "portier_variant"},
		{"hash key", app.HashKey, "header:X-User"},
		{"retries from env", app.Retries, 50},
		{"server address from env and default", app.Servers[0].Address, "10.0.0.7:9001"},
		{"health from anchor", app.Health.Interval.D(), 750 * time.Millisecond},
		{"merge keeps own key", v2.Health.Rise, 4},
		{"merge brings other keys", v2.Health.Path, "/healthz"},
		{"merged interval", v2.Health.Interval.D(), 750 * time.Millisecond},
		{"unset keys keep defaults under merge", v2.Health.Fall, 3},
		{"tls server name", v2.TLS.ServerName, "app.internal"},
		{"hex weight", v2.Servers[0].Weight, 16},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !equalAny(ch.got, ch.want) {
				t.Errorf("got %#v, want %#v", ch.got, ch.want)
			}
		})
	}
}

// TestLoadErrorPosition checks line and column of one problem field by
// field, so that the golden files are not the only proof of positions.
func TestLoadErrorPosition(t *testing.T) {
	const src = "listeners:\n  - name: web\n    address: \":8080\"\n    timeouts:\n      idle: forever\n"
	_, err := Load("pos.yaml", []byte(src), testEnv)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error = %v, want Errors", err)
	}
	var found *Error
	for _, e := range errs {
		if e.Path == "listeners[0].timeouts.idle" {
			found = e
		}
	}
	if found == nil {
		t.Fatalf("no error for listeners[0].timeouts.idle in:\n%v", err)
	}
	if found.File != "pos.yaml" || found.Line != 5 || found.Column != 13 {
		t.Errorf("error at %s:%d:%d, want pos.yaml:5:13", found.File, found.Line, found.Column)
	}
}

// TestLoadNestedMerges checks that merge keys of merge keys, which grow
// exponentially like "billion laughs", end in an error rather than hours of
// work.
func TestLoadNestedMerges(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &x0 {name: a, address: ':1'}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x%d: &x%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&b, "*x%d, ", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("listeners: [*x9]\n")
	_, err := Load("laughs.yaml", []byte(b.String()), testEnv)
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("Load error = %v, want document too large", err)
	}
}
