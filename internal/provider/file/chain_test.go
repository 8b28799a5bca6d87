package file

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup lays out files under base (real, no links) and returns the
		// path to resolve.
		setup      func(t *testing.T, base string) string
		wantLinks  []string // relative to base
		wantEnd    string   // relative to base
		wantExists bool
		wantLoop   bool
	}{
		{
			name: "plain file",
			setup: func(t *testing.T, base string) string {
				writeFile(t, filepath.Join(base, "p.yaml"), "")
				return filepath.Join(base, "p.yaml")
			},
			wantEnd: "p.yaml", wantExists: true,
		},
		{
			name:    "missing file",
			setup:   func(t *testing.T, base string) string { return filepath.Join(base, "p.yaml") },
			wantEnd: "p.yaml",
		},
		{
			name:    "missing directory ends at the first missing component",
			setup:   func(t *testing.T, base string) string { return filepath.Join(base, "etc", "portier", "p.yaml") },
			wantEnd: "etc",
		},
		{
			name: "relative link with dot-dot",
			setup: func(t *testing.T, base string) string {
				writeFile(t, filepath.Join(base, "real.yaml"), "")
				mkdir(t, filepath.Join(base, "etc"))
				symlink(t, "../real.yaml", filepath.Join(base, "etc", "p.yaml"))
				return filepath.Join(base, "etc", "p.yaml")
			},
			wantLinks: []string{"etc/p.yaml"}, wantEnd: "real.yaml", wantExists: true,
		},
		{
			name: "absolute links in a row",
			setup: func(t *testing.T, base string) string {
				writeFile(t, filepath.Join(base, "real.yaml"), "")
				symlink(t, filepath.Join(base, "real.yaml"), filepath.Join(base, "l2"))
				symlink(t, filepath.Join(base, "l2"), filepath.Join(base, "l1"))
				return filepath.Join(base, "l1")
			},
			wantLinks: []string{"l1", "l2"}, wantEnd: "real.yaml", wantExists: true,
		},
		{
			name: "ConfigMap layout",
			setup: func(t *testing.T, base string) string {
				return configMap(t, base, "p.yaml", "2026_01_01", "")
			},
			wantLinks: []string{"p.yaml", "..data"}, wantEnd: "..2026_01_01/p.yaml", wantExists: true,
		},
		{
			name: "link in a directory component",
			setup: func(t *testing.T, base string) string {
				mkdir(t, filepath.Join(base, "opt"))
				writeFile(t, filepath.Join(base, "opt", "p.yaml"), "")
				symlink(t, "opt", filepath.Join(base, "etc"))
				return filepath.Join(base, "etc", "p.yaml")
			},
			wantLinks: []string{"etc"}, wantEnd: "opt/p.yaml", wantExists: true,
		},
		{
			name: "dangling link",
			setup: func(t *testing.T, base string) string {
				symlink(t, "gone.yaml", filepath.Join(base, "p.yaml"))
				return filepath.Join(base, "p.yaml")
			},
			wantLinks: []string{"p.yaml"}, wantEnd: "gone.yaml",
		},
		{
			name: "link loop",
			setup: func(t *testing.T, base string) string {
				symlink(t, "b", filepath.Join(base, "a"))
				symlink(t, "a", filepath.Join(base, "b"))
				return filepath.Join(base, "a")
			},
			wantLoop: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			c, err := resolve(tc.setup(t, base))
			if tc.wantLoop {
				if !errors.Is(err, errLinkLoop) {
					t.Fatalf("resolve: err %v, want a link loop", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			var wantLinks []string
			for _, l := range tc.wantLinks {
				wantLinks = append(wantLinks, filepath.Join(base, filepath.FromSlash(l)))
			}
			if !slices.Equal(c.links, wantLinks) {
				t.Errorf("links %q, want %q", c.links, wantLinks)
			}
			if want := filepath.Join(base, filepath.FromSlash(tc.wantEnd)); c.end != want {
				t.Errorf("end %q, want %q", c.end, want)
			}
			if c.exists != tc.wantExists {
				t.Errorf("exists %v, want %v", c.exists, tc.wantExists)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := configMap(t, base, "p.yaml", "v1", "")
	c, err := resolve(path)
	if err != nil {
		t.Fatal(err)
	}
	watch, names := targets(c)
	v1 := filepath.Join(base, "..v1")
	file := filepath.Join(v1, "p.yaml")
	wantWatch := slices.Sorted(slices.Values([]string{base, v1, file}))
	wantNames := slices.Sorted(slices.Values([]string{base, v1, file, path, filepath.Join(base, "..data")}))
	if got := slices.Sorted(maps.Keys(watch)); !slices.Equal(got, wantWatch) {
		t.Errorf("watch %q, want %q", got, wantWatch)
	}
	if got := slices.Sorted(maps.Keys(names)); !slices.Equal(got, wantNames) {
		t.Errorf("names %q, want %q", got, wantNames)
	}
}

// mkdir creates dir, failing the test on error.
func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
