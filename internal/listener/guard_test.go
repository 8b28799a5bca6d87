package listener

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// TestFramingRawSocket sends each request as raw bytes to a plain listener
// in front of a handler that echoes the body it read, and checks the status
// and whether the connection was closed after it (RFC 9112 §6, §5).
func TestFramingRawSocket(t *testing.T) {
	l := start(t, Options{Config: testConfig(config.ProtocolHTTP), Handler: echo()})
	addr := l.Addr().String()
	tests := []struct {
		name   string
		raw    string
		status int
		closed bool   // the server must close the connection after the response
		body   string // expected body when status is 200
	}{
		{name: "content-length and chunked", status: 400, closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "chunked then content-length, lower case", status: 400, closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n"},
		{name: "transfer-encoding in HTTP/1.0", status: 400, closed: true,
			raw: "POST / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "transfer-encoding and content-length in HTTP/1.0", status: 400, closed: true,
			raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTRANSFER-ENCODING: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
		{name: "duplicate differing content-length", status: 400, closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{name: "invalid chunk size", status: 400, closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{name: "chunk line with bare LF", status: 400, closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"},
		{name: "NUL in header value", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"},
		{name: "CR in header value", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"},
		{name: "LF in header value", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n"},
		{name: "space before colon", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n"},
		{name: "tab before colon", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n"},
		{name: "missing host", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nX: b\r\n\r\n"},
		{name: "two hosts", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{name: "obs-fold with space", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"},
		{name: "obs-fold with tab", status: 400, closed: true,
			raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"},
		// A head longer than net/http's 4 KiB read buffer spans reads, so the
		// raw head cannot be checked: the connection is closed instead, and
		// whatever follows the body is never read as a request.
		{name: "chunked with a head spanning reads", status: 200, body: "x", closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat("p", 5000) +
				"\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"},
		{name: "content-length and chunked, head spanning reads", status: 200, closed: true,
			raw: "POST / HTTP/1.1\r\nHost: a\r\nX-Pad: " + strings.Repeat("p", 5000) +
				"\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"},
		{name: "valid chunked body", status: 200, body: "abcde",
			raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"},
		{name: "valid content-length body", status: 200, body: "abc",
			raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"},
		{name: "HTTP/1.0 keep-alive with content-length", status: 200, body: "abc",
			raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := rawConn(t, addr)
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			resp, body := readResponse(t, br)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 && body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if got := closedByServer(c, br); got != tt.closed {
				t.Errorf("connection closed = %v, want %v", got, tt.closed)
			}
		})
	}
}

// TestPipelined sends several requests in one write and checks they are
// answered in order, and that a smuggling attempt in the middle of a
// pipeline is refused and ends the connection.
func TestPipelined(t *testing.T) {
	l := start(t, Options{Config: testConfig(config.ProtocolHTTP), Handler: echo()})
	tests := []struct {
		name   string
		raw    string
		want   []string // X-Path of each 200, "400" for a refusal
		closed bool
	}{
		{name: "two GETs",
			raw:  "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
			want: []string{"/1", "/2"}},
		{name: "GET, chunked POST, GET",
			raw: "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
				"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" +
				"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
			want: []string{"/1", "/2", "/3"}},
		{name: "smuggle after a GET",
			raw: "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
				"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
			want: []string{"/1", "400"}, closed: true},
		{name: "same request line twice, second smuggles",
			raw: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
				"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
			want: []string{"/x"}, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := rawConn(t, l.Addr().String())
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				resp, _ := readResponse(t, br)
				got := resp.Header.Get("X-Path")
				if resp.StatusCode != 200 {
					got = fmt.Sprint(resp.StatusCode)
				}
				if got != want {
					t.Fatalf("response %d = %q, want %q", i, got, want)
				}
			}
			if got := closedByServer(c, br); got != tt.closed {
				t.Errorf("connection closed = %v, want %v", got, tt.closed)
			}
		})
	}
}

// TestSequentialKeepAlive sends requests one at a time on one connection,
// each after the previous response: chunked requests whose head arrives in
// a read of its own are checked and keep the connection open.
func TestSequentialKeepAlive(t *testing.T) {
	l := start(t, Options{Config: testConfig(config.ProtocolHTTP), Handler: echo()})
	c, br := rawConn(t, l.Addr().String())
	steps := []struct {
		raw, body string
	}{
		{"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", ""},
		{"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", "ab"},
		{"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n", "c"},
		{"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n", ""},
	}
	for i, st := range steps {
		if _, err := io.WriteString(c, st.raw); err != nil {
			t.Fatal(err)
		}
		resp, body := readResponse(t, br)
		if resp.StatusCode != 200 || body != st.body || resp.Close {
			t.Fatalf("step %d: %d %q close=%v, want 200 %q kept open", i, resp.StatusCode, body, resp.Close, st.body)
		}
	}
}

// TestLimits checks 414, 431 and 413 over HTTP/1.1 and HTTP/2.
func TestLimits(t *testing.T) {
	cfg := testConfig(config.ProtocolHTTPS)
	cfg.Limits.MaxBodyBytes = 100
	l, p := startHTTPS(t, cfg, echo())
	h2 := h2Client(t, p, "a.example.test")
	plainCfg := testConfig(config.ProtocolHTTP)
	plainCfg.Limits.MaxBodyBytes = 100
	plain := start(t, Options{Config: plainCfg, Handler: echo()})
	tests := []struct {
		name   string
		path   string
		header int // bytes of one X-Big header value
		body   string
		chunk  bool // send the body without a length
		status int
	}{
		{name: "within limits", path: "/ok", header: 1000, body: "abc", status: 200},
		{name: "URI too long", path: "/" + strings.Repeat("u", 9000), status: 414},
		{name: "headers too large", path: "/h", header: 33 << 10, status: 431},
		{name: "headers far too large", path: "/h", header: 64 << 10, status: 431},
		{name: "body too large", path: "/b", body: strings.Repeat("b", 101), status: 413},
		{name: "chunked body too large", path: "/b", body: strings.Repeat("b", 101), chunk: true, status: 413},
	}
	for _, tt := range tests {
		for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
			t.Run(tt.name+" "+proto, func(t *testing.T) {
				if proto == "HTTP/2" && tt.header > 40<<10 {
					t.Skip("the HTTP/2 client refuses to send past the server's advertised limit")
				}
				var resp *http.Response
				if proto == "HTTP/2" {
					url := "https://" + l.Addr().String() + tt.path
					resp = doRequest(t, h2, url, tt.header, tt.body, tt.chunk)
				} else {
					url := "http://" + plain.Addr().String() + tt.path
					resp = doRequest(t, http.DefaultClient, url, tt.header, tt.body, tt.chunk)
				}
				if resp.ProtoMajor != int(proto[5]-'0') {
					t.Fatalf("served over %s, want %s", resp.Proto, proto)
				}
				if resp.StatusCode != tt.status {
					t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
				}
			})
		}
	}
}

func doRequest(t *testing.T, c *http.Client, url string, header int, body string, chunk bool) *http.Response {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if chunk {
		rd = io.MultiReader(rd) // hides the length
	}
	req, err := http.NewRequest(http.MethodPost, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if header > 0 {
		req.Header.Set("X-Big", strings.Repeat("h", header))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestBackgroundReadByte: while a handler runs, net/http reads one byte
// ahead from another goroutine, so the next request's first byte is not in
// the read that brings the rest of its head. The byte is remembered, the
// head is still found, and a smuggling attempt in it is still refused.
func TestBackgroundReadByte(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			close(entered)
			rc := r.Context().Value(connKey{}).(*recordingConn)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for deadline := time.Now().Add(5 * time.Second); rc.ahead.Load() == 0; <-tick.C {
				if time.Now().After(deadline) {
					http.Error(w, "no byte read ahead", http.StatusInternalServerError)
					return
				}
			}
		}
		echo().ServeHTTP(w, r)
	})
	l := start(t, Options{Config: testConfig(config.ProtocolHTTP), Handler: h})
	c, br := rawConn(t, l.Addr().String())
	if _, err := io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	smuggle := "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" +
		"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	if _, err := io.WriteString(c, smuggle); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, br); resp.StatusCode != 200 || resp.Header.Get("X-Path") != "/wait" {
		t.Fatalf("first response %d %q, want 200 for /wait", resp.StatusCode, body)
	}
	if resp, body := readResponse(t, br); resp.StatusCode != 400 {
		t.Fatalf("second response %d %q, want 400", resp.StatusCode, body)
	}
	if !closedByServer(c, br) {
		t.Fatal("connection kept open after a refused request")
	}
}

// TestBodyShapedLikeRequest: a body that starts a read and looks like a
// clean request head is not taken for the next request's head. Here the
// real next request (chunked with Content-Length) follows the body without
// a line break, so it cannot be found: its connection is closed after it
// and the request smuggled behind it is never served.
func TestBodyShapedLikeRequest(t *testing.T) {
	entered := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/1" {
			entered <- struct{}{}
		}
		echo().ServeHTTP(w, r)
	})
	l := start(t, Options{Config: testConfig(config.ProtocolHTTP), Handler: h})
	c, br := rawConn(t, l.Addr().String())
	fake := "POST /2 HTTP/1.1\r\nHost: a\r\n\r\nX"
	head := fmt.Sprintf("POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", len(fake))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	<-entered
	rest := fake + "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" +
		"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	if _, err := io.WriteString(c, rest); err != nil {
		t.Fatal(err)
	}
	if resp, body := readResponse(t, br); resp.StatusCode != 200 || body != fake {
		t.Fatalf("first response %d %q, want 200 echoing the body", resp.StatusCode, body)
	}
	resp, _ := readResponse(t, br)
	if resp.Header.Get("X-Path") == "/smuggled" {
		t.Fatal("smuggled request served")
	}
	if !closedByServer(c, br) {
		t.Fatal("connection kept open after a request whose head could not be checked")
	}
}
