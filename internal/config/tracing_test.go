package config

import (
	"errors"
	"strings"
	"testing"
)

const tracingBase = `
listeners: [{name: web, address: "127.0.0.1:8080"}]
routes: [{name: all, backend: app}]
backends: [{name: app, servers: [{name: a, address: "127.0.0.1:9001"}]}]
`

func TestTracingLoad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// want is "path@line" of every error, in order, counting lines
		// from the first of yaml; none: it loads.
		want      []string
		ratio     Ratio
		url, svc  string
		errDetail bool
	}{
		{name: "defaults", ratio: 1, svc: "portier"},
		{name: "set", yaml: "tracing: {otlp_endpoint: \"http://127.0.0.1:4318\", sample_ratio: 0.25, service_name: edge}\nerrors: {detail: true}\n",
			ratio: 0.25, url: "http://127.0.0.1:4318/v1/traces", svc: "edge", errDetail: true},
		{name: "endpoint with its own path", yaml: "tracing: {otlp_endpoint: \"https://otel.example.com/otlp/traces\"}\n",
			ratio: 1, url: "https://otel.example.com/otlp/traces", svc: "portier"},
		{name: "zero ratio", yaml: "tracing: {sample_ratio: 0}\n", svc: "portier"},
		{name: "bad values", yaml: "tracing:\n  otlp_endpoint: \"grpc://collector:4317\"\n  sample_ratio: 1.5\n  service_name: \"\"\nerrors:\n  detail: maybe\n",
			want: []string{"tracing.otlp_endpoint@2", "tracing.sample_ratio@3", "tracing.service_name@4", "errors.detail@6"}},
		{name: "ratio not a number", yaml: "tracing: {sample_ratio: half}\n", want: []string{"tracing.sample_ratio@1"}},
		{name: "endpoint without host", yaml: "tracing: {otlp_endpoint: \"http:///v1/traces\"}\n", want: []string{"tracing.otlp_endpoint@1"}},
		{name: "unknown key", yaml: "tracing: {endpoint: \"http://x:4318\"}\n", want: []string{"tracing@1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("portier.yaml", []byte(tracingBase+tt.yaml), nil)
			if len(tt.want) > 0 {
				var es Errors
				if !errors.As(err, &es) {
					t.Fatalf("error %v, want %v", err, tt.want)
				}
				var got []string
				for _, e := range es {
					got = append(got, e.Path+"@"+itoa(e.Line-strings.Count(tracingBase, "\n")))
				}
				if strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Errorf("errors %q, want %q\n%v", got, tt.want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := c.Tracing
			if tr.SampleRatio != tt.ratio || tr.TracesURL() != tt.url || tr.ServiceName != tt.svc || c.ErrorPages.Detail != tt.errDetail {
				t.Errorf("tracing %+v (url %q), errors.detail %v", tr, tr.TracesURL(), c.ErrorPages.Detail)
			}
		})
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestTracingValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Tracing)
		want   string // the path of the one error; "" for none
	}{
		{name: "defaults", mutate: func(*Tracing) {}},
		{name: "ratio above 1", mutate: func(tr *Tracing) { tr.SampleRatio = 2 }, want: "tracing.sample_ratio"},
		{name: "negative ratio", mutate: func(tr *Tracing) { tr.SampleRatio = -0.5 }, want: "tracing.sample_ratio"},
		{name: "no service name", mutate: func(tr *Tracing) { tr.ServiceName = "" }, want: "tracing.service_name"},
		{name: "endpoint with a query", mutate: func(tr *Tracing) { tr.OTLPEndpoint = "http://c:4318/?x=1" }, want: "tracing.otlp_endpoint"},
		{name: "endpoint without scheme", mutate: func(tr *Tracing) { tr.OTLPEndpoint = "collector:4318" }, want: "tracing.otlp_endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c.Tracing)
			err := c.Validate()
			var es Errors
			errors.As(err, &es)
			if tt.want == "" && err != nil || tt.want != "" && (len(es) != 1 || es[0].Path != tt.want) {
				t.Errorf("Validate() = %v, want an error at %q", err, tt.want)
			}
		})
	}
}
