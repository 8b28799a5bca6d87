package state

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load through a real file. Whatever the
// input, Load must not panic; it either accepts the file or refuses it with
// a LoadError, having moved it aside intact; and whatever it accepts
// survives Save and Load unchanged.
func FuzzLoad(f *testing.F) {
	for _, c := range badCases() {
		f.Add([]byte(c.data))
	}
	f.Add([]byte(validFile))
	f.Add([]byte(`{"version":1,"saved":"2026-01-02T03:04:05+01:00","servers":[]}`))
	f.Add([]byte(`{"version":1,"saved":"2026-01-02T03:04:05Z","servers":[` +
		`{"backend":"b","server":"s","identity":{"address":"h:1","server_name":"\u00e9\ud800"},"admin":"maintenance","weight":0,"health":"down","reason":"x","since":"0000-01-01T00:00:00+23:59"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil {
			if got != nil {
				t.Fatalf("Load returned entries with an error: %v", err)
			}
			var le *LoadError
			if !errors.As(err, &le) || le.Aside == "" {
				t.Fatalf("Load refused the file without moving it aside: %v", err)
			}
			kept, rerr := os.ReadFile(le.Aside)
			if rerr != nil || string(kept) != string(data) {
				t.Fatalf("aside file %s does not hold the original bytes: %v", le.Aside, rerr)
			}
			return
		}
		again := filepath.Join(dir, "again.json")
		if err := Save(again, got); err != nil {
			t.Fatalf("Save refused what Load accepted: %v", err)
		}
		back, err := Load(again)
		if err != nil {
			t.Fatalf("Load refused what Save wrote: %v", err)
		}
		// Load keeps file order and Save sorts, so compare as Save sees them.
		if err := Save(path, got); err != nil {
			t.Fatal(err)
		}
		sorted, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		sameEntries(t, back, sorted)
		if len(back) != len(got) {
			t.Fatalf("%d entries came back of %d", len(back), len(got))
		}
	})
}
