package file

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// debounce is short so that the suite stays fast; quiet is how long a
	// test waits to conclude that no call comes: several debounce periods.
	debounce = 50 * time.Millisecond
	quiet    = 4 * debounce
	// patience bounds every wait for something that must happen; it is
	// generous because a shared machine under -race can be slow.
	patience = 5 * time.Second
)

// fixture is a running watch whose onChange sends what the file held when
// it was called.
type fixture struct {
	t       *testing.T
	path    string
	calls   chan string
	release chan struct{} // nil: onChange returns at once; else it waits to receive from it
	running atomic.Int32  // onChange calls in progress; more than one fails the test
	cancel  context.CancelFunc
	w       *Watcher
}

// startWatch watches path with the short debounce and stops the watch when
// the test ends, failing it if the watcher does not stop.
func startWatch(t *testing.T, path string) *fixture {
	t.Helper()
	return startWatchWith(t, path, debounce, nil)
}

// startWatchWith is startWatch with another debounce. With a release
// channel, each onChange call, once it has sent what it saw, waits to
// receive from release before it returns.
func startWatchWith(t *testing.T, path string, debounce time.Duration, release chan struct{}) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{t: t, path: path, calls: make(chan string, 16), release: release, cancel: cancel}
	w, err := Watch(ctx, WatchOptions{Path: path, Debounce: debounce, Logger: testLogger(t)}, f.onChange)
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	f.w = w
	t.Cleanup(f.stop)
	return f
}

func (f *fixture) onChange() {
	if f.running.Add(1) != 1 {
		f.t.Error("onChange called while a call was running")
	}
	defer f.running.Add(-1)
	b, _ := os.ReadFile(f.path)
	f.calls <- string(b)
	if f.release != nil {
		<-f.release
	}
}

// stop cancels the watch and waits for it to end.
func (f *fixture) stop() {
	f.t.Helper()
	f.cancel()
	select {
	case <-f.w.Done():
	case <-time.After(patience):
		f.t.Fatal("watcher did not stop after its context ended")
	}
}

// next waits for the next onChange call and returns what it saw.
func (f *fixture) next() string {
	f.t.Helper()
	select {
	case got := <-f.calls:
		return got
	case <-time.After(patience):
		f.t.Fatalf("no onChange call within %v", patience)
		return ""
	}
}

// wantCall waits for an onChange call that saw want. Calls that saw other
// content before it are allowed: on a loaded machine the debounce may end
// inside a write (after the truncate of an in-place write, say), and then a
// call for that state is right. Tests of exactness check the calls
// themselves.
func (f *fixture) wantCall(want string) {
	f.t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case got := <-f.calls:
			if got == want {
				return
			}
			f.t.Logf("onChange saw %q on the way to %q", got, want)
		case <-deadline:
			f.t.Fatalf("no onChange call that saw %q within %v", want, patience)
		}
	}
}

// wantNoCall checks that no onChange call comes for several debounce
// periods. Tests follow it with a real change and wantCall, so a watch that
// is merely dead cannot pass. It is not needed after a wantCall for the
// file's final content: a further call would need the bytes to change
// again, and TestWatchSameBytesMakeNoCall checks that same bytes make none.
func (f *fixture) wantNoCall() {
	f.t.Helper()
	select {
	case got := <-f.calls:
		f.t.Fatalf("unexpected onChange call (file held %q)", got)
	case <-time.After(quiet):
	}
}

// testLogger writes the watcher's lines, debug included, to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newFile writes content to portier.yaml in a new temporary directory and
// returns its path.
func newFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portier.yaml")
	writeFile(t, path, content)
	return path
}

// writeFile writes content to path, failing the test on error.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteFile writes content over the start of path without truncating
// it, so that the file never holds anything else: a rewrite that changes no
// byte, even when the watch reads in the middle of it.
func rewriteFile(t *testing.T, path, content string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content to a temporary file in path's directory and
// renames it over path, as vim (backupcopy=no), sed -i and atomic writers do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// configMap lays out dir the way the kubelet does for a ConfigMap volume:
// name -> ..data/name, ..data -> ..<version>/, and the file in the version
// directory.
func configMap(t *testing.T, dir, name, version, content string) string {
	t.Helper()
	versionDir := filepath.Join(dir, ".."+version)
	if err := os.Mkdir(versionDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(versionDir, name), content)
	symlink(t, ".."+version, filepath.Join(dir, "..data"))
	symlink(t, filepath.Join("..data", name), filepath.Join(dir, name))
	return filepath.Join(dir, name)
}

// swapConfigMap publishes a new version as the kubelet does: a new version
// directory, then a new link renamed over ..data. The kubelet removes the
// old version directory afterwards; tests do that on their own, so that the
// swap alone must be seen.
func swapConfigMap(t *testing.T, dir, name, newVersion, content string) {
	t.Helper()
	versionDir := filepath.Join(dir, ".."+newVersion)
	if err := os.Mkdir(versionDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(versionDir, name), content)
	tmp := filepath.Join(dir, "..data_tmp")
	symlink(t, ".."+newVersion, tmp)
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// symlink creates link pointing at target, failing the test on error.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// removeAll removes path and what it holds, failing the test on error.
func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}
