package telemetry

import (
	"context"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/portier/portier/internal/proxy"
)

// Attribute keys: OpenTelemetry's HTTP semantic conventions where they
// have a name, portier.* for the rest.
const (
	attrServiceName  = attribute.Key("service.name")
	attrMethod       = attribute.Key("http.request.method")
	attrStatus       = attribute.Key("http.response.status_code")
	attrScheme       = attribute.Key("url.scheme")
	attrPath         = attribute.Key("url.path")
	attrServerAddr   = attribute.Key("server.address")
	attrServerPort   = attribute.Key("server.port")
	attrClientAddr   = attribute.Key("client.address")
	attrProtoVersion = attribute.Key("network.protocol.version")
	attrErrorType    = attribute.Key("error.type")
	attrRoute        = attribute.Key("portier.route")
	attrBackend      = attribute.Key("portier.backend")
	attrServer       = attribute.Key("portier.server")
	attrListener     = attribute.Key("portier.listener")
	attrRequestID    = attribute.Key("portier.request_id")
)

// export records sp, the proxy's span of one request, as a server span
// with a client span per attempt, under the ids the proxy sent upstream.
func (t *Tracer) export(sp *proxy.Span) {
	ctx := context.Background()
	tid := trace.TraceID(sp.TraceID)
	if !sp.Parent.IsZero() {
		ts, _ := trace.ParseTraceState(sp.TraceState) // an invalid one is dropped
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: trace.SpanID(sp.Parent), TraceFlags: trace.FlagsSampled,
			TraceState: ts, Remote: true,
		}))
	}
	name := sp.Method
	if sp.Route != "" {
		name += " " + sp.Route
	}
	attrs := []attribute.KeyValue{
		attrMethod.String(sp.Method), attrScheme.String(sp.Scheme), attrPath.String(sp.Path),
		attrServerAddr.String(hostOnly(sp.Host)), attrClientAddr.String(hostOnly(sp.Client)),
		attrProtoVersion.String(strings.TrimPrefix(sp.Proto, "HTTP/")),
		attrListener.String(sp.Listener), attrRequestID.String(sp.RequestID),
		attrStatus.Int(sp.Status),
	}
	if sp.Route != "" {
		attrs = append(attrs, attrRoute.String(sp.Route))
	}
	if sp.Backend != "" {
		attrs = append(attrs, attrBackend.String(sp.Backend))
	}
	if sp.Reason != "" {
		attrs = append(attrs, attrErrorType.String(sp.Reason))
	}
	ctx, server := t.tracer.Start(context.WithValue(ctx, idsKey{}, spanIDs{tid, trace.SpanID(sp.SpanID)}), name,
		trace.WithTimestamp(sp.Start), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	// HTTP server spans are errors for 5xx only (semantic conventions):
	// a 4xx is the client's.
	if sp.Status >= 500 || (sp.Reason != "" && sp.Status < 400) {
		server.SetStatus(codes.Error, sp.Reason)
	}
	for i := range sp.Attempts {
		t.exportAttempt(ctx, tid, sp.Method, &sp.Attempts[i])
	}
	server.End(trace.WithTimestamp(sp.End))
}

func (t *Tracer) exportAttempt(ctx context.Context, tid trace.TraceID, method string, a *proxy.Attempt) {
	host, port := splitPort(a.Address)
	attrs := []attribute.KeyValue{
		attrMethod.String(method), attrServerAddr.String(host), attrServer.String(a.Server),
	}
	if port > 0 {
		attrs = append(attrs, attrServerPort.Int(port))
	}
	if a.Status > 0 {
		attrs = append(attrs, attrStatus.Int(a.Status))
	}
	if a.Reason != "" {
		attrs = append(attrs, attrErrorType.String(a.Reason))
	}
	_, span := t.tracer.Start(context.WithValue(ctx, idsKey{}, spanIDs{tid, trace.SpanID(a.SpanID)}), method,
		trace.WithTimestamp(a.Start), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	// A client span is an error for any failure and for a 4xx or 5xx.
	switch {
	case a.Reason != "":
		span.SetStatus(codes.Error, strings.TrimSpace(a.Reason+" "+a.Err))
	case a.Status >= 400:
		span.SetStatus(codes.Error, "")
	}
	span.End(trace.WithTimestamp(a.End))
}

// hostOnly drops a port from host:port, if there is one.
func hostOnly(hp string) string {
	if h, _, err := net.SplitHostPort(hp); err == nil {
		return h
	}
	return hp
}

func splitPort(hp string) (string, int) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}
