package tool_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/tool"
)

type point struct {
	X    int    `json:"x"`
	Kind string `json:"kind" jsonschema:"enum=a,enum=b"`
	Tags []struct {
		Name string `json:"name"`
	} `json:"tags"`
}

func TestSchemaDecode(t *testing.T) {
	s, err := tool.SchemaFor[point]()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(s.JSON()), `"additionalProperties":false`) {
		t.Errorf("schema %s", s.JSON())
	}
	p, err := s.Decode([]byte(` {"x":1,"kind":"b","tags":[{"name":"n"}]} `))
	if err != nil || p.X != 1 || p.Kind != "b" || p.Tags[0].Name != "n" {
		t.Fatalf("%+v %v", p, err)
	}
	for name, in := range map[string]string{
		"not JSON":       `{`,
		"not an object":  `"x"`,
		"null":           `null`,
		"missing":        `{"x":1,"kind":"a"}`,
		"enum":           `{"x":1,"kind":"c","tags":[]}`,
		"nested missing": `{"x":1,"kind":"a","tags":[{}]}`,
		"scalar type":    `{"x":"1","kind":"a","tags":[]}`,
		"unknown":        `{"x":1,"kind":"a","tags":[],"y":2}`,
	} {
		if _, err := s.Decode([]byte(in)); !errors.Is(err, tool.ErrSchemaMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := tool.SchemaFor[[]int](); !errors.Is(err, tool.ErrInvalidTool) {
		t.Errorf("slice type: %v", err)
	}
}
