package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Validate checks a configuration built in code, or changed after Load, and
// returns an Errors with every problem, each with its key path. Load
// already validates what it returns.
func (c *Config) Validate() error { return validate(c).err() }

// validator collects problems; each check adds to it and goes on.
type validator struct{ errs Errors }

func (v *validator) errf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validate runs every check. The decoder has already refused wrong types;
// these are the rules between values.
func validate(c *Config) Errors {
	v := &validator{}
	v.admin(c)
	v.log(c)
	v.resolvers(c)
	v.listeners(c)
	v.routes(c)
	v.backends(c)
	v.tcpRoutes(c)
	v.tracing(c)
	return v.errs
}

func (v *validator) admin(c *Config) {
	a := c.Admin
	if a.Address == AdminOff {
		return
	}
	host, err := checkListenAddress(a.Address)
	if err != nil {
		v.errf("admin.address", "%v", err)
		return
	}
	if a.TokenFile == "" && !isLoopback(host) {
		v.errf("admin.address", "%q is not a loopback address, so token_file is required: "+
			"without a token anyone who can reach it could drain servers", a.Address)
	}
}

func (v *validator) log(c *Config) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.errf("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.Log.Access == "" {
		v.errf("log.access", `must be "stdout", "stderr", "off" or a file path`)
	}
}

func (v *validator) listeners(c *Config) {
	if len(c.Listeners) == 0 {
		v.errf("listeners", "at least one listener is required")
	}
	names := map[string]int{}
	addrs := map[string]int{}
	for i, l := range c.Listeners {
		p := "listeners[" + strconv.Itoa(i) + "]"
		v.name(p+".name", l.Name, "listener", names, i)
		if _, err := checkListenAddress(l.Address); err != nil {
			v.errf(p+".address", "%v", err)
		} else if !strings.HasSuffix(l.Address, ":0") {
			if j, dup := addrs[l.Address]; dup {
				v.errf(p+".address", "%s is already used by listeners[%d]", l.Address, j)
			} else {
				addrs[l.Address] = i
			}
		}
		v.listener(c, p, &l)
	}
}

func (v *validator) listener(c *Config, p string, l *Listener) {
	switch l.Protocol {
	case ProtocolHTTP, ProtocolHTTPS, ProtocolTCP:
	default:
		v.errf(p+".protocol", "must be http, https or tcp, not %q", l.Protocol)
		return
	}
	v.listenerTLS(p, l)
	if l.H2C && l.Protocol != ProtocolHTTP {
		v.errf(p+".h2c", "only applies to http listeners (https negotiates HTTP/2 by ALPN)")
	}
	if l.Protocol == ProtocolTCP {
		v.tcpListener(c, p, l)
		if len(l.TrustedProxies) > 0 {
			v.errf(p+".trusted_proxies", "only applies to http and https listeners")
		}
		if l.Forwarded {
			v.errf(p+".forwarded", "only applies to http and https listeners")
		}
	} else if l.Backend != "" {
		v.errf(p+".backend", "only tcp listeners have a backend; %s listeners are served by routes", l.Protocol)
	}
	v.proxyProtocol(p+".proxy_protocol", l.ProxyProtocol)
	if l.Timeouts.ReadHeader <= 0 {
		v.errf(p+".timeouts.read_header", "must be greater than 0: without it a slow client holds a connection for ever")
	}
	if l.Timeouts.Idle <= 0 {
		v.errf(p+".timeouts.idle", "must be greater than 0")
	}
	if l.Timeouts.ClientHello <= 0 {
		v.errf(p+".timeouts.client_hello", "must be greater than 0: without it a silent client holds a connection for ever")
	}
	if l.Limits.MaxHeaderBytes <= 0 {
		v.errf(p+".limits.max_header_bytes", "must be greater than 0")
	}
	if l.Limits.MaxURIBytes <= 0 {
		v.errf(p+".limits.max_uri_bytes", "must be greater than 0")
	}
}

// proxyProtocol checks PROXY protocol accept on a listener (any protocol).
func (v *validator) proxyProtocol(p string, pp *ProxyProtocol) {
	if pp == nil {
		return
	}
	if pp.Accept && len(pp.Trusted) == 0 {
		v.errf(p+".trusted", "must list the networks allowed to send a PROXY header; "+
			"from any other peer it would let a client choose its own address")
	}
	for j, t := range pp.Trusted {
		if !t.IsValid() {
			v.errf(p+".trusted["+strconv.Itoa(j)+"]", "is not a network; want CIDR notation like 10.0.0.0/8")
		}
	}
	if pp.Accept && pp.Timeout <= 0 {
		v.errf(p+".timeout", "must be greater than 0: without it a peer that sends no header holds a connection for ever")
	}
}

func (v *validator) listenerTLS(p string, l *Listener) {
	if l.Protocol != ProtocolHTTPS {
		if l.TLS != nil {
			v.errf(p+".tls", "only applies to https listeners")
		}
		return
	}
	if l.TLS == nil || len(l.TLS.Certificates) == 0 {
		v.errf(p+".tls.certificates", "an https listener needs at least one certificate")
		return
	}
	defaults := 0
	for j, cert := range l.TLS.Certificates {
		cp := p + ".tls.certificates[" + strconv.Itoa(j) + "]"
		if cert.CertFile == "" {
			v.errf(cp+".cert_file", "is required")
		}
		if cert.KeyFile == "" {
			v.errf(cp+".key_file", "is required")
		}
		if cert.Default {
			if defaults++; defaults == 2 {
				v.errf(cp+".default", "only one certificate may be the default")
			}
		}
	}
}

// name checks a required, unique name and records it in seen.
func (v *validator) name(path, name, what string, seen map[string]int, i int) {
	switch {
	case name == "":
		v.errf(path, "is required")
	case !validName(name):
		v.errf(path, "%q: a %s name may hold only letters, digits, '-', '_' and '.'", name, what)
	default:
		if j, dup := seen[name]; dup {
			v.errf(path, "duplicate %s name %q (also at index %d)", what, name, j)
			return
		}
		seen[name] = i
	}
}

// validName keeps names safe as metric labels, URL path segments and
// state keys.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// checkListenAddress checks "host:port" where host is empty (every
// address), an IP address or localhost, and returns the host.
func checkListenAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("invalid address %q: want host:port, like :8080 or 127.0.0.1:8080", addr)
	}
	if _, err := parsePort(port); err != nil {
		return "", fmt.Errorf("invalid address %q: %w", addr, err)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("invalid address %q: listen on an IP address, localhost or all addresses (\":%s\")", addr, port)
		}
	}
	return host, nil
}

// checkServerAddress checks "host:port" of a server: host is an IP address
// or a DNS name, and the port is not 0.
func checkServerAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port, like 10.0.0.11:8080 or app.internal:8080", addr)
	}
	if n, err := parsePort(port); err != nil || n == 0 {
		return fmt.Errorf("invalid address %q: the port must be 1 to 65535", addr)
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
		return fmt.Errorf("invalid address %q: %q is neither an IP address nor a DNS name", addr, host)
	}
	return nil
}

func parsePort(port string) (int, error) {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || port[0] == '+' {
		return 0, fmt.Errorf("the port must be a number from 0 to 65535, not %q", port)
	}
	return n, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validHostname checks a DNS name: dot-separated labels of letters, digits,
// '-' and '_' (seen in container names), none empty or over 63 bytes.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	return !slices.ContainsFunc(strings.Split(s, "."), func(label string) bool {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return true
		}
		return strings.ContainsFunc(label, func(r rune) bool {
			return !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		})
	})
}

// Backend returns the backend named name, or nil.
func (c *Config) Backend(name string) *Backend {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}

// Listener returns the listener named name, or nil.
func (c *Config) Listener(name string) *Listener {
	for i := range c.Listeners {
		if c.Listeners[i].Name == name {
			return &c.Listeners[i]
		}
	}
	return nil
}

// resolvers checks the DNS servers: ip:port each.
func (v *validator) resolvers(c *Config) {
	for i, r := range c.Resolvers {
		ap, err := netip.ParseAddrPort(r)
		if err != nil || ap.Port() == 0 {
			v.errf(fmt.Sprintf("resolvers[%d]", i), "must be ip:port, like 127.0.0.1:53, not %q", r)
		}
	}
}
