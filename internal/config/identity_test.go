package config

import "testing"

// TestIdentityProxyProtocol: a server's identity holds the PROXY protocol
// version it is actually sent, its own or else its backend's, so that
// saved state follows a change of either and not a restatement.
func TestIdentityProxyProtocol(t *testing.T) {
	tests := []struct {
		name            string
		backend, server string
		want            string
	}{
		{name: "backend default", backend: ProxyProtocolNone, want: ProxyProtocolNone},
		{name: "backend v2", backend: ProxyProtocolV2, want: ProxyProtocolV2},
		{name: "server v1 over backend none", backend: ProxyProtocolNone, server: ProxyProtocolV1, want: ProxyProtocolV1},
		{name: "server none over backend v2", backend: ProxyProtocolV2, server: ProxyProtocolNone, want: ProxyProtocolNone},
		{name: "server repeats backend", backend: ProxyProtocolV2, server: ProxyProtocolV2, want: ProxyProtocolV2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer("a", "127.0.0.1:9001")
			s.SendProxyProtocol = tt.server
			b := NewBackend("app", s)
			b.SendProxyProtocol = tt.backend
			if got := b.Identity(&b.Servers[0]).SendProxyProtocol; got != tt.want {
				t.Errorf("Identity().SendProxyProtocol = %q, want %q", got, tt.want)
			}
		})
	}
	// Restating the backend's value on the server is no change of identity.
	b := NewBackend("app", NewServer("a", "127.0.0.1:9001"))
	b.SendProxyProtocol = ProxyProtocolV2
	before := b.Identity(&b.Servers[0])
	b.Servers[0].SendProxyProtocol = ProxyProtocolV2
	if after := b.Identity(&b.Servers[0]); after != before {
		t.Errorf("identity changed from %+v to %+v", before, after)
	}
}
