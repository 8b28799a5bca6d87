package state

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageBoundary checks the promises of the package doc comment: it
// exists, and the package imports nothing of Portier's but config.
func TestPackageBoundary(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	hasDoc := false
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package state ") {
			hasDoc = true
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/portier/portier/") && p != "github.com/portier/portier/internal/config" {
				t.Errorf("%s imports %s; state may import only config", name, p)
			}
		}
	}
	if !hasDoc {
		t.Error("no file has a package doc comment starting \"Package state \"")
	}
}
