package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"

	"github.com/portier/portier/internal/testpki"
)

// testCertDir makes the certificates the examples name under ${PORTIER_CERT_DIR}.
func testCertDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t)
	ca.Issue(t, dir, "site", "site.example.com")
	ca.Issue(t, dir, "shop", "shop.example.com")
	ca.Issue(t, dir, "wildcard", "*.example.com")
	return dir
}

// TestHTTPSListener: SNI picks the certificate (exact, wildcard, default),
// HTTP/2 is negotiated by ALPN, and TLS 1.1 is refused.
func TestHTTPSListener(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t)
	ca.Issue(t, dir, "shop", "shop.example.test")
	ca.Issue(t, dir, "wild", "*.apps.example.test")
	ca.Issue(t, dir, "fallback", "fallback.example.test")
	be := named(t, "backend")
	cfg := writeFile(t, "tls.yaml", fmt.Sprintf(`
admin: {address: "off"}
log: {access: "off"}
listeners:
  - name: websecure
    address: "127.0.0.1:0"
    protocol: https
    tls:
      certificates:
        - {cert_file: %[1]s/shop.pem, key_file: %[1]s/shop.key}
        - {cert_file: %[1]s/wild.pem, key_file: %[1]s/wild.key}
        - {cert_file: %[1]s/fallback.pem, key_file: %[1]s/fallback.key, default: true}
routes:
  - {name: all, backend: b}
backends:
  - name: b
    servers: [{name: s, address: %[2]q}]
`, dir, be.Listener.Addr()))
	p := start(t, 1, "run", "-c", cfg)
	addr := p.addr("websecure")

	for _, tc := range []struct {
		sni, wantCN string
	}{
		{"shop.example.test", "shop.example.test"},
		{"x.apps.example.test", "*.apps.example.test"},
		{"unknown.example.test", "fallback.example.test"},
		{"", "fallback.example.test"},
	} {
		t.Run("sni="+tc.sni, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if got := st.PeerCertificates[0].Subject.CommonName; got != tc.wantCN {
				t.Errorf("certificate %q, want %q", got, tc.wantCN)
			}
			if st.NegotiatedProtocol != "h2" {
				t.Errorf("ALPN %q, want h2", st.NegotiatedProtocol)
			}
		})
	}

	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client was accepted")
	}

	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool, ServerName: "shop.example.test"},
		ForceAttemptHTTP2: true,
	}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Via") == "" {
		t.Fatalf("HTTPS request: proto %s status %d Via %q", resp.Proto, resp.StatusCode, resp.Header.Get("Via"))
	}
}
