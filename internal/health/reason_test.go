package health

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// TestReasons runs one check against real servers on loopback in each
// failure (and success) mode and reads the reason it left on the server.
func TestReasons(t *testing.T) {
	tests := []struct {
		name       string
		addr       func(t *testing.T) string
		check      func(h *config.Health)
		wantUp     bool
		wantReason string
	}{
		{
			name: "refused", addr: closedAddr,
			wantReason: "connection refused",
		},
		{
			name: "timeout", addr: func(t *testing.T) string { a, _ := silentAddr(t); return a },
			check:      func(h *config.Health) { h.Timeout = config.Duration(150 * time.Millisecond) },
			wantReason: "timeout after 150ms",
		},
		{
			name: "status 503", addr: stubAddr(503, "ok"),
			wantReason: "status 503",
		},
		{
			name: "body mismatch", addr: stubAddr(200, "starting"),
			check:      func(h *config.Health) { h.ExpectBody = "ok" },
			wantReason: `body did not contain "ok"`,
		},
		{
			name: "body match", addr: stubAddr(200, "all ok here"),
			check:  func(h *config.Health) { h.ExpectBody = "ok" },
			wantUp: true, wantReason: "status 200",
		},
		{
			name: "status in a listed range", addr: stubAddr(503, ""),
			check:  func(h *config.Health) { h.ExpectStatus = []string{"200", "500-599"} },
			wantUp: true, wantReason: "status 503",
		},
		{
			name: "status outside the list", addr: stubAddr(204, ""),
			check:      func(h *config.Health) { h.ExpectStatus = []string{"200"} },
			wantReason: "status 204",
		},
		{
			name: "tcp up", addr: stubAddr(500, ""),
			check:  tcpCheck,
			wantUp: true, wantReason: "connected",
		},
		{
			name: "tcp down", addr: closedAddr,
			check:      tcpCheck,
			wantReason: "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			srv := newServer("s", tt.addr(t), upstream.Pending)
			h := httpCheck("/status")
			h.Rise = 1
			if tt.check != nil {
				tt.check(h)
			}
			start(t, Options{Backend: "b", Servers: []*upstream.Server{srv}, Check: h, Clock: clk})
			fire(t, clk)
			got := srv.Health()
			wantState := upstream.Down
			if tt.wantUp {
				wantState = upstream.Up
			}
			if got.State != wantState || got.Reason != tt.wantReason {
				t.Errorf("health = %v %q, want %v %q", got.State, got.Reason, wantState, tt.wantReason)
			}
			if !got.Since.Equal(clk.Now()) {
				t.Errorf("since = %v, want the check's time %v", got.Since, clk.Now())
			}
		})
	}
}

func tcpCheck(h *config.Health) { h.Path, h.TCP = "", true }

// stubAddr returns a function that starts a check server answering status
// and body, and returns its address.
func stubAddr(status int, body string) func(t *testing.T) string {
	return func(t *testing.T) string {
		c := newChecked(t)
		c.status.Store(int32(status))
		c.body.Store(&body)
		return c.addr()
	}
}

// TestDescribe covers the errors a loopback test cannot provoke: DNS
// failures and unreachable networks.
func TestDescribe(t *testing.T) {
	dial := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "no such host", err: &net.DNSError{Err: "no such host", Name: "app-2.internal", IsNotFound: true}, want: "dns: no such host app-2.internal"},
		{name: "dns timeout", err: &net.DNSError{Err: "i/o timeout", Name: "app-2.internal", IsTimeout: true}, want: "dns: i/o timeout app-2.internal"},
		{name: "network unreachable", err: dial(syscall.ENETUNREACH), want: "connect: network is unreachable"},
		{name: "no route", err: dial(syscall.EHOSTUNREACH), want: "connect: no route to host"},
		{name: "refused", err: dial(syscall.ECONNREFUSED), want: "connection refused"},
		{name: "reset", err: fmt.Errorf("read: %w", syscall.ECONNRESET), want: "connection reset"},
		{name: "other dial error", err: dial(syscall.EACCES), want: "dial: connect: permission denied"},
		{name: "plain error", err: errors.New("boom"), want: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(tt.err, time.Second); got != tt.want {
				t.Errorf("describe(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
