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
	// The server's own send_proxy_protocol, when set, is the one it is sent.
	pp := b.SendProxyProtocol
	if s.SendProxyProtocol != "" {
		pp = s.SendProxyProtocol
	}
	id := ServerIdentity{Address: s.Address, HTTP2: b.HTTP2, SendProxyProtocol: pp}
	if b.TLS != nil {
		id.TLS = true
		id.ServerName = b.TLS.ServerName
	}
	return id
}
