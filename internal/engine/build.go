package engine

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/portier/portier/internal/balancer"
	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/health"
	"github.com/portier/portier/internal/proxy"
	"github.com/portier/portier/internal/router"
	"github.com/portier/portier/internal/upstream"
)

// Snapshot is everything one configuration needs to serve, built before
// anything listens: a failure here leaves whatever is running untouched.
type Snapshot struct {
	Config   *config.Config
	Backends map[string]*proxy.Backend
	// Sites and TLS are keyed by listener name.
	Sites map[string]*proxy.Site
	TLS   map[string]*tls.Config
	// TCPSites are the tcp listeners' routing, keyed by listener name.
	TCPSites map[string]*proxy.TCPSite
	// Monitors run the health checks, by backend name, once started.
	Monitors map[string]*health.Monitor

	backendTLS map[string]*tls.Config
	resolvers  []*upstream.Resolver
	// notify is Options.OnStateChange, or nil.
	notify func()
}

// Build turns a validated configuration into a Snapshot: it loads
// certificates, creates servers with their connection pools and balancers,
// and compiles each listener's routing.
func Build(cfg *config.Config) (*Snapshot, error) { return build(cfg, nil) }

// build is Build keeping the servers of prev (see carried).
func build(cfg *config.Config, prev carried) (*Snapshot, error) {
	s := &Snapshot{
		Config:   cfg,
		Backends: make(map[string]*proxy.Backend, len(cfg.Backends)),
		Sites:    make(map[string]*proxy.Site, len(cfg.Listeners)),
		TLS:      make(map[string]*tls.Config),
		TCPSites: make(map[string]*proxy.TCPSite),

		backendTLS: make(map[string]*tls.Config),
	}
	for i := range cfg.Backends {
		b, tc, err := buildBackend(&cfg.Backends[i], prev)
		if err != nil {
			return nil, fmt.Errorf("backends[%d] (%s): %w", i, cfg.Backends[i].Name, err)
		}
		s.Backends[b.Name] = b
		s.backendTLS[b.Name] = tc
	}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		if l.Protocol == config.ProtocolHTTPS {
			tc, err := buildListenerTLS(l.TLS)
			if err != nil {
				return nil, fmt.Errorf("listeners[%d] (%s): %w", i, l.Name, err)
			}
			s.TLS[l.Name] = tc
		}
		if l.Protocol == config.ProtocolTCP {
			site, err := buildTCPSite(cfg, l, s.Backends)
			if err != nil {
				return nil, fmt.Errorf("listeners[%d] (%s): %w", i, l.Name, err)
			}
			s.TCPSites[l.Name] = site
			continue
		}
		site, err := buildSite(cfg, l.Name, s.Backends)
		if err != nil {
			return nil, fmt.Errorf("listeners[%d] (%s): %w", i, l.Name, err)
		}
		s.Sites[l.Name] = site
	}
	return s, nil
}

func buildSite(cfg *config.Config, listener string, backends map[string]*proxy.Backend) (*proxy.Site, error) {
	site := &proxy.Site{}
	var specs []router.Route
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		if !slices.Contains(cfg.ListenersOf(r), listener) {
			continue
		}
		pr := &proxy.Route{
			Name:        r.Name,
			PathPrefix:  r.PathPrefix,
			StripPrefix: r.StripPrefix,
			AddPrefix:   r.AddPrefix,
		}
		if r.Backend != "" {
			pr.Backend = backends[r.Backend]
		}
		for _, t := range r.Split {
			pr.Split = append(pr.Split, proxy.Variant{Backend: backends[t.Backend], Weight: t.Weight})
		}
		if r.Sticky != nil {
			pr.StickyCookie = r.Sticky.Cookie
		}
		specs = append(specs, router.Route{
			ID:         len(site.Routes),
			Hosts:      r.Hosts,
			PathPrefix: r.PathPrefix,
			Methods:    r.Methods,
			Headers:    r.Headers,
		})
		site.Routes = append(site.Routes, pr)
	}
	rt, err := router.New(specs)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	site.Router = rt
	return site, nil
}

func buildBackend(c *config.Backend, prev carried) (*proxy.Backend, *tls.Config, error) {
	b := &proxy.Backend{
		Name:         c.Name,
		Retries:      c.Retries,
		PreserveHost: c.PreserveHost,
		Scheme:       "http",
	}
	var tc *tls.Config
	if c.TLS != nil {
		b.Scheme = "https"
		var err error
		if tc, err = buildBackendTLS(c.TLS); err != nil {
			return nil, nil, err
		}
	}
	b.HashKind, b.HashName = hashKey(c)
	r := reachOf(c)
	for _, sc := range c.Servers {
		keep, inherit := prev.reuse(c, &sc, r)
		if keep != nil {
			prev.adopt(keep, c, &sc)
			b.Servers = append(b.Servers, keep)
			continue
		}
		// A server that must earn its traffic starts pending: no request
		// reaches it until its health check has passed rise times.
		st := upstream.Up
		if c.StartsDown() {
			st = upstream.Pending
		}
		s := upstream.NewServer(c.Name, sc.Name, sc.Address, sc.Weight, st)
		stc := tc
		if tc != nil && tc.ServerName == "" {
			stc = tc.Clone()
			stc.ServerName = hostOf(sc.Address)
		}
		// The identity holds the PROXY protocol version the server is
		// sent: its own send_proxy_protocol, else the backend's.
		pp, err := upstream.ParseProxyVersion(c.Identity(&sc).SendProxyProtocol)
		if err != nil {
			return nil, nil, fmt.Errorf("server %s: %w", sc.Name, err)
		}
		s.Transport = upstream.NewTransport(upstream.TransportOptions{
			Address:               sc.Address,
			Target:                s.DialAddress,
			ConnectTimeout:        c.Timeouts.Connect.D(),
			ResponseHeaderTimeout: c.Timeouts.ResponseHeader.D(),
			IdleTimeout:           c.Timeouts.Idle.D(),
			MaxIdleConns:          c.MaxIdleConns,
			TLS:                   stc,
			HTTP2:                 c.HTTP2,
			SendProxy:             pp,
		})
		if inherit != nil {
			prev.inherited(inherit)
			s.Inherit(inherit)
			prev.adopt(s, c, &sc)
		}
		b.Servers = append(b.Servers, s)
	}
	bal, err := balancer.New(c.Balance, b.Servers)
	if err != nil {
		return nil, nil, err
	}
	b.Balancer = bal
	return b, tc, nil
}

func hashKey(c *config.Backend) (proxy.HashKind, string) {
	if c.Balance != config.BalanceHash {
		return proxy.HashNone, ""
	}
	// Validation has already refused a malformed key.
	kind, name, _ := config.ParseHashKey(c.HashKey)
	switch kind {
	case config.HashPath:
		return proxy.HashPath, ""
	case config.HashHeader:
		return proxy.HashHeader, name
	case config.HashCookie:
		return proxy.HashCookie, name
	}
	return proxy.HashClientIP, ""
}

func buildBackendTLS(c *config.BackendTLS) (*tls.Config, error) {
	tc := &tls.Config{
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// trusted converts configured prefixes for the proxy.
func trusted(ps []config.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Prefix)
	}
	return out
}
