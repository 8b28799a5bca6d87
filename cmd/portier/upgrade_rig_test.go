package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upgradeRig is a "portier run --pid-file" whose binary upgrades the test
// follows. Every process it starts shares one process group, so cleanup
// kills the whole lineage, also one the test lost track of when it failed.
type upgradeRig struct {
	cfg, pidFile string
	web, admin   string     // fixed loopback addresses
	first        *exec.Cmd  // the process the test started
	done         chan error // first's exit, reaped at once
	logs         *logBuffer // stderr of every process of the lineage
	// entered receives a value when a request for /slow reaches a
	// server, which answers it once release is closed.
	entered, release chan struct{}
}

// echoing is a backend of rig that answers with its name (for /slow
// once rig.release is closed), and echoes the lines of a WebSocket upgrade
// (the proxy only tunnels its bytes).
func echoing(t *testing.T, rig *upgradeRig, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			rig.entered <- struct{}{}
			select {
			case <-rig.release:
			case <-time.After(10 * time.Second):
			}
		}
		if r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(w, name)
			return
		}
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(name + ":" + line)
			rw.Flush()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRig writes a configuration with one http listener on a fixed port
// in front of two backends, runs it and waits until it serves.
func startRig(t *testing.T, extra string) *upgradeRig {
	t.Helper()
	// A binary built with -race sleeps 1s before it exits, which would
	// count as the old process's hand-over time (and slow every "portier
	// ctl"). Races are still reported, and checked for in the logs.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	r := &upgradeRig{
		pidFile: filepath.Join(t.TempDir(), "portier.pid"),
		web:     freeAddr(t), admin: freeAddr(t),
		done: make(chan error, 1), logs: &logBuffer{},
		entered: make(chan struct{}, 10), release: make(chan struct{}),
	}
	a, b := echoing(t, r, "a"), echoing(t, r, "b")
	r.cfg = writeFile(t, "portier.yaml", fmt.Sprintf(`admin: {address: %q}
log: {access: "off"}
listeners:
  - {name: web, address: %q}
routes:
  - {name: site, backend: site}
backends:
  - name: site
    servers:
      - {name: a, address: %q}
      - {name: b, address: %q}
%s`, r.admin, r.web, a.Listener.Addr(), b.Listener.Addr(), extra))
	// stderr is a pipe of our own: an *os.File, so that Wait returns when
	// the first process exits, not when the last holder of the pipe (the
	// newest process) closes it.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.first = exec.Command(binary, "run", "-c", r.cfg, "--pid-file", r.pidFile)
	r.first.Stderr = pw
	r.first.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = r.first.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(r.logs, pr)
		pr.Close()
		close(copied)
	}()
	go func() { r.done <- r.first.Wait() }()
	t.Cleanup(func() { r.kill(t, copied) })
	r.waitPID(t, 0, 10*time.Second)
	return r
}

// kill ends every process of the lineage and reaps the first. The new
// processes tableflip starts stay in the first one's process group.
func (r *upgradeRig) kill(t *testing.T, copied <-chan struct{}) {
	_ = syscall.Kill(-r.first.Process.Pid, syscall.SIGKILL)
	<-r.done
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		t.Errorf("a portier process still holds stderr 5s after SIGKILL to the group")
	}
	if logs := r.logs.String(); strings.Contains(logs, "WARNING: DATA RACE") {
		t.Errorf("a portier process reported a data race")
	}
	if t.Failed() {
		t.Logf("portier logs:\n%s", r.logs.String())
	}
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// pid is the process the pid file names now.
func (r *upgradeRig) pid(t *testing.T) int {
	t.Helper()
	pid, err := readPID(r.pidFile)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitPID waits until the pid file names a process other than old and
// returns it.
func (r *upgradeRig) waitPID(t *testing.T, old int, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if pid, err := readPID(r.pidFile); err == nil && pid != old {
			return pid
		}
		select {
		case err := <-r.done:
			r.done <- err
			if old == 0 {
				t.Fatalf("portier exited before serving: %v", err)
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pid file does not name a new process after %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether pid has exited. An exited process whose parent has
// not reaped it yet (a zombie: an old process is no child of the test
// after the first upgrade) counts as gone.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	begin := time.Now()
	for !gone(pid) {
		if time.Since(begin) > d {
			t.Fatalf("old process %d still running %v after the upgrade", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// upgrade runs "portier upgrade" and checks that a new process took over
// and the old one exited; it returns the new PID and how long after the
// command began the old process was gone.
func (r *upgradeRig) upgrade(t *testing.T) (newPID int, exited time.Duration) {
	t.Helper()
	old := r.pid(t)
	began := time.Now()
	code, out, errOut := runCmd(t, "upgrade", "--admin", r.admin)
	if code != 0 {
		t.Fatalf("portier upgrade: exit code %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	newPID = r.waitPID(t, old, 5*time.Second)
	waitGone(t, old, 5*time.Second)
	return newPID, time.Since(began)
}

// serves checks that a request through the listener is answered.
func (r *upgradeRig) serves(t *testing.T) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	code, body, _ := get(t, c, "http://"+r.web+"/")
	if code != 200 || (body != "a" && body != "b") {
		t.Fatalf("GET through %s: %d %q", r.web, code, body)
	}
}

// loadCounts are what the load generator saw.
type loadCounts struct {
	ok, failed, refused atomic.Int64
	closes              atomic.Int64 // "Connection: close" answers on kept-alive connections
	mu                  sync.Mutex   // guards errs
	errs                []string     // the first few failures
}

func (c *loadCounts) fail(err error, status int) {
	c.failed.Add(1)
	if errors.Is(err, syscall.ECONNREFUSED) {
		c.refused.Add(1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, fmt.Sprintf("status %d, error %v", status, err))
	}
}

// await waits until n requests have succeeded, failing after d.
func (c *loadCounts) await(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for c.ok.Load() < n {
		if time.Now().After(deadline) {
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("%d requests succeeded within %v, want %d; %d failed, first: %s",
				c.ok.Load(), d, n, c.failed.Load(), strings.Join(c.errs, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runLoad sends requests to url from keepAlive clients with a connection
// each and fresh clients opening a connection per request, until stop
// closes. Half the keep-alive clients POST a body: Go's client resends a
// GET that met a connection closed under it, but not a POST whose bytes
// were sent, so closing kept-alive connections under their clients shows
// as failures.
func runLoad(url string, keepAlive, fresh int, stop <-chan struct{}) (*loadCounts, *sync.WaitGroup) {
	c := &loadCounts{}
	var wg sync.WaitGroup
	client := func(noKeepAlive, post bool) {
		defer wg.Done()
		tr := &http.Transport{DisableKeepAlives: noKeepAlive, MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			var resp *http.Response
			var err error
			if post {
				resp, err = hc.Post(url, "text/plain", strings.NewReader("hello"))
			} else {
				resp, err = hc.Get(url)
			}
			if err != nil {
				c.fail(err, 0)
				continue
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				c.fail(err, resp.StatusCode)
				continue
			}
			c.ok.Add(1)
			if resp.Close && !noKeepAlive {
				c.closes.Add(1)
			}
		}
	}
	for i := range keepAlive + fresh {
		wg.Add(1)
		go client(i >= keepAlive, i < keepAlive && i%2 == 0)
	}
	return c, &wg
}

// slowAcrossUpgrade sends a request for /slow, upgrades while it is in
// flight on the old process, and returns the old and the new PID; the
// request's outcome arrives on the channel once r.release is closed.
func (r *upgradeRig) slowAcrossUpgrade(t *testing.T) (old, pid int, answer <-chan string) {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + r.web + "/slow")
		if err != nil {
			ch <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- fmt.Sprintf("%d %s close=%t", resp.StatusCode, b, resp.Close)
	}()
	<-r.entered
	old = r.pid(t)
	if code, _, errOut := runCmd(t, "upgrade", "--admin", r.admin); code != 0 {
		t.Fatalf("portier upgrade: %d %s", code, errOut)
	}
	return old, r.waitPID(t, old, 5*time.Second), ch
}
