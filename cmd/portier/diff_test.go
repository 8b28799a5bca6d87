package main

import (
	"strings"
	"testing"
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
    servers:
      - {name: web-01, address: "127.0.0.1:2443"}
      - {name: web-03, address: "127.0.0.1:1445"}
`)
	code, out, errOut := runCmd(t, "diff", old, new)
	want := "+ route api\n+ server pages/web-03\n- server pages/web-02\n~ server pages/web-01: address\n"
	if code != 1 || out != want {
		t.Fatalf("diff: code %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	if code, out, _ := runCmd(t, "diff", old, old); code != 0 || strings.TrimSpace(out) != "no changes" {
		t.Fatalf("identical: code %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, "diff", old); code != 2 || !strings.Contains(errOut, "usage") {
		t.Fatalf("one file: code %d %q", code, errOut)
	}
}
