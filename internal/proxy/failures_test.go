package proxy

import (
	"strconv"
	"strings"
	"testing"
)

func TestFailureLogRing(t *testing.T) {
	tests := []struct {
		name        string
		size, added int
		limit       int
		want        string // request ids, newest first
	}{
		{name: "empty", size: 3, want: ""},
		{name: "partly full", size: 3, added: 2, want: "1 0"},
		{name: "wrapped", size: 3, added: 5, want: "4 3 2"},
		{name: "limited", size: 3, added: 5, limit: 2, want: "4 3"},
		{name: "limit above size", size: 3, added: 1, limit: 10, want: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewFailureLog(tt.size)
			for i := range tt.added {
				l.Add(FailureRecord{RequestID: strconv.Itoa(i)})
			}
			var ids []string
			for _, f := range l.Recent(tt.limit) {
				ids = append(ids, f.RequestID)
			}
			if got := strings.Join(ids, " "); got != tt.want {
				t.Errorf("Recent(%d) = %q, want %q", tt.limit, got, tt.want)
			}
		})
	}
	var nilLog *FailureLog
	nilLog.Add(FailureRecord{})
	if nilLog.Recent(1) != nil {
		t.Error("a nil log returned records")
	}
}

// TestFailureLogTraffic: upstream failures are recorded with their server,
// error and run of consecutive failures; a client's mistake is not.
func TestFailureLogTraffic(t *testing.T) {
	site := failureSite(t)
	site.Routes[0].Backend.Retries = 0
	fl := NewFailureLog(10)
	logs := newLogSink()
	base, c := startProxy(t, NewHandler(Options{Listener: "web", Failures: fl, AccessLog: logs.logger()}, site), false)
	for _, p := range []string{"/refused", "/refused", "/down", "/nothing"} {
		res, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res.Body)
		res.Body.Close()
		line := logs.next(t)
		if p == "/refused" && (line[keyError] == nil || line[keyConsecutive] == nil) {
			t.Errorf("access line of a refused connect lacks error and consecutive_failures: %v", line)
		}
	}
	got := fl.Recent(0)
	if len(got) != 3 {
		t.Fatalf("%d records, want 3 (no_route is the client's): %+v", len(got), got)
	}
	down, second, first := got[0], got[1], got[2]
	if down.Reason != reasonNoHealthyServer || down.Status != 503 || down.Server != "" || !strings.Contains(down.Err, "down-a down") {
		t.Errorf("no_healthy_server record %+v", down)
	}
	if first.Reason != "connect_refused" || first.Server != "refused-a" || first.Backend != "refused" ||
		first.Route != "refused" || first.Listener != "web" || first.Status != 502 || first.Attempts != 1 ||
		!strings.Contains(first.Err, "connection refused") || len(first.TraceID) != 32 || first.RequestID == "" {
		t.Errorf("first refused record %+v", first)
	}
	if first.ConsecutiveFailures != 1 || second.ConsecutiveFailures != 2 {
		t.Errorf("consecutive failures %d then %d, want 1 then 2", first.ConsecutiveFailures, second.ConsecutiveFailures)
	}
}
