package admin

import (
	"strings"
	"testing"
)

// TestReloadAndUpgradeCalls: both need the token; a process without a
// file to reload or without upgrades answers 501 with a JSON error.
func TestReloadAndUpgradeCalls(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path, auth string
		want       int
		code       string
	}{
		{"/api/v1/reload", "", 401, "unauthorized"},
		{"/api/v1/reload", "Bearer nope", 401, "unauthorized"},
		{"/api/v1/reload", "Bearer " + token, 501, "not_reloadable"},
		{"/api/v1/upgrade", "", 401, "unauthorized"},
		{"/api/v1/upgrade", "Bearer " + token, 501, "not_upgradable"},
	} {
		t.Run(tc.path+" "+tc.auth, func(t *testing.T) {
			code, body := call(t, "POST", f.admin+tc.path, tc.auth, "")
			if code != tc.want || !strings.Contains(body, `"code": "`+tc.code+`"`) {
				t.Fatalf("%d %s, want %d %s", code, body, tc.want, tc.code)
			}
		})
	}
	if code, _ := call(t, "GET", f.admin+"/api/v1/reload", "Bearer "+token, ""); code != 405 && code != 404 {
		t.Errorf("GET /api/v1/reload: %d, want 405 or 404", code)
	}
}
