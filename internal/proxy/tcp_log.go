package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// keySNI is the access log key of a TLS stream's server name.
const keySNI = "sni"

// tcpAccessMsg is the message of every TCP access log line.
const tcpAccessMsg = "connection"

// end is why a TCP stream ended: the reason of its access line.
type end int32

// Why a stream ended. The first cause wins: a client that half-closes and
// then sees its server close is client_closed.
const (
	endNone            end = iota
	endClientClosed        // the client closed its side first (FIN)
	endServerClosed        // the server closed its side first
	endClientReset         // reading from or writing to the client failed
	endUpstreamReset       // reading from or writing to the server failed
	endIdleTimeout         // no byte either way for the listener's idle timeout
	endDrainTimeout        // the server was drained or removed, and its drain_timeout passed
	endShutdown            // Portier shut down, or the listener was removed
	endNoRoute             // no route for the server name, and no default route
	endNoHealthyServer     // no server of the backend could take it
	endConnectRefused
	endConnectTimeout
	endConnectUnreachable
	endDNS
	endConnectError
)

// endNames are the reasons as logged; connect failures use
// upstream.DialError's names, as HTTP requests do.
var endNames = [...]string{
	endNone:               "",
	endClientClosed:       reasonClientClosed,
	endServerClosed:       "server_closed",
	endClientReset:        "client_reset",
	endUpstreamReset:      reasonUpstreamReset,
	endIdleTimeout:        "idle_timeout",
	endDrainTimeout:       "drain_timeout",
	endShutdown:           "shutdown",
	endNoRoute:            reasonNoRoute,
	endNoHealthyServer:    reasonNoHealthyServer,
	endConnectRefused:     upstream.ReasonConnectRefused,
	endConnectTimeout:     upstream.ReasonConnectTimeout,
	endConnectUnreachable: upstream.ReasonConnectUnreachable,
	endDNS:                upstream.ReasonDNS,
	endConnectError:       upstream.ReasonConnectError,
}

func (e end) String() string {
	if e < 0 || int(e) >= len(endNames) {
		return "unknown"
	}
	return endNames[e]
}

// dialEnd maps a DialError's reason.
func dialEnd(reason string) end {
	switch reason {
	case upstream.ReasonConnectRefused:
		return endConnectRefused
	case upstream.ReasonConnectTimeout:
		return endConnectTimeout
	case upstream.ReasonConnectUnreachable:
		return endConnectUnreachable
	case upstream.ReasonDNS:
		return endDNS
	}
	return endConnectError
}

// logAccess writes a stream's access line, if anyone reads it.
func (t *TCPRelay) logAccess(ctx context.Context, s *stream) {
	al := t.o.AccessLog
	if al == nil || !al.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var routeName, backendName, serverName string
	if s.route != nil {
		routeName = s.route.Name
		backendName = s.route.Backend.Name
	}
	if s.server != nil {
		serverName = s.server.Name
	}
	al.LogAttrs(ctx, slog.LevelInfo, tcpAccessMsg,
		slog.String(keyClient, s.client.RemoteAddr().String()),
		slog.String(keyListener, t.o.Listener),
		slog.String(keyRoute, routeName),
		slog.String(keyBackend, backendName),
		slog.String(keyServer, serverName),
		slog.String(keySNI, s.sni),
		slog.Int64(keyBytesIn, s.bytesIn),
		slog.Int64(keyBytesOut, s.bytesOut),
		slog.Float64(keyDuration, time.Since(s.start).Seconds()),
		slog.Float64(keyUpstreamConnect, s.connect.Seconds()),
		slog.String(keyReason, end(s.reason.Load()).String()),
		slog.Int(keyAttempts, s.attempts),
	)
}
