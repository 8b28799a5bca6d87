package engine

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/listener"
)

// ppGet sends one request to addr on a new connection that opens with
// header (empty: none) and returns the response body, or an error when the
// connection was closed without one.
func ppGet(addr, header string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, header+"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// TestProxyProtocolClientAddress: the address a trusted PROXY header
// carries is the client's for X-Forwarded-For, the access log and hash
// balancing on client_ip; a connection without the header is refused and
// counted, and the count survives a reload that replaces the listener.
func TestProxyProtocolClientAddress(t *testing.T) {
	var servers []config.Server
	for _, name := range []string{"a", "b"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", name, r.Header.Get("X-Forwarded-For"))
		}))
		t.Cleanup(ts.Close)
		servers = append(servers, config.NewServer(name, ts.Listener.Addr().String()))
	}
	// newConfig returns the configuration with its listener changed by
	// change. (A reload keeps the socket of a listener whose address
	// stays "127.0.0.1:0".)
	newConfig := func(change func(l *config.Listener)) *config.Config {
		cfg := config.New()
		cfg.Admin.Address = config.AdminOff
		l := config.NewListener("web", "127.0.0.1:0")
		l.ProxyProtocol = config.NewProxyProtocol(config.Prefix{Prefix: netip.MustParsePrefix("127.0.0.1/32")})
		change(&l)
		cfg.Listeners = []config.Listener{l}
		b := config.NewBackend("app", servers...)
		b.Balance, b.HashKey = config.BalanceHash, config.HashClientIP
		cfg.Backends = []config.Backend{b}
		cfg.Routes = []config.Route{config.NewRoute("all", "app")}
		return cfg
	}
	access := &syncBuffer{}
	e, _ := startEngine(t, newConfig(func(*config.Listener) {}), access)
	addr := e.Addr("web").String()

	picked := map[string]string{} // client -> server
	for i := range 20 {
		client := fmt.Sprintf("192.0.2.%d", i%10+1)
		body, err := ppGet(addr, fmt.Sprintf("PROXY TCP4 %s 198.51.100.1 %d 80\r\n", client, 40000+i))
		if err != nil {
			t.Fatalf("client %s: %v", client, err)
		}
		srv, xff, _ := strings.Cut(body, " ")
		if xff != client {
			t.Errorf("the server saw X-Forwarded-For %q, want %s", xff, client)
		}
		if prev, ok := picked[client]; ok && prev != srv {
			t.Errorf("client %s went to %s, then to %s: hash is not on the carried address", client, prev, srv)
		}
		picked[client] = srv
		if !strings.Contains(access.String(), fmt.Sprintf(`"client":"%s:%d"`, client, 40000+i)) {
			t.Errorf("no access line with client %s:%d", client, 40000+i)
		}
	}
	if seen := len(mapValues(picked)); seen != 2 {
		t.Errorf("ten clients went to %d server(s); hashing the proxy's own address would give 1", seen)
	}

	refuse := func(want uint64) {
		t.Helper()
		if body, err := ppGet(addr, ""); err == nil {
			t.Fatalf("a request without the header was answered: %q", body)
		}
		stats := e.ListenerStats()
		if len(stats) != 1 || stats[0].Name != "web" || stats[0].Proxy == nil || stats[0].Active == nil {
			t.Fatalf("ListenerStats() = %+v", stats)
		}
		if got := stats[0].Proxy.Snapshot()["missing"]; got != want {
			t.Errorf("missing = %d, want %d", got, want)
		}
	}
	refuse(1)
	// New timeouts need a new server on the socket; it counts on.
	current := func() (*listener.Listener, *listener.ProxyCounts) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.listeners[0].ln, e.listeners[0].ln.ProxyCounts()
	}
	before, counts := current()
	res := e.Reload(load(newConfig(func(l *config.Listener) { l.Timeouts.Idle = config.Duration(30 * time.Second) })))
	if !res.OK() || len(res.Diff.Changes) == 0 {
		t.Fatalf("reload: %v, %d changes", res.Err, len(res.Diff.Changes))
	}
	if after, c := current(); after == before || c != counts {
		t.Fatalf("the listener was not replaced (%v), or its successor counts elsewhere (%v)", after == before, c != counts)
	}
	refuse(2)
	// Without proxy_protocol the same request is plain HTTP, once the
	// retiring server no longer accepts on the socket.
	if res := e.Reload(load(newConfig(func(l *config.Listener) { l.ProxyProtocol = nil }))); !res.OK() {
		t.Fatal(res.Err)
	}
	waitFor(t, func() bool { _, err := ppGet(addr, ""); return err == nil })
	if stats := e.ListenerStats(); len(stats) != 1 || stats[0].Proxy != nil {
		t.Errorf("ListenerStats() = %+v, want no PROXY counts", stats)
	}
}

func mapValues(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

func TestSameProxyProtocol(t *testing.T) {
	trusted := config.Prefix{Prefix: netip.MustParsePrefix("10.0.0.0/8")}
	other := config.Prefix{Prefix: netip.MustParsePrefix("10.1.0.0/16")}
	optional := config.NewProxyProtocol(trusted)
	optional.Required = false
	tests := []struct {
		name string
		a, b *config.ProxyProtocol
		want bool
	}{
		{name: "none", want: true},
		{name: "none and off", b: &config.ProxyProtocol{}, want: true},
		{name: "same", a: config.NewProxyProtocol(trusted), b: config.NewProxyProtocol(trusted), want: true},
		{name: "turned on", b: config.NewProxyProtocol(trusted)},
		{name: "other networks", a: config.NewProxyProtocol(trusted), b: config.NewProxyProtocol(other)},
		{name: "optional", a: config.NewProxyProtocol(trusted), b: optional},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameProxyProtocol(tc.a, tc.b); got != tc.want {
				t.Errorf("sameProxyProtocol = %v, want %v", got, tc.want)
			}
		})
	}
}
