package file

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// targets returns what to watch for a chain: the directory of each name in
// it, and the file itself when it exists. The file's own watch is for a
// file bind-mounted into a container (docker -v ./portier.yaml:/etc/...):
// a write on the host reaches the file's inode, not the container's
// directory. It also returns the names whose events schedule a check: the
// chain's names and the watched paths themselves, whose removal or rename
// is reported under their own name.
func targets(c chain) (watch, names map[string]bool) {
	watch = make(map[string]bool)
	names = make(map[string]bool)
	for _, p := range c.paths() {
		if p == "" {
			continue
		}
		names[p] = true
		watch[filepath.Dir(p)] = true
	}
	if c.exists {
		if fi, err := os.Stat(c.end); err == nil && fi.Mode().IsRegular() {
			watch[c.end] = true
		}
	}
	for p := range watch {
		names[p] = true
	}
	return watch, names
}

// refresh resolves the path again and makes the watches match what it now
// leads to: new directories are watched, ones no longer on the way are
// released. A directory that cannot be watched yet (missing during a swap)
// is left out; the chain always names an existing parent of the first
// missing component, whose events bring the check back.
func (w *watch) refresh() {
	c, err := resolve(w.path)
	if err != nil {
		w.log.Warn("cannot resolve the config path", keyPath, w.path, keyError, err.Error())
	}
	want, names := targets(c)
	w.names = names
	for _, p := range w.fw.WatchList() {
		if !want[p] {
			// An error means the watch went with its directory already.
			_ = w.fw.Remove(p)
		}
	}
	// Add again even what is watched: for a path whose inode was replaced
	// (the file renamed over) it moves the watch to the new inode, and for
	// the same inode it changes nothing.
	for p := range want {
		if err := w.fw.Add(p); err != nil {
			level := slog.LevelWarn
			if errors.Is(err, fs.ErrNotExist) {
				level = slog.LevelDebug
			}
			w.log.Log(context.Background(), level, "cannot watch", keyPath, p, keyError, err.Error())
		}
	}
}
