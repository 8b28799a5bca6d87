package admin

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/portier/portier/internal/config"
)

// TestReloadHistory: GET /api/v1/reloads lists the engine's reloads newest
// first, a served one with its diff, a refused one with its errors.
func TestReloadHistory(t *testing.T) {
	f := newFixture(t)
	get := func(query string) (int, Reloads) {
		t.Helper()
		code, body := call(t, "GET", f.admin+"/api/v1/reloads"+query, "", "")
		var r Reloads
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		return code, r
	}
	if code, r := get(""); code != 200 || r.Reloads == nil || len(r.Reloads) != 0 {
		t.Fatalf("before any reload: %d %+v", code, r)
	}

	next := *f.eng.Snapshot().Config
	next.Backends = slices.Clone(next.Backends)
	next.Backends[0].DrainTimeout = config.Duration(2 * time.Second)
	if res := f.eng.Reload(func() (*config.Config, error) { return &next, nil }); !res.OK() {
		t.Fatal(res.Err)
	}
	bad := config.Errors{{File: "portier.yaml", Line: 7, Path: "backends[0].health.rise", Msg: "must be ≥ 1"}}
	if res := f.eng.Reload(func() (*config.Config, error) { return nil, bad }); res.OK() {
		t.Fatal("a refused reload was recorded as served")
	}

	code, r := get("")
	if code != 200 || len(r.Reloads) != 2 {
		t.Fatalf("after two reloads: %d %+v", code, r)
	}
	refused, served := r.Reloads[0], r.Reloads[1]
	if refused.OK || len(refused.Errors) != 1 || refused.Errors[0].Line != 7 ||
		refused.Error != "portier.yaml:7: backends[0].health.rise: must be ≥ 1" || len(refused.Diff.Changes) != 0 {
		t.Errorf("refused reload: %+v", refused)
	}
	want := []config.Change{{Op: config.OpChange, Path: "backends.pages.drain_timeout", Old: "300ms", New: "2s"}}
	if !served.OK || served.Error != "" || len(served.Errors) != 0 || !slices.Equal(served.Diff.Changes, want) {
		t.Errorf("served reload: %+v, want changes %+v", served, want)
	}
	if served.Time.After(refused.Time) || served.Time.IsZero() {
		t.Errorf("not newest first: %v then %v", refused.Time, served.Time)
	}

	if code, r := get("?limit=1"); code != 200 || len(r.Reloads) != 1 || r.Reloads[0].OK {
		t.Errorf("limit=1: %d %+v", code, r)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=-2"} {
		if code, _ := get(q); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}
