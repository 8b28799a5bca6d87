package listener

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/portier/portier/internal/config"
)

// cipherSuites are the TLS 1.2 suites offered: forward secret (ECDHE) with an
// AEAD only. TLS 1.3 suites are not configurable in Go and are all modern.
func cipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// BuildTLS loads the certificates of an https listener and returns a server
// configuration that picks one by the client's SNI: an exact name from the
// leaf's DNS SANs (its CN when it has no SANs), then a wildcard covering one
// label, then the certificate marked default, else the first one. Names are
// compared without regard to case. An error names the failing certificate by
// its index: "tls.certificates[1]: open /x.pem: no such file or directory".
func BuildTLS(c *config.ListenerTLS) (*tls.Config, error) {
	if c == nil || len(c.Certificates) == 0 {
		return nil, errors.New("tls.certificates: at least one certificate is required")
	}
	ix := &certIndex{
		exact: make(map[string]*tls.Certificate),
		wild:  make(map[string]*tls.Certificate),
	}
	for i, cc := range c.Certificates {
		cert, err := tls.LoadX509KeyPair(cc.CertFile, cc.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.certificates[%d]: %w", i, err)
		}
		if cert.Leaf == nil {
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return nil, fmt.Errorf("tls.certificates[%d]: %s: %w", i, cc.CertFile, err)
			}
			cert.Leaf = leaf
		}
		ix.add(&cert, cc.Default)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites(),
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: ix.get,
	}, nil
}

// certIndex finds a certificate by server name. It is built once and only
// read afterwards, so handshakes share it without a lock.
type certIndex struct {
	exact map[string]*tls.Certificate // lower-case DNS name -> certificate
	wild  map[string]*tls.Certificate // "example.com" for "*.example.com"
	def   *tls.Certificate            // marked default, else the first
	first bool                        // def is the first, not a marked one
}

// add indexes cert under its names; an earlier certificate keeps a name that
// a later one repeats, so the configuration's order decides.
func (ix *certIndex) add(cert *tls.Certificate, isDefault bool) {
	switch {
	case isDefault && (ix.def == nil || ix.first):
		ix.def, ix.first = cert, false
	case ix.def == nil:
		ix.def, ix.first = cert, true
	}
	names := cert.Leaf.DNSNames
	if len(names) == 0 && cert.Leaf.Subject.CommonName != "" {
		names = []string{cert.Leaf.Subject.CommonName}
	}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		m, key := ix.exact, n
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			m, key = ix.wild, rest
		}
		if _, taken := m[key]; !taken {
			m[key] = cert
		}
	}
}

// get is tls.Config.GetCertificate. It allocates only when the client sends
// a name with upper-case letters.
func (ix *certIndex) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(hello.ServerName, ".")
	if name == "" {
		return ix.def, nil
	}
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	if c, ok := ix.exact[name]; ok {
		return c, nil
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c, ok := ix.wild[name[i+1:]]; ok {
			return c, nil
		}
	}
	return ix.def, nil
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
