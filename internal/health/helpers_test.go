package health

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// newClock returns a fake clock at a fixed time.
func newClock() *FakeClock { return NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) }

// checked is an HTTP server on loopback whose check answer the test sets,
// and which records what the checks sent.
type checked struct {
	*httptest.Server
	status atomic.Int32
	body   atomic.Pointer[string]
	conns  atomic.Int32 // connections opened to it

	mu     sync.Mutex // guards last
	last   *http.Request
	served int
}

func newChecked(t *testing.T) *checked {
	t.Helper()
	c := &checked{}
	c.status.Store(http.StatusOK)
	ok := "ok"
	c.body.Store(&ok)
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.last, c.served = r, c.served+1
		c.mu.Unlock()
		w.WriteHeader(int(c.status.Load()))
		w.Write([]byte(*c.body.Load()))
	}))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func (c *checked) addr() string { return c.Listener.Addr().String() }

func (c *checked) lastRequest() (*http.Request, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.served
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr returns a loopback address that accepts connections and never
// answers on them, and a channel that receives when one is accepted.
func silentAddr(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// httpCheck is an HTTP check of path with the DESIGN.md example timings.
func httpCheck(path string) *config.Health {
	h := config.NewHealth(path)
	h.Interval = config.Duration(2 * time.Second)
	h.FastInterval = config.Duration(500 * time.Millisecond)
	h.DownInterval = config.Duration(5 * time.Second)
	h.Timeout = config.Duration(time.Second)
	h.Rise, h.Fall = 2, 3
	return h
}

// start starts a Monitor that is stopped when the test ends.
func start(t *testing.T, o Options) *Monitor {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = 1
	}
	m, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// fire advances clk to its next timer and fires it.
func fire(t *testing.T, clk *FakeClock) {
	t.Helper()
	d, ok := clk.Next()
	if !ok {
		t.Fatal("no timer pending")
	}
	clk.Advance(d)
}

// within reports whether d is within the ±10% jitter of want.
func within(d, want time.Duration) bool {
	return d >= want-want/10 && d <= want+want/10
}

// newServer returns a server of backend "b" at addr.
func newServer(name, addr string, st upstream.State) *upstream.Server {
	return upstream.NewServer("b", name, addr, 100, st)
}
