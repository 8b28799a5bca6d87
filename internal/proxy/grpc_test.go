package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portier/portier/internal/upstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// grpcServer is a real gRPC server with the standard health service, where
// service "ok" is serving and any other name is unknown (codes.NotFound).
func grpcServer() *grpc.Server {
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("ok", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	return s
}

// grpcH2C serves gRPC over cleartext HTTP/2 with grpc-go's own transport.
func grpcH2C(t *testing.T) (string, upstream.TransportOptions) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpcServer()
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String(), upstream.TransportOptions{HTTP2: true}
}

// grpcTLS serves gRPC over TLS through net/http's HTTP/2 server.
func grpcTLS(t *testing.T) (string, upstream.TransportOptions) {
	ts := httptest.NewUnstartedServer(grpcServer())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return ts.Listener.Addr().String(), upstream.TransportOptions{HTTP2: true, TLS: &tls.Config{RootCAs: pool}}
}

// proxyH2C serves h over cleartext HTTP/2 (prior knowledge) and HTTP/1.1.
func proxyH2C(t *testing.T, h http.Handler) (string, grpc.DialOption) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())
}

// proxyTLS serves h over TLS with ALPN h2.
func proxyTLS(t *testing.T, h http.Handler) (string, grpc.DialOption) {
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return ts.Listener.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool}))
}

func TestGRPC(t *testing.T) {
	upstreams := []struct {
		name  string
		start func(*testing.T) (string, upstream.TransportOptions)
	}{
		{name: "upstream h2c", start: grpcH2C},
		{name: "upstream tls", start: grpcTLS},
	}
	fronts := []struct {
		name  string
		start func(*testing.T, http.Handler) (string, grpc.DialOption)
	}{
		{name: "client h2c", start: proxyH2C},
		{name: "client tls", start: proxyTLS},
	}
	for _, u := range upstreams {
		for _, f := range fronts {
			t.Run(u.name+"/"+f.name, func(t *testing.T) {
				addr, topt := u.start(t)
				be := newBackend(t, "grpc", topt, addr)
				paddr, cred := f.start(t, NewHandler(Options{}, oneRoute(t, be)))
				conn, err := grpc.NewClient(paddr, cred)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				checkGRPCHealth(t, healthpb.NewHealthClient(conn))
			})
		}
	}
}

func checkGRPCHealth(t *testing.T, hc healthpb.HealthClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "ok"})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check(ok) = %v, %v", res, err)
	}
	// A non-OK status travels in the grpc-status trailer.
	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "missing"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Check(missing) = %v, want NotFound", err)
	}
	// A server stream: the first message arrives while the stream stays open.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	stream, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{Service: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil || msg.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Watch first message = %v, %v", msg, err)
	}
}
