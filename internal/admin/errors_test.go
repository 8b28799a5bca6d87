package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestErrorsList: GET /api/v1/errors lists the failed requests newest
// first with their ids, server, reason and error; limit bounds it.
func TestErrorsList(t *testing.T) {
	w := newWatched(t)
	tests := []struct {
		name  string
		query string
		code  int
		ids   []string // want, newest first
	}{
		{name: "all", code: 200, ids: []string{w.ids[1], w.ids[0]}},
		{name: "limit", query: "?limit=1", code: 200, ids: []string{w.ids[1]}},
		{name: "limit above what is kept", query: "?limit=1000", code: 200, ids: []string{w.ids[1], w.ids[0]}},
		{name: "zero", query: "?limit=0", code: 400},
		{name: "not a number", query: "?limit=some", code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.Get(w.admin + "/api/v1/errors" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.code)
			}
			if tt.code != 200 {
				var e apiError
				if json.NewDecoder(res.Body).Decode(&e) != nil || e.Code != "bad_limit" {
					t.Errorf("error body %+v", e)
				}
				return
			}
			var list ErrorList
			if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range list.Errors {
				ids = append(ids, e.RequestID)
				if e.Route != "broken" || e.Backend != "broken" || e.Server != "dead" || e.Listener != "web" ||
					e.Reason != "connect_refused" || e.Status != 502 || e.Attempts != 1 || len(e.TraceID) != 32 ||
					!strings.Contains(e.Error, "connection refused") || e.Time.IsZero() {
					t.Errorf("record %+v", e)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("ids %q, want %q", ids, tt.ids)
			}
			if n := len(list.Errors); n == 2 && (list.Errors[0].ConsecutiveFailures != 2 || list.Errors[1].ConsecutiveFailures != 1) {
				t.Errorf("consecutive failures %d, %d; want 2, 1", list.Errors[0].ConsecutiveFailures, list.Errors[1].ConsecutiveFailures)
			}
		})
	}
}
