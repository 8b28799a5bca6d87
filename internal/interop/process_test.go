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

// output collects what a program writes and reports the address of the first
// `"msg":"listening"` JSON line, which is how Portier says it is ready.
type output struct {
	listening chan string // receives one address

	mu      sync.Mutex // guards all, partial and sent
	all     bytes.Buffer
	partial []byte
	sent    bool
}

func newOutput() *output { return &output{listening: make(chan string, 1)} }

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
		o.inspect(o.partial[:i])
		o.partial = o.partial[i+1:]
	}
	return len(b), nil
}

func (o *output) inspect(line []byte) {
	var entry struct {
		Msg     string `json:"msg"`
		Address string `json:"address"`
	}
	if o.sent || json.Unmarshal(line, &entry) != nil || entry.Msg != "listening" || entry.Address == "" {
		return
	}
	o.sent = true
	o.listening <- entry.Address
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
	select {
	case addr := <-p.out.listening:
		return addr
	case <-p.done:
		t.Fatalf("%s exited before listening: %v\n%s", p.name, p.cmd.ProcessState, p.out)
	case <-time.After(startTimeout):
		t.Fatalf("%s did not log that it listens within %v\n%s", p.name, startTimeout, p.out)
	}
	return ""
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
// address it listens on (args should ask for port 0).
func startPortier(t *testing.T, args ...string) string {
	t.Helper()
	p := start(t, "portier", exec.Command(portierPath(t), args...))
	return p.waitListening(t)
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
