package netcheck

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageBoundary checks the promises of the package doc comment: it
// exists, and no file of the package (tests aside, which use netlab)
// imports anything of Portier's.
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
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package netcheck ") {
			hasDoc = true
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/portier/portier/") {
				t.Errorf("%s imports %s; netcheck imports nothing of Portier's", name, p)
			}
		}
	}
	if !hasDoc {
		t.Error("no file has a package doc comment starting \"Package netcheck \"")
	}
}
