package config

import "fmt"

// unsupported refuses the keys of features that are designed but not built
// yet, so that a configuration using them fails loudly instead of being
// accepted and ignored. Each check goes when its feature lands.
func (v *validator) unsupported(c *Config) {
	for i, l := range c.Listeners {
		if l.ProxyProtocol != nil {
			v.errf(fmt.Sprintf("listeners[%d].proxy_protocol", i), "accepting the PROXY protocol is not supported yet")
		}
	}
}
