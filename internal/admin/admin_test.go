package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/engine"
	"github.com/portier/portier/internal/upstream"
)

const token = "s3cret-token"

// fixture is a running engine with two servers and its admin endpoint.
type fixture struct {
	// release lets requests to /slow finish; entered says one arrived.
	release, entered chan struct{}
	eng              *engine.Engine
	admin            string // base URL of the admin endpoint
	proxy            string // base URL of the proxy listener
	hits             map[string]*int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{hits: map[string]*int{}, release: make(chan struct{}), entered: make(chan struct{}, 8)}
	upgrader := websocket.Upgrader{}
	var servers []config.Server
	for _, name := range []string{"web-1", "web-2"} {
		n := new(int)
		f.hits[name] = n
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/slow":
				f.entered <- struct{}{}
				<-f.release
			case "/ws":
				c, err := upgrader.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				for {
					mt, msg, err := c.ReadMessage()
					if err != nil || c.WriteMessage(mt, append([]byte(name+":"), msg...)) != nil {
						return
					}
				}
			}
			*n++
			io.WriteString(w, name)
		}))
		t.Cleanup(be.Close)
		servers = append(servers, config.NewServer(name, be.Listener.Addr().String()))
	}
	cfg := config.New()
	cfg.Log.Access = "off"
	cfg.Listeners = []config.Listener{config.NewListener("web", "127.0.0.1:0")}
	b := config.NewBackend("pages", servers...)
	b.DrainTimeout = config.Duration(300 * time.Millisecond)
	cfg.Backends = []config.Backend{b}
	cfg.Routes = []config.Route{config.NewRoute("site", "pages")}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	f.eng = engine.New(engine.Options{Logger: logger})
	if err := f.eng.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.eng.Shutdown(context.Background()) })
	a := New(Options{Address: "127.0.0.1:0", Token: token, Engine: f.eng, Logger: logger})
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	f.admin = "http://" + a.Addr().String()
	f.proxy = "http://" + f.eng.Addr("web").String()
	return f
}

func call(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWritesNeedTheToken(t *testing.T) {
	f := newFixture(t)
	url := f.admin + "/api/v1/backends/pages/servers/web-1/state"
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"not bearer", "Basic " + token, 401},
		{"right token", "Bearer " + token, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, "POST", url, tc.auth, `{"state": "ready"}`)
			if code != tc.want {
				t.Fatalf("status %d, want %d: %s", code, tc.want, body)
			}
			if code == 401 && !strings.Contains(body, `"code": "unauthorized"`) {
				t.Fatalf("401 body: %s", body)
			}
		})
	}
}

func TestBadCallsGetClearErrors(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + token
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		code                     string
	}{
		{"unknown backend", "POST", "/api/v1/backends/nope/servers/web-1/state", `{"state":"drain"}`, 404, "unknown_backend"},
		{"unknown server", "POST", "/api/v1/backends/pages/servers/nope/state", `{"state":"drain"}`, 404, "unknown_server"},
		{"malformed body", "POST", "/api/v1/backends/pages/servers/web-1/state", `{"state":`, 400, "bad_body"},
		{"unknown field", "POST", "/api/v1/backends/pages/servers/web-1/state", `{"stat":"drain"}`, 400, "bad_body"},
		{"bad state", "POST", "/api/v1/backends/pages/servers/web-1/state", `{"state":"asleep"}`, 400, "bad_state"},
		{"weight missing", "PUT", "/api/v1/backends/pages/servers/web-1/weight", `{}`, 400, "bad_weight"},
		{"weight too big", "PUT", "/api/v1/backends/pages/servers/web-1/weight", `{"weight": 5000}`, 400, "bad_weight"},
		{"weight not a number", "PUT", "/api/v1/backends/pages/servers/web-1/weight", `{"weight": "x"}`, 400, "bad_body"},
		{"no such path", "GET", "/api/v1/nothing", ``, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, tc.method, f.admin+tc.path, auth, tc.body)
			var e apiError
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body is not a JSON error: %q", body)
			}
			if code != tc.want || e.Code != tc.code || e.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", code, e, tc.want, tc.code)
			}
		})
	}
}

// TestDrainWeightReady: drain takes a server out of rotation, weight
// changes its share, ready brings it back; status shows each step.
func TestDrainWeightReady(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + token
	send := func(n int) {
		for range n {
			if code, _ := call(t, "GET", f.proxy+"/", "", ""); code != 200 {
				t.Fatalf("proxy answered %d", code)
			}
		}
	}
	if code, body := call(t, "POST", f.admin+"/api/v1/backends/pages/servers/web-1/state", auth, `{"state":"drain"}`); code != 200 || !strings.Contains(body, `"state": "draining"`) {
		t.Fatalf("drain: %d %s", code, body)
	}
	send(10)
	if *f.hits["web-1"] != 0 || *f.hits["web-2"] != 10 {
		t.Fatalf("after drain: web-1 %d, web-2 %d", *f.hits["web-1"], *f.hits["web-2"])
	}
	call(t, "POST", f.admin+"/api/v1/backends/pages/servers/web-1/state", auth, `{"state":"ready"}`)
	if code, body := call(t, "PUT", f.admin+"/api/v1/backends/pages/servers/web-1/weight", auth, `{"weight": 300}`); code != 200 || !strings.Contains(body, `"weight": 300`) {
		t.Fatalf("weight: %d %s", code, body)
	}
	*f.hits["web-1"], *f.hits["web-2"] = 0, 0
	send(40)
	if *f.hits["web-1"] != 30 || *f.hits["web-2"] != 10 {
		t.Fatalf("weights 300/100 over 40 requests: web-1 %d, web-2 %d", *f.hits["web-1"], *f.hits["web-2"])
	}
	var st Status
	_, body := call(t, "GET", f.admin+"/api/v1/status", "", "")
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	s := st.Backends[0].Servers[0]
	if s.Name != "web-1" || s.State != "up" || s.BaseWeight != 300 || s.Requests != 30 {
		t.Fatalf("status of web-1: %+v", s)
	}
}

func TestReadyzNamesTheRoute(t *testing.T) {
	f := newFixture(t)
	if code, _ := call(t, "GET", f.admin+"/readyz", "", ""); code != 200 {
		t.Fatalf("readyz with servers up: %d", code)
	}
	for _, s := range []string{"web-1", "web-2"} {
		call(t, "POST", f.admin+"/api/v1/backends/pages/servers/"+s+"/state", "Bearer "+token, `{"state":"maintenance"}`)
	}
	code, body := call(t, "GET", f.admin+"/readyz", "", "")
	if code != 503 || !strings.Contains(body, "route site") || !strings.Contains(body, "pages/web-1 is maintenance") {
		t.Fatalf("readyz: %d %q", code, body)
	}
	if code, _ := call(t, "GET", f.admin+"/healthz", "", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, _ := call(t, "GET", f.proxy+"/", "", ""); code != 503 {
		t.Fatalf("proxy with every server in maintenance: %d", code)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	for range 6 {
		call(t, "GET", f.proxy+"/", "", "")
	}
	call(t, "POST", f.admin+"/api/v1/backends/pages/servers/web-2/state", "Bearer "+token, `{"state":"drain"}`)
	fams := scrapeMetrics(t, f.admin+"/metrics")
	pages := func(labels map[string]string) map[string]string {
		labels["backend"] = "pages"
		return labels
	}
	served := func(server string) map[string]string {
		return map[string]string{"route": "site", "backend": "pages", "server": server, "code": "2xx"}
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portier_requests_total", served("web-1"), 3},
		{"portier_requests_total", served("web-2"), 3},
		{"portier_server_up", pages(map[string]string{"server": "web-1"}), 1},
		{"portier_server_up", pages(map[string]string{"server": "web-2"}), 0},
		{"portier_server_state", pages(map[string]string{"server": "web-2", "state": "draining"}), 1},
		{"portier_server_state", pages(map[string]string{"server": "web-2", "state": "up"}), 0},
	} {
		t.Run(fmt.Sprintf("%s%v", tc.name, tc.labels), func(t *testing.T) {
			if got := value(find(t, fams, tc.name, tc.labels)); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
}

// TestDrainLetsWorkFinish: a request in flight when drain is called
// completes with 200; no new request reaches the server; its WebSocket is
// closed after drain_timeout, not before; ready restores traffic.
func TestDrainLetsWorkFinish(t *testing.T) {
	f := newFixture(t)
	// web-1 is first in round robin: the slow request and the WebSocket
	// both land on it.
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(f.proxy + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-f.entered
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(f.proxy, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	echo := func() (string, error) {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			return "", err
		}
		_, msg, err := ws.ReadMessage()
		return string(msg), err
	}
	got, err := echo()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := strings.CutSuffix(got, ":ping")

	drainedAt := time.Now()
	call(t, "POST", f.admin+"/api/v1/backends/pages/servers/"+srv+"/state", "Bearer "+token, `{"state":"drain"}`)
	before := *f.hits[srv]
	for range 6 {
		if code, body := call(t, "GET", f.proxy+"/", "", ""); code != 200 || body == srv {
			t.Fatalf("new request after drain: %d %q", code, body)
		}
	}
	if *f.hits[srv] != before {
		t.Fatal("a draining server got a new request")
	}
	if _, err := echo(); err != nil {
		t.Fatalf("the WebSocket was closed before drain_timeout: %v", err)
	}
	close(f.release)
	if code := <-slow; code != 200 {
		t.Fatalf("the request in flight at drain ended with %d", code)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := echo(); err != nil {
			break
		}
	}
	if waited := time.Since(drainedAt); waited < 300*time.Millisecond {
		t.Fatalf("the WebSocket was closed %v after drain, before drain_timeout", waited)
	}
	call(t, "POST", f.admin+"/api/v1/backends/pages/servers/"+srv+"/state", "Bearer "+token, `{"state":"ready"}`)
	seen := map[string]bool{}
	for range 4 {
		_, body := call(t, "GET", f.proxy+"/", "", "")
		seen[body] = true
	}
	if !seen[srv] {
		t.Fatalf("ready did not restore traffic to %s: %v", srv, seen)
	}
}

// closer counts Close calls.
type closer struct{ closed int }

func (c *closer) Close() error { c.closed++; return nil }

// TestDrainTimerOfAnEarlierChange: drain, ready, drain again: the first
// drain's timer must not cut the WebSockets short of the second drain's
// timeout; only the timer of the latest change acts.
func TestDrainTimerOfAnEarlierChange(t *testing.T) {
	a := New(Options{Logger: slog.New(slog.DiscardHandler)})
	srv := upstream.NewServer("pages", "web-1", "127.0.0.1:1", 100, upstream.Up)
	c := &closer{}
	defer srv.Track(c)()
	first := srv.SetAdmin(upstream.Draining)
	srv.SetAdmin(upstream.Ready)
	second := srv.SetAdmin(upstream.Draining)
	if n := a.closeLongLived(srv, first, 0); n != 0 || c.closed != 0 {
		t.Fatalf("the first drain's timer closed %d connections", n)
	}
	if n := a.closeLongLived(srv, second, 0); n != 1 || c.closed != 1 {
		t.Fatalf("the latest drain's timer closed %d connections, want 1", n)
	}
}
