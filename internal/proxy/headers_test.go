package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/portier/portier/internal/upstream"
)

func TestRouting(t *testing.T) {
	apiAddr := startBackend(t, echoHeaders())
	webAddr := startBackend(t, echoHeaders())
	api := newBackend(t, "api", upstream.TransportOptions{}, apiAddr)
	web := newBackend(t, "web", upstream.TransportOptions{}, webAddr)
	site := newSite(t,
		routeSpec{hosts: []string{"shop.test"}, prefix: "/api", route: &Route{Name: "api", Backend: api, StripPrefix: true}},
		routeSpec{hosts: []string{"shop.test"}, prefix: "/", route: &Route{Name: "web", Backend: web, AddPrefix: "/v2"}},
	)
	tests := []struct {
		name, path, wantPath, wantQuery, wantBackend string
	}{
		{name: "strip", path: "/api/items?id=3", wantPath: "/items", wantQuery: "id=3", wantBackend: "api"},
		{name: "strip to root", path: "/api", wantPath: "/", wantBackend: "api"},
		{name: "add prefix", path: "/cart", wantPath: "/v2/cart", wantBackend: "web"},
		{name: "escaped", path: "/api/a%2Fb", wantPath: "/a/b", wantBackend: "api"},
	}
	for _, p := range clientProtos() {
		sink := newLogSink()
		h := NewHandler(Options{AccessLog: sink.logger()}, site)
		base, c := startProxy(t, h, p.h2)
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				req := mustReq(t, "GET", base+tt.path, "")
				req.Host = "shop.test"
				e, _ := getEcho(t, c, req)
				if e.Path != tt.wantPath || e.RawQuery != tt.wantQuery {
					t.Errorf("upstream got path %q query %q, want %q %q", e.Path, e.RawQuery, tt.wantPath, tt.wantQuery)
				}
				if line := sink.next(t); line[keyBackend] != tt.wantBackend {
					t.Errorf("backend %v, want %s", line[keyBackend], tt.wantBackend)
				}
			})
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	site := oneRoute(t, be)
	spoof := map[string]string{
		"X-Forwarded-For":   "1.2.3.4",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "evil.test",
		"Forwarded":         "for=1.2.3.4",
		"Via":               "1.1 edge",
		"Traceparent":       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}
	tests := []struct {
		name      string
		opts      Options
		spoof     bool
		wantXFF   string
		wantProto string // X-Forwarded-Proto, the proxy listener being plain http unless trusted
		wantHost  string
		wantFwd   string
		wantVia   string // "" = none
	}{
		{name: "plain", opts: Options{}, wantXFF: "127.0.0.1", wantProto: "http", wantHost: "site.test"},
		{name: "untrusted spoof", opts: Options{Forwarded: true, Via: true}, spoof: true,
			wantXFF: "127.0.0.1", wantProto: "http", wantHost: "site.test",
			wantFwd: "for=127.0.0.1;host=site.test;proto=http", wantVia: "1.1 edge, VER portier"},
		{name: "trusted", opts: Options{TrustedProxies: loopback(), Forwarded: true}, spoof: true,
			wantXFF: "1.2.3.4, 127.0.0.1", wantProto: "https", wantHost: "evil.test",
			wantFwd: "for=1.2.3.4, for=127.0.0.1;host=site.test;proto=http", wantVia: "1.1 edge"},
		{name: "tls listener", opts: Options{TLS: true, Via: true}, wantXFF: "127.0.0.1", wantProto: "https",
			wantHost: "site.test", wantVia: "VER portier"},
	}
	for _, p := range clientProtos() {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				base, c := startProxy(t, NewHandler(tt.opts, site), p.h2)
				req := mustReq(t, "GET", base+"/x", "")
				req.Host = "site.test"
				if tt.spoof {
					for k, v := range spoof {
						req.Header.Set(k, v)
					}
				}
				e, res := getEcho(t, c, req)
				ver := "1.1"
				if p.h2 {
					ver = "2.0"
				}
				want := map[string]string{
					"X-Forwarded-For":   tt.wantXFF,
					"X-Forwarded-Proto": tt.wantProto,
					"X-Forwarded-Host":  tt.wantHost,
					"Forwarded":         tt.wantFwd,
					"Via":               strings.ReplaceAll(tt.wantVia, "VER", ver),
				}
				for k, v := range want {
					if got := strings.Join(e.Header.Values(k), ", "); got != v {
						t.Errorf("upstream %s = %q, want %q", k, got, v)
					}
				}
				// The same trace; the parent is now the proxy's attempt.
				if got, sent := e.Header.Get("Traceparent"), spoof["Traceparent"]; tt.spoof &&
					(len(got) != len(sent) || got[:36] != sent[:36] || got[36:52] == sent[36:52] || got[52:] != sent[52:]) {
					t.Errorf("traceparent %q, want the trace of %q with a new parent", got, sent)
				}
				wantResVia := ""
				if tt.opts.Via {
					wantResVia = "1.1 portier" // the backend speaks HTTP/1.1
				}
				if got := res.Header.Get("Via"); got != wantResVia {
					t.Errorf("response Via = %q, want %q", got, wantResVia)
				}
			})
		}
	}
}

func TestForwardedIPv6(t *testing.T) {
	got := forwardedElem(netipMust("::1"), true, "h.test:8080", "https")
	if want := `for="[::1]";host="h.test:8080";proto=https`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestHostHeader(t *testing.T) {
	addr := startBackend(t, echoHeaders())
	tests := []struct {
		name     string
		preserve bool
		want     string
	}{
		{name: "preserved", preserve: true, want: "client.test"},
		{name: "replaced", preserve: false, want: addr},
	}
	for _, p := range clientProtos() {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				be := newBackend(t, "b", upstream.TransportOptions{}, addr)
				be.PreserveHost = tt.preserve
				base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), p.h2)
				req := mustReq(t, "GET", base+"/", "")
				req.Host = "client.test"
				if e, _ := getEcho(t, c, req); e.Host != tt.want {
					t.Errorf("upstream Host %q, want %q", e.Host, tt.want)
				}
			})
		}
	}
}

// TestHopByHop sends hop-by-hop headers both ways over a raw HTTP/1.1
// connection, where a client can send any of them.
func TestHopByHop(t *testing.T) {
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-End", "kept")
		echoHeaders().ServeHTTP(w, r)
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	base, _ := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), false)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /x HTTP/1.1\r\nHost: h.test\r\n"+
		"Connection: keep-alive, X-Secret, Upgrade, HTTP2-Settings\r\n"+
		"X-Secret: 1\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic Zm9v\r\n"+
		"Proxy-Connection: keep-alive\r\nTE: trailers, deflate\r\nUpgrade: h2c\r\n"+
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-End: kept\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e echo
	if err := jsonDecode(res.Body, &e); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Authorization",
		"Proxy-Connection", "Upgrade", "Http2-Settings"} {
		if v, ok := e.Header[k]; ok {
			t.Errorf("upstream got hop-by-hop %s: %q", k, v)
		}
	}
	if got := e.Header.Get("Te"); got != "trailers" {
		t.Errorf("upstream TE %q, want trailers", got)
	}
	if e.Header.Get("X-End") != "kept" {
		t.Error("end-to-end request header lost")
	}
	for _, k := range []string{"X-Internal", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := res.Header[k]; ok {
			t.Errorf("client got hop-by-hop %s: %q", k, v)
		}
	}
	if res.Header.Get("X-End") != "kept" {
		t.Error("end-to-end response header lost")
	}
}

func TestRequestID(t *testing.T) {
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, echoHeaders()))
	site := newSite(t, routeSpec{hosts: []string{"known.test"}, route: &Route{Name: "r", Backend: be}})
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	tests := []struct {
		name    string
		trusted bool
		sent    string
		host    string
		keep    bool
	}{
		{name: "generated", host: "known.test"},
		{name: "kept from trusted", trusted: true, sent: "abc-123", host: "known.test", keep: true},
		{name: "replaced from untrusted", sent: "abc-123", host: "known.test"},
		{name: "invalid from trusted", trusted: true, sent: "a b", host: "known.test"},
		{name: "on 404", host: "unknown.test"},
	}
	for _, p := range clientProtos() {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				o := Options{}
				if tt.trusted {
					o.TrustedProxies = loopback()
				}
				base, c := startProxy(t, NewHandler(o, site), p.h2)
				req := mustReq(t, "GET", base+"/", "")
				req.Host = tt.host
				if tt.sent != "" {
					req.Header.Set("X-Request-ID", tt.sent)
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				id := res.Header.Get("X-Request-ID")
				switch {
				case tt.keep && id != tt.sent:
					t.Errorf("id %q, want %q kept", id, tt.sent)
				case !tt.keep && !generated.MatchString(id):
					t.Errorf("id %q, want a generated one", id)
				}
				if res.StatusCode == 200 {
					var e echo
					jsonDecode(res.Body, &e)
					if got := e.Header.Get("X-Request-ID"); got != id {
						t.Errorf("upstream got id %q, client %q", got, id)
					}
				} else if body := readAll(t, res.Body); !strings.Contains(body, id) {
					t.Errorf("error body %q lacks id %s", body, id)
				}
			})
		}
	}
}
