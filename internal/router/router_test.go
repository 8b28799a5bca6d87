package router

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// precedenceRoutes is the route set most table cases run against.
var precedenceRoutes = []Route{
	{ID: 0},
	{ID: 1, PathPrefix: "/api"},
	{ID: 2, Hosts: []string{"*.example.com"}},
	{ID: 3, Hosts: []string{"*.a.example.com"}},
	{ID: 4, Hosts: []string{"a.example.com"}},
	{ID: 5, Hosts: []string{"*.example.com"}, PathPrefix: "/api/v1"},
	{ID: 6, Hosts: []string{"shop.example.com"}, PathPrefix: "/api"},
	{ID: 7, Hosts: []string{"shop.example.com"}, PathPrefix: "/api", Methods: []string{"POST"}},
	{ID: 8, Hosts: []string{"shop.example.com"}, PathPrefix: "/api", Headers: map[string]string{"x-canary": "1", "X-Team": "*"}},
	{ID: 9, Hosts: []string{"shop.example.com"}, PathPrefix: "/api", Headers: map[string]string{"X-CANARY": "1"}},
	{ID: 10, Hosts: []string{"shop.example.com"}, PathPrefix: "/static/"},
	{ID: 11, Hosts: []string{"Other.Example.ORG."}, PathPrefix: "/"},
	{ID: 12, Hosts: []string{"dup.example.org"}, PathPrefix: "/x"},
	{ID: 13, Hosts: []string{"dup.example.org"}, PathPrefix: "/x"},
	{ID: 14, Hosts: []string{"[::1]", "127.0.0.1"}, PathPrefix: "/local"},
}

func TestMatchPrecedence(t *testing.T) {
	r, err := New(precedenceRoutes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		host   string
		path   string
		method string
		header map[string][]string
		wantID int
		wantOK bool
	}{
		{name: "no host route catches unknown host", host: "nowhere.test", path: "/", wantID: 0, wantOK: true},
		{name: "longer prefix among catch-alls", host: "nowhere.test", path: "/api/x", wantID: 1, wantOK: true},
		{name: "segment boundary: /apix is not /api", host: "nowhere.test", path: "/apix", wantID: 0, wantOK: true},
		{name: "prefix equal to path", host: "nowhere.test", path: "/api", wantID: 1, wantOK: true},
		{name: "prefix with trailing slash on path", host: "nowhere.test", path: "/api/", wantID: 1, wantOK: true},
		{name: "wildcard beats no host", host: "b.example.com", path: "/api", wantID: 2, wantOK: true},
		{name: "wildcard with longer prefix wins within tier", host: "b.example.com", path: "/api/v1/users", wantID: 5, wantOK: true},
		{name: "wildcard does not match apex", host: "example.com", path: "/", wantID: 0, wantOK: true},
		{name: "wildcard matches deeper names", host: "x.y.example.com", path: "/", wantID: 2, wantOK: true},
		{name: "longer wildcard suffix beats shorter", host: "z.a.example.com", path: "/api/v1", wantID: 3, wantOK: true},
		{name: "exact beats wildcard with a longer prefix", host: "a.example.com", path: "/api/v1", wantID: 4, wantOK: true},
		{name: "host case and port ignored", host: "A.Example.COM:8443", path: "/", wantID: 4, wantOK: true},
		{name: "trailing dot ignored", host: "a.example.com.", path: "/", wantID: 4, wantOK: true},
		{name: "trailing dot and port", host: "a.example.com.:80", path: "/", wantID: 4, wantOK: true},
		{name: "configured host normalised", host: "other.example.org", path: "/q", wantID: 11, wantOK: true},
		{name: "exact host falls through to wildcard on other path", host: "shop.example.com", path: "/cart", wantID: 2, wantOK: true},
		{name: "exact host falls through to catch-all", host: "other.example.org", path: "/", wantID: 11, wantOK: true},
		{name: "exact host falls through to wildcard tier", host: "x.shop.example.com", path: "/", wantID: 2, wantOK: true},
		{name: "method matcher beats plain route", host: "shop.example.com", path: "/api/x", method: "POST", wantID: 7, wantOK: true},
		{name: "method mismatch falls back", host: "shop.example.com", path: "/api/x", method: "GET", wantID: 6, wantOK: true},
		{name: "two header matchers beat method", host: "shop.example.com", path: "/api", method: "POST",
			header: map[string][]string{"X-Canary": {"1"}, "X-Team": {"blue"}}, wantID: 8, wantOK: true},
		{name: "one header beats none, lower ID breaks tie with method", host: "shop.example.com", path: "/api", method: "POST",
			header: map[string][]string{"X-Canary": {"1"}}, wantID: 7, wantOK: true},
		{name: "header value must match", host: "shop.example.com", path: "/api", method: "GET",
			header: map[string][]string{"X-Canary": {"2"}, "X-Team": {"blue"}}, wantID: 6, wantOK: true},
		{name: "header matches any of several values", host: "shop.example.com", path: "/api", method: "GET",
			header: map[string][]string{"X-Canary": {"0", "1"}}, wantID: 9, wantOK: true},
		{name: "header name not canonical in request is absent", host: "shop.example.com", path: "/api", method: "GET",
			header: map[string][]string{"x-canary": {"1"}}, wantID: 6, wantOK: true},
		{name: "prefix ending in slash is a plain prefix", host: "shop.example.com", path: "/static/app.js", wantID: 10, wantOK: true},
		{name: "prefix ending in slash needs the slash", host: "shop.example.com", path: "/static", wantID: 2, wantOK: true},
		{name: "exact host with no matching path reaches catch-all", host: "127.0.0.1", path: "/api/x", wantID: 1, wantOK: true},
		{name: "identical routes: lower ID wins", host: "dup.example.org", path: "/x/y", wantID: 12, wantOK: true},
		{name: "bracketed IPv6 host with port", host: "[::1]:8080", path: "/local", wantID: 14, wantOK: true},
		{name: "IPv4 host with port", host: "127.0.0.1:8080", path: "/local/a", wantID: 14, wantOK: true},
		{name: "empty host goes to catch-all", host: "", path: "/api", wantID: 1, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := r.Match(tt.host, tt.path, tt.method, tt.header)
			if id != tt.wantID || ok != tt.wantOK {
				t.Errorf("Match(%q, %q, %q) = %d, %v; want %d, %v", tt.host, tt.path, tt.method, id, ok, tt.wantID, tt.wantOK)
			}
			rid, rok := referenceMatch(precedenceRoutes, tt.host, tt.path, tt.method, tt.header)
			if rid != id || rok != ok {
				t.Errorf("reference = %d, %v; router = %d, %v", rid, rok, id, ok)
			}
		})
	}
}

func TestMatchNoCatchAll(t *testing.T) {
	r, err := New([]Route{{ID: 3, Hosts: []string{"a.test"}, PathPrefix: "/a"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, host, path string
		wantOK           bool
	}{
		{name: "match", host: "a.test", path: "/a/b", wantOK: true},
		{name: "other host", host: "b.test", path: "/a"},
		{name: "other path", host: "a.test", path: "/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := r.Match(tt.host, tt.path, "GET", nil)
			if ok != tt.wantOK || (ok && id != 3) {
				t.Errorf("Match = %d, %v; want ok=%v", id, ok, tt.wantOK)
			}
		})
	}
	var zero Router
	if _, ok := zero.Match("a.test", "/", "GET", nil); ok {
		t.Error("zero Router matched")
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		route Route
	}{
		{name: "relative prefix", route: Route{PathPrefix: "api"}},
		{name: "empty host", route: Route{Hosts: []string{""}}},
		{name: "bare star", route: Route{Hosts: []string{"*"}}},
		{name: "star without suffix", route: Route{Hosts: []string{"*."}}},
		{name: "star inside", route: Route{Hosts: []string{"a.*.example.com"}}},
		{name: "empty header name", route: Route{Headers: map[string]string{"": "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]Route{tt.route})
			if !errors.Is(err, ErrInvalidRoute) {
				t.Errorf("New = %v; want ErrInvalidRoute", err)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r, err := New(precedenceRoutes)
	if err != nil {
		t.Fatal(err)
	}
	header := map[string][]string{"X-Canary": {"1"}, "X-Team": {"blue"}}
	tests := []struct{ name, host, path string }{
		{name: "exact lower", host: "shop.example.com", path: "/api/x"},
		{name: "exact mixed case with port", host: "Shop.Example.Com:443", path: "/api/x"},
		{name: "wildcard", host: "q.a.example.com", path: "/"},
		{name: "catch-all", host: "unknown.test", path: "/api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() {
				r.Match(tt.host, tt.path, "POST", header)
			})
			if allocs != 0 {
				t.Errorf("Match allocated %v times per call", allocs)
			}
		})
	}
}

// benchRoutes returns n routes over exact hosts, wildcards and prefixes,
// and requests that hit them.
func benchRoutes(n int) ([]Route, []string, []string) {
	var routes []Route
	var hosts, paths []string
	for i := 0; len(routes) < n; i++ {
		host := fmt.Sprintf("svc%d.example.com", i)
		routes = append(routes,
			Route{ID: len(routes), Hosts: []string{host}},
			Route{ID: len(routes) + 1, Hosts: []string{host}, PathPrefix: "/api"},
			Route{ID: len(routes) + 2, Hosts: []string{host}, PathPrefix: fmt.Sprintf("/api/v%d", i%3), Methods: []string{"GET"}},
			Route{ID: len(routes) + 3, Hosts: []string{fmt.Sprintf("*.tenant%d.example.net", i)}, PathPrefix: "/app"},
		)
		hosts = append(hosts, host, strings.ToUpper(host[:1])+host[1:]+":8080", fmt.Sprintf("x.tenant%d.example.net", i))
		paths = append(paths, "/api/v1/users/42", "/", "/app/index.html")
	}
	routes = append(routes[:n-1], Route{ID: n - 1, PathPrefix: "/"})
	return routes, hosts, paths
}

func BenchmarkMatch1000(b *testing.B) {
	routes, hosts, paths := benchRoutes(1000)
	r, err := New(routes)
	if err != nil {
		b.Fatal(err)
	}
	header := map[string][]string{"Accept": {"*/*"}, "User-Agent": {"bench"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := r.Match(hosts[i], paths[i], "GET", header); !ok {
			b.Fatal("no match")
		}
		i++
		if i == len(hosts) {
			i = 0
		}
	}
}
