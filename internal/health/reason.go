package health

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/portier/portier/internal/upstream"
)

// describe puts a failed check's error in the words an operator reads in
// the status table and the log: "connection refused", "timeout after 1s",
// "dns: no such host app-2.internal". timeout is the check's own limit,
// named when it is what ended the check.
func describe(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var dialErr *upstream.DialError
	var certErr *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "dns: no such host " + dnsErr.Name
		}
		return "dns: " + dnsErr.Err + " " + dnsErr.Name
	case errors.As(err, &dialErr) && dialErr.Reason == upstream.ReasonDNS:
		return "dns: " + dialErr.Err.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ENETUNREACH):
		return "connect: network is unreachable"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "connect: no route to host"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout after " + timeout.String()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response"
	case errors.As(err, &certErr):
		return "tls: " + certErr.Err.Error()
	}
	return innermost(err)
}

// innermost drops the wrappers that only repeat the request ("Get
// \"http://...\": ") and names the operation and its cause.
func innermost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}
