package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Tracing is W3C trace context: propagated on every request, and with an
// endpoint, spans exported over OTLP/HTTP.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP collector spans are sent to: a base URL
	// like http://127.0.0.1:4318, to which /v1/traces is added, or a URL
	// with a path of its own, used as it is. Default none: traceparent is
	// still propagated, and nothing is exported.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share, from 0 to 1, of the requests that start a
	// new trace that are sampled: recorded, and flagged sampled upstream.
	// A request that comes with a traceparent follows its client's flag.
	// Default 1.
	SampleRatio Ratio `yaml:"sample_ratio"`
	// ServiceName is the service.name of the exported spans.
	// Default portier.
	ServiceName string `yaml:"service_name"`
}

// ErrorPages configures the pages Portier answers with itself (404
// no_route, 502, 503, 504).
type ErrorPages struct {
	// Detail adds which server failed, its address and the error to the
	// pages. Default false: clients see the reason class, the request id
	// and the trace id, nothing of the network behind the proxy.
	Detail bool `yaml:"detail"`
}

// Ratio is a share from 0 to 1, written as a decimal ("0.25").
type Ratio float64

// String formats r as it is written in a file.
func (r Ratio) String() string { return strconv.FormatFloat(float64(r), 'g', -1, 64) }

// MarshalText writes r as String does.
func (r Ratio) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a decimal from 0 to 1.
func (r *Ratio) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("invalid ratio %q: write a decimal from 0 to 1, like 0.25", s)
	}
	if f < 0 || f > 1 {
		return fmt.Errorf("invalid ratio %q: must be from 0 to 1", s)
	}
	*r = Ratio(f)
	return nil
}

// DefaultServiceName is the default tracing.service_name.
const DefaultServiceName = "portier"

func newTracing() Tracing {
	return Tracing{SampleRatio: 1, ServiceName: DefaultServiceName}
}

// TracesURL returns the URL spans are posted to: the endpoint with
// /v1/traces added when it has no path of its own; "" without an endpoint.
func (t *Tracing) TracesURL() string {
	if t.OTLPEndpoint == "" {
		return ""
	}
	u, err := url.Parse(t.OTLPEndpoint)
	if err != nil {
		return t.OTLPEndpoint
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String()
}

func (v *validator) tracing(c *Config) {
	t := c.Tracing
	if t.OTLPEndpoint != "" {
		u, err := url.Parse(t.OTLPEndpoint)
		switch {
		case err != nil:
			v.errf("tracing.otlp_endpoint", "invalid URL %q: want one like http://127.0.0.1:4318", t.OTLPEndpoint)
		case u.Scheme != "http" && u.Scheme != "https":
			v.errf("tracing.otlp_endpoint", "%q: the scheme must be http or https (OTLP over HTTP), like http://127.0.0.1:4318", t.OTLPEndpoint)
		case u.Host == "":
			v.errf("tracing.otlp_endpoint", "%q has no host; want one like http://127.0.0.1:4318", t.OTLPEndpoint)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			v.errf("tracing.otlp_endpoint", "%q: a query, fragment or user name is not allowed", t.OTLPEndpoint)
		}
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		v.errf("tracing.sample_ratio", "must be from 0 to 1, not %s", t.SampleRatio)
	}
	if t.ServiceName == "" {
		v.errf("tracing.service_name", "must not be empty (default %q)", DefaultServiceName)
	}
}
