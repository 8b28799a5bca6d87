//go:build linux

package netcheck

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/netlab"
)

var record = flag.Bool("record", false, "write the facts of the namespace tests to testdata/*.facts.json")

// web is the incident's nginx: one listener on every address.
var web = []Listener{{Name: "web", Address: ":80"}}

// summary is the findings as "level code address" lines.
func summary(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, string(f.Level)+" "+f.Code+" "+f.Address)
	}
	return out
}

func warnings(fs []Finding) []string {
	return slices.DeleteFunc(summary(fs), func(s string) bool { return !strings.HasPrefix(s, "warn ") })
}

// check runs the check in ns and, with -record, saves its facts as
// testdata/NAME.facts.json for the golden tests.
func check(t *testing.T, ns *netlab.NS, s Scope, name string) []Finding {
	t.Helper()
	rep, err := Checker{NetNS: ns.Path()}.Check(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if *record && name != "" {
		b, err := json.MarshalIndent(recording{Scope: s, Facts: rep.Facts}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name+".facts.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rep.Findings
}

// serveHello listens on :80 in ns and answers every connection "hello".
func serveHello(t *testing.T, ns *netlab.NS) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", ":80"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
}

// served reports whether a client in ns gets "hello" from addr. A lost
// SYN-ACK shows as a timeout: wait bounds how long that takes to tell.
func served(t *testing.T, ns *netlab.NS, addr string, wait time.Duration) bool {
	t.Helper()
	var line string
	err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, wait)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		line, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return err == nil && line == "hello\n"
}

// TestProxyVM builds the Open Food Facts proxy (seeds/000) in its broken,
// raced and three repaired states, and checks that doctor's verdict
// matches what a client on the Internet side gets.
func TestProxyVM(t *testing.T) {
	clients := []string{netlab.ClientNet, netlab.ClientNet6}
	for _, tc := range []struct {
		name  string
		setup func(*netlab.ProxyVM)
		warns []string
		infos []string // among the infos
		// served: whether the client gets an answer (nil: not asserted).
		served *bool
	}{{
		name: "bad", setup: (*netlab.ProxyVM).Bad, served: ptr(false),
		warns: []string{
			"warn reply-iface-mismatch 198.51.100.10:80",
			"warn reply-iface-mismatch [2001:db8:b::10]:80",
		},
	}, {
		name: "race", setup: (*netlab.ProxyVM).Race,
		warns: []string{
			"warn competing-defaults 10.1.0.101:80",
			"warn reply-iface-mismatch 198.51.100.10:80",
			"warn reply-iface-mismatch [2001:db8:b::10]:80",
		},
	}, {
		name: "fixed", setup: (*netlab.ProxyVM).Fixed, served: ptr(true), warns: []string{},
		// The NAT side has no gateway left: only its own network reaches it.
		infos: []string{"info reply-iface-mismatch 10.1.0.101:80", "info reply-iface-mismatch [fd00:a::101]:80"},
	}, {
		name: "source-rule", setup: (*netlab.ProxyVM).SourceRule, served: ptr(true), warns: []string{},
	}, {
		name: "firewall-mark", setup: (*netlab.ProxyVM).Marked, served: ptr(true), warns: []string{},
		infos: []string{"info reply-iface-mismatch 198.51.100.10:80", "info reply-iface-mismatch [2001:db8:b::10]:80"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			v := netlab.New(t).NewProxyVM()
			tc.setup(v)
			serveHello(t, v.Proxy)
			for _, probes := range [][]string{nil, clients} {
				s := Scope{Listeners: web}
				name := "proxyvm-" + tc.name
				for _, p := range probes {
					pp, err := ParseProbe(p)
					if err != nil {
						t.Fatal(err)
					}
					s.Probes = append(s.Probes, pp)
					name = ""
				}
				fs := check(t, v.Proxy, s, name)
				if got := warnings(fs); !slices.Equal(got, tc.warns) {
					t.Errorf("probes %v: warnings\n%s\nwant\n%s\nall findings:\n%s", probes, strings.Join(got, "\n"), strings.Join(tc.warns, "\n"), dump(fs))
				}
				for _, in := range tc.infos {
					if !slices.Contains(summary(fs), in) {
						t.Errorf("probes %v: no %q among\n%s", probes, in, dump(fs))
					}
				}
			}
			if tc.served != nil {
				wait := 5 * time.Second
				if !*tc.served {
					wait = time.Second // the SYN-ACK is lost: this only bounds the wait
				}
				for _, addr := range []string{netlab.PubAddr + ":80", "[" + netlab.PubAddr6 + "]:80"} {
					if got := served(t, v.Client, addr, wait); got != *tc.served {
						t.Errorf("client served by %s: %v, want %v", addr, got, *tc.served)
					}
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String() + "\n")
	}
	return b.String()
}
