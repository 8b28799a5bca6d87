package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// seedServers are web-01 before and after the change of seeds/001: the
// old port speaks plain HTTP; the new one requires a PROXY header first
// and answers with the version it got and the client address it carried.
type seedServers struct {
	old, new  string
	oldHits   atomic.Int64
	stateFile string // portier's state.file, absent at first
}

func startSeedServers(t *testing.T) *seedServers {
	t.Helper()
	s := &seedServers{stateFile: filepath.Join(t.TempDir(), "state.json")}
	oldLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	oldSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.oldHits.Add(1)
		io.WriteString(w, "old port")
	})}
	go oldSrv.Serve(oldLn)
	t.Cleanup(func() { oldSrv.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type connKey struct{}
	newSrv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := r.Context().Value(connKey{}).(*proxyproto.Conn)
			h := c.ProxyHeader()
			if h == nil {
				io.WriteString(w, "new port, no PROXY header")
				return
			}
			fmt.Fprintf(w, "new port, PROXY v%d from %s", h.Version, h.SourceAddr)
		}),
	}
	go newSrv.Serve(&proxyproto.Listener{Listener: ln}) // requires the header
	t.Cleanup(func() { newSrv.Close() })
	s.old, s.new = oldLn.Addr().String(), ln.Addr().String()
	return s
}

// config is web-01 of backend pages at address, with a second server
// when spare is set.
func (s *seedServers) config(address, sendPP, spare string) string {
	pp := ""
	if sendPP != "" {
		pp = ", send_proxy_protocol: " + sendPP
	}
	extra := ""
	if spare != "" {
		extra = fmt.Sprintf("\n      - {name: web-02, address: %q}", spare)
	}
	return fmt.Sprintf(`
admin: {address: "127.0.0.1:0"}
state: {file: %q}
listeners:
  - {name: web, address: "127.0.0.1:0"}
routes:
  - {name: all, backend: pages}
backends:
  - name: pages
    servers:
      - {name: web-01, address: %q%s}%s
`, s.stateFile, address, pp, extra)
}

// startSaved runs portier with web-01 at the old port and, as seeds/001
// does, sets web-01 to maintenance and back through the API, so that the
// state file holds it. It returns the process and its configuration file.
func startSaved(t *testing.T, s *seedServers) (*proc, string) {
	t.Helper()
	path := writeFile(t, "portier.yaml", s.config(s.old, "", ""))
	p := startWithAdmin(t, "run", "-c", path)
	ctl(t, p, "maint", "pages/web-01")
	saved(t, s.stateFile, `"admin": "maintenance"`)
	ctl(t, p, "ready", "pages/web-01")
	saved(t, s.stateFile, `"admin": "ready"`)
	return p, path
}

// startWithAdmin starts portier and waits for its admin address too.
func startWithAdmin(t *testing.T, args ...string) *proc {
	t.Helper()
	p := start(t, 1, args...)
	waitFor(t, func() bool { return p.addr("admin") != "" }, func() string { return "no admin address:\n" + p.logs() })
	return p
}

func ctl(t *testing.T, p *proc, args ...string) {
	t.Helper()
	if code, out, errOut := runCmd(t, append([]string{"ctl", "--admin", p.addr("admin")}, args...)...); code != 0 {
		t.Fatalf("ctl %v: %d %s %s", args, code, out, errOut)
	}
}

// saved waits until the state file holds want.
func saved(t *testing.T, path, want string) {
	t.Helper()
	waitFor(t, func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), want)
	}, func() string {
		b, _ := os.ReadFile(path)
		return "state file lacks " + want + ":\n" + string(b)
	})
}

// allOnNewPort sends n requests and checks each reached the new port with
// a PROXY v2 header carrying the client's address, and none the old port.
func allOnNewPort(t *testing.T, p *proc, s *seedServers, n int) {
	t.Helper()
	oldBefore := s.oldHits.Load()
	c := &http.Client{Transport: &http.Transport{}}
	for range n {
		code, body, _ := get(t, c, "http://"+p.addr("web")+"/")
		if code != 200 || !strings.HasPrefix(body, "new port, PROXY v2 from 127.0.0.1:") {
			t.Fatalf("answer %d %q, want the new port with a PROXY v2 header", code, body)
		}
	}
	if got := s.oldHits.Load() - oldBefore; got != 0 {
		t.Fatalf("%d requests reached the old port", got)
	}
}

// TestSeedPortChangeByReload is seeds/001 through a reload: web-01 is set
// to maintenance and back through the API (state saved), then the
// configuration moves it to a new port with send_proxy_protocol: v2.
// Every request goes to the new port with a PROXY v2 header, nothing
// reaches the old port, and a log line names the changed fields.
func TestSeedPortChangeByReload(t *testing.T) {
	s := startSeedServers(t)
	p, path := startSaved(t, s)
	saved(t, s.stateFile, s.old)

	replace(t, path, s.config(s.new, "v2", ""))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs(), `"trigger":"signal"`) },
		func() string { return "no reload:\n" + p.logs() })
	allOnNewPort(t, p, s, 30)
	want := fmt.Sprintf(`"changed":"address: %s -> %s; send_proxy_protocol: none -> v2"`, s.old, s.new)
	if !strings.Contains(p.logs(), want) {
		t.Errorf("no log line names the changed fields (%s):\n%s", want, p.logs())
	}
	saved(t, s.stateFile, s.new)
}

// TestSeedPortChangeAcrossRestart is seeds/001 across a full restart: the
// state file saved web-01 at the old port; the configuration now says the
// new port with PROXY v2. The saved state is dropped with a log line that
// names each changed field, and the configuration wins.
func TestSeedPortChangeAcrossRestart(t *testing.T) {
	s := startSeedServers(t)
	p, path := startSaved(t, s)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	saved(t, s.stateFile, s.old)

	replace(t, path, s.config(s.new, "v2", ""))
	p2 := startWithAdmin(t, "run", "-c", path)
	allOnNewPort(t, p2, s, 30)
	want := fmt.Sprintf(`"msg":"saved state dropped: the configuration changed the server","component":"state","backend":"pages","server":"web-01","changed":"address: %s -> %s; send_proxy_protocol: none -> v2"`, s.old, s.new)
	if !strings.Contains(p2.logs(), want) {
		t.Errorf("no log line names the dropped fields (%s):\n%s", want, p2.logs())
	}
}

// TestDrainSurvivesRestart: a drained server whose configuration did not
// change is still drained after a restart, and gets no request.
func TestDrainSurvivesRestart(t *testing.T) {
	s := startSeedServers(t)
	spare := named(t, "web-02")
	path := writeFile(t, "portier.yaml", s.config(s.old, "", spare.Listener.Addr().String()))
	p := startWithAdmin(t, "run", "-c", path)
	ctl(t, p, "drain", "pages/web-01")
	saved(t, s.stateFile, `"admin": "draining"`)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	p2 := startWithAdmin(t, "run", "-c", path)
	code, out, _ := runCmd(t, "ctl", "--admin", p2.addr("admin"), "status")
	if code != 0 || !regexp.MustCompile(`(?m)^pages\s+web-01\s.*\sdraining \(`).MatchString(out) {
		t.Fatalf("status after restart:\n%s", out)
	}
	before := s.oldHits.Load()
	for range 20 {
		if _, body, _ := get(t, http.DefaultClient, "http://"+p2.addr("web")+"/"); body != "web-02" {
			t.Fatalf("answer %q, want web-02 while web-01 is drained", body)
		}
	}
	if s.oldHits.Load() != before {
		t.Fatal("the drained server got requests after the restart")
	}
}
