// Package telemetry turns the proxy's finished requests into OpenTelemetry
// spans and sends them over OTLP/HTTP, and decides which new traces are
// sampled (tracing.sample_ratio).
//
// The data path never imports an SDK: the proxy propagates traceparent
// itself and hands each sampled request, with its attempts, to a hook
// (proxy.Options.OnSpan). This package is that hook. It keeps the ids the
// proxy chose, so that the span a server saw as its parent in traceparent
// is the attempt span exported here. cmd/portier wires it; it imports
// config and proxy's span types only.
package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/portier/portier/internal/config"
	"github.com/portier/portier/internal/proxy"
)

// Options configure a Tracer.
type Options struct {
	// Config is the tracing section, defaults applied.
	Config config.Tracing
	// Logger receives export errors; component=telemetry is added.
	// Default: discard.
	Logger *slog.Logger
	// BatchTimeout is how long spans wait to be sent together.
	// Default 5s.
	BatchTimeout time.Duration
}

// Tracer samples new traces and, with an endpoint, exports spans.
type Tracer struct {
	// bound is the sampling threshold on a trace id's low 63 bits, as
	// OpenTelemetry's TraceIDRatioBased sampler computes it, so that the
	// proxy and an SDK downstream agree on the same trace.
	bound  uint64
	always bool
	tp     *sdktrace.TracerProvider // nil without an endpoint
	tracer trace.Tracer
}

// New returns a Tracer for o.Config. Without an endpoint it only samples;
// spans cost nothing.
func New(o Options) (*Tracer, error) {
	ratio := float64(o.Config.SampleRatio)
	t := &Tracer{always: ratio >= 1, bound: uint64(ratio * (1 << 63))}
	url := o.Config.TracesURL()
	if url == "" {
		return t, nil
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "telemetry")
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(url))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	// Export failures (a collector down) reach the SDK's one error
	// handler; they go to the log instead of stderr.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		lg.Warn("span export", "endpoint", url, "error", err.Error())
	}))
	batch := o.BatchTimeout
	if batch <= 0 {
		batch = 5 * time.Second
	}
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)),
		sdktrace.WithResource(sdkresource.NewSchemaless(attrServiceName.String(o.Config.ServiceName))),
		// The proxy sampled already: every span it hands over is kept.
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithIDGenerator(givenIDs{}),
	)
	t.tracer = t.tp.Tracer("github.com/portier/portier")
	return t, nil
}

// Sample decides whether a request that starts a new trace is sampled, by
// the trace id alone (see bound).
func (t *Tracer) Sample(id proxy.TraceID) bool {
	if t.always {
		return true
	}
	return binary.BigEndian.Uint64(id[8:16])>>1 < t.bound
}

// OnSpan returns the hook for proxy.Options.OnSpan: nil without an
// endpoint, so that the proxy records nothing.
func (t *Tracer) OnSpan() func(*proxy.Span) {
	if t.tp == nil {
		return nil
	}
	return t.export
}

// Flush sends the spans waiting in the batch.
func (t *Tracer) Flush(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown sends what is waiting and stops exporting.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// idsKey carries, in a context, the ids the next span must have.
type idsKey struct{}

type spanIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

// givenIDs makes the SDK use the ids the proxy chose and sent upstream
// instead of drawing its own.
type givenIDs struct{}

func (givenIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	v, _ := ctx.Value(idsKey{}).(spanIDs)
	return v.trace, v.span
}

func (givenIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	v, _ := ctx.Value(idsKey{}).(spanIDs)
	return v.span
}
