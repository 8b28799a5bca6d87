package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestDiffGolden compares each testdata/diff/CASE/{old,new}.yaml and checks
// the text form against diff.golden and the JSON form (as the reload API
// returns it) against diff.json.golden. Refresh them with
//
//	go test ./internal/config -run Diff -update
//
// after a deliberate change, and read what changed in git diff.
func TestDiffGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/diff/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no test cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			d := checkDiff(t, loadFile(t, filepath.Join(dir, "old.yaml")), loadFile(t, filepath.Join(dir, "new.yaml")))
			js, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, "diff.golden"), d.String())
			checkGolden(t, filepath.Join(dir, "diff.json.golden"), string(js)+"\n")
		})
	}
}

func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// loadFile loads a configuration file as Portier does and fails the test
// on any problem, so that the cases stay configurations Portier would take.
func loadFile(t *testing.T, file string) *Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, data, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
