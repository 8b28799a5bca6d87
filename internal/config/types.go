// Package config is Portier's one configuration model: the types a YAML file
// decodes into, their defaults, validation that reports every problem with its
// key path and position, and the diff between two configurations.
//
// Load turns bytes into a validated *Config (or an Errors listing every
// problem); New and the NewXxx constructors build one in code with the same
// defaults, and Validate checks it; Compare says what a reload changes.
//
// It does no I/O beyond reading the bytes it is given and must not import any
// other Portier package: providers, the engine and the admin API all speak
// this model.
package config

import "net/netip"

// Config is a whole Portier configuration.
type Config struct {
	// Admin is the admin API address and its token.
	Admin Admin `yaml:"admin"`
	// State says where runtime state (drain, maintenance, weights) is kept.
	State State `yaml:"state"`
	// Watch reloads the configuration when its file changes (debounced; an
	// editor's write through a temporary file and a rename is one change).
	// Default false: reload with SIGHUP, the admin API or "portier ctl
	// reload".
	Watch bool `yaml:"watch"`
	// Log configures the process log and the access log.
	Log Log `yaml:"log"`
	// Resolvers are the DNS servers (ip:port) that resolve server host
	// names. Default: the system's resolver.
	Resolvers []string `yaml:"resolvers"`
	// ShutdownTimeout is how long in-flight requests may take to finish after
	// SIGTERM or SIGINT before connections are closed. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Tracing propagates W3C trace context and exports spans (tracing.go).
	Tracing Tracing `yaml:"tracing"`
	// ErrorPages configures Portier's own error pages (tracing.go).
	ErrorPages ErrorPages `yaml:"errors"`

	Listeners []Listener `yaml:"listeners"`
	Routes    []Route    `yaml:"routes"`
	Backends  []Backend  `yaml:"backends"`
}

// Admin is the admin endpoint: API, /metrics, /healthz, /readyz, dashboard.
type Admin struct {
	// Address to listen on. Default 127.0.0.1:9901; "off" disables it.
	Address string `yaml:"address"`
	// TokenFile holds the bearer token that mutating calls must present.
	// Default none (then the address must be loopback).
	TokenFile string `yaml:"token_file"`
}

// State is where runtime state is persisted.
type State struct {
	// File is the local state file. Default none (state is not persisted).
	File string `yaml:"file"`
}

// Log configures logging.
type Log struct {
	// Level of the process log: debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Access is where access log lines go: "stdout", "stderr", "off" or a
	// file path. Default stdout.
	Access string `yaml:"access"`
}

// Listener protocols.
const (
	ProtocolHTTP  = "http"
	ProtocolHTTPS = "https"
	ProtocolTCP   = "tcp"
)

// Listener is one address Portier accepts connections on.
type Listener struct {
	// Name identifies the listener in routes, logs and metrics. Required.
	Name string `yaml:"name"`
	// Address is host:port; an empty host means every address. Required.
	Address string `yaml:"address"`
	// Protocol is http, https or tcp. Default http.
	Protocol string `yaml:"protocol"`
	// H2C accepts HTTP/2 with prior knowledge on an http listener. Default false.
	H2C bool `yaml:"h2c"`
	// TLS holds the certificates of an https listener. Required for https.
	TLS *ListenerTLS `yaml:"tls"`
	// Backend is the backend a tcp listener relays every connection to
	// (plain TCP). A tcp listener without one relays by the SNI of its
	// routes instead (TLS passthrough). Default none.
	Backend string `yaml:"backend"`
	// ProxyProtocol accepts a PROXY protocol header from trusted peers.
	ProxyProtocol *ProxyProtocol `yaml:"proxy_protocol"`
	// TrustedProxies are the client networks whose X-Forwarded-*, Forwarded
	// and X-Request-ID headers are kept. Default none: they are replaced.
	TrustedProxies []Prefix `yaml:"trusted_proxies"`
	// Via adds a Via header to requests and responses (RFC 9110 §7.6.3).
	// Default true.
	Via bool `yaml:"via"`
	// Forwarded adds an RFC 7239 Forwarded header besides X-Forwarded-*.
	// Default false.
	Forwarded bool `yaml:"forwarded"`
	// Timeouts for client connections.
	Timeouts ListenerTimeouts `yaml:"timeouts"`
	// Limits on client requests.
	Limits ListenerLimits `yaml:"limits"`
}

func (l *Listener) setDefaults() {
	l.Protocol = ProtocolHTTP
	l.Via = true
	l.Timeouts.setDefaults()
	l.Limits.setDefaults()
}

// ListenerTimeouts bound how long a client may take.
type ListenerTimeouts struct {
	// ReadHeader is the time allowed to read a request's headers. Default 10s.
	ReadHeader Duration `yaml:"read_header"`
	// Idle is how long a keep-alive connection may wait for its next
	// request; on a tcp listener, how long a stream may go without a byte
	// in either direction before both sides are closed. Default 60s.
	Idle Duration `yaml:"idle"`
	// ClientHello is how long a client of a tcp listener that routes by
	// SNI has to send its whole TLS ClientHello; a slower one is dropped
	// and counted. Other listeners do not use it. Default 5s.
	ClientHello Duration `yaml:"client_hello"`
}

func (t *ListenerTimeouts) setDefaults() {
	t.ReadHeader = Duration(10e9)
	t.Idle = Duration(60e9)
	t.ClientHello = Duration(5e9)
}

// ListenerLimits bound what a client may send.
type ListenerLimits struct {
	// MaxHeaderBytes bounds the request header fields; more is answered 431.
	// Default 32KiB.
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// MaxURIBytes bounds the request target; longer is answered 414.
	// Default 8KiB.
	MaxURIBytes Size `yaml:"max_uri_bytes"`
	// MaxBodyBytes bounds a request body; larger is answered 413.
	// Default 0: no limit.
	MaxBodyBytes Size `yaml:"max_body_bytes"`
}

func (l *ListenerLimits) setDefaults() {
	l.MaxHeaderBytes = 32 << 10
	l.MaxURIBytes = 8 << 10
}

// ListenerTLS is the TLS set-up of an https listener.
type ListenerTLS struct {
	// Certificates to serve. The client's SNI picks one by exact name, then
	// by wildcard; otherwise the one marked default, or else the first.
	Certificates []Certificate `yaml:"certificates"`
}

// Certificate is a certificate chain and its key, both PEM files.
type Certificate struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Default serves this certificate when no name matches. Default false.
	Default bool `yaml:"default"`
}

// ProxyProtocol is the PROXY protocol (v1 or v2, told apart by their
// signatures) accepted on a listener: the client address a trusted peer's
// header carries becomes the connection's client address everywhere.
type ProxyProtocol struct {
	// Accept turns it on. Default false.
	Accept bool `yaml:"accept"`
	// Trusted are the networks of the peers (load balancers) whose header
	// is believed; a connection from any other peer that sends one is
	// closed. Required when accept is true: there is no "trust everyone".
	Trusted []Prefix `yaml:"trusted"`
	// Required closes a trusted peer's connection that does not start with
	// a header, as HAProxy's accept-proxy does. Default true; false lets
	// trusted peers also connect without one.
	Required bool `yaml:"required"`
	// Timeout bounds the wait for a trusted peer's header, and for the
	// rest of any header once its signature has begun. Default 5s.
	Timeout Duration `yaml:"timeout"`
}

func (p *ProxyProtocol) setDefaults() {
	p.Required = true
	p.Timeout = Duration(5e9)
}

// Route sends matching requests to a backend or a split of backends.
type Route struct {
	// Name identifies the route in logs and metrics. Required.
	Name string `yaml:"name"`
	// Listeners the route serves. Default: every http and https listener;
	// a route on tcp listeners names them, and only them.
	Listeners []string `yaml:"listeners"`
	// Hosts to match, exact ("shop.example.com") or one leading wildcard
	// label ("*.example.com"). Default: any host.
	Hosts []string `yaml:"hosts"`
	// PathPrefix to match, on segment boundaries: "/api" matches "/api" and
	// "/api/x" but not "/apix". A prefix ending in "/" matches by plain prefix.
	// Default "/".
	PathPrefix string `yaml:"path_prefix"`
	// Methods to match. Default: any method.
	Methods []string `yaml:"methods"`
	// Headers that must be present with exactly these values; "*" matches any
	// value. Default none.
	Headers map[string]string `yaml:"headers"`
	// SNI are the TLS server names a route on tcp listeners matches, for
	// TLS passthrough: exact ("a.example.com") or one leading wildcard
	// label ("*.example.com"), compared without regard to case; an exact
	// name beats a wildcard, a longer wildcard a shorter one. Default
	// none: the listener's default route, which takes the connections no
	// other route's names match (at most one per tcp listener).
	SNI []string `yaml:"sni"`
	// Backend that serves the route. Exactly one of Backend and Split.
	Backend string `yaml:"backend"`
	// Split spreads the route's clients over several backends by weight.
	Split []SplitTarget `yaml:"split"`
	// Sticky keeps a client on the backend of a split it was first sent to.
	Sticky *Sticky `yaml:"sticky"`
	// StripPrefix removes PathPrefix from the path sent upstream. Default false.
	StripPrefix bool `yaml:"strip_prefix"`
	// AddPrefix is put in front of the path sent upstream (after any strip).
	// Default none.
	AddPrefix string `yaml:"add_prefix"`
}

func (r *Route) setDefaults() { r.PathPrefix = "/" }

// SplitTarget is one variant of a split route.
type SplitTarget struct {
	Backend string `yaml:"backend"`
	// Weight of this variant relative to the others. Required, 0 to 10000.
	Weight int `yaml:"weight"`
}

// Sticky is the cookie that records a client's variant of a split.
type Sticky struct {
	// Cookie name. Default portier_variant.
	Cookie string `yaml:"cookie"`
}

func (s *Sticky) setDefaults() { s.Cookie = "portier_variant" }

// Balancing policies.
const (
	BalanceRoundRobin = "round_robin"
	BalanceLeastConn  = "least_conn"
	BalanceRandomTwo  = "random_two"
	BalanceHash       = "hash"
)

// Backend is a group of servers that serve the same thing.
type Backend struct {
	// Name identifies the backend. Required.
	Name string `yaml:"name"`
	// Balance is round_robin, least_conn, random_two or hash.
	// Default round_robin.
	Balance string `yaml:"balance"`
	// HashKey is what hash balancing hashes: client_ip, header:NAME,
	// cookie:NAME or path. Default client_ip.
	HashKey string `yaml:"hash_key"`
	// Health is the active health check. Default none.
	Health *Health `yaml:"health"`
	// Passive ejects servers that fail real traffic. Default none.
	Passive *Passive `yaml:"passive"`
	// InitialState is the state of a new server: up or down. Default down
	// when Health is set, else up.
	InitialState string `yaml:"initial_state"`
	// SlowStart ramps a server that comes up to its full weight over this
	// long. Default 0: no ramp.
	SlowStart Duration `yaml:"slow_start"`
	// Retries is how many other servers a request may be tried on after a
	// failed connect, or, for an idempotent request without a body, a
	// connection reset before any response byte. Default 2.
	Retries int `yaml:"retries"`
	// Timeouts towards the servers.
	Timeouts BackendTimeouts `yaml:"timeouts"`
	// MaxIdleConns is the number of idle keep-alive connections kept per
	// server. Default 64.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// PreserveHost sends the client's Host header upstream; when false the
	// server's address is sent. Default true.
	PreserveHost bool `yaml:"preserve_host"`
	// HTTP2 speaks HTTP/2 to the servers: with prior knowledge (h2c) without
	// TLS, by ALPN with TLS. Default false.
	HTTP2 bool `yaml:"http2"`
	// TLS connects to the servers over TLS. Default none: plain TCP.
	TLS *BackendTLS `yaml:"tls"`
	// SendProxyProtocol sends a PROXY header to servers: none, v1 or v2.
	// Default none.
	SendProxyProtocol string `yaml:"send_proxy_protocol"`
	// DrainTimeout is how long a draining or removed server's long-lived
	// connections (WebSockets, TCP streams) may go on before they are
	// closed. Default 30s.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// ResolveInterval is how often the host names of servers are resolved
	// again; traffic follows a changed address without a reload.
	// Default 30s.
	ResolveInterval Duration `yaml:"resolve_interval"`
	// Servers of the backend. At least one.
	Servers []Server `yaml:"servers"`
}

func (b *Backend) setDefaults() {
	b.Balance = BalanceRoundRobin
	b.Retries = 2
	b.MaxIdleConns = 64
	b.PreserveHost = true
	b.SendProxyProtocol = "none"
	b.ResolveInterval = Duration(30e9)
	b.DrainTimeout = Duration(30e9)
	b.Timeouts.setDefaults()
}

// BackendTimeouts bound how long a server may take.
type BackendTimeouts struct {
	// Connect bounds dialling a server. Default 5s.
	Connect Duration `yaml:"connect"`
	// ResponseHeader bounds the wait for the response headers after the
	// request was sent; past it the client gets 504. Default 60s.
	ResponseHeader Duration `yaml:"response_header"`
	// Idle closes a pooled connection unused for this long. Default 90s.
	Idle Duration `yaml:"idle"`
}

func (t *BackendTimeouts) setDefaults() {
	t.Connect = Duration(5e9)
	t.ResponseHeader = Duration(60e9)
	t.Idle = Duration(90e9)
}

// BackendTLS is TLS towards the servers.
type BackendTLS struct {
	// ServerName to send and verify. Default: the host of the address.
	ServerName string `yaml:"server_name"`
	// CAFile verifies the servers. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify does not verify the servers. Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Health is an active health check.
type Health struct {
	// Path of an HTTP check. Exactly one of Path and TCP.
	Path string `yaml:"path"`
	// TCP checks by connecting only. Default false.
	TCP bool `yaml:"tcp"`
	// Method of the HTTP check. Default GET.
	Method string `yaml:"method"`
	// Host header of the HTTP check. Default: the server's address.
	Host string `yaml:"host"`
	// Interval between checks while steady. Default 2s.
	Interval Duration `yaml:"interval"`
	// FastInterval while a server is changing state or not yet checked.
	// Default 500ms.
	FastInterval Duration `yaml:"fast_interval"`
	// DownInterval while a server is fully down. Default 5s.
	DownInterval Duration `yaml:"down_interval"`
	// Timeout of one check. Default 1s.
	Timeout Duration `yaml:"timeout"`
	// Rise consecutive passes bring a server up. Default 2.
	Rise int `yaml:"rise"`
	// Fall consecutive failures take a server down. Default 3.
	Fall int `yaml:"fall"`
	// ExpectStatus lists passing statuses: codes ("200") or ranges
	// ("200-399"). Default 200-399.
	ExpectStatus []string `yaml:"expect_status"`
	// ExpectBody is a substring the body must contain. Default none.
	ExpectBody string `yaml:"expect_body"`
}

func (h *Health) setDefaults() {
	h.Method = "GET"
	h.Interval = Duration(2e9)
	h.FastInterval = Duration(500e6)
	h.DownInterval = Duration(5e9)
	h.Timeout = Duration(1e9)
	h.Rise = 2
	h.Fall = 3
	h.ExpectStatus = []string{"200-399"}
}

// Passive ejects a server after failures of real traffic.
type Passive struct {
	// ConsecutiveFailures eject the server. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// EjectFor is how long an ejected server rests. Default 30s.
	EjectFor Duration `yaml:"eject_for"`
	// Count5xx counts 5xx responses as failures. Default false.
	Count5xx bool `yaml:"count_5xx"`
}

func (p *Passive) setDefaults() {
	p.ConsecutiveFailures = 5
	p.EjectFor = Duration(30e9)
}

// Server is one server of a backend.
type Server struct {
	// Name identifies the server within its backend. Required.
	Name string `yaml:"name"`
	// Address is host:port; the host may be a DNS name. Required.
	Address string `yaml:"address"`
	// Weight relative to the backend's other servers, 0 to 1000; 0 takes no
	// new traffic. Default 100.
	Weight int `yaml:"weight"`
	// SendProxyProtocol overrides the backend's send_proxy_protocol for this
	// server: none, v1 or v2, as HAProxy's per-server send-proxy and
	// send-proxy-v2. Default empty: the backend's.
	SendProxyProtocol string `yaml:"send_proxy_protocol"`
}

func (s *Server) setDefaults() { s.Weight = 100 }

// Prefix is a CIDR network; a bare address means that address alone.
type Prefix struct{ netip.Prefix }
