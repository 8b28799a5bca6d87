package interop_test

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portier/portier/internal/testpki"
)

// sniName is the name clients ask Portier's https listener for.
const sniName = "shop.example"

// portierConf is a configuration of `portier run` in front of one server:
// one listener on a free loopback port, one route, one backend. The zero
// value is plain HTTP with the defaults.
type portierConf struct {
	trusted   string // the listener's trusted_proxies (one CIDR), if any
	https     bool   // listen with TLS, for an SNI to pass on
	backendPP string // the backend's send_proxy_protocol; empty for the default
	serverPP  string // the server's own; empty for the backend's
	health    string // the backend's health mapping (YAML flow), if any
}

// start runs `portier run` with p in front of server and returns the
// address it listens on and the process.
func (p portierConf) start(t *testing.T, server string) (string, *process) {
	t.Helper()
	dir := t.TempDir()
	var listener, backend, srv strings.Builder
	listener.WriteString("  - name: web\n    address: 127.0.0.1:0\n")
	if p.trusted != "" {
		fmt.Fprintf(&listener, "    trusted_proxies: [%q]\n", p.trusted)
	}
	if p.https {
		cert, key := testpki.NewCA(t).Issue(t, dir, "web", sniName)
		fmt.Fprintf(&listener, "    protocol: https\n    tls: {certificates: [{cert_file: %q, key_file: %q}]}\n", cert, key)
	}
	if p.backendPP != "" {
		fmt.Fprintf(&backend, "    send_proxy_protocol: %s\n", p.backendPP)
	}
	if p.health != "" {
		fmt.Fprintf(&backend, "    health: %s\n", p.health)
	}
	if p.serverPP != "" {
		fmt.Fprintf(&srv, ", send_proxy_protocol: %s", p.serverPP)
	}
	conf := fmt.Sprintf(`admin:
  address: "off"
log:
  access: "off"
listeners:
%sroutes:
  - name: all
    backend: peer
backends:
  - name: peer
%s    servers:
      - {name: peer, address: %q%s}
`, listener.String(), backend.String(), server, srv.String())
	path := filepath.Join(dir, "portier.yaml")
	writeFile(t, path, conf)
	return startPortier(t, "run", "-c", path)
}

// get fetches paths from Portier at addr with curl, connecting from the
// loopback address client, and returns the bodies; for an https Portier
// the client asks for sniName.
func (p portierConf) get(t *testing.T, addr, client string, paths ...string) string {
	t.Helper()
	args := []string{"--http1.1", "--interface", client, "--fail"}
	scheme, host := "http", addr
	if p.https {
		_, port, _ := net.SplitHostPort(addr)
		args = append(args, "--insecure", "--resolve", sniName+":"+port+":127.0.0.1")
		scheme, host = "https", net.JoinHostPort(sniName, port)
	}
	for _, path := range paths {
		args = append(args, scheme+"://"+host+path)
	}
	return curl(t, args...)
}
