package netcheck

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// recording is a testdata/*.facts.json file: what was checked and what
// the kernel said, recorded from the namespace tests (-record) or written
// by hand.
type recording struct {
	Scope Scope  `json:"scope"`
	Facts *Facts `json:"facts"`
}

// TestGolden replays every recorded table through the analysis and
// compares the findings with testdata/NAME.golden.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.facts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.facts.json")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".facts.json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var r recording
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for _, f := range Replay(r.Scope, r.Facts) {
				out.WriteString(f.String() + "\n")
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != string(want) {
				t.Errorf("findings differ from %s (-update rewrites it):\n%s\nwant:\n%s", golden, out.String(), want)
			}
		})
	}
}
