package listener

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// recordSink is a slog handler that passes every record to a channel.
type recordSink struct{ records chan slog.Record }

func (s recordSink) Enabled(context.Context, slog.Level) bool { return true }
func (s recordSink) Handle(_ context.Context, r slog.Record) error {
	select {
	case s.records <- r:
	default:
	}
	return nil
}
func (s recordSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s recordSink) WithGroup(string) slog.Handler      { return s }

// TestHandshakeNoiseAtDebug: net/http's "TLS handshake error" lines reach
// the injected logger at debug level, not at info or above.
func TestHandshakeNoiseAtDebug(t *testing.T) {
	sink := recordSink{records: make(chan slog.Record, 16)}
	_, tc := standardPKI(t)
	tlsConf, err := BuildTLS(tc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(config.ProtocolHTTPS)
	cfg.TLS = tc
	l := start(t, Options{Config: cfg, Handler: echo(), TLS: tlsConf, Logger: slog.New(sink)})

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") // plain text to a TLS port
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.ReadAll(c)
	c.Close()

	select {
	case r := <-sink.records:
		if r.Level != slog.LevelDebug || !strings.Contains(r.Message, "TLS handshake error") {
			t.Fatalf("logged %v %q, want a debug TLS handshake error", r.Level, r.Message)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no log record for a failed handshake")
	}
}
