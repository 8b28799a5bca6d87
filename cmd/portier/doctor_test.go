//go:build linux

package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/netlab"
)

// runIn runs portier in the namespace to completion.
func runIn(t *testing.T, ns *netlab.NS, args ...string) (int, string, string) {
	t.Helper()
	return runToEnd(t, ns.Command(binary, args...))
}

// startIn runs `portier run` in the namespace until the test ends and
// waits until want listeners are bound; it returns the process log.
func startIn(t *testing.T, ns *netlab.NS, want int, args ...string) *logBuffer {
	t.Helper()
	log := &logBuffer{}
	cmd := ns.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	waitFor(t, func() bool { return strings.Count(log.String(), `"msg":"listening"`) >= want },
		func() string { return "portier did not start listening:\n" + log.String() })
	return log
}

// logLines are the log lines that contain every one of subs.
func logLines(log string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		all := l != ""
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// incidentConfig is nginx's setup of seeds/000 as Portier: one listener
// on every address.
const incidentConfig = `log: {access: "off"}
listeners:
  - {name: web, address: ":80"}
routes:
  - {name: all, backend: app}
backends:
  - name: app
    servers: [{name: a, address: "127.0.0.1:9"}]
`

// TestDoctorOnTheProxyVM runs the built binary inside the Open Food Facts
// proxy's namespace (seeds/000): doctor exits 1 in the broken and raced
// states, 0 once repaired, and `portier run` logs the warning at start.
func TestDoctorOnTheProxyVM(t *testing.T) {
	cfg := writeFile(t, "portier.yaml", incidentConfig)
	for _, tc := range []struct {
		name  string
		setup func(*netlab.ProxyVM)
		code  int
		lines []string // in doctor's output
	}{
		{"bad", (*netlab.ProxyVM).Bad, 1, []string{"warn  reply-iface-mismatch  198.51.100.10:80  listener web: 198.51.100.10 is on pub0, but replies"}},
		{"race", (*netlab.ProxyVM).Race, 1, []string{"warn  competing-defaults", "warn  reply-iface-mismatch  198.51.100.10:80"}},
		{"fixed", (*netlab.ProxyVM).Fixed, 0, []string{"portier doctor: no problem found"}},
		{"source-rule", (*netlab.ProxyVM).SourceRule, 0, []string{"portier doctor: no problem found"}},
		{"firewall-mark", (*netlab.ProxyVM).Marked, 0, []string{"info  reply-iface-mismatch  198.51.100.10:80", "fwmark 0x1 lookup 100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := netlab.New(t).NewProxyVM()
			tc.setup(v)
			code, out, errOut := runIn(t, v.Proxy, "doctor", "-c", cfg)
			if code != tc.code {
				t.Errorf("doctor exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, l := range tc.lines {
				if !strings.Contains(out, l) {
					t.Errorf("doctor output lacks %q:\n%s", l, out)
				}
			}
			if tc.name != "bad" {
				return
			}
			// The client's range, and the whole machine without a configuration.
			for _, args := range [][]string{{"--probe", netlab.ClientNet, "-c", cfg}, {"--probe", netlab.ClientNet, netlab.ClientNet6}} {
				if code, out, _ := runIn(t, v.Proxy, append([]string{"doctor"}, args...)...); code != 1 ||
					!strings.Contains(out, "e.g. to 203.0.113.1)") {
					t.Errorf("doctor %v: exit %d\n%s", args, code, out)
				}
			}
			if code, _, errOut := runIn(t, v.Proxy, "doctor", "--probe", "clients.example"); code != 2 || !strings.Contains(errOut, "not an IP address") {
				t.Errorf("doctor with a bad probe: exit %d: %s", code, errOut)
			}
			log := startIn(t, v.Proxy, 1, "run", "-c", cfg)
			// The check runs before the admin endpoint starts.
			waitFor(t, func() bool { return len(logLines(log.String(), `"msg":"admin listening"`)) > 0 },
				func() string { return "no admin endpoint:\n" + log.String() })
			if l := logLines(log.String(), `"level":"WARN"`, `"code":"reply-iface-mismatch"`, `"address":"198.51.100.10:80"`); len(l) != 1 {
				t.Errorf("start-up log has %d reply-iface-mismatch warnings, want 1:\n%s", len(l), log.String())
			}
		})
	}
}

// TestRunWatchesRoutes runs Portier in the Docker container of seeds/004
// with a long-lived TCP stream through it: attaching a second network
// moves the default route; the route watch logs it once within a second
// and counts it, and doctor names the stream's two dead connections.
func TestRunWatchesRoutes(t *testing.T) {
	d := netlab.New(t).NewDockerApp()
	var upstream net.Listener
	if err := d.Client.Do(func() (err error) { upstream, err = net.Listen("tcp", netlab.ClientAddr+":9000"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { upstream.Close() })
	go func() {
		for {
			c, err := upstream.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	cfg := writeFile(t, "portier.yaml", `log: {access: "off"}
listeners:
  - {name: stream, address: ":8080", protocol: tcp, backend: echo}
backends:
  - name: echo
    servers: [{name: e, address: "`+netlab.ClientAddr+`:9000"}]
`)
	log := startIn(t, d.App, 1, "run", "-c", cfg)
	var client net.Conn
	if err := d.Client.Do(func() (err error) {
		client, err = net.DialTimeout("tcp", netlab.AppAddr+":8080", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(client, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(client).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("stream through portier: %q, %v", line, err)
	}
	if l := logLines(log.String(), `"level":"WARN"`, `"component":"netcheck"`); len(l) != 0 {
		t.Errorf("warnings before the second network:\n%s", strings.Join(l, "\n"))
	}

	d.AttachSecond()
	moved := time.Now()
	waitFor(t, func() bool { return len(logLines(log.String(), `"msg":"route changed"`)) > 0 },
		func() string { return "no route change logged:\n" + log.String() })
	took := time.Since(moved)
	t.Logf("route change logged %v after the default route moved", took)
	if took > time.Second {
		t.Errorf("route change logged after %v, want within 1s", took)
	}
	waitFor(t, func() bool { return len(logLines(log.String(), `"code":"conn-iface-mismatch"`)) == 2 },
		func() string { return "the dead connections were not logged:\n" + log.String() })
	changes := logLines(log.String(), `"msg":"route changed"`)
	want := `"from":"default via 172.24.34.1 dev eth0","to":"default via 172.24.35.1 dev eth1","listeners":"stream"`
	if len(changes) != 1 || !strings.Contains(changes[0], want) {
		t.Errorf("route change lines:\n%s\nwant one with %s", strings.Join(changes, "\n"), want)
	}
	out, err := d.App.Command("curl", "-sf", "http://127.0.0.1:9901/metrics").Output()
	if err != nil || !strings.Contains(string(out), "\nportier_route_changes_total 1\n") {
		t.Errorf("metrics (%v): %s", err, logLines(string(out), "portier_route_changes_total"))
	}
	code, dout, _ := runIn(t, d.App, "doctor", "-c", cfg)
	if code != 1 || !strings.Contains(dout, "conn-iface-mismatch   172.24.34.5:8080  1 client connection") ||
		!strings.Contains(dout, "conn-iface-mismatch   203.0.113.7:9000  1 upstream connection") {
		t.Errorf("doctor exit %d:\n%s", code, dout)
	}
}
