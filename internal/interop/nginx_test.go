package interop_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// transfer is what curl's --write-out reports of one request.
type transfer struct {
	status    string
	connects  string // new connections curl opened for this request
	via       string // response headers
	requestID string
	seen      map[string]string // request headers as nginx received them
}

// writeOut makes curl print one tab-separated line per transfer, in the field
// order parseTransfers reads.
const writeOut = "%{http_code}\t%{num_connects}\t%header{via}\t%header{x-request-id}" +
	"\t%header{x-seen-via}\t%header{x-seen-x-request-id}\t%header{x-seen-x-forwarded-for}" +
	"\t%header{x-seen-x-forwarded-proto}\t%header{x-seen-x-forwarded-host}\n"

func parseTransfers(t *testing.T, out string) []transfer {
	t.Helper()
	var ts []transfer
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			t.Fatalf("curl --write-out line %q: %d fields, want 9", line, len(f))
		}
		ts = append(ts, transfer{status: f[0], connects: f[1], via: f[2], requestID: f[3],
			seen: map[string]string{"Via": f[4], "X-Request-ID": f[5], "X-Forwarded-For": f[6],
				"X-Forwarded-Proto": f[7], "X-Forwarded-Host": f[8]}})
	}
	return ts
}

// TestCurlThroughPortierToNginx sends several requests over one keep-alive
// connection from curl through `portier proxy` to nginx serving files, and
// checks what each side saw.
func TestCurlThroughPortierToNginx(t *testing.T) {
	small := "hello from nginx\n"
	large := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	origin := startNginx(t, map[string]string{"hello.txt": small, "large.bin": large})
	addr, _ := startPortier(t, "proxy", "--from", "127.0.0.1:0", "--to", origin, "--access-log", "off")

	tests := []struct {
		name       string
		path       string
		wantStatus string
		wantBody   string // checked unless empty
	}{
		{name: "small file", path: "/hello.txt", wantStatus: "200", wantBody: small},
		{name: "1 MiB file", path: "/large.bin", wantStatus: "200", wantBody: large},
		{name: "missing file", path: "/missing.txt", wantStatus: "404"},
	}
	const requests = 4
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			url := fmt.Sprintf("http://%s%s?n=[1-%d]", addr, tc.path, requests)
			out := curl(t, "--http1.1", "-o", filepath.Join(dir, "body_#1"), "-w", writeOut, url)
			ts := parseTransfers(t, out)
			if len(ts) != requests {
				t.Fatalf("curl reported %d transfers, want %d", len(ts), requests)
			}
			ids := map[string]bool{}
			for i, tr := range ts {
				checkTransfer(t, i, tr, tc.wantStatus)
				if ids[tr.requestID] {
					t.Errorf("request %d: X-Request-ID %q repeats an earlier one", i+1, tr.requestID)
				}
				ids[tr.requestID] = true
				if got := tr.seen["X-Forwarded-Host"]; got != addr {
					t.Errorf("request %d: nginx saw X-Forwarded-Host %q, want %q", i+1, got, addr)
				}
				if tc.wantBody == "" {
					continue
				}
				body, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("body_%d", i+1)))
				if err != nil {
					t.Fatal(err)
				}
				if string(body) != tc.wantBody {
					t.Errorf("request %d: body of %d bytes differs from the %d-byte file", i+1, len(body), len(tc.wantBody))
				}
			}
		})
	}
}

// checkTransfer checks what every request through Portier to nginx must show.
func checkTransfer(t *testing.T, i int, tr transfer, wantStatus string) {
	t.Helper()
	n := i + 1
	if tr.status != wantStatus {
		t.Errorf("request %d: status %s, want %s", n, tr.status, wantStatus)
	}
	// Keep-alive: curl opens one connection for the first request only.
	wantConnects := "0"
	if i == 0 {
		wantConnects = "1"
	}
	if tr.connects != wantConnects {
		t.Errorf("request %d: curl opened %s connections, want %s", n, tr.connects, wantConnects)
	}
	// RFC 9110 §7.6.3: a proxy adds Via to the messages it forwards, both ways.
	if !strings.HasPrefix(tr.via, "1.1 ") {
		t.Errorf("request %d: response Via %q, want \"1.1 <name>\"", n, tr.via)
	}
	if !strings.HasPrefix(tr.seen["Via"], "1.1 ") {
		t.Errorf("request %d: nginx saw Via %q, want \"1.1 <name>\"", n, tr.seen["Via"])
	}
	if tr.requestID == "" || tr.seen["X-Request-ID"] != tr.requestID {
		t.Errorf("request %d: X-Request-ID %q returned, %q sent to nginx; want the same non-empty id",
			n, tr.requestID, tr.seen["X-Request-ID"])
	}
	if got := tr.seen["X-Forwarded-For"]; got != "127.0.0.1" {
		t.Errorf("request %d: nginx saw X-Forwarded-For %q, want 127.0.0.1", n, got)
	}
	if got := tr.seen["X-Forwarded-Proto"]; got != "http" {
		t.Errorf("request %d: nginx saw X-Forwarded-Proto %q, want http", n, got)
	}
}
