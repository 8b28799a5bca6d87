package health

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// TestRealClock runs checks on the wall clock with Observe called from many
// goroutines at once, as the proxy will: the servers come up, a failing
// one goes down, and each change is logged once with its reason.
func TestRealClock(t *testing.T) {
	good, bad := newChecked(t), newChecked(t)
	bad.status.Store(500)
	h := httpCheck("/")
	h.Interval, h.FastInterval, h.DownInterval = config.Duration(20*time.Millisecond), config.Duration(5*time.Millisecond), config.Duration(20*time.Millisecond)
	h.Rise, h.Fall = 2, 2
	servers := []*upstream.Server{newServer("good", good.addr(), upstream.Pending), newServer("bad", bad.addr(), upstream.Up)}
	var logs syncBuffer
	changed := make(chan struct{}, 100)
	m := start(t, Options{Backend: "shop", Servers: servers, Check: h, Passive: passive(1000, time.Second),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), OnChange: func() { changed <- struct{}{} }})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m.Observe(servers[i%2], i%3 != 0, "upstream_reset")
			}
		})
	}
	deadline := time.After(10 * time.Second)
	for servers[0].State() != upstream.Up || servers[1].State() != upstream.Down {
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("states %v, %v; want up, down", servers[0].State(), servers[1].State())
		}
	}
	close(stop)
	wg.Wait()
	m.Stop()
	lines := logs.lines(t)
	want := map[string]string{"good": "pending>up:status 200", "bad": "up>down:status 500"}
	for _, l := range lines {
		key := l["from"].(string) + ">" + l["to"].(string) + ":" + l["reason"].(string)
		if l["component"] != "health" || l["backend"] != "shop" || want[l["server"].(string)] != key {
			t.Errorf("unexpected log line %v", l)
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d log lines, want one per change: %v", len(lines), lines)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
