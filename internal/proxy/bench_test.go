package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/portier/portier/internal/upstream"
)

// benchBackend answers a small fixed body, as in bench/compare.sh's
// keep-alive case.
func benchBackend(b *testing.B) string {
	body := []byte("hello from the backend\n")
	return startBackend(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
}

// runBench sends b.N GETs through the proxy at base over keep-alive.
func runBench(b *testing.B, base string, c *http.Client) {
	req, _ := http.NewRequest("GET", base+"/bench?x=1", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
}

func BenchmarkProxy(b *testing.B) {
	be := newBackend(b, "b", upstream.TransportOptions{}, benchBackend(b))
	base, c := startProxy(b, NewHandler(Options{}, oneRoute(b, be)), false)
	runBench(b, base, c)
}

// BenchmarkProxyObserved is BenchmarkProxy with everything that watches
// a request on: counters, the access log (formatted, then discarded),
// every request sampled and handed to OnSpan, the failure log.
func BenchmarkProxyObserved(b *testing.B) {
	be := newBackend(b, "b", upstream.TransportOptions{}, benchBackend(b))
	site := oneRoute(b, be)
	NewStats().Attach(site)
	var spans atomic.Int64
	h := NewHandler(Options{
		AccessLog: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		OnSpan:    func(*Span) { spans.Add(1) },
		Failures:  NewFailureLog(0),
	}, site)
	base, c := startProxy(b, h, false)
	runBench(b, base, c)
	if spans.Load() == 0 {
		b.Fatal("no span recorded")
	}
}

// BenchmarkReverseProxyBaseline is the same traffic through the standard
// library's httputil.ReverseProxy, the floor Portier must beat.
func BenchmarkReverseProxyBaseline(b *testing.B) {
	target, _ := url.Parse("http://" + benchBackend(b))
	rp := httputil.NewSingleHostReverseProxy(target)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	b.Cleanup(tr.CloseIdleConnections)
	rp.Transport = tr
	base, c := startProxy(b, rp, false)
	runBench(b, base, c)
}
