package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Portier test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes dir/base.pem and dir/base.key for names, signed by the CA.
func (ca *testCA) issue(t *testing.T, dir, base string, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base+".pem", "CERTIFICATE", der)
	write(base+".key", "EC PRIVATE KEY", kb)
}

// testCertDir makes the certificates the examples name under ${PORTIER_CERT_DIR}.
func testCertDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t)
	ca.issue(t, dir, "site", "site.example.com")
	ca.issue(t, dir, "shop", "shop.example.com")
	ca.issue(t, dir, "wildcard", "*.example.com")
	return dir
}

// TestHTTPSListener: SNI picks the certificate (exact, wildcard, default),
// HTTP/2 is negotiated by ALPN, and TLS 1.1 is refused.
func TestHTTPSListener(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	ca.issue(t, dir, "shop", "shop.example.test")
	ca.issue(t, dir, "wild", "*.apps.example.test")
	ca.issue(t, dir, "fallback", "fallback.example.test")
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
		TLSClientConfig:   &tls.Config{RootCAs: ca.pool, ServerName: "shop.example.test"},
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
