package engine

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portier/portier/internal/config"
)

func newKeepAliveClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true},
	}
}

func getStatus(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// echoWS is a WebSocket server that echoes every message.
func echoWS(t *testing.T) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, m); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// wsClient sends a numbered message every few milliseconds and checks its
// echo until stop; a broken tunnel is recorded in broken.
func wsClient(t *testing.T, url string, stop <-chan struct{}, broken *atomic.Int64, sent *atomic.Int64) {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Errorf("websocket dial: %v", err)
		broken.Add(1)
		return
	}
	defer c.Close()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		msg := fmt.Sprintf("m%d", i)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Errorf("websocket write after %d messages: %v", i, err)
			broken.Add(1)
			return
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != msg {
			t.Errorf("websocket echo after %d messages: %q, %v", i, got, err)
			broken.Add(1)
			return
		}
		sent.Add(1)
	}
}

// loadConfigs are two configurations a reload alternates between. The
// second adds a route with its own backend, a server to the app backend,
// a second listener, and changes listener settings that need a new HTTP
// server (idle timeout) and a new handler (Via); both keep the WebSocket
// backend and its route.
func loadConfigs(apps []*app, ws string) (a, b *config.Config) {
	mk := func(second bool) *config.Config {
		cfg := config.New()
		cfg.Admin.Address = config.AdminOff
		cfg.Log.Access = "off"
		web := config.NewListener("web", "127.0.0.1:0")
		cfg.Listeners = []config.Listener{web}
		app := config.NewBackend("app", config.NewServer("s0", apps[0].addr()), config.NewServer("s1", apps[1].addr()))
		wsb := config.NewBackend("ws", config.NewServer("w0", ws))
		wsb.DrainTimeout = config.Duration(50 * time.Millisecond)
		cfg.Backends = []config.Backend{app, wsb}
		rApp := config.NewRoute("app", "app")
		rApp.PathPrefix = "/app"
		rWS := config.NewRoute("ws", "ws")
		rWS.PathPrefix = "/ws"
		cfg.Routes = []config.Route{rApp, rWS}
		if second {
			cfg.Listeners[0].Timeouts.Idle = config.Duration(61 * time.Second)
			cfg.Listeners[0].Via = false
			cfg.Listeners = append(cfg.Listeners, config.NewListener("extra", "127.0.0.1:0"))
			cfg.Backends[0].Servers = append(cfg.Backends[0].Servers, config.NewServer("s2", apps[2].addr()))
			cfg.Backends = append(cfg.Backends, config.NewBackend("other", config.NewServer("o0", apps[3].addr())))
			rOther := config.NewRoute("other", "other")
			rOther.PathPrefix = "/other"
			rOther.Listeners = []string{"web", "extra"}
			cfg.Routes = append(cfg.Routes, rOther)
		}
		return cfg
	}
	return mk(false), mk(true)
}

// TestReloadUnderLoad: 20 keep-alive clients and 5 WebSockets run while
// the configuration is reloaded 50 times between two that add and remove
// routes, servers, a listener and listener settings. No request fails and
// no WebSocket is cut.
func TestReloadUnderLoad(t *testing.T) {
	var apps []*app
	for i := range 4 {
		apps = append(apps, newApp(t, fmt.Sprintf("app%d", i), true))
	}
	ws := echoWS(t)
	a, b := loadConfigs(apps, ws.Listener.Addr().String())
	e, base := startEngine(t, a)

	stop := hammer(t, base+"/app", 20)
	wsStop := make(chan struct{})
	var broken, echoed atomic.Int64
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wsClient(t, "ws"+strings.TrimPrefix(base, "http")+"/ws", wsStop, &broken, &echoed)
		}()
	}
	var took []time.Duration
	for i := range 50 {
		next := a
		if i%2 == 0 {
			next = b
		}
		res := e.Reload(load(next))
		if !res.OK() {
			t.Fatalf("reload %d: %v", i, res.Err)
		}
		took = append(took, res.Took)
		time.Sleep(20 * time.Millisecond)
	}
	close(wsStop)
	wg.Wait()
	out := stop()
	if out.failed != 0 || broken.Load() != 0 {
		t.Fatalf("across 50 reloads: %d requests ok, %d failed (%v); %d WebSockets cut", out.ok, out.failed, out.err, broken.Load())
	}
	if out.ok < 200 || echoed.Load() < 50 {
		t.Fatalf("too little traffic to prove anything: %d requests, %d echoes", out.ok, echoed.Load())
	}
	t.Logf("%d requests and %d WebSocket echoes across 50 reloads; first reload took %v", out.ok, echoed.Load(), took[0])
}

// TestReloadRemovedServerClosesWebSocket: a WebSocket whose server a
// reload removes keeps working for the backend's drain_timeout, then is
// closed.
func TestReloadRemovedServerClosesWebSocket(t *testing.T) {
	var apps []*app
	for i := range 4 {
		apps = append(apps, newApp(t, fmt.Sprintf("app%d", i), true))
	}
	ws := echoWS(t)
	a, _ := loadConfigs(apps, ws.Listener.Addr().String())
	a.Backends[1].DrainTimeout = config.Duration(300 * time.Millisecond)
	e, base := startEngine(t, a)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	b, _ := loadConfigs(apps, apps[0].addr()) // w0 moves: the old server is gone
	b.Backends[1].DrainTimeout = config.Duration(300 * time.Millisecond)
	res := e.Reload(load(b))
	if !res.OK() {
		t.Fatal(res.Err)
	}
	removed := time.Now()
	if err := c.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "still" {
		t.Fatalf("within drain_timeout: %q %v", m, err)
	}
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("the tunnel to a removed server stayed open")
	}
	if d := time.Since(removed); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed %v after the reload, want about drain_timeout (300ms)", d)
	}
}

// TestReloadNewPoolKeepsWebSocket: a reload that changes only how a
// server is reached (a connect timeout) gives it a new pool but keeps its
// WebSockets past drain_timeout: it is the same server.
func TestReloadNewPoolKeepsWebSocket(t *testing.T) {
	var apps []*app
	for i := range 4 {
		apps = append(apps, newApp(t, fmt.Sprintf("app%d", i), true))
	}
	ws := echoWS(t)
	a, _ := loadConfigs(apps, ws.Listener.Addr().String())
	e, base := startEngine(t, a)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := e.Snapshot().Backends["ws"].Servers[0]

	b, _ := loadConfigs(apps, ws.Listener.Addr().String())
	b.Backends[1].Timeouts.Connect = config.Duration(3 * time.Second)
	if res := e.Reload(load(b)); !res.OK() {
		t.Fatal(res.Err)
	}
	if e.Snapshot().Backends["ws"].Servers[0] == old {
		t.Fatal("a new connect timeout did not give the server a new pool")
	}
	time.Sleep(3 * 50 * time.Millisecond) // three drain_timeouts
	for i := range 3 {
		msg := fmt.Sprintf("after %d", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, m, err := c.ReadMessage(); err != nil || string(m) != msg {
			t.Fatalf("the WebSocket of a server with a new pool: %q %v", m, err)
		}
	}
}
