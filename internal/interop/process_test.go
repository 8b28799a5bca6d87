package interop_test

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a program may take to start or stop.
const startTimeout = 15 * time.Second

// requireTool returns the path of a program the test needs. A missing program
// skips the test on a developer's machine and fails it in CI, where
// `make test` installs it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); isExecutable(p) {
		return p
	}
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatalf("%s is not installed (run scripts/install-test-deps.sh)", name)
	}
	t.Skipf("%s is not installed (run scripts/install-test-deps.sh)", name)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// output collects what a program writes, and its JSON lines as log entries
// a test can wait for (Portier logs `"msg":"listening"` when it is ready).
type output struct {
	mu      sync.Mutex // guards all, partial, entries and grew
	all     bytes.Buffer
	partial []byte
	entries []map[string]any
	grew    chan struct{} // closed, and replaced, when an entry is added
}

func newOutput() *output { return &output{grew: make(chan struct{})} }

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all.Write(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		var e map[string]any
		if json.Unmarshal(o.partial[:i], &e) == nil {
			o.entries = append(o.entries, e)
			close(o.grew)
			o.grew = make(chan struct{})
		}
		o.partial = o.partial[i+1:]
	}
	return len(b), nil
}

// find returns the first of entries[from:] that has every value of want.
// Without one, it returns nil, where to look from next, and a channel closed
// when an entry is added.
func (o *output) find(from int, want map[string]string) (map[string]any, int, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for ; from < len(o.entries); from++ {
		if hasValues(o.entries[from], want) {
			return o.entries[from], from + 1, nil
		}
	}
	return nil, from, o.grew
}

func hasValues(e map[string]any, want map[string]string) bool {
	for k, v := range want {
		if e[k] != v {
			return false
		}
	}
	return true
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.all.String()
}

// process is a program started for one test, in its own process group so
// that stopping it also stops its children (nginx workers).
type process struct {
	name string
	cmd  *exec.Cmd
	out  *output
	done chan struct{} // closed when the program has exited
}

// start runs cmd until the test ends; its output is logged if the test fails.
func start(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, out: newOutput(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = startTimeout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out)
		}
	})
	return p
}

func (p *process) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(startTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// waitListening returns the address the program logged as listening.
func (p *process) waitListening(t *testing.T) string {
	t.Helper()
	addr, _ := p.waitLog(t, map[string]string{"msg": "listening"})["address"].(string)
	if addr == "" {
		t.Fatalf("%s logged that it listens without an address\n%s", p.name, p.out)
	}
	return addr
}

// waitLog returns the first log entry of the program that has every value
// of want, waiting up to startTimeout for it.
func (p *process) waitLog(t *testing.T, want map[string]string) map[string]any {
	t.Helper()
	timeout := time.After(startTimeout)
	for next := 0; ; {
		e, n, grew := p.out.find(next, want)
		if e != nil {
			return e
		}
		next = n
		select {
		case <-grew:
		case <-p.done:
			// Wait returns once all the output is written: look once more.
			if e, _, _ := p.out.find(next, want); e != nil {
				return e
			}
			t.Fatalf("%s exited without logging %v: %v\n%s", p.name, want, p.cmd.ProcessState, p.out)
		case <-timeout:
			t.Fatalf("%s did not log %v within %v\n%s", p.name, want, startTimeout, p.out)
		}
	}
}

// inheritedListener opens a loopback listening socket for a program that
// takes it over as file descriptor 3 (nginx through NGINX=3, HAProxy through
// fd@3). The socket listens before the program starts, so clients can connect
// at once and there is no free-port race and nothing to poll.
func inheritedListener(t *testing.T) (addr string, f *os.File) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	f, err = ln.File()
	if err != nil {
		t.Fatalf("listener file: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	// The programs expect a non-blocking socket, as their own would be.
	if err := syscall.SetNonblock(int(f.Fd()), true); err != nil {
		t.Fatalf("set non-blocking: %v", err)
	}
	return ln.Addr().String(), f
}

// startPortier runs the binary built by TestMain with args and returns the
// address it listens on (args should ask for port 0) and the process.
func startPortier(t *testing.T, args ...string) (string, *process) {
	t.Helper()
	p := start(t, "portier", exec.Command(portierPath(t), args...))
	return p.waitListening(t), p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
