package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portier/portier/internal/upstream"
)

// named answers with its own name.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
}

// splitResponse is one answer through a split route.
type splitResponse struct {
	code      int
	body      string
	setCookie string
}

// startSplit runs a proxy whose one route splits 80/20 between backends v1
// and v2 with a sticky cookie; get sends a request with the cookie, if any.
func startSplit(t *testing.T) (v1, v2 *Backend, get func(cookie string) splitResponse) {
	t.Helper()
	v1 = newBackend(t, "v1", upstream.TransportOptions{}, startBackend(t, named("v1")))
	v2 = newBackend(t, "v2", upstream.TransportOptions{}, startBackend(t, named("v2")))
	rt := &Route{Name: "app", Split: []Variant{{Backend: v1, Weight: 80}, {Backend: v2, Weight: 20}},
		StickyCookie: "portier_variant"}
	base, c := startProxy(t, NewHandler(Options{}, newSite(t, routeSpec{route: rt})), false)
	return v1, v2, func(cookie string) splitResponse {
		req := mustReq(t, "GET", base+"/", "")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "portier_variant", Value: cookie})
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return splitResponse{res.StatusCode, readAll(t, res.Body), res.Header.Get("Set-Cookie")}
	}
}

func TestSplit(t *testing.T) {
	_, _, send := startSplit(t)
	get := func(cookie string) (string, string) {
		r := send(cookie)
		return r.body, r.setCookie
	}
	t.Run("weights", func(t *testing.T) {
		counts := map[string]int{}
		const n = 2000
		for range n {
			body, set := get("")
			counts[body]++
			if want := "portier_variant=" + body + "; Path=/; HttpOnly; SameSite=Lax"; set != want {
				t.Fatalf("Set-Cookie %q, want %q", set, want)
			}
		}
		// A smooth schedule, not a coin toss: exactly one in five.
		if counts["v2"] != n/5 || counts["v1"] != n*4/5 {
			t.Errorf("split over %d requests: %v, want exactly 80/20", n, counts)
		}
	})
	tests := []struct {
		name, cookie, want string
		sets               bool
	}{
		{name: "sticky v2", cookie: "v2", want: "v2"},
		{name: "sticky v1", cookie: "v1", want: "v1"},
		{name: "unknown variant repicked", cookie: "v9", sets: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				body, set := get(tt.cookie)
				if tt.want != "" && body != tt.want {
					t.Fatalf("got %s, want %s", body, tt.want)
				}
				if (set != "") != tt.sets {
					t.Fatalf("Set-Cookie %q", set)
				}
			}
		})
	}
}

// TestSplitPassesOverAVariantThatCannotServe: with every server of one
// variant out (drained, down), the split sends all traffic, sticky clients
// included, to the variants that can serve it.
func TestSplitPassesOverAVariantThatCannotServe(t *testing.T) {
	v1, v2, send := startSplit(t)
	get := func(cookie string) (int, string) {
		r := send(cookie)
		return r.code, r.body
	}
	v1.Servers[0].SetAdmin(upstream.Draining)
	for _, cookie := range []string{"", "v1"} {
		for range 10 {
			if code, body := get(cookie); code != 200 || body != "v2" {
				t.Fatalf("cookie %q with v1 drained: %d %q", cookie, code, body)
			}
		}
	}
	v2.Servers[0].SetState(upstream.Down)
	if code, body := get(""); code != 503 || !strings.Contains(body, "no_healthy_server") {
		t.Fatalf("no variant can serve: %d %q", code, body)
	}
	v1.Servers[0].SetAdmin(upstream.Ready)
	if code, body := get(""); code != 200 || body != "v1" {
		t.Fatalf("v1 ready again: %d %q", code, body)
	}
}

// TestSwap: a request in flight finishes on the Site it started with while
// new requests take the new one.
func TestSwap(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	oldBack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "old")
	})
	oldSite := oneRoute(t, newBackend(t, "old", upstream.TransportOptions{}, startBackend(t, oldBack)))
	newSite := oneRoute(t, newBackend(t, "new", upstream.TransportOptions{}, startBackend(t, named("new"))))
	h := NewHandler(Options{}, oldSite)
	base, c := startProxy(t, h, false)
	done := make(chan string)
	go func() {
		res, err := c.Get(base + "/")
		if err != nil {
			done <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- string(b)
	}()
	<-arrived
	h.Swap(newSite)
	res, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, res.Body); got != "new" {
		t.Errorf("new request served by %q", got)
	}
	res.Body.Close()
	close(release)
	if got := <-done; !strings.Contains(got, "old") {
		t.Errorf("in-flight request got %q", got)
	}
}
