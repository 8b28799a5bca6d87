package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/testpki"
)

// testConfig is a listener configuration with the documented defaults on
// a loopback port chosen by the kernel.
func testConfig(protocol string) config.Listener {
	return config.Listener{
		Name:     "test",
		Address:  "127.0.0.1:0",
		Protocol: protocol,
		Timeouts: config.ListenerTimeouts{
			ReadHeader: config.Duration(10 * time.Second),
			Idle:       config.Duration(60 * time.Second),
		},
		Limits: config.ListenerLimits{MaxHeaderBytes: 32 << 10, MaxURIBytes: 8 << 10},
	}
}

// start runs a listener for o until the test ends and returns it.
func start(t *testing.T, o Options) *Listener {
	t.Helper()
	l, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := l.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

// echo answers 200 with the request body it read, ignoring read errors as
// a careless handler would.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		_, _ = w.Write(b)
	})
}

// rawConn dials addr and returns the connection with a reader for
// responses; the connection closes when the test ends.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// readResponse reads one response and its body.
func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// closedByServer reports whether the server closed c: a read finds EOF
// (or a reset) rather than more bytes or a timeout. A server that closes
// does so right after the response, so a short wait tells the two apart.
func closedByServer(c net.Conn, br *bufio.Reader) bool {
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// testPKI is a test CA and the certificate files it issued.
type testPKI struct {
	pool  *x509.CertPool
	files map[string][2]string // label -> cert file, key file
}

// newPKI issues one certificate per label with the given DNS names.
func newPKI(t *testing.T, names map[string][]string) *testPKI {
	t.Helper()
	ca := testpki.NewCA(t)
	p := &testPKI{pool: ca.Pool, files: map[string][2]string{}}
	dir := t.TempDir()
	for label, dns := range names {
		cf, kf := ca.Issue(t, dir, label, dns...)
		p.files[label] = [2]string{cf, kf}
	}
	return p
}

// cert returns the config entry for label.
func (p *testPKI) cert(label string, isDefault bool) config.Certificate {
	f := p.files[label]
	return config.Certificate{CertFile: f[0], KeyFile: f[1], Default: isDefault}
}

// standardPKI issues the certificates the TLS tests use.
func standardPKI(t *testing.T) (*testPKI, *config.ListenerTLS) {
	p := newPKI(t, map[string][]string{
		"exact":   {"a.example.test"},
		"wild":    {"*.wild.example.test"},
		"default": {"default.example.test"},
	})
	return p, &config.ListenerTLS{Certificates: []config.Certificate{
		p.cert("exact", false), p.cert("wild", false), p.cert("default", true),
	}}
}

// startHTTPS runs an https listener with the standard certificates.
func startHTTPS(t *testing.T, cfg config.Listener, h http.Handler) (*Listener, *testPKI) {
	t.Helper()
	p, tc := standardPKI(t)
	tlsConf, err := BuildTLS(tc)
	if err != nil {
		t.Fatalf("BuildTLS: %v", err)
	}
	cfg.TLS = tc
	return start(t, Options{Config: cfg, Handler: h, TLS: tlsConf}), p
}

// h2Client speaks HTTP/2 over TLS to a listener started by startHTTPS.
func h2Client(t *testing.T, p *testPKI, serverName string) *http.Client {
	t.Helper()
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.pool, ServerName: serverName},
		Protocols:       &protos,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
