package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Initial server states.
const (
	StateUp   = "up"
	StateDown = "down"
)

// Hash keys that take no name; the others are "header:NAME" and
// "cookie:NAME".
const (
	HashClientIP = "client_ip"
	HashPath     = "path"
	HashHeader   = "header"
	HashCookie   = "cookie"
)

// PROXY protocol versions sent to servers.
const (
	ProxyProtocolNone = "none"
	ProxyProtocolV1   = "v1"
	ProxyProtocolV2   = "v2"
)

// AdminOff is the admin address that disables the admin endpoint.
const AdminOff = "off"

// New returns a configuration with every default set and nothing in it.
// Build a configuration in code from New and the NewXxx constructors, so
// that each part starts from the defaults a file would get.
func New() *Config {
	return &Config{
		Admin:           Admin{Address: "127.0.0.1:9901"},
		Log:             Log{Level: "info", Access: "stdout"},
		ShutdownTimeout: Duration(30e9),
		Tracing:         newTracing(),
	}
}

// NewListener returns an http listener on address with the defaults set.
func NewListener(name, address string) Listener {
	l := Listener{Name: name, Address: address}
	l.setDefaults()
	return l
}

// NewRoute returns a route of every request on the http and https
// listeners to backend.
func NewRoute(name, backend string) Route {
	r := Route{Name: name, Backend: backend}
	r.setDefaults()
	return r
}

// NewBackend returns a backend of servers with the defaults set.
func NewBackend(name string, servers ...Server) Backend {
	b := Backend{Name: name, Servers: servers}
	b.setDefaults()
	return b
}

// NewServer returns a server with the default weight.
func NewServer(name, address string) Server {
	s := Server{Name: name, Address: address}
	s.setDefaults()
	return s
}

// NewHealth returns an HTTP health check of path with the defaults set.
func NewHealth(path string) *Health {
	h := &Health{Path: path}
	h.setDefaults()
	return h
}

// NewPassive returns passive checking with the defaults set.
func NewPassive() *Passive {
	p := &Passive{}
	p.setDefaults()
	return p
}

// NewSticky returns sticky splitting with the default cookie.
func NewSticky() *Sticky {
	s := &Sticky{}
	s.setDefaults()
	return s
}

// NewProxyProtocol returns PROXY protocol accept from the trusted networks,
// with the defaults set (required, 5s timeout).
func NewProxyProtocol(trusted ...Prefix) *ProxyProtocol {
	p := &ProxyProtocol{Accept: true, Trusted: trusted}
	p.setDefaults()
	return p
}

// initialState is the default InitialState: a server must prove itself
// healthy first when there is a check to prove it with.
func (b *Backend) initialState() string {
	if b.Health != nil {
		return StateDown
	}
	return StateUp
}

// StartsDown reports whether a new server of b takes no traffic until its
// health check passes. An empty InitialState means the default.
func (b *Backend) StartsDown() bool {
	s := b.InitialState
	if s == "" {
		s = b.initialState()
	}
	return s == StateDown
}

// ParseHashKey splits a hash key into its kind (client_ip, path, header or
// cookie) and, for header and cookie, the name. An empty key is client_ip.
func ParseHashKey(key string) (kind, name string, err error) {
	switch key {
	case "", HashClientIP:
		return HashClientIP, "", nil
	case HashPath:
		return HashPath, "", nil
	}
	kind, name, ok := strings.Cut(key, ":")
	if !ok || (kind != HashHeader && kind != HashCookie) {
		return "", "", fmt.Errorf("invalid hash key %q: want client_ip, path, header:NAME or cookie:NAME", key)
	}
	if !isToken(name) {
		return "", "", fmt.Errorf("invalid hash key %q: %q is not a valid %s name", key, name, kind)
	}
	return kind, name, nil
}

// ParseStatusRange reads an expected status, "200" or "200-399", as an
// inclusive range.
func ParseStatusRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := lo, error(nil)
	if isRange {
		hi, err2 = strconv.Atoi(strings.TrimSpace(b))
	}
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("invalid status %q: want a code like 200 or a range like 200-399", s)
	case lo < 100 || hi > 599:
		return 0, 0, fmt.Errorf("invalid status %q: codes run from 100 to 599", s)
	case lo > hi:
		return 0, 0, fmt.Errorf("invalid status range %q: %d is above %d", s, lo, hi)
	}
	return lo, hi, nil
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2): a method,
// a header name or a cookie name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
