package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portier/portier/internal/admin"
)

// TestUpgradeUnderLoad: three binary upgrades in a row under keep-alive
// and connection-per-request load lose no request and refuse no
// connection; each old process exits and the last one serves.
func TestUpgradeUnderLoad(t *testing.T) {
	r := startRig(t, "shutdown_timeout: 5s\n")
	first := r.pid(t)
	stop := make(chan struct{})
	counts, wg := runLoad("http://"+r.web+"/", 20, 5, stop)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	// Connections are open and kept alive before the first upgrade, and each
	// new process serves a share of the load before the next one. The
	// machine may be slow (shared, -race): wait for requests, not time.
	counts.await(t, 100, 10*time.Second)
	pids := map[int]bool{first: true}
	for i := range 3 {
		before := counts.ok.Load()
		pid, exited := r.upgrade(t)
		if pids[pid] {
			t.Fatalf("upgrade %d: PID %d was seen before", i+1, pid)
		}
		pids[pid] = true
		t.Logf("upgrade %d: PID %d serves; the old one exited %v after the command began; %d requests meanwhile",
			i+1, pid, exited.Round(time.Millisecond), counts.ok.Load()-before)
		counts.await(t, counts.ok.Load()+100, 10*time.Second)
	}
	counts.await(t, 500, 10*time.Second) // enough traffic to mean anything
	stopLoad()

	ok, failed, refused := counts.ok.Load(), counts.failed.Load(), counts.refused.Load()
	t.Logf("requests: %d ok, %d failed, %d refused; %d answered \"Connection: close\" on a kept-alive connection",
		ok, failed, refused, counts.closes.Load())
	if failed != 0 || refused != 0 {
		t.Errorf("%d failed requests (%d refused connections); first: %s",
			failed, refused, strings.Join(counts.errs, "; "))
	}
	// Each old process closed the 20 kept-alive connections by answering
	// a request on each with "Connection: close", not under their clients.
	if n := counts.closes.Load(); n < 20 {
		t.Errorf("%d answers with \"Connection: close\" on kept-alive connections, want at least 20", n)
	}
	r.serves(t)
	// The admin listener was handed over too.
	code, _, _ := runCmd(t, "ctl", "--admin", r.admin, "status")
	if code != 0 {
		t.Errorf("ctl status after the upgrades: exit code %d", code)
	}
}

// TestUpgradeFailureKeepsServing: when the new process cannot start (the
// configuration became invalid), "portier upgrade" says so with exit code
// 1, the old process serves on, and a later upgrade works.
func TestUpgradeFailureKeepsServing(t *testing.T) {
	r := startRig(t, "shutdown_timeout: 5s\n")
	old := r.pid(t)
	good, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	bad := "listeners: [{name: web, address: \"127.0.0.1:99999\"}]\n"
	if err := os.WriteFile(r.cfg, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "upgrade", "--admin", r.admin)
	if code != 1 || !strings.Contains(errOut, "upgrade_failed") || !strings.Contains(errOut, "exit status 1") {
		t.Fatalf("upgrade to a process that cannot start: exit code %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if pid, err := readPID(r.pidFile); err != nil || pid != old {
		t.Fatalf("pid file after a failed upgrade: %d, %v; want %d", pid, err, old)
	}
	if gone(old) {
		t.Fatal("the old process exited after a failed upgrade")
	}
	r.serves(t)

	if err := os.WriteFile(r.cfg, good, 0o644); err != nil {
		t.Fatal(err)
	}
	pid, _ := r.upgrade(t)
	if pid == old {
		t.Fatalf("PID %d unchanged after the upgrade", pid)
	}
	r.serves(t)
}

// TestUpgradeWhileOldFinishes: a request in flight on the old process
// finishes after the hand-over, and until the old process has exited a
// second upgrade is refused.
func TestUpgradeWhileOldFinishes(t *testing.T) {
	r := startRig(t, "shutdown_timeout: 2s\n")
	old, pid, answer := r.slowAcrossUpgrade(t)
	if gone(old) {
		t.Fatal("the old process exited with a request in flight")
	}
	code, _, errOut := runCmd(t, "upgrade", "--admin", r.admin)
	if code != 1 || !strings.Contains(errOut, "parent hasn't exited") {
		t.Errorf("second upgrade while the old process finishes: exit code %d, stderr %q", code, errOut)
	}
	close(r.release)
	if got := <-answer; !strings.HasPrefix(got, "200 a") && !strings.HasPrefix(got, "200 b") {
		t.Fatalf("request in flight across the upgrade: %s", got)
	}
	waitGone(t, old, 5*time.Second)
	if p, _ := r.upgrade(t); p == pid {
		t.Fatalf("PID %d unchanged after the upgrade", p)
	}
}

// TestUpgradeInFlightConnectionCloses: the answer to a request in flight at
// the hand-over says "Connection: close", so that its client leaves the
// old process, which then exits at once rather than after
// shutdown_timeout (and then closes the connection under the client).
func TestUpgradeInFlightConnectionCloses(t *testing.T) {
	r := startRig(t, "shutdown_timeout: 5s\n")
	old, _, answer := r.slowAcrossUpgrade(t)
	close(r.release)
	if got := <-answer; !strings.HasSuffix(got, "close=true") {
		t.Errorf("answer to the request in flight at the hand-over: %s, want close=true", got)
	}
	waitGone(t, old, time.Second)
}

// TestUpgradeOldProcessTERM: SIGTERM to an old process that is finishing
// its requests after a hand-over (systemctl stop sends it to every process
// of the unit) lets them finish, as a first SIGTERM does.
func TestUpgradeOldProcessTERM(t *testing.T) {
	r := startRig(t, "shutdown_timeout: 5s\n")
	old, _, answer := r.slowAcrossUpgrade(t)
	if err := syscall.Kill(old, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return strings.Contains(r.logs.String(), `"msg":"signal ignored: finishing requests after an upgrade","signal":"terminated"`)
	},
		func() string { return "no log line for the ignored SIGTERM:\n" + r.logs.String() })
	close(r.release)
	if got := <-answer; !strings.HasPrefix(got, "200 ") {
		t.Errorf("request in flight on the old process at SIGTERM: %s", got)
	}
}

// TestUpgradeBySIGUSR2: SIGUSR2 to the PID in the pid file upgrades too,
// and the runtime state set through the API (state.file) is kept.
func TestUpgradeBySIGUSR2(t *testing.T) {
	r := startRig(t, fmt.Sprintf("shutdown_timeout: 5s\nstate: {file: %q}\n", filepath.Join(t.TempDir(), "state.json")))
	if code, _, errOut := runCmd(t, "ctl", "--admin", r.admin, "weight", "site/a", "7"); code != 0 {
		t.Fatalf("ctl weight: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "ctl", "--admin", r.admin, "drain", "site/b"); code != 0 {
		t.Fatalf("ctl drain: %d %s", code, errOut)
	}
	old := r.pid(t)
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	pid := r.waitPID(t, old, 5*time.Second)
	serving := time.Since(began)
	waitGone(t, old, 5*time.Second)
	t.Logf("SIGUSR2: PID %d serves %v after the signal; the old one exited after %v",
		pid, serving.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	r.serves(t)

	resp, err := http.Get("http://" + r.admin + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st admin.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, b := range st.Backends {
		for _, s := range b.Servers {
			got[s.Name] = fmt.Sprintf("%s/%d", s.Admin, s.BaseWeight)
		}
	}
	if got["a"] != "ready/7" || !strings.HasPrefix(got["b"], "draining/") {
		t.Errorf("runtime state after the upgrade to PID %d: %v; want a weight 7, b draining", pid, got)
	}
}

// TestUpgradeWebSocketGrace: a WebSocket open on the old process goes on
// after the upgrade until shutdown_timeout, then is closed, and the old
// process exits.
func TestUpgradeWebSocketGrace(t *testing.T) {
	r := startRig(t, "shutdown_timeout: 2s\n")
	conn, err := net.DialTimeout("tcp", r.web, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket upgrade: %v %v", resp, err)
	}
	echo := func() error {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, "ping\n"); err != nil {
			return err
		}
		line, err := br.ReadString('\n')
		if err == nil && !strings.HasSuffix(line, ":ping\n") {
			err = fmt.Errorf("echo %q", line)
		}
		return err
	}
	if err := echo(); err != nil {
		t.Fatal(err)
	}
	old := r.pid(t)
	began := time.Now()
	if code, _, errOut := runCmd(t, "upgrade", "--admin", r.admin); code != 0 {
		t.Fatalf("portier upgrade: %d %s", code, errOut)
	}
	r.waitPID(t, old, 5*time.Second)
	time.Sleep(time.Second - time.Since(began))
	if err := echo(); err != nil {
		t.Fatalf("the WebSocket on the old process was closed within %v of the upgrade, before shutdown_timeout (2s): %v",
			time.Since(began).Round(time.Millisecond), err)
	}
	waitGone(t, old, 5*time.Second)
	if d := time.Since(began); d < 2*time.Second {
		t.Errorf("the old process exited %v after the upgrade began, before shutdown_timeout (2s)", d)
	}
	if err := echo(); err == nil {
		t.Error("the WebSocket still echoes after the old process exited")
	}
	r.serves(t)
}
