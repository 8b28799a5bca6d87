package config

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxSplitWeight bounds one variant's weight in a split.
const maxSplitWeight = 10000

// ListenersOf returns the names of the listeners r serves: its own list, or
// else every http and https listener.
func (c *Config) ListenersOf(r *Route) []string {
	if len(r.Listeners) > 0 {
		return r.Listeners
	}
	var names []string
	for _, l := range c.Listeners {
		if l.Protocol == ProtocolHTTP || l.Protocol == ProtocolHTTPS {
			names = append(names, l.Name)
		}
	}
	return names
}

func (v *validator) routes(c *Config) {
	names := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := "routes[" + strconv.Itoa(i) + "]"
		v.name(p+".name", r.Name, "route", names, i)
		v.routeListeners(c, p, r)
		v.routeMatch(p, r)
		v.routeTarget(c, p, r)
		if r.AddPrefix != "" && (!strings.HasPrefix(r.AddPrefix, "/") || strings.ContainsAny(r.AddPrefix, "?# \t")) {
			v.errf(p+".add_prefix", "%q must start with / and hold no query, fragment or spaces", r.AddPrefix)
		}
	}
	v.sameTraffic(c)
}

func (v *validator) routeListeners(c *Config, p string, r *Route) {
	seen := map[string]bool{}
	for j, name := range r.Listeners {
		lp := p + ".listeners[" + strconv.Itoa(j) + "]"
		l := c.Listener(name)
		switch {
		case seen[name]:
			v.errf(lp, "listener %q is listed twice", name)
		case l == nil:
			v.errf(lp, "unknown listener %q", name)
		}
		seen[name] = true
	}
	if len(r.Listeners) == 0 && len(c.ListenersOf(r)) == 0 && len(c.Listeners) > 0 {
		v.errf(p+".listeners", "there is no http or https listener for this route to serve")
	}
}

func (v *validator) routeMatch(p string, r *Route) {
	for j, h := range r.Hosts {
		hp := p + ".hosts[" + strconv.Itoa(j) + "]"
		if msg := checkHostPattern(h); msg != "" {
			v.errf(hp, "%q %s", h, msg)
		} else if slices.Index(r.Hosts, h) < j {
			v.errf(hp, "host %q is listed twice", h)
		}
	}
	pp := r.PathPrefix
	if !strings.HasPrefix(pp, "/") || strings.ContainsAny(pp, "?# \t\r\n") {
		v.errf(p+".path_prefix", "%q must start with / and hold no query, fragment or spaces", pp)
	}
	for j, m := range r.Methods {
		mp := p + ".methods[" + strconv.Itoa(j) + "]"
		switch {
		case !isToken(m):
			v.errf(mp, "%q is not a valid method", m)
		case m != strings.ToUpper(m):
			v.errf(mp, "%q: methods are case-sensitive; write %q", m, strings.ToUpper(m))
		case slices.Index(r.Methods, m) < j:
			v.errf(mp, "method %q is listed twice", m)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		val := r.Headers[name]
		if !isToken(name) {
			v.errf(p+".headers."+name, "%q is not a valid header name", name)
		}
		if strings.ContainsAny(val, "\x00\r\n") {
			v.errf(p+".headers."+name, "a header value cannot hold NUL, CR or LF")
		}
	}
}

// checkHostPattern checks an exact host name or IP address, or a leading
// wildcard label ("*.example.com"); it returns what is wrong, or "".
func checkHostPattern(h string) string {
	name := strings.TrimPrefix(h, "*.")
	switch {
	case h == "" || h == "*":
		return "is not a host; leave hosts out to match any host"
	case strings.Contains(name, "*"):
		return "may hold a wildcard only as its whole first label, like *.example.com"
	case strings.Contains(name, ":") && !strings.HasPrefix(h, "*."):
		if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
			return ""
		}
		return "must not include a port: a route matches the host whatever the port"
	case name != strings.ToLower(name):
		return "must be lower case (host names match case-insensitively)"
	case !validHostname(name):
		return "is not a valid host name"
	}
	return ""
}

func (v *validator) routeTarget(c *Config, p string, r *Route) {
	switch {
	case r.Backend != "" && len(r.Split) > 0:
		v.errf(p, "set either backend or split, not both")
	case r.Backend == "" && len(r.Split) == 0:
		v.errf(p+".backend", "a route needs a backend or a split")
	case r.Backend != "" && c.Backend(r.Backend) == nil:
		v.errf(p+".backend", "unknown backend %q", r.Backend)
	}
	if r.Sticky != nil && len(r.Split) == 0 {
		v.errf(p+".sticky", "only applies to a split")
	}
	if r.Sticky != nil && !isToken(r.Sticky.Cookie) {
		v.errf(p+".sticky.cookie", "%q is not a valid cookie name", r.Sticky.Cookie)
	}
	if len(r.Split) == 0 {
		return
	}
	total := 0
	for j, t := range r.Split {
		sp := p + ".split[" + strconv.Itoa(j) + "]"
		switch {
		case t.Backend == "":
			v.errf(sp+".backend", "is required")
		case c.Backend(t.Backend) == nil:
			v.errf(sp+".backend", "unknown backend %q", t.Backend)
		case slices.IndexFunc(r.Split, func(o SplitTarget) bool { return o.Backend == t.Backend }) < j:
			v.errf(sp+".backend", "backend %q is already in this split", t.Backend)
		}
		if t.Weight < 0 || t.Weight > maxSplitWeight {
			v.errf(sp+".weight", "must be from 0 to %d, not %d", maxSplitWeight, t.Weight)
		} else {
			total += t.Weight
		}
	}
	if total == 0 {
		v.errf(p+".split", "the weights add up to 0: no variant would get any traffic")
	}
}

// matchKey is one combination of what a route matches on.
type matchKey struct{ listener, host, method, path, headers string }

// sameTraffic refuses two routes that match exactly the same requests:
// precedence could not choose between them, so one would be dead and the
// file would not say which.
func (v *validator) sameTraffic(c *Config) {
	seen := map[matchKey]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		hosts, methods := orAny(r.Hosts), orAny(r.Methods)
		hdrs := headerKey(r.Headers)
		reported := map[int]bool{}
		for _, l := range c.ListenersOf(r) {
			if c.isTCP(l) {
				continue // routes by sni; see tcpRoutes
			}
			for _, h := range hosts {
				for _, m := range methods {
					k := matchKey{l, h, m, r.PathPrefix, hdrs}
					j, dup := seen[k]
					if !dup {
						seen[k] = i
						continue
					}
					if j != i && !reported[j] {
						reported[j] = true
						v.errf("routes["+strconv.Itoa(i)+"]", "matches exactly the same requests as route %q (routes[%d]) on listener %q%s",
							c.Routes[j].Name, j, l, describeMatch(h, m))
					}
				}
			}
		}
	}
}

func orAny(s []string) []string {
	if len(s) == 0 {
		return []string{""}
	}
	return s
}

func describeMatch(host, method string) string {
	var s string
	if host != "" {
		s += ", host " + strconv.Quote(host)
	}
	if method != "" {
		s += ", method " + method
	}
	return s
}

// headerKey writes header matchers in one canonical order; names match
// case-insensitively.
func headerKey(h map[string]string) string {
	lines := make([]string, 0, len(h))
	for k, val := range h {
		lines = append(lines, strings.ToLower(k)+"\x00"+val)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
