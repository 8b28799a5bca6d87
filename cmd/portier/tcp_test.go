package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisLike is a loopback server that speaks like Redis's inline
// commands: PING answers +PONG, anything else is echoed back as a bulk
// reply tagged with the server's name, so that a test knows which server
// a stream reached.
func redisLike(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					reply := "+PONG\r\n"
					if cmd := strings.TrimSpace(sc.Text()); cmd != "PING" {
						v := name + " " + cmd
						reply = fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
					}
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// redisClient is one connection to Portier's tcp listener.
type redisClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRedis(t *testing.T, addr string) *redisClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &redisClient{c: c, br: bufio.NewReader(c)}
}

// echo sends "ECHO v" and returns the server's name from the reply.
func (r *redisClient) echo(t *testing.T, v string) string {
	t.Helper()
	_ = r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.c, "ECHO "+v+"\r\n"); err != nil {
		t.Fatalf("send: %v", err)
	}
	if _, err := r.br.ReadString('\n'); err != nil { // $len
		t.Fatalf("read: %v", err)
	}
	line, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
	if rest != "ECHO "+v {
		t.Fatalf("reply %q to ECHO %s", line, v)
	}
	return name
}

func tcpConf(servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `admin: {address: "127.0.0.1:0"}
log: {access: stdout}
listeners:
  - {name: redis, address: "127.0.0.1:0", protocol: tcp, backend: kv}
backends:
  - name: kv
    balance: least_conn
    health: {tcp: true, interval: 100ms, fast_interval: 50ms, rise: 1}
    servers:
`)
	for i, s := range servers {
		fmt.Fprintf(&b, "      - {name: s%d, address: %q}\n", i+1, s)
	}
	return b.String()
}

// TestTCPStreamSurvivesDrainAndReload runs the binary in front of two
// Redis-like servers. A client's stream keeps working while its server
// drains (new streams go to the other server) and across a reload that
// changes the backend; each stream gets an access line when it ends.
func TestTCPStreamSurvivesDrainAndReload(t *testing.T) {
	a, b, c := redisLike(t, "a"), redisLike(t, "b"), redisLike(t, "c")
	path := writeFile(t, "portier.yaml", tcpConf(a, b))
	p := startWithAdmin(t, "run", "-c", path)
	addr := p.addr("redis")
	waitFor(t, func() bool { return strings.Count(p.logs(), `"to":"up"`) == 2 }, func() string { return "servers not up:\n" + p.logs() })

	live := dialRedis(t, addr)
	first := live.echo(t, "hello")
	ctl(t, p, "drain", "kv/s"+map[string]string{"a": "1", "b": "2"}[first])
	other := map[string]string{"a": "b", "b": "a"}[first]
	for i := range 4 {
		if got := dialRedis(t, addr).echo(t, fmt.Sprint("new ", i)); got != other {
			t.Fatalf("a new stream while %s drains reached %s", first, got)
		}
	}
	if got := live.echo(t, "during drain"); got != first {
		t.Fatalf("the stream on the draining server now answers from %s", got)
	}

	replace(t, path, tcpConf(a, b, c))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs(), "configuration reloaded") },
		func() string { return "no reload:\n" + p.logs() })
	if got := live.echo(t, "after reload"); got != first {
		t.Fatalf("the stream across the reload answers from %s", got)
	}
	if _, err := io.WriteString(live.c, "PING\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, _ := live.br.ReadString('\n'); line != "+PONG\r\n" {
		t.Fatalf("PING: %q", line)
	}
	live.c.Close()

	var line map[string]any
	waitFor(t, func() bool {
		for _, l := range strings.Split(p.stdout.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "connection" && m["server"] == "s"+map[string]string{"a": "1", "b": "2"}[first] {
				line = m
				return true
			}
		}
		return false
	}, func() string { return "no access line for the live stream:\n" + p.stdout.String() })
	if line["listener"] != "redis" || line["backend"] != "kv" || line["reason"] != "client_closed" ||
		line["bytes_in"] != float64(len("ECHO hello\r\nECHO during drain\r\nECHO after reload\r\nPING\r\n")) {
		t.Errorf("access line %v", line)
	}
}
