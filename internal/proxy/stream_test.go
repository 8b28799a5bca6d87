package proxy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/portier/portier/internal/upstream"
)

// TestServerSentEvents proves the stream is not buffered: the client reads
// each event before the server writes the next.
func TestServerSentEvents(t *testing.T) {
	next := make(chan struct{})
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, "data: event"+string(rune('0'+i))+"\n\n")
			w.(http.Flusher).Flush()
		}
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	for _, p := range clientProtos() {
		t.Run(p.name, func(t *testing.T) {
			base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), p.h2)
			res, err := c.Get(base + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			br := bufio.NewReader(res.Body)
			for i := range 3 {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if want := "data: event" + string(rune('0'+i)) + "\n"; line != want {
					t.Fatalf("got %q, want %q", line, want)
				}
				br.ReadString('\n') // blank line ending the event
				if i < 2 {
					next <- struct{}{}
				}
			}
		})
	}
}

// TestStreamingUpload proves the body is not buffered: the server has the
// first chunk while the client still holds the rest.
func TestStreamingUpload(t *testing.T) {
	first := make(chan string)
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("server read: %v", err)
			return
		}
		first <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		io.WriteString(w, string(buf)+string(rest))
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	for _, p := range clientProtos() {
		t.Run(p.name, func(t *testing.T) {
			base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), p.h2)
			pr, pw := io.Pipe()
			type result struct {
				body string
				err  error
			}
			done := make(chan result, 1)
			go func() {
				res, err := c.Post(base+"/up", "application/octet-stream", pr)
				if err != nil {
					done <- result{err: err}
					return
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				done <- result{string(b), err}
			}()
			pw.Write([]byte("hello"))
			if got := <-first; got != "hello" {
				t.Fatalf("server got %q", got)
			}
			pw.Write([]byte(" world"))
			pw.Close()
			r := <-done
			if r.err != nil || r.body != "hello world" {
				t.Fatalf("got %q, %v", r.body, r.err)
			}
		})
	}
}

func TestWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, append([]byte("echo "), msg...))
		}
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	sink := newLogSink()
	h := NewHandler(Options{AccessLog: sink.logger()}, oneRoute(t, be))
	base, _ := startProxy(t, h, false)
	c, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("X-Request-ID") == "" {
		t.Error("101 lacks X-Request-ID")
	}
	for _, m := range []string{"one", "two"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != "echo "+m {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	if n := be.Servers[0].InFlight(); n != 1 {
		t.Errorf("in flight during tunnel = %d, want 1", n)
	}
	h.CloseTunnels()
	if _, _, err := c.ReadMessage(); err == nil {
		t.Error("tunnel still open after CloseTunnels")
	}
	line := sink.next(t)
	if line[keyStatus] != float64(101) {
		t.Errorf("logged status %v", line[keyStatus])
	}
	if n := be.Servers[0].InFlight(); n != 0 {
		t.Errorf("in flight after tunnel = %d, want 0", n)
	}
}

// TestInformational relays 103 Early Hints and 100 Continue and keeps the
// final response whole.
func TestInformational(t *testing.T) {
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</style.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
		}
		body, _ := io.ReadAll(r.Body) // sends 100 Continue when expected
		w.Header().Set("X-Final", "yes")
		io.WriteString(w, "final:"+string(body))
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	tests := []struct {
		name, path, body string
		expect           bool
		wantCode         int
		wantLink         string
	}{
		{name: "early hints", path: "/hints", wantCode: 103, wantLink: "</style.css>; rel=preload; as=style"},
		{name: "continue", path: "/up", body: "payload", expect: true, wantCode: 100},
	}
	for _, p := range clientProtos() {
		base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), p.h2)
		if tr, ok := c.Transport.(*http.Transport); ok {
			tr.ExpectContinueTimeout = 10 * time.Second
		}
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				var codes []int
				var link string
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					codes = append(codes, code)
					if code == 103 {
						link = h.Get("Link")
					}
					return nil
				}}
				req := mustReq(t, "POST", base+tt.path, tt.body)
				if tt.expect {
					req.Header.Set("Expect", "100-continue")
				}
				req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body := readAll(t, res.Body)
				if res.StatusCode != 200 || body != "final:"+tt.body || res.Header.Get("X-Final") != "yes" {
					t.Errorf("final response %d %q %v", res.StatusCode, body, res.Header)
				}
				if res.Header.Get("Link") != "" {
					t.Error("1xx header leaked into the final response")
				}
				if len(codes) == 0 || codes[0] != tt.wantCode {
					t.Errorf("1xx codes %v, want %d", codes, tt.wantCode)
				}
				if link != tt.wantLink {
					t.Errorf("103 Link %q, want %q", link, tt.wantLink)
				}
			})
		}
	}
}

func TestNoBody(t *testing.T) {
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	tests := []struct {
		name, method, path string
		code               int
	}{
		{name: "HEAD", method: "HEAD", path: "/", code: 200},
		{name: "204", method: "GET", path: "/204", code: 204},
		{name: "304", method: "GET", path: "/304", code: 304},
	}
	for _, p := range clientProtos() {
		base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), p.h2)
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				for range 2 { // twice: the connection must stay usable
					res, err := c.Do(mustReq(t, tt.method, base+tt.path, ""))
					if err != nil {
						t.Fatal(err)
					}
					body := readAll(t, res.Body)
					res.Body.Close()
					if res.StatusCode != tt.code || body != "" {
						t.Fatalf("got %d %q", res.StatusCode, body)
					}
					if tt.method == "HEAD" && res.ContentLength != 5 {
						t.Errorf("HEAD Content-Length %d, want 5", res.ContentLength)
					}
				}
			})
		}
	}
}

// TestTrailers relays announced and unannounced trailers after a streamed
// body, over HTTP/1.1 (chunked) and HTTP/2.
func TestTrailers(t *testing.T) {
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "part one;")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	for _, p := range clientProtos() {
		t.Run(p.name, func(t *testing.T) {
			base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), p.h2)
			req := mustReq(t, "GET", base+"/", "")
			req.Header.Set("TE", "trailers")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if body := readAll(t, res.Body); body != "part one;part two" {
				t.Errorf("body %q", body)
			}
			if res.Trailer.Get("X-Checksum") != "abc" || res.Trailer.Get("X-Late") != "late" {
				t.Errorf("trailers %v", res.Trailer)
			}
		})
	}
}

// TestNoSniffing: a response without Content-Type reaches the client
// without one, as the server sent it.
func TestNoSniffing(t *testing.T) {
	back := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html><body>hi</body></html>")
	})
	be := newBackend(t, "b", upstream.TransportOptions{}, startBackend(t, back))
	base, c := startProxy(t, NewHandler(Options{}, oneRoute(t, be)), false)
	res, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ct, ok := res.Header["Content-Type"]; ok {
		t.Errorf("Content-Type %q added", ct)
	}
}
