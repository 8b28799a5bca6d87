package state

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/health"
)

// saverFixture is a Saver on a fake clock whose Collect counts its calls
// and returns whatever the test put in entries.
type saverFixture struct {
	t       *testing.T
	clock   *health.FakeClock
	saver   *Saver
	path    string
	collect atomic.Int32
	logs    bytes.Buffer // guarded by logMu
	logMu   sync.Mutex

	mu      sync.Mutex // guards entries
	entries []Entry
}

func (f *saverFixture) Write(p []byte) (int, error) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.Write(p)
}

func (f *saverFixture) logText() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

func (f *saverFixture) set(admin string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = []Entry{{Backend: "b", Server: "s", Identity: config.ServerIdentity{Address: "h:1"}, Admin: admin, Health: HealthUp}}
}

// wantSaved fails the test unless the file holds the admin overlay want.
func (f *saverFixture) wantSaved(want string) {
	f.t.Helper()
	es, err := Load(f.path)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(es) != 1 || es[0].Admin != want {
		f.t.Fatalf("file holds %+v, want one entry with admin %q", es, want)
	}
}

// wantSaves fails the test unless Collect has been called n times; when
// says at what point, for the message.
func (f *saverFixture) wantSaves(n int32, when string) {
	f.t.Helper()
	if got := f.collect.Load(); got != n {
		f.t.Fatalf("%d saves %s, want %d", got, when, n)
	}
}

// wantTimers fails the test unless the pending timers fall due in exactly
// ds, soonest first.
func (f *saverFixture) wantTimers(ds ...time.Duration) {
	f.t.Helper()
	if p := f.clock.Pending(); !slices.Equal(p, ds) {
		f.t.Fatalf("pending timers %v, want %v", p, ds)
	}
}

// newSaverFixture returns a fixture saving to path, or to a new
// directory's state.json if path is empty.
func newSaverFixture(t *testing.T, delay time.Duration, path string) *saverFixture {
	if path == "" {
		path = filepath.Join(t.TempDir(), "state.json")
	}
	f := &saverFixture{
		t:     t,
		clock: health.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		path:  path,
	}
	f.set(AdminReady)
	f.saver = NewSaver(SaverOptions{
		Path: f.path,
		Collect: func() []Entry {
			f.collect.Add(1)
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.entries
		},
		Delay:     delay,
		Logger:    slog.New(slog.NewTextHandler(f, nil)),
		AfterFunc: func(d time.Duration, fn func()) func() bool { return f.clock.AfterFunc(d, fn).Stop },
	})
	return f
}

func TestSaverCoalesces(t *testing.T) {
	f := newSaverFixture(t, 100*time.Millisecond, "")
	// Twenty servers drained at once, from many goroutines.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 10 {
				f.saver.Notify()
			}
		})
	}
	wg.Wait()
	f.set(AdminDraining)
	f.wantSaves(0, "before the delay passed")
	f.wantTimers(100 * time.Millisecond)
	f.clock.Advance(99 * time.Millisecond)
	f.wantSaves(0, "before the delay passed")
	f.clock.Advance(time.Millisecond)
	f.wantSaves(1, "after 200 notifications")
	f.wantSaved(AdminDraining)

	// Nothing more to save: the clock moves, nothing is written.
	f.clock.Advance(time.Second)
	f.wantSaves(1, "without a change")

	// A later change is a new window.
	f.set(AdminMaintenance)
	f.saver.Notify()
	f.clock.Advance(50 * time.Millisecond)
	f.saver.Notify()
	f.clock.Advance(50 * time.Millisecond)
	f.wantSaves(2, "after a second change")
	f.wantSaved(AdminMaintenance)
	if err := f.saver.Close(); err != nil {
		t.Fatal(err)
	}
	f.wantSaves(2, "after Close with nothing pending")
}

func TestSaverCloseFlushesPending(t *testing.T) {
	f := newSaverFixture(t, time.Hour, "")
	f.set(AdminDraining)
	f.saver.Notify()
	if err := f.saver.Close(); err != nil {
		t.Fatal(err)
	}
	f.wantSaves(1, "on Close")
	f.wantSaved(AdminDraining)
	f.wantTimers()
	// Closed: later changes are not saved.
	f.saver.Notify()
	f.clock.Advance(2 * time.Hour)
	if err := f.saver.Close(); err != nil {
		t.Fatal(err)
	}
	f.wantSaves(1, "after Close")
}

func TestSaverCloseWithoutChangesWritesNothing(t *testing.T) {
	f := newSaverFixture(t, 0, "")
	if err := f.saver.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.path); !os.IsNotExist(err) {
		t.Errorf("Close wrote a file with nothing pending: %v", err)
	}
}

func TestSaverDefaultDelay(t *testing.T) {
	f := newSaverFixture(t, 0, "")
	f.saver.Notify()
	f.wantTimers(200 * time.Millisecond)
}

func TestSaverFlush(t *testing.T) {
	f := newSaverFixture(t, time.Second, "")
	// Flush writes even with nothing notified: it is the shutdown save.
	if err := f.saver.Flush(); err != nil {
		t.Fatal(err)
	}
	f.wantSaved(AdminReady)
	// A pending write is covered by Flush and cancelled.
	f.set(AdminDraining)
	f.saver.Notify()
	if err := f.saver.Flush(); err != nil {
		t.Fatal(err)
	}
	f.wantSaved(AdminDraining)
	f.wantTimers()
	f.clock.Advance(time.Hour)
	f.wantSaves(2, "for two flushes")
}

func TestSaverRetriesFailedSave(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	f := newSaverFixture(t, 100*time.Millisecond, filepath.Join(dir, "state.json"))
	f.saver.Notify()
	f.clock.Advance(100 * time.Millisecond)
	logs := f.logText()
	for _, want := range []string{"level=ERROR", "saving state failed", "component=state", "path=" + f.path, "attempt=1", "no such file or directory"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// The next try waits twice as long, then four times.
	f.wantTimers(200 * time.Millisecond)
	f.clock.Advance(200 * time.Millisecond)
	f.wantTimers(400 * time.Millisecond)
	// Notify does not shorten the wait nor add a timer.
	f.saver.Notify()
	f.wantTimers(400 * time.Millisecond)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(400 * time.Millisecond)
	f.wantSaved(AdminReady)
	f.wantTimers()
	f.wantSaves(3, "for two failures and a success")
}

func TestSaverCloseReturnsSaveError(t *testing.T) {
	f := newSaverFixture(t, time.Second, filepath.Join(t.TempDir(), "missing", "state.json"))
	f.saver.Notify()
	err := f.saver.Close()
	if err == nil || !strings.Contains(err.Error(), "state: save "+f.path) {
		t.Fatalf("Close = %v, want the save error naming the path", err)
	}
	if logs := f.logText(); logs != "" {
		t.Errorf("Close both logged and returned the error:\n%s", logs)
	}
}

func TestSaverNotifyFromCollect(t *testing.T) {
	f := newSaverFixture(t, 100*time.Millisecond, "")
	inner := f.saver.o.Collect
	f.saver.o.Collect = func() []Entry {
		f.saver.Notify() // a change racing the snapshot
		return inner()
	}
	f.saver.Notify()
	f.clock.Advance(100 * time.Millisecond)
	f.wantSaves(1, "after the delay")
	// The change made during the save is saved one delay later.
	f.wantTimers(100 * time.Millisecond)
	f.clock.Advance(100 * time.Millisecond)
	f.wantSaves(2, "after the second delay")
}

// TestSaverRealClock runs the default timer: many notifications from many
// goroutines end in a save, without the test sleeping.
func TestSaverRealClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	saved := make(chan struct{}, 100)
	var calls atomic.Int32
	s := NewSaver(SaverOptions{
		Path:  path,
		Delay: 5 * time.Millisecond,
		Collect: func() []Entry {
			calls.Add(1)
			select {
			case saved <- struct{}{}:
			default:
			}
			return []Entry{{Backend: "b", Server: "s", Admin: AdminDraining, Health: HealthPending}}
		},
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				s.Notify()
			}
		})
	}
	wg.Wait()
	select {
	case <-saved:
	case <-time.After(5 * time.Second):
		t.Fatal("no save within 5s")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n < 1 || n > 100 {
		t.Errorf("%d saves for 800 notifications", n)
	}
	es, err := Load(path)
	if err != nil || len(es) != 1 || es[0].Admin != AdminDraining {
		t.Errorf("Load = %v, %v", es, err)
	}
}
