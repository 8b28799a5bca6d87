package config

// ServerIdentity is what makes a server the same server across reloads and
// restarts. Runtime state saved for a server (drain, maintenance, weight,
// last health) is kept only while its identity is unchanged: a new address
// or new TLS or PROXY protocol options mean a different machine or a
// different conversation, and an old "drain" must not stick to it.
type ServerIdentity struct {
	Address           string `json:"address"`
	TLS               bool   `json:"tls"`
	ServerName        string `json:"server_name,omitempty"`
	HTTP2             bool   `json:"http2"`
	SendProxyProtocol string `json:"send_proxy_protocol"`
}

// Identity returns the identity of s as a server of b.
func (b *Backend) Identity(s *Server) ServerIdentity {
	id := ServerIdentity{Address: s.Address, HTTP2: b.HTTP2, SendProxyProtocol: b.SendProxyProtocol}
	if b.TLS != nil {
		id.TLS = true
		id.ServerName = b.TLS.ServerName
	}
	return id
}

// Differences names the fields in which two identities differ, by their
// JSON names, for the log line that says why saved state was dropped.
func (id ServerIdentity) Differences(other ServerIdentity) []string {
	var out []string
	if id.Address != other.Address {
		out = append(out, "address")
	}
	if id.TLS != other.TLS {
		out = append(out, "tls")
	}
	if id.ServerName != other.ServerName {
		out = append(out, "server_name")
	}
	if id.HTTP2 != other.HTTP2 {
		out = append(out, "http2")
	}
	if id.SendProxyProtocol != other.SendProxyProtocol {
		out = append(out, "send_proxy_protocol")
	}
	return out
}
