package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzCompare compares configurations decoded from arbitrary YAML, valid or
// not (validation is left out: Compare must hold for any value of the
// model, duplicate names included), with the checks of checkDiff.
func FuzzCompare(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/diff/*")
	for _, dir := range dirs {
		old, err1 := os.ReadFile(filepath.Join(dir, "old.yaml"))
		new, err2 := os.ReadFile(filepath.Join(dir, "new.yaml"))
		if err1 == nil && err2 == nil {
			f.Add(old, new)
		}
	}
	f.Add([]byte("routes: [{name: a}, {name: a, hosts: [x]}]"), []byte("routes: [{name: a, hosts: [x]}]"))
	f.Add([]byte("backends: [{name: 'a.b', hash_key: ''}]"), []byte("backends: [{name: 'a.b', hash_key: 'none'}]"))
	f.Fuzz(func(t *testing.T, oldData, newData []byte) {
		old, _, err1 := decode("old.yaml", oldData, testEnv)
		new, _, err2 := decode("new.yaml", newData, testEnv)
		if err1 != nil || err2 != nil {
			return
		}
		checkDiff(t, old, new)
	})
}

// checkDiff returns Compare(old, new) after checking what holds for any two
// configurations: Compare does not panic; a configuration does not differ
// from itself; the reverse diff undoes the diff; each change fits on one
// line and shows two different values; and the JSON form reads back to
// the same diff.
func checkDiff(t *testing.T, old, new *Config) Diff {
	t.Helper()
	for _, c := range []*Config{old, new} {
		if d := Compare(c, c); !d.Empty() {
			t.Fatalf("a configuration differs from itself:\n%s", d)
		}
	}
	d := Compare(old, new)
	assertMirror(t, d, Compare(new, old))
	if got, want := strings.Count(d.String(), "\n"), max(len(d.Changes), 1); got != want {
		t.Fatalf("%d changes on %d lines:\n%s", len(d.Changes), got, d)
	}
	for _, c := range d.Changes {
		if c.Path == "" || (c.Op == OpChange || c.Op == OpReorder) && (c.Old == c.New || c.Old == "" || c.New == "") {
			t.Fatalf("change does not show itself: %#v", c)
		}
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Diff
	if err := json.Unmarshal(js, &back); err != nil || !reflect.DeepEqual(back, d) {
		t.Fatalf("JSON %s reads back as %#v, %v", js, back, err)
	}
	return d
}
