package session_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeNamesEveryCapability checks that the README's list of what
// stores and sessions offer names every optional capability this package
// declares (every exported interface but Store and Session), as
// `session.Name`, so that a new capability is not left out of it.
func TestReadmeNamesEveryCapability(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				ts := s.(*ast.TypeSpec)
				if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() &&
					ts.Name.Name != "Store" && ts.Name.Name != "Session" {
					names = append(names, ts.Name.Name)
				}
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found %d capability interfaces (%v); the scan is broken", len(names), names)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`session."+n+"`") {
			t.Errorf("README.md does not name the capability `session.%s`", n)
		}
	}
}
