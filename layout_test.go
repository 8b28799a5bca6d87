package portier_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/portier/portier/"

// importRules are the boundaries of the architecture (see the README's
// layout): which of Portier's own packages each package may import, and
// which outside modules it must not. A package missing here may import
// anything; the data path and the model may not.
var importRules = map[string]struct {
	allowed   []string // Portier packages it may import; nil: none
	forbidden []string // module path prefixes it must not import
}{
	"internal/config":        {},
	"internal/provider/file": {allowed: []string{"internal/config"}},
	"internal/state":         {allowed: []string{"internal/config"}},
	"internal/netcheck":      {},
	"internal/router":        {},
	"internal/upstream":      {},
	"internal/balancer":      {allowed: []string{"internal/upstream"}},
	"internal/listener":      {allowed: []string{"internal/config"}, forbidden: sdks},
	"internal/health":        {allowed: []string{"internal/config", "internal/upstream"}, forbidden: sdks},
	"internal/proxy": {
		allowed:   []string{"internal/balancer", "internal/router", "internal/upstream"},
		forbidden: sdks,
	},
}

// sdks are what the data path never imports: it counts with atomics and
// hands spans to hooks, and admin and telemetry turn them into metrics and
// traces.
var sdks = []string{"go.opentelemetry.io/", "github.com/prometheus/", "github.com/chromedp/"}

// TestLayout checks that every package has a doc comment ("Package x ..."
// or "Command x ...") and that the packages of importRules import only
// what they may. Tests are left out: they may use any helper.
func TestLayout(t *testing.T) {
	var dirs []string
	for _, root := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "testdata":
				return filepath.SkipDir
			case d.IsDir():
				dirs = append(dirs, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, "_test.go") })
		if len(files) == 0 {
			continue
		}
		seen++
		checkPackage(t, filepath.ToSlash(dir), files)
	}
	if seen < 10 {
		t.Fatalf("found only %d packages; is the test run from the module root?", seen)
	}
}

func checkPackage(t *testing.T, dir string, files []string) {
	rule, ruled := importRules[dir]
	fset := token.NewFileSet()
	hasDoc := false
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc := f.Doc.Text()
			hasDoc = hasDoc || strings.HasPrefix(doc, "Package "+f.Name.Name+" ") ||
				strings.HasPrefix(doc, "Command ")
		}
		if !ruled {
			continue
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if own, ok := strings.CutPrefix(p, module); ok && !slices.Contains(rule.allowed, own) {
				t.Errorf("%s imports %s; %s may import %s", name, own, dir, allowedText(rule.allowed))
			}
			for _, sdk := range rule.forbidden {
				if strings.HasPrefix(p, sdk) {
					t.Errorf("%s imports %s; the data path imports no SDK", name, p)
				}
			}
		}
	}
	if !hasDoc {
		t.Errorf("%s: no file has a package doc comment", dir)
	}
}

func allowedText(allowed []string) string {
	if len(allowed) == 0 {
		return "nothing of Portier's"
	}
	return "only " + strings.Join(allowed, ", ")
}
