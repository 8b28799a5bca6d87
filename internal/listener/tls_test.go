package listener

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// TestSNI: the client's server name picks the certificate.
func TestSNI(t *testing.T) {
	l, _ := startHTTPS(t, testConfig(config.ProtocolHTTPS), echo())
	tests := []struct {
		name       string
		serverName string // "" sends no SNI
		want       string // first DNS name of the served certificate
	}{
		{name: "exact", serverName: "a.example.test", want: "a.example.test"},
		{name: "exact, other case", serverName: "A.Example.TEST", want: "a.example.test"},
		{name: "wildcard", serverName: "x.wild.example.test", want: "*.wild.example.test"},
		{name: "wildcard covers one label only", serverName: "y.x.wild.example.test", want: "default.example.test"},
		{name: "wildcard does not cover its base", serverName: "wild.example.test", want: "default.example.test"},
		{name: "unknown name", serverName: "other.test", want: "default.example.test"},
		{name: "no SNI", serverName: "", want: "default.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The default certificate does not cover the names sent, so the
			// test checks the served leaf itself instead of verifying.
			conf := &tls.Config{ServerName: tt.serverName, InsecureSkipVerify: true}
			c, err := tls.Dial("tcp", l.Addr().String(), conf)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			leaf := c.ConnectionState().PeerCertificates[0]
			if leaf.DNSNames[0] != tt.want {
				t.Fatalf("served %v, want %s", leaf.DNSNames, tt.want)
			}
		})
	}
}

// TestTLSVersionsAndALPN: TLS 1.1 and weak TLS 1.2 suites are refused, and
// h2 is negotiated by ALPN.
func TestTLSVersionsAndALPN(t *testing.T) {
	l, p := startHTTPS(t, testConfig(config.ProtocolHTTPS), echo())
	tests := []struct {
		name     string
		conf     *tls.Config
		ok       bool
		wantALPN string
	}{
		{name: "TLS 1.1", conf: &tls.Config{MaxVersion: tls.VersionTLS11}},
		{name: "TLS 1.2 CBC only", conf: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}},
		{name: "TLS 1.2 GCM", ok: true, wantALPN: "h2", conf: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, NextProtos: []string{"h2", "http/1.1"}}},
		{name: "TLS 1.3 h2", ok: true, wantALPN: "h2", conf: &tls.Config{NextProtos: []string{"h2", "http/1.1"}}},
		{name: "TLS 1.3 http/1.1", ok: true, wantALPN: "http/1.1", conf: &tls.Config{NextProtos: []string{"http/1.1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			conf.RootCAs, conf.ServerName = p.pool, "a.example.test"
			c, err := tls.Dial("tcp", l.Addr().String(), conf)
			if !tt.ok {
				if err == nil {
					c.Close()
					t.Fatal("handshake succeeded, want refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			if got := c.ConnectionState().NegotiatedProtocol; got != tt.wantALPN {
				t.Fatalf("ALPN %q, want %q", got, tt.wantALPN)
			}
		})
	}
}

// TestHTTP2OverTLS: a request over h2 reaches the handler.
func TestHTTP2OverTLS(t *testing.T) {
	l, p := startHTTPS(t, testConfig(config.ProtocolHTTPS), echo())
	c := h2Client(t, p, "x.wild.example.test")
	resp, err := c.Post("https://"+l.Addr().String()+"/h2", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "body" || resp.Header.Get("X-Path") != "/h2" {
		t.Fatalf("got %s %q %v", resp.Proto, b, resp.Header)
	}
}

// TestTLSCloseAfterReframed: on TLS there is no raw head to inspect, so a
// chunked HTTP/1.1 request or any HTTP/1.0 request closes the connection.
func TestTLSCloseAfterReframed(t *testing.T) {
	l, p := startHTTPS(t, testConfig(config.ProtocolHTTPS), echo())
	tests := []struct {
		name   string
		raw    string
		closed bool
	}{
		{name: "plain GET keeps the connection", closed: false,
			raw: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "chunked closes", closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"},
		{name: "HTTP/1.0 keep-alive closes", closed: true,
			raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{
				RootCAs: p.pool, ServerName: "a.example.test", NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(tc, tt.raw); err != nil {
				t.Fatal(err)
			}
			br := newReader(tc)
			if resp, _ := readResponse(t, br); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := closedByServer(tc, br); got != tt.closed {
				t.Errorf("connection closed = %v, want %v", got, tt.closed)
			}
		})
	}
}

// TestBuildTLSErrors: errors name the certificate index and file.
func TestBuildTLSErrors(t *testing.T) {
	p, _ := standardPKI(t)
	tests := []struct {
		name string
		tls  *config.ListenerTLS
		want string
	}{
		{name: "none", tls: &config.ListenerTLS{}, want: "tls.certificates: at least one"},
		{name: "missing cert file", tls: &config.ListenerTLS{Certificates: []config.Certificate{
			p.cert("exact", false), {CertFile: "/nonexistent/x.pem", KeyFile: "/nonexistent/x.key"}}},
			want: "tls.certificates[1]: open /nonexistent/x.pem: no such file"},
		{name: "key of another certificate", tls: &config.ListenerTLS{Certificates: []config.Certificate{
			{CertFile: p.files["exact"][0], KeyFile: p.files["wild"][1]}}},
			want: "tls.certificates[0]: tls: private key does not match public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildTLS(tt.tls)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want prefix %q", err, tt.want)
			}
		})
	}
}

// TestDefaultCertificate: without a certificate marked default, the first
// one is served to unknown names; a marked one wins wherever it is.
func TestDefaultCertificate(t *testing.T) {
	p, _ := standardPKI(t)
	tests := []struct {
		name  string
		certs []config.Certificate
		want  string
	}{
		{name: "first", certs: []config.Certificate{p.cert("wild", false), p.cert("exact", false)},
			want: "*.wild.example.test"},
		{name: "marked", certs: []config.Certificate{p.cert("wild", false), p.cert("exact", true)},
			want: "a.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := BuildTLS(&config.ListenerTLS{Certificates: tt.certs})
			if err != nil {
				t.Fatal(err)
			}
			c, err := conf.GetCertificate(&tls.ClientHelloInfo{ServerName: "unknown.test"})
			if err != nil {
				t.Fatal(err)
			}
			if c.Leaf.DNSNames[0] != tt.want {
				t.Fatalf("default %v, want %s", c.Leaf.DNSNames, tt.want)
			}
		})
	}
}
