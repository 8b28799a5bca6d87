// Package router maps a request (host, path, method, headers) to the route
// that serves it, and a TLS connection's server name (SNI) to the route
// that relays it (sni.go, by the same host rules). A Router is built once
// per configuration and is immutable and safe for concurrent use; Match
// takes no lock and does not allocate.
//
// # Precedence
//
// A route matches a request when every matcher it has matches: one of its
// hosts, its path prefix, one of its methods and all of its headers. When
// several routes match, the winner is decided by, in order:
//
//  1. the host: a route naming the exact host beats a route whose wildcard
//     ("*.example.com") covers it, a longer wildcard suffix beats a shorter
//     one, and any host match beats a route that names no host at all;
//  2. the longer path prefix;
//  3. more matchers: a method list counts as one, each header as one;
//  4. the lower ID (the route that comes first in the configuration).
//
// Hosts are compared without their port, without a trailing dot and without
// regard to letter case. "*.example.com" matches "a.example.com" and
// "a.b.example.com" but not "example.com". A path prefix is segment-aware:
// "/api" matches "/api", "/api/" and "/api/x" but not "/apix"; a prefix that
// ends in "/" matches by plain string prefix, and "/" matches every path.
// Methods and header values are compared exactly; header names are
// canonicalised (textproto.CanonicalMIMEHeaderKey) when the router is built.
//
// It imports nothing of Portier's.
package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Route is what a route matches on. ID is the caller's index for the route;
// Match returns it.
type Route struct {
	ID int
	// Hosts are exact names or "*.suffix" wildcards; empty matches any host.
	Hosts []string
	// PathPrefix, segment-aware unless it ends in "/"; empty means "/".
	PathPrefix string
	// Methods; empty matches any method.
	Methods []string
	// Headers that must be present with these values; "*" matches any value.
	Headers map[string]string
}

// ErrInvalidRoute is wrapped by every error New returns.
var ErrInvalidRoute = errors.New("invalid route")

// Router matches requests to routes. The zero value matches nothing.
type Router struct {
	// exact maps a normalised host to the routes naming it, best first.
	exact map[string][]candidate
	// wildcards maps a wildcard's suffix (".example.com" for
	// "*.example.com") to its routes, best first. Match looks up each
	// suffix of the host, longest first, which walks the wildcard tiers in
	// precedence order in as many lookups as the host has labels.
	wildcards map[string][]candidate
	// any holds the routes that name no host, best first.
	any []candidate
}

// candidate is one route prepared for matching within a host tier.
type candidate struct {
	id       int
	prefix   string
	segment  bool // prefix must end at a segment boundary
	all      bool // prefix is "/": every path matches
	methods  []string
	headers  []headerMatcher
	matchers int
}

type headerMatcher struct {
	name  string // canonical
	value string
	any   bool // value was "*"
}

// New builds a router over routes. It returns an error wrapping
// ErrInvalidRoute when a host or path prefix is malformed.
func New(routes []Route) (*Router, error) {
	r := &Router{exact: make(map[string][]candidate), wildcards: make(map[string][]candidate)}
	for i := range routes {
		rt := &routes[i]
		c, err := newCandidate(rt)
		if err != nil {
			return nil, err
		}
		if len(rt.Hosts) == 0 {
			r.any = append(r.any, c)
			continue
		}
		seen := make(map[string]bool, len(rt.Hosts))
		for _, h := range rt.Hosts {
			name, wildcard, err := normalizePattern(h)
			if err != nil {
				return nil, fmt.Errorf("router: route %d: host %q: %w", rt.ID, h, err)
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			if wildcard {
				r.wildcards[name] = append(r.wildcards[name], c)
			} else {
				r.exact[name] = append(r.exact[name], c)
			}
		}
	}
	for _, cands := range r.exact {
		sortCandidates(cands)
	}
	for _, cands := range r.wildcards {
		sortCandidates(cands)
	}
	sortCandidates(r.any)
	return r, nil
}

func newCandidate(rt *Route) (candidate, error) {
	prefix := rt.PathPrefix
	if prefix == "" {
		prefix = "/"
	}
	if prefix[0] != '/' {
		return candidate{}, fmt.Errorf("router: route %d: path prefix %q: must start with \"/\": %w", rt.ID, prefix, ErrInvalidRoute)
	}
	c := candidate{
		id:      rt.ID,
		prefix:  prefix,
		segment: !strings.HasSuffix(prefix, "/"),
		all:     prefix == "/",
		methods: slices.Clone(rt.Methods),
	}
	for name, value := range rt.Headers {
		if name == "" {
			return candidate{}, fmt.Errorf("router: route %d: empty header name: %w", rt.ID, ErrInvalidRoute)
		}
		c.headers = append(c.headers, headerMatcher{
			name:  textproto.CanonicalMIMEHeaderKey(name),
			value: value,
			any:   value == "*",
		})
	}
	// Map order is random; a fixed order keeps matching cost reproducible.
	slices.SortFunc(c.headers, func(a, b headerMatcher) int { return strings.Compare(a.name, b.name) })
	c.matchers = len(c.headers)
	if len(c.methods) > 0 {
		c.matchers++
	}
	return c, nil
}

// sortCandidates orders one tier: longer prefix, then more matchers, then
// lower ID.
func sortCandidates(cands []candidate) {
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(len(b.prefix), len(a.prefix)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.matchers, a.matchers); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}

// normalizePattern lower-cases a configured host and strips its trailing
// dot. For "*.example.com" it returns ".example.com" and true.
func normalizePattern(h string) (string, bool, error) {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	wildcard := false
	if strings.HasPrefix(h, "*.") {
		wildcard = true
		h = h[1:]
		if len(h) < 2 {
			return "", false, fmt.Errorf("wildcard without a suffix: %w", ErrInvalidRoute)
		}
	}
	if h == "" {
		return "", false, fmt.Errorf("empty host: %w", ErrInvalidRoute)
	}
	if strings.ContainsAny(h, "*/ ") {
		return "", false, fmt.Errorf("only a leading \"*.\" wildcard is allowed, no '/' or spaces: %w", ErrInvalidRoute)
	}
	return h, wildcard, nil
}

// Match returns the ID of the route that serves a request, and false when no
// route does. host may carry a port and any letter case.
func (r *Router) Match(host, path, method string, header map[string][]string) (int, bool) {
	var buf [maxHostLen]byte
	host = normalizeHost(host, &buf)
	if host != "" && (len(r.exact) > 0 || len(r.wildcards) > 0) {
		if id, ok := matchTier(r.exact[host], path, method, header); ok {
			return id, true
		}
		if len(r.wildcards) > 0 {
			// Suffixes starting at each dot after the first character,
			// longest first: "a.b.example.com" tries ".b.example.com",
			// ".example.com", ".com".
			for i := 1; i < len(host); i++ {
				if host[i] != '.' {
					continue
				}
				if id, ok := matchTier(r.wildcards[host[i:]], path, method, header); ok {
					return id, true
				}
			}
		}
	}
	return matchTier(r.any, path, method, header)
}

func matchTier(cands []candidate, path, method string, header map[string][]string) (int, bool) {
	for i := range cands {
		if cands[i].matches(path, method, header) {
			return cands[i].id, true
		}
	}
	return 0, false
}

func (c *candidate) matches(path, method string, header map[string][]string) bool {
	if !c.all {
		if !strings.HasPrefix(path, c.prefix) {
			return false
		}
		if c.segment && len(path) > len(c.prefix) && path[len(c.prefix)] != '/' {
			return false
		}
	}
	if len(c.methods) > 0 && !slices.Contains(c.methods, method) {
		return false
	}
	for i := range c.headers {
		h := &c.headers[i]
		values, ok := header[h.name]
		if !ok || (!h.any && !slices.Contains(values, h.value)) {
			return false
		}
	}
	return true
}

// maxHostLen is the longest host that is lower-cased on the stack; a DNS
// name has at most 253 characters. Longer hosts are lower-cased on the heap.
const maxHostLen = 256

// normalizeHost strips the port and a trailing dot from a request's host and
// lower-cases it. It does not allocate: an upper-case host up to maxHostLen
// is lower-cased into buf, and the string returned then points into buf, so
// it must not outlive the caller's frame (Match only uses it for map lookups
// and comparisons).
func normalizeHost(host string, buf *[maxHostLen]byte) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		// "[::1]:8080" and "example.com:8080" lose the port; a bare IPv6
		// address ("::1", more than one colon, no brackets) has none.
		if host[0] == '[' {
			if j := strings.LastIndexByte(host, ']'); j >= 0 && j < i {
				host = host[:i]
			}
		} else if strings.IndexByte(host, ':') == i {
			host = host[:i]
		}
	}
	host = strings.TrimSuffix(host, ".")
	upper := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c >= utf8.RuneSelf {
			// Not a valid host name; let the standard library fold it.
			return strings.ToLower(host)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return host
	}
	if len(host) > len(buf) {
		return strings.ToLower(host)
	}
	b := buf[:len(host)]
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return unsafe.String(&b[0], len(b))
}
