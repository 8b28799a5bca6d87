//go:build linux

// Package netlab builds network topologies for tests: network namespaces
// joined by veth pairs, configured with iproute2 exactly as an operator
// would (`ip route add default via ...`), so that tests read like the
// incident reports they reproduce. It is imported by tests only.
//
// A Lab creates namespaces with unique names and deletes them, with the
// processes in them, when the test ends, failed or not; it never touches
// the machine's own namespace. Tests skip when not root or when the
// system refuses to create namespaces.
package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
)

// serial makes namespace names unique within the process; the PID makes
// them unique between test binaries running at once.
var serial atomic.Int64

// Lab is a set of namespaces owned by one test.
type Lab struct {
	t testing.TB
}

// New returns a lab for t, or skips t when namespaces cannot be created.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netlab: creating network namespaces needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("netlab: iproute2's ip is not installed")
	}
	return &Lab{t: t}
}

// NS is a network namespace of the lab.
type NS struct {
	t testing.TB
	// Name is the namespace's name for `ip netns`.
	Name string
}

// NS creates a namespace with loopback up; role is part of its name.
func (l *Lab) NS(role string) *NS {
	l.t.Helper()
	name := fmt.Sprintf("pt%d-%d-%s", os.Getpid(), serial.Add(1), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		msg := string(out)
		if strings.Contains(msg, "not permitted") || strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Read-only") {
			l.t.Skipf("netlab: this system does not let the test create network namespaces: %s", strings.TrimSpace(msg))
		}
		l.t.Fatalf("ip netns add %s: %v: %s", name, err, msg)
	}
	ns := &NS{t: l.t, Name: name}
	l.t.Cleanup(ns.remove)
	ns.IP("link", "set", "lo", "up")
	return ns
}

// remove kills the processes left in the namespace and deletes it, which
// destroys its interfaces and the veth peers of them.
func (ns *NS) remove() {
	out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		ns.t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
	}
}

// Path is the namespace's file, for netns.GetFromPath and
// netcheck.Checker.NetNS.
func (ns *NS) Path() string { return "/run/netns/" + ns.Name }

// IP runs `ip -n NAME args...`, failing the test on error.
func (ns *NS) IP(args ...string) {
	ns.t.Helper()
	if err := ns.TryIP(args...); err != nil {
		ns.t.Fatal(err)
	}
}

// TryIP runs `ip -n NAME args...`.
func (ns *NS) TryIP(args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", ns.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Sysctl sets a sysctl of the namespace, like "net.ipv4.ip_forward=1".
func (ns *NS) Sysctl(setting string) {
	ns.t.Helper()
	if out, err := ns.Command("sysctl", "-qw", setting).CombinedOutput(); err != nil {
		ns.t.Fatalf("sysctl %s in %s: %v: %s", setting, ns.Name, err, out)
	}
}

// Command is a command that runs in the namespace (`ip netns exec`).
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs f on an OS thread moved into the namespace, then moves the
// thread back: sockets f creates belong to the namespace for their whole
// life, wherever they are used later. Were the move back to fail, the
// thread stays locked and Go ends it with the goroutine.
func (ns *NS) Do(f func() error) error {
	h, err := netns.GetFromName(ns.Name)
	if err != nil {
		return fmt.Errorf("netlab: %s: %w", ns.Name, err)
	}
	defer h.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netlab: enter %s: %w", ns.Name, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("netlab: leave %s: %w", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Veth joins two namespaces with a veth pair, aDev in a and bDev in b,
// both up.
func (l *Lab) Veth(a *NS, aDev string, b *NS, bDev string) {
	l.t.Helper()
	out, err := exec.Command("ip", "link", "add", aDev, "netns", a.Name, "type", "veth",
		"peer", "name", bDev, "netns", b.Name).CombinedOutput()
	if err != nil {
		l.t.Fatalf("veth %s/%s - %s/%s: %v: %s", a.Name, aDev, b.Name, bDev, err, out)
	}
	// No duplicate address detection: link-local addresses would stay
	// tentative for a second or two after the link comes up, and the
	// first IPv6 neighbour discovery would wait for them.
	a.Sysctl("net.ipv6.conf." + aDev + ".accept_dad=0")
	b.Sysctl("net.ipv6.conf." + bDev + ".accept_dad=0")
	a.IP("link", "set", aDev, "up")
	b.IP("link", "set", bDev, "up")
}
