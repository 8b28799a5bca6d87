package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// isTCP reports whether the listener named name is a tcp listener.
func (c *Config) isTCP(name string) bool {
	l := c.Listener(name)
	return l != nil && l.Protocol == ProtocolTCP
}

// tcpListener checks what a tcp listener relays to: its backend (plain
// TCP) or the routes that list it (TLS passthrough by SNI), one or the
// other.
func (v *validator) tcpListener(c *Config, p string, l *Listener) {
	routed := slices.IndexFunc(c.Routes, func(r Route) bool { return slices.Contains(r.Listeners, l.Name) })
	switch {
	case l.Backend != "" && routed >= 0:
		v.errf(p+".backend", "listener %q is also listed by route %q (routes[%d]): a tcp listener relays either to its backend "+
			"or by the sni of its routes, not both", l.Name, c.Routes[routed].Name, routed)
	case l.Backend == "" && routed < 0:
		v.errf(p+".backend", "a tcp listener needs a backend to relay to (plain TCP), or routes that list it (TLS passthrough by sni)")
	case l.Backend != "" && c.Backend(l.Backend) == nil:
		v.errf(p+".backend", "unknown backend %q", l.Backend)
	}
}

// tcpRoutes checks the routes on tcp listeners: they match by sni only,
// relay to one backend, and on each listener no two of them claim the
// same name or the default. It also checks that the backends tcp
// listeners relay to can carry a byte stream.
func (v *validator) tcpRoutes(c *Config) {
	// byName[listener][sni] and defaults[listener] are the index of the
	// route that claimed them.
	byName := map[string]map[string]int{}
	defaults := map[string]int{}
	users := map[string]string{} // backend -> the first tcp user, for messages
	for i := range c.Listeners {
		if l := &c.Listeners[i]; l.Protocol == ProtocolTCP && l.Backend != "" && users[l.Backend] == "" {
			users[l.Backend] = fmt.Sprintf("tcp listener %q", l.Name)
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := "routes[" + strconv.Itoa(i) + "]"
		var tcp []string
		for _, name := range r.Listeners {
			if c.isTCP(name) && !slices.Contains(tcp, name) {
				tcp = append(tcp, name)
			}
		}
		if len(tcp) == 0 {
			if len(r.SNI) > 0 {
				v.errf(p+".sni", "only applies to routes on tcp listeners (TLS passthrough); list them in listeners")
			}
			continue
		}
		for j, name := range r.Listeners {
			if l := c.Listener(name); l != nil && l.Protocol != ProtocolTCP {
				v.errf(p+".listeners["+strconv.Itoa(j)+"]", "listener %q is an %s listener; a route on tcp listener %q serves tcp listeners only",
					name, l.Protocol, tcp[0])
			}
		}
		v.tcpRouteKeys(p, r, tcp[0])
		v.tcpRouteNames(c, p, i, tcp, byName, defaults)
		if r.Backend != "" && users[r.Backend] == "" {
			users[r.Backend] = fmt.Sprintf("route %q on tcp listener %q", r.Name, tcp[0])
		}
	}
	for i := range c.Backends {
		if user := users[c.Backends[i].Name]; user != "" {
			v.tcpBackend("backends["+strconv.Itoa(i)+"]", &c.Backends[i], user)
		}
	}
}

// tcpRouteKeys refuses the keys of a route that only HTTP has.
func (v *validator) tcpRouteKeys(p string, r *Route, listener string) {
	refuse := func(key, what string) {
		v.errf(p+"."+key, "a route on tcp listener %q %s", listener, what)
	}
	if len(r.Hosts) > 0 {
		refuse("hosts", "matches by sni, not hosts: a TLS stream passes through unread")
	}
	if r.PathPrefix != "/" && r.PathPrefix != "" {
		refuse("path_prefix", "relays a byte stream, which has no path")
	}
	if len(r.Methods) > 0 {
		refuse("methods", "relays a byte stream, which has no method")
	}
	if len(r.Headers) > 0 {
		refuse("headers", "relays a byte stream, which has no headers")
	}
	if len(r.Split) > 0 {
		refuse("split", "relays to one backend: set backend")
	}
	if r.Sticky != nil {
		refuse("sticky", "has no cookies to keep a client on a variant")
	}
	if r.StripPrefix {
		refuse("strip_prefix", "relays a byte stream, which has no path")
	}
	if r.AddPrefix != "" {
		refuse("add_prefix", "relays a byte stream, which has no path")
	}
}

// tcpRouteNames checks the sni names of route i and records them, and the
// default route, per listener.
func (v *validator) tcpRouteNames(c *Config, p string, i int, tcp []string, byName map[string]map[string]int, defaults map[string]int) {
	r := &c.Routes[i]
	for j, name := range r.SNI {
		sp := p + ".sni[" + strconv.Itoa(j) + "]"
		if msg := checkHostPattern(name); msg != "" {
			v.errf(sp, "%q %s", name, msg)
			continue
		}
		if _, err := netip.ParseAddr(name); err == nil {
			v.errf(sp, "%q is an IP address, which a client never sends as sni (RFC 6066 §3)", name)
			continue
		}
		if slices.Index(r.SNI, name) < j {
			v.errf(sp, "name %q is listed twice", name)
			continue
		}
		for _, l := range tcp {
			if byName[l] == nil {
				byName[l] = map[string]int{}
			}
			if k, dup := byName[l][name]; dup {
				v.errf(sp, "%q is already routed by route %q (routes[%d]) on listener %q", name, c.Routes[k].Name, k, l)
				continue
			}
			byName[l][name] = i
		}
	}
	if len(r.SNI) > 0 {
		return
	}
	for _, l := range tcp {
		if k, dup := defaults[l]; dup {
			v.errf(p, "listener %q already has a default route (one without sni): route %q (routes[%d])", l, c.Routes[k].Name, k)
			continue
		}
		defaults[l] = i
	}
}

// tcpBackend refuses the settings a backend relaying byte streams cannot
// honour: Portier neither speaks TLS nor HTTP to its servers then.
func (v *validator) tcpBackend(p string, b *Backend, user string) {
	if b.TLS != nil {
		v.errf(p+".tls", "%s relays bytes as they are (TLS passes through); tls, which makes Portier speak TLS to the servers, does not apply", user)
	}
	if b.HTTP2 {
		v.errf(p+".http2", "%s relays bytes as they are; http2 does not apply", user)
	}
	if kind, _, err := ParseHashKey(b.HashKey); err == nil && b.Balance == BalanceHash && kind != HashClientIP {
		v.errf(p+".hash_key", "%s has no headers, cookies or path to hash; use client_ip", user)
	}
}
