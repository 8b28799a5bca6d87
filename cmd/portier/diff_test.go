package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portier/portier/internal/config"
)

func TestDiff(t *testing.T) {
	old := writeFile(t, "old.yaml", `listeners: [{name: web, address: ":8080"}]
routes: [{name: all, backend: pages}]
backends:
  - name: pages
    servers:
      - {name: web-01, address: "127.0.0.1:1443"}
      - {name: web-02, address: "127.0.0.1:1444"}
`)
	new := writeFile(t, "new.yaml", `listeners: [{name: web, address: ":8080"}]
routes: [{name: all, backend: pages}, {name: api, path_prefix: /api, backend: pages}]
backends:
  - name: pages
    health: {path: /status, interval: 5s}
    servers:
      - {name: web-01, address: "127.0.0.1:2443"}
      - {name: web-03, address: "127.0.0.1:1445", weight: 50}
`)
	bad := writeFile(t, "bad.yaml", "listeners: [{name: web, address: nowhere}]\n")
	want := `+ routes.api
~ backends.pages.health: none -> {path: /status, method: GET, interval: 5s, fast_interval: 500ms, down_interval: 5s, timeout: 1s, rise: 2, fall: 3, expect_status: [200-399]}
~ backends.pages.initial_state: up -> down
~ backends.pages.servers.web-01.address: 127.0.0.1:1443 -> 127.0.0.1:2443
- backends.pages.servers.web-02
+ backends.pages.servers.web-03
`
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // exact stdout, unless empty
		wantErr  string // part of stderr
	}{
		{name: "different", args: []string{old, new}, wantCode: 1, wantOut: want},
		{name: "identical", args: []string{old, old}, wantCode: 0, wantOut: "no changes\n"},
		{name: "one file", args: []string{old}, wantCode: 2, wantErr: "Usage: portier diff"},
		{name: "three files", args: []string{old, new, old}, wantCode: 2, wantErr: "Usage: portier diff"},
		{name: "unknown flag", args: []string{"--yaml", old, new}, wantCode: 2, wantErr: "flag provided but not defined"},
		{name: "missing file", args: []string{old, filepath.Join(t.TempDir(), "none.yaml")}, wantCode: 2, wantErr: "no such file"},
		{name: "invalid file", args: []string{bad, old}, wantCode: 2, wantErr: "bad.yaml:1:"},
		{name: "json identical", args: []string{"--json", old, old}, wantCode: 0, wantOut: "{\n  \"changes\": []\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"diff"}, tt.args...)...)
			if code != tt.wantCode || tt.wantOut != "" && out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant it to hold %q",
					code, tt.wantCode, out, tt.wantOut, errOut, tt.wantErr)
			}
		})
	}
	// --json, before or after the files, prints the changes the text lists.
	for _, args := range [][]string{{"diff", "--json", old, new}, {"diff", old, new, "--json"}} {
		code, out, errOut := runCmd(t, args...)
		var d config.Diff
		if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 {
			t.Fatalf("%q: exit %d, %v\n%s%s", args, code, err, out, errOut)
		}
		if d.String() != want {
			t.Errorf("%q: JSON reads back as\n%s\nwant:\n%s", args, d, want)
		}
		if c := d.Changes[3]; c != (config.Change{Op: config.OpChange, Path: "backends.pages.servers.web-01.address",
			Old: "127.0.0.1:1443", New: "127.0.0.1:2443"}) {
			t.Errorf("%q: change 3 = %+v", args, c)
		}
	}
}
