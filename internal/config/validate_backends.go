package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// MaxServerWeight bounds a server's weight, in the configuration, the
// admin API and the state file alike.
const MaxServerWeight = 1000

func (v *validator) backends(c *Config) {
	names := map[string]int{}
	for i := range c.Backends {
		b := &c.Backends[i]
		p := "backends[" + strconv.Itoa(i) + "]"
		v.name(p+".name", b.Name, "backend", names, i)
		v.balance(p, b)
		if b.Health != nil {
			v.health(p+".health", b.Health)
		}
		if pa := b.Passive; pa != nil {
			if pa.ConsecutiveFailures < 1 {
				v.errf(p+".passive.consecutive_failures", "must be at least 1, not %d", pa.ConsecutiveFailures)
			}
			if pa.EjectFor <= 0 {
				v.errf(p+".passive.eject_for", "must be greater than 0")
			}
		}
		switch b.InitialState {
		case "", StateUp, StateDown:
		default:
			v.errf(p+".initial_state", "must be up or down, not %q", b.InitialState)
		}
		if b.Retries < 0 {
			v.errf(p+".retries", "must be 0 or more, not %d", b.Retries)
		}
		if b.DrainTimeout < 0 {
			v.errf(p+".drain_timeout", "must be 0 or more")
		}
		if b.ResolveInterval <= 0 {
			v.errf(p+".resolve_interval", "must be greater than 0")
		}
		if b.MaxIdleConns < 0 {
			v.errf(p+".max_idle_conns", "must be 0 or more, not %d", b.MaxIdleConns)
		}
		v.backendTimeouts(p+".timeouts", b.Timeouts)
		v.backendTLS(p+".tls", b.TLS)
		switch b.SendProxyProtocol {
		case ProxyProtocolNone, ProxyProtocolV1, ProxyProtocolV2:
		default:
			v.errf(p+".send_proxy_protocol", "must be none, v1 or v2, not %q", b.SendProxyProtocol)
		}
		v.servers(p, b)
	}
}

func (v *validator) balance(p string, b *Backend) {
	switch b.Balance {
	case BalanceRoundRobin, BalanceLeastConn, BalanceRandomTwo, BalanceHash:
	default:
		v.errf(p+".balance", "must be round_robin, least_conn, random_two or hash, not %q", b.Balance)
		return
	}
	// hash_key is checked whatever the policy, so that switching to hash
	// later cannot reveal a typo.
	if _, _, err := ParseHashKey(b.HashKey); err != nil {
		v.errf(p+".hash_key", "%v", err)
	}
}

func (v *validator) health(p string, h *Health) {
	switch {
	case h.Path != "" && h.TCP:
		v.errf(p, "set either path (an HTTP check) or tcp: true (a connect check), not both")
	case h.Path == "" && !h.TCP:
		v.errf(p+".path", "a health check needs a path, or tcp: true for a connect check")
	case h.Path != "" && (!strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \t\r\n#")):
		v.errf(p+".path", "%q must start with / and hold no spaces or fragment", h.Path)
	}
	if !isToken(h.Method) {
		v.errf(p+".method", "%q is not a valid method", h.Method)
	}
	if h.Host != "" && !validHostname(h.Host) {
		if _, err := netip.ParseAddr(h.Host); err != nil {
			v.errf(p+".host", "%q is not a valid host name", h.Host)
		}
	}
	for _, d := range [...]struct {
		key string
		val Duration
	}{
		{"interval", h.Interval}, {"fast_interval", h.FastInterval},
		{"down_interval", h.DownInterval}, {"timeout", h.Timeout},
	} {
		if d.val <= 0 {
			v.errf(p+"."+d.key, "must be greater than 0")
		}
	}
	if h.Rise < 1 {
		v.errf(p+".rise", "must be at least 1, not %d", h.Rise)
	}
	if h.Fall < 1 {
		v.errf(p+".fall", "must be at least 1, not %d", h.Fall)
	}
	for j, s := range h.ExpectStatus {
		if _, _, err := ParseStatusRange(s); err != nil {
			v.errf(p+".expect_status["+strconv.Itoa(j)+"]", "%v", err)
		}
	}
	if h.TCP && (h.ExpectBody != "" || h.Host != "") {
		v.errf(p, "expect_body and host only apply to an HTTP check (path)")
	}
}

func (v *validator) backendTimeouts(p string, t BackendTimeouts) {
	if t.Connect <= 0 {
		v.errf(p+".connect", "must be greater than 0")
	}
	if t.ResponseHeader <= 0 {
		v.errf(p+".response_header", "must be greater than 0")
	}
	if t.Idle <= 0 {
		v.errf(p+".idle", "must be greater than 0")
	}
}

func (v *validator) backendTLS(p string, t *BackendTLS) {
	if t == nil {
		return
	}
	if t.ServerName != "" && !validHostname(t.ServerName) {
		v.errf(p+".server_name", "%q is not a valid host name", t.ServerName)
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		v.errf(p+".insecure_skip_verify", "contradicts ca_file: a CA is only used to verify")
	}
}

func (v *validator) servers(p string, b *Backend) {
	if len(b.Servers) == 0 {
		v.errf(p+".servers", "a backend needs at least one server")
	}
	names := map[string]int{}
	addrs := map[string]int{}
	for j, s := range b.Servers {
		sp := p + ".servers[" + strconv.Itoa(j) + "]"
		v.name(sp+".name", s.Name, "server", names, j)
		if err := checkServerAddress(s.Address); err != nil {
			v.errf(sp+".address", "%v", err)
		} else if k, dup := addrs[strings.ToLower(s.Address)]; dup {
			v.errf(sp+".address", "%s is already servers[%d] of this backend", s.Address, k)
		} else {
			addrs[strings.ToLower(s.Address)] = j
		}
		if s.Weight < 0 || s.Weight > MaxServerWeight {
			v.errf(sp+".weight", "must be from 0 to %d, not %d", MaxServerWeight, s.Weight)
		}
		switch s.SendProxyProtocol {
		case "", ProxyProtocolNone, ProxyProtocolV1, ProxyProtocolV2:
		default:
			v.errf(sp+".send_proxy_protocol", "must be none, v1 or v2 (or unset for the backend's), not %q", s.SendProxyProtocol)
		}
	}
}
