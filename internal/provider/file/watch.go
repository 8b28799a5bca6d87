package file

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is the quiet time after the last event before the file is
// read, when WatchOptions.Debounce is zero. Editors save in a few
// milliseconds; a deploy tool that writes several files finishes well
// within it.
const DefaultDebounce = 250 * time.Millisecond

// Log attribute keys.
const (
	keyComponent = "component"
	keyPath      = "path"
	keyEvent     = "event"
	keyError     = "error"
)

// WatchOptions configure Watch. The zero value of each optional field is
// usable and means what its comment says.
type WatchOptions struct {
	// Path is the configuration file; required. A relative path is made
	// absolute once, when Watch is called. Symbolic links on the way to the
	// file are followed, and a change of any of them counts as a change.
	Path string
	// Debounce is how long the watched names must be quiet before the file
	// is read and compared: a burst of events inside it makes one check.
	// Zero means DefaultDebounce (250ms); negative is an error.
	Debounce time.Duration
	// Logger receives the watcher's lines, with component=config_watch.
	// Nil: discard.
	Logger *slog.Logger
}

// Watcher is a running watch, started by Watch. It stops when the context
// given to Watch ends.
type Watcher struct {
	done chan struct{}
}

// Done is closed once the watcher has stopped: the context ended, no
// onChange call is running and none will start, and the watch is released.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// watch is the state of one Watcher. After Watch returns, every field is
// read and written by the loop goroutine only, so there is no lock.
type watch struct {
	path     string // the config file, absolute and clean
	debounce time.Duration
	log      *slog.Logger
	fw       *fsnotify.Watcher
	onChange func()
	done     chan struct{}

	names   map[string]bool   // event names that schedule a check
	sum     [sha256.Size]byte // digest of the last content read
	have    bool              // whether sum holds a digest
	failing bool              // whether the last read failed (logged once)
}

// Watch watches the file o.Path and calls onChange after its content has
// changed, until ctx ends. It returns once the watch is in place, or an
// error at once if the options are invalid or the file's directory cannot
// be watched.
//
// Events on the file's name, on the symbolic links that lead to it and on
// the directories that hold them are debounced; after each quiet period the
// file is read, and onChange is called only if its bytes differ from the
// last bytes read. The first read happens inside Watch, so start the watch
// before loading the configuration the first time: a change that falls
// between the two then causes one extra, harmless call instead of being
// missed. A file that is missing or unreadable causes no call; the watch
// goes on and calls onChange when the file is back with different bytes.
//
// onChange runs on the watcher's goroutine, never concurrently with itself;
// events that arrive meanwhile are checked after it returns. The watcher
// stops after a running onChange returns.
func Watch(ctx context.Context, o WatchOptions, onChange func()) (*Watcher, error) {
	w, err := newWatch(o, onChange)
	if err != nil {
		return nil, err
	}
	go w.loop(ctx)
	return &Watcher{done: w.done}, nil
}

// newWatch checks the options, watches the file's directory and reads the
// file once.
func newWatch(o WatchOptions, onChange func()) (*watch, error) {
	switch {
	case o.Path == "":
		return nil, errors.New("file watch: path is required")
	case onChange == nil:
		return nil, errors.New("file watch: onChange is required")
	case o.Debounce < 0:
		return nil, fmt.Errorf("file watch: debounce %v: must not be negative", o.Debounce)
	}
	path, err := filepath.Abs(o.Path)
	if err != nil {
		return nil, fmt.Errorf("file watch: %w", err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("file watch: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("file watch: %w", err)
	}
	if err := fw.Add(dir); err != nil {
		fw.Close()
		return nil, fmt.Errorf("file watch: %s: %w", dir, err)
	}
	w := &watch{
		path:     path,
		debounce: o.Debounce,
		log:      o.Logger,
		fw:       fw,
		onChange: onChange,
		done:     make(chan struct{}),
	}
	if w.debounce == 0 {
		w.debounce = DefaultDebounce
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With(keyComponent, "config_watch")
	w.check() // the baseline: not a change, whatever it reads
	return w, nil
}

// loop waits for events, debounces them and checks the file, until ctx ends.
func (w *watch) loop(ctx context.Context) {
	defer close(w.done)
	defer w.fw.Close()
	timer := time.NewTimer(w.debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.names[filepath.Clean(ev.Name)] {
				w.log.Debug("config file event", keyEvent, ev.String())
				timer.Reset(w.debounce)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow of the kernel's queue loses events; whatever the
			// error, reading the file again is the safe answer.
			w.log.Warn("config watch error; checking the file", keyError, err.Error())
			timer.Reset(w.debounce)
		case <-timer.C:
			if w.check() && ctx.Err() == nil {
				w.onChange()
			}
		}
	}
}

// check makes the watches match what the path now leads to, then reads the
// file; it reports whether the bytes differ from the last ones read. The
// watches come first so that a change after the read is seen as an event.
func (w *watch) check() bool {
	w.refresh()
	sum, err := digest(w.path)
	if err != nil {
		if !w.failing {
			w.log.Warn("cannot read the config file; waiting for it", keyPath, w.path, keyError, err.Error())
			w.failing = true
		}
		return false
	}
	if w.failing {
		w.log.Info("config file is readable again", keyPath, w.path)
		w.failing = false
	}
	if w.have && sum == w.sum {
		w.log.Debug("config file unchanged", keyPath, w.path)
		return false
	}
	w.sum, w.have = sum, true
	return true
}

// digest returns the SHA-256 of the file's content. Configuration files are
// small; reading one after a quiet period costs less than a reload that
// changes nothing.
func digest(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}
