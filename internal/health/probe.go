package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/upstream"
)

// maxCheckBody is how much of a check response's body is read when the
// check looks for a substring in it.
const maxCheckBody = 64 << 10

// userAgent identifies checks in the servers' access logs.
const userAgent = "portier-health"

// probe runs one check against one server and returns its verdict in
// words. ctx carries the check's timeout.
type probe func(ctx context.Context) (ok bool, reason string)

// statusRange is an inclusive range of passing status codes.
type statusRange struct{ lo, hi int }

// checkSpec is a backend's check, parsed once for all its servers.
type checkSpec struct {
	tcp      bool
	method   string
	path     string
	host     string
	body     string
	timeout  time.Duration
	statuses []statusRange
	scheme   string
	tls      *tls.Config
}

func newCheckSpec(h *config.Health, tc *tls.Config) (*checkSpec, error) {
	c := &checkSpec{
		tcp: h.TCP, method: h.Method, path: h.Path, host: h.Host, body: h.ExpectBody,
		timeout: h.Timeout.D(), scheme: "http", tls: tc,
	}
	if c.method == "" {
		c.method = http.MethodGet
	}
	if tc != nil {
		c.scheme = "https"
	}
	for _, s := range h.ExpectStatus {
		lo, hi, err := config.ParseStatusRange(s)
		if err != nil {
			return nil, fmt.Errorf("health: expect_status: %w", err)
		}
		c.statuses = append(c.statuses, statusRange{lo, hi})
	}
	if len(c.statuses) == 0 {
		c.statuses = []statusRange{{200, 399}}
	}
	return c, nil
}

// probeFor returns the check of server s. Connections go where the
// server's traffic goes (its re-resolved address for a host name); the
// configured address names it in Host and SNI. A server sent the PROXY
// protocol gets a header on each check connection too, before any TLS, so
// that a server requiring one (HAProxy accept-proxy, nginx proxy_protocol)
// is not failed for its absence.
func (c *checkSpec) probeFor(s *upstream.Server) probe {
	d := checkDialer{address: s.DialAddress, proxy: s.ProxyVersion(), timeout: c.timeout}
	if c.tcp {
		return tcpProbe(d)
	}
	return c.httpProbe(s.Address, d)
}

// checkDialer opens the connections of one server's checks.
type checkDialer struct {
	net     net.Dialer
	address func() (string, error) // the server's current address
	// proxy is the PROXY protocol version the server is sent. A check's
	// header names the check connection's own ends (Portier's address as
	// the source, the server's as the destination), as HAProxy's
	// check-send-proxy does: the check has no client.
	proxy   upstream.ProxyVersion
	timeout time.Duration
}

func (d *checkDialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	a, err := d.address()
	if err != nil {
		return nil, err
	}
	conn, err := d.net.DialContext(ctx, network, a)
	if err != nil {
		return nil, err
	}
	if err := upstream.WriteCheckHeader(conn, d.proxy, d.timeout); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// tcpProbe passes when a TCP connection to the dial address opens (and,
// for a server sent the PROXY protocol, takes the header).
func tcpProbe(d checkDialer) probe {
	return func(ctx context.Context) (bool, string) {
		conn, err := d.dial(ctx, "tcp", "")
		if err != nil {
			return false, describe(err, d.timeout)
		}
		conn.Close()
		return true, "connected"
	}
}

// httpProbe sends the check request to address over a transport of its
// own with keep-alives off: each check opens a new connection, as HAProxy's
// do, so that a server that accepts no new connection is seen to fail even
// while an old one still works. Redirects are judged, not followed.
func (c *checkSpec) httpProbe(address string, d checkDialer) probe {
	tc := c.tls
	if tc != nil && tc.ServerName == "" {
		tc = tc.Clone()
		tc.ServerName = hostOf(address)
	}
	tr := &http.Transport{
		DialContext:            d.dial,
		TLSClientConfig:        tc,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxCheckBody,
	}
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	host := c.host
	if host == "" {
		host = address
	}
	target := c.scheme + "://" + address + c.path
	return func(ctx context.Context) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, c.method, target, nil)
		if err != nil {
			return false, "bad check request: " + err.Error()
		}
		req.Host = host
		req.Header.Set("User-Agent", userAgent)
		resp, err := client.Do(req)
		if err != nil {
			return false, describe(err, c.timeout)
		}
		defer resp.Body.Close()
		return c.judge(resp)
	}
}

// judge decides on a check response: its status, then its body.
func (c *checkSpec) judge(resp *http.Response) (bool, string) {
	status := "status " + strconv.Itoa(resp.StatusCode)
	if !c.statusOK(resp.StatusCode) {
		return false, status
	}
	if c.body == "" {
		return true, status
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	if err != nil {
		return false, "reading body: " + describe(err, c.timeout)
	}
	if !strings.Contains(string(b), c.body) {
		return false, "body did not contain " + strconv.Quote(c.body)
	}
	return true, status
}

func (c *checkSpec) statusOK(code int) bool {
	for _, r := range c.statuses {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// hostOf returns the host part of a host:port address.
func hostOf(address string) string {
	if h, _, err := net.SplitHostPort(address); err == nil {
		return h
	}
	return address
}
