package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestWatchWriteInPlace(t *testing.T) {
	t.Parallel()
	path := newFile(t, "a: 1\n")
	f := startWatch(t, path)

	writeFile(t, path, "a: 2\n")
	f.wantCall("a: 2\n")

	// Appending through an open file, as an editor with backupcopy=yes does.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(fh, "b: 3\n")
	fh.Close()
	f.wantCall("a: 2\nb: 3\n")
}

func TestWatchRenameOver(t *testing.T) {
	t.Parallel()
	path := newFile(t, "a: 1\n")
	f := startWatch(t, path)

	// Twice: the second proves the watch did not stay on the first inode.
	replaceFile(t, path, "a: 2\n")
	f.wantCall("a: 2\n")
	replaceFile(t, path, "a: 3\n")
	f.wantCall("a: 3\n")
}

func TestWatchRemoveThenCreate(t *testing.T) {
	t.Parallel()
	path := newFile(t, "a: 1\n")
	f := startWatch(t, path)

	// Missing for longer than the debounce: no call, and the watch goes on.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f.wantNoCall()
	// Back with the same bytes: nothing to reload. (Created by rename, so
	// that it is never seen empty.)
	replaceFile(t, path, "a: 1\n")
	f.wantNoCall()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "a: 2\n")
	f.wantCall("a: 2\n")
}

func TestWatchBurstMakesOneCall(t *testing.T) {
	t.Parallel()
	path := newFile(t, "n: 0\n")
	// A longer debounce than the other tests, so that the writes below
	// stay well inside it even on a loaded machine.
	const burstDebounce = 150 * time.Millisecond
	f := startWatchWith(t, path, burstDebounce, nil)

	// Writes about 5ms apart, mixing in-place writes and renames.
	last, maxGap, prev := "", time.Duration(0), time.Now()
	for i := 1; i <= 20; i++ {
		last = fmt.Sprintf("n: %d\n", i)
		if i%2 == 0 {
			writeFile(t, path, last)
		} else {
			replaceFile(t, path, last)
		}
		now := time.Now()
		maxGap, prev = max(maxGap, now.Sub(prev)), now
		time.Sleep(5 * time.Millisecond)
	}
	if maxGap > burstDebounce/2 {
		t.Skipf("machine too slow to judge a burst: %v between two writes", maxGap)
	}
	select {
	case got := <-f.calls:
		if got != last {
			t.Fatalf("first call saw %q, want the burst's last content %q", got, last)
		}
	case <-time.After(patience):
		t.Fatal("no call after the burst")
	}
	select {
	case got := <-f.calls:
		t.Fatalf("a second call for one burst (file held %q)", got)
	case <-time.After(3 * burstDebounce):
	}
}

func TestWatchSameBytesMakeNoCall(t *testing.T) {
	t.Parallel()
	path := newFile(t, "a: 1\n")
	f := startWatch(t, path)

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil { // touch
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	rewriteFile(t, path, "a: 1\n")
	replaceFile(t, path, "a: 1\n")
	f.wantNoCall()

	writeFile(t, path, "a: 2\n")
	f.wantCall("a: 2\n")
}

func TestWatchConfigMapSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := configMap(t, dir, "portier.yaml", "v1", "a: 1\n")
	f := startWatch(t, path)

	swapConfigMap(t, dir, "portier.yaml", "v2", "a: 2\n")
	f.wantCall("a: 2\n")
	// The old version goes after the swap; it is no longer what is read.
	removeAll(t, filepath.Join(dir, "..v1"))
	f.wantNoCall()
	// The watch follows the new chain: a second swap is seen too.
	swapConfigMap(t, dir, "portier.yaml", "v3", "a: 3\n")
	f.wantCall("a: 3\n")
	removeAll(t, filepath.Join(dir, "..v2"))
	// A swap to the same bytes (another key of the ConfigMap changed).
	swapConfigMap(t, dir, "portier.yaml", "v4", "a: 3\n")
	removeAll(t, filepath.Join(dir, "..v3"))
	f.wantNoCall()
	// A write into the current version directory (not what the kubelet
	// does, but what the chain leads to is watched).
	writeFile(t, filepath.Join(dir, "..v4", "portier.yaml"), "a: 5\n")
	f.wantCall("a: 5\n")
}

func TestWatchLinkToFileElsewhere(t *testing.T) {
	t.Parallel()
	real := filepath.Join(t.TempDir(), "real.yaml")
	other := filepath.Join(t.TempDir(), "other.yaml")
	writeFile(t, real, "a: 1\n")
	writeFile(t, other, "a: 9\n")
	path := filepath.Join(t.TempDir(), "portier.yaml")
	symlink(t, real, path)
	f := startWatch(t, path)

	// The target's directory is watched, not only the link's.
	writeFile(t, real, "a: 2\n")
	f.wantCall("a: 2\n")
	// The link repointed by rename, as `ln -sfn` through a temporary does.
	tmp := path + ".new"
	symlink(t, other, tmp)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	f.wantCall("a: 9\n")
	// The old target is no longer what is read.
	writeFile(t, real, "a: 3\n")
	f.wantNoCall()
	writeFile(t, other, "a: 10\n")
	f.wantCall("a: 10\n")
}

func TestWatchWriteThroughAnotherName(t *testing.T) {
	t.Parallel()
	// A hard link in another directory stands for a file bind-mounted into
	// a container: a write through the other name reaches the inode but
	// not the watched directory.
	other := filepath.Join(t.TempDir(), "host.yaml")
	writeFile(t, other, "a: 1\n")
	path := filepath.Join(t.TempDir(), "portier.yaml")
	if err := os.Link(other, path); err != nil {
		t.Fatal(err)
	}
	f := startWatch(t, path)

	writeFile(t, other, "a: 2\n")
	f.wantCall("a: 2\n")
}

func TestWatchDirectoryRecreated(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "portier.yaml")
	writeFile(t, path, "a: 1\n")
	f := startWatch(t, path)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	f.wantNoCall()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "a: 2\n")
	f.wantCall("a: 2\n")
	// And the new directory is watched.
	writeFile(t, path, "a: 3\n")
	f.wantCall("a: 3\n")
}

func TestWatchFileMissingAtStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "portier.yaml")
	f := startWatch(t, path)
	f.wantNoCall()
	writeFile(t, path, "a: 1\n")
	f.wantCall("a: 1\n")
}

func TestWatchCallsDoNotOverlap(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := startWatchWith(t, newFile(t, "a: 1\n"), debounce, release)

	replaceFile(t, f.path, "a: 2\n")
	if got := f.next(); got != "a: 2\n" {
		t.Fatalf("first call saw %q", got)
	}
	// A change while onChange runs is checked after it returns. Its events
	// are queued by the time replaceFile returns, so there is nothing to
	// wait for before the release.
	replaceFile(t, f.path, "a: 3\n")
	release <- struct{}{}
	if got := f.next(); got != "a: 3\n" {
		t.Fatalf("second call saw %q", got)
	}
	release <- struct{}{}
}

// TestWatchStopsWithContext is not parallel: it counts goroutines, and the
// parallel tests are paused while it runs.
func TestWatchStopsWithContext(t *testing.T) {
	before := runtime.NumGoroutine()
	path := newFile(t, "a: 1\n")
	f := startWatch(t, path)
	writeFile(t, path, "a: 2\n")
	f.wantCall("a: 2\n")
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("%d goroutines while watching, %d before: the count cannot see the watcher", n, before)
	}

	f.stop()
	// Done is closed by the loop goroutine's last deferred call, after the
	// fsnotify reader has ended; the goroutine itself ends just after.
	deadline := time.Now().Add(patience)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after stop, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
	writeFile(t, path, "a: 3\n")
	f.wantNoCall()
}

func TestWatchStopWaitsForRunningCall(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := startWatchWith(t, newFile(t, "a: 1\n"), debounce, release)

	writeFile(t, f.path, "a: 2\n")
	f.next()
	f.cancel()
	// A watcher that did not wait for the call would close Done at once.
	select {
	case <-f.w.Done():
		t.Fatal("Done closed while onChange was running")
	case <-time.After(debounce):
	}
	close(release)
	select {
	case <-f.w.Done():
	case <-time.After(patience):
		t.Fatal("watcher did not stop after onChange returned")
	}
}

func TestWatchErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nop := func() {}
	tests := []struct {
		name     string
		opts     WatchOptions
		onChange func()
		want     string
	}{
		{name: "no path", opts: WatchOptions{}, onChange: nop, want: "path is required"},
		{name: "no onChange", opts: WatchOptions{Path: filepath.Join(dir, "p.yaml")}, want: "onChange is required"},
		{name: "negative debounce", opts: WatchOptions{Path: filepath.Join(dir, "p.yaml"), Debounce: -time.Second}, onChange: nop, want: "debounce -1s: must not be negative"},
		{name: "missing directory", opts: WatchOptions{Path: filepath.Join(dir, "nope", "p.yaml")}, onChange: nop, want: "no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Watch(context.Background(), tc.opts, tc.onChange)
			if err == nil {
				t.Fatalf("Watch succeeded (%v), want error containing %q", w, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "file watch: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want prefix %q and %q", err, "file watch: ", tc.want)
			}
		})
	}
}
