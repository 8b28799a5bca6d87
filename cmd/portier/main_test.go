package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the portier binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portier-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "portier")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running portier process.
type proc struct {
	cmd    *exec.Cmd
	addrs  map[string]string // listener name -> bound address
	mu     sync.Mutex        // guards stderr
	stderr strings.Builder
	stdout *logBuffer
	done   chan error
}

// logBuffer collects a process's output safely.
type logBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs portier with args and waits until it logged `listening` for
// want listeners.
func start(t *testing.T, want int, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), addrs: map[string]string{}, stdout: &logBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout = p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "admin listening" {
				p.addrs["admin"] = m["address"].(string)
			}
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "listening" {
				p.addrs[m["listener"].(string)] = m["address"].(string)
				if n++; n == want {
					close(ready)
				}
			}
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case <-ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("portier exited before listening: %v\n%s", err, p.logs())
	case <-time.After(10 * time.Second):
		t.Fatalf("portier did not start listening\n%s", p.logs())
	}
	return p
}

func (p *proc) addr(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[name]
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("portier did not exit within %v\n%s", d, p.logs())
	}
	return -1
}

// runCmd runs portier to completion and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runToEnd(t, exec.Command(binary, args...))
}

// runToEnd runs cmd to completion and returns its exit code and output.
func runToEnd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// named is a backend that answers with its own name.
func named(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// waitFor polls cond until it holds, failing with msg() after 5s.
func waitFor(t *testing.T, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "portier ") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCmd(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestValidateReportsEveryErrorWithPosition(t *testing.T) {
	path := writeFile(t, "bad.yaml", `listeners:
  - name: web
    adress: ":8080"
routes:
  - name: r
    backend: missing
backends:
  - name: b
    retries: two
    servers:
      - {name: s1, address: 127.0.0.1:1}
`)
	code, _, errOut := runCmd(t, "validate", "-c", path)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		path + `:3:5: listeners[0]: unknown key "adress" (did you mean "address"?)`,
		path + `:6:5: routes[0].backend: unknown backend "missing"`,
		path + `:9:14: backends[0].retries: must be an integer, not "two"`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestRunRefusesInvalidConfig(t *testing.T) {
	path := writeFile(t, "bad.yaml", "listeners: [{name: web, address: \"127.0.0.1:99999\"}]\n")
	code, _, errOut := runCmd(t, "run", "-c", path)
	if code != 1 || !strings.Contains(errOut, "listeners[0].address") {
		t.Fatalf("code %d, stderr:\n%s", code, errOut)
	}
}

func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cmd := exec.Command(binary, "validate", "-c", f)
			cmd.Env = append(os.Environ(), "PORTIER_CERT_DIR="+testCertDir(t))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("validate %s: %v\n%s", f, err, out)
			}
		})
	}
}

func TestRunRoutesAndBalances(t *testing.T) {
	a, b, api := named(t, "a"), named(t, "b"), named(t, "api")
	cfg := writeFile(t, "portier.yaml", fmt.Sprintf(`
admin: {address: "off"}
log: {access: stdout}
listeners:
  - {name: web, address: "127.0.0.1:0"}
routes:
  - {name: site, backend: site}
  - {name: api, path_prefix: /api, strip_prefix: true, backend: api}
backends:
  - name: site
    servers:
      - {name: a, address: %q}
      - {name: b, address: %q}
  - name: api
    servers: [{name: api-1, address: %q}]
`, a.Listener.Addr(), b.Listener.Addr(), api.Listener.Addr()))
	p := start(t, 1, "run", "-c", cfg)
	base := "http://" + p.addr("web")
	seen := map[string]int{}
	for range 10 {
		_, body, _ := get(t, http.DefaultClient, base+"/")
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("round robin over a and b: %v", seen)
	}
	code, body, h := get(t, http.DefaultClient, base+"/api/users")
	if code != 200 || body != "api" || h.Get("X-Request-ID") == "" {
		t.Errorf("/api/users: %d %q, X-Request-ID %q", code, body, h.Get("X-Request-ID"))
	}
	// The access line is written once the response is complete.
	waitFor(t, func() bool { return strings.Contains(p.stdout.String(), `"route":"api"`) },
		func() string { return "no access log line for route api:\n" + p.stdout.String() })
}

// TestGracefulShutdown: a request in flight at SIGTERM completes, and the
// listener stops accepting at once.
func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}))
	t.Cleanup(slow.Close)
	// Runs before slow.Close, which would wait for the handler for ever
	// after a failure.
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	p := start(t, 1, "proxy", "--from", "127.0.0.1:0", "--to", slow.Listener.Addr().String(), "--access-log", "off")
	addr := p.addr("proxy")

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes: new connections are refused while the request
	// is still in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 5s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	releaseOnce.Do(func() { close(release) })
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, p.logs())
	}
}

func TestProxyCommand(t *testing.T) {
	a, b := named(t, "a"), named(t, "b")
	p := start(t, 1, "proxy", "--from", "127.0.0.1:0", "--to", a.Listener.Addr().String()+","+b.Listener.Addr().String())
	seen := map[string]int{}
	for range 6 {
		_, body, _ := get(t, http.DefaultClient, "http://"+p.addr("proxy")+"/")
		seen[body]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("proxy --to a,b: %v", seen)
	}
	code, _, errOut := runCmd(t, "proxy", "--from", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "--to") {
		t.Fatalf("proxy without --to: code %d, %q", code, errOut)
	}
}

// TestDemo runs the quick start as a user would and checks the 80/20 split.
func TestDemo(t *testing.T) {
	for _, a := range []string{"127.0.0.1:8080", "127.0.0.1:9001", "127.0.0.1:9002"} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Skipf("%s is in use; the demo needs it", a)
		}
	}
	p := start(t, 1, "demo")
	waitFor(t, func() bool { return strings.Contains(p.logs(), "http://127.0.0.1:8080/") },
		func() string { return "demo does not print its URL:\n" + p.logs() })
	counts := map[string]int{}
	const n = 200
	for range n {
		_, body, h := get(t, http.DefaultClient, "http://127.0.0.1:8080/")
		counts[h.Get("X-Demo-Backend")]++
		if !strings.Contains(body, "answered") {
			t.Fatalf("demo page: %q", body)
		}
	}
	// The split is a smooth schedule, not a coin toss: exactly 4 in 5.
	if counts["blue"] != n*80/100 || counts["green"] != n*20/100 {
		t.Fatalf("80/20 split over %d requests: %v", n, counts)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://127.0.0.1:8080/", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "<h1>") {
		t.Fatalf("demo HTML page: %s", b)
	}
}
