package state

import (
	"log/slog"
	"sync"
	"time"
)

// Log attribute keys.
const (
	keyComponent = "component"
	keyPath      = "path"
	keyAttempt   = "attempt"
	keyError     = "error"
)

// Saver defaults.
const (
	defaultDelay = 200 * time.Millisecond
	// maxRetryDelay caps the wait between attempts after failed saves.
	maxRetryDelay = time.Minute
)

// SaverOptions configure a Saver.
type SaverOptions struct {
	// Path is the state file. Required.
	Path string
	// Collect returns a snapshot of the current state of every server. It
	// is called from the Saver's timer goroutine or from Flush and Close,
	// never twice at once. It may call Notify, not Flush or Close.
	// Required.
	Collect func() []Entry
	// Delay is how long after a first change the Saver writes, so that a
	// burst of changes (draining twenty servers) makes one write. Zero or
	// negative: 200ms.
	Delay time.Duration
	// Logger receives failed background saves; component=state is added.
	// Nil: discard.
	Logger *slog.Logger
	// AfterFunc schedules f after d and returns a function that cancels
	// it, reporting whether it did. Tests pass a fake clock's. Nil:
	// time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Saver writes the state file in the background after changes, coalescing
// those that come within Delay of each other. A failed background save is
// logged and tried again after a wait that doubles from Delay up to a
// minute; Flush and Close report their own errors.
type Saver struct {
	o   SaverOptions // with defaults filled in
	log *slog.Logger

	saveMu sync.Mutex // held across Collect and Save, so writes happen in snapshot order

	mu       sync.Mutex  // guards the fields below; never held during I/O
	dirty    bool        // a change was notified and is not yet saved
	stop     func() bool // cancels the armed timer; nil when none is armed
	failures int         // background saves failed in a row
	closed   bool        // Close was called
}

// NewSaver returns a Saver for o. It writes nothing until Notify, Flush or
// Close.
func NewSaver(o SaverOptions) *Saver {
	if o.Delay <= 0 {
		o.Delay = defaultDelay
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AfterFunc == nil {
		o.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	return &Saver{o: o, log: o.Logger.With(keyComponent, "state")}
}

// Notify says that the state changed; the Saver writes it within Delay.
// It never blocks on a write in progress and is safe from any goroutine.
// After Close it does nothing.
func (s *Saver) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.dirty = true
	if s.stop == nil {
		s.stop = s.o.AfterFunc(s.o.Delay, s.fire)
	}
}

// Flush writes the current state now, whether or not a change is pending,
// and returns when it is on disk. A pending background write is cancelled:
// this one covers it.
func (s *Saver) Flush() error {
	s.mu.Lock()
	s.cancelLocked()
	s.dirty = true
	s.mu.Unlock()
	return s.save()
}

// Close stops background writes and, if a change is pending, writes it
// and returns the error of that write. Close is safe to call more than
// once.
func (s *Saver) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancelLocked()
	s.mu.Unlock()
	return s.save()
}

// cancelLocked stops the armed timer. s.mu must be held.
func (s *Saver) cancelLocked() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// fire is the timer callback: save, and on failure try again later.
func (s *Saver) fire() {
	s.mu.Lock()
	s.stop = nil
	s.mu.Unlock()
	err := s.save()
	s.mu.Lock()
	if err == nil {
		s.failures = 0
		s.mu.Unlock()
		return
	}
	s.failures++
	attempt := s.failures
	if !s.closed && s.stop == nil {
		retry := min(s.o.Delay<<min(attempt, 8), max(maxRetryDelay, s.o.Delay))
		s.stop = s.o.AfterFunc(retry, s.fire)
	}
	s.mu.Unlock()
	s.log.Error("saving state failed", keyPath, s.o.Path, keyAttempt, attempt, keyError, err)
}

// save writes a snapshot if a change is pending. On failure the change
// stays pending.
func (s *Saver) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = false
	s.mu.Unlock()
	if !dirty {
		return nil
	}
	err := Save(s.o.Path, s.o.Collect())
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
	}
	return err
}
