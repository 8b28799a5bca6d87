package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
)

func TestClassifyDial(t *testing.T) {
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "refused", err: op(syscall.ECONNREFUSED), want: ReasonConnectRefused},
		{name: "host unreachable", err: op(syscall.EHOSTUNREACH), want: ReasonConnectUnreachable},
		{name: "net unreachable", err: op(syscall.ENETUNREACH), want: ReasonConnectUnreachable},
		{name: "dns", err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}}, want: ReasonDNS},
		{name: "timeout", err: &net.OpError{Op: "dial", Err: context.DeadlineExceeded}, want: ReasonConnectTimeout},
		{name: "other", err: op(syscall.EPERM), want: ReasonConnectError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classifyDial(tt.err); got != tt.want {
				t.Errorf("classifyDial(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

// TestTransportDialsAddress: the transport dials its server whatever host
// the URL names.
func TestTransportDialsAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	tr := NewTransport(TransportOptions{Address: ln.Addr().String()})
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://elsewhere.invalid/", nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// TestTransportRefusedIsDialError: a refused connect comes back as a
// DialError with its reason, with or without the PROXY protocol (whose
// header is never the cause).
func TestTransportRefusedIsDialError(t *testing.T) {
	addr := deadAddr(t)
	for _, v := range []ProxyVersion{ProxyNone, ProxyV1, ProxyV2} {
		t.Run(v.String(), func(t *testing.T) {
			tr := NewTransport(TransportOptions{Address: addr, SendProxy: v})
			_, err := tr.RoundTrip(clientRequest(t, "127.0.0.2:1", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, ""))
			var de *DialError
			if !errors.As(err, &de) || de.Reason != ReasonConnectRefused {
				t.Fatalf("err = %v, want a connect_refused DialError", err)
			}
		})
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
