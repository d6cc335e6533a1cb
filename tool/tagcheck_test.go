package tool_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/tool"
)

type cutDescription struct {
	City string `json:"city" jsonschema:"description=City name, e.g. Oslo"`
}

type escapedDescription struct {
	City  string   `json:"city" jsonschema:"description=City name\\, e.g. Oslo,minLength=1"`
	Unit  string   `json:"unit,omitempty" jsonschema:"enum=C,enum=F,nullable"`
	Days  int      `json:"days" jsonschema:"required,minimum=1"`
	Skip  string   `json:"-" jsonschema:"-"`
	Notes []string `json:"notes,omitempty" jsonschema:""`
}

type nestedCut struct {
	Stops []struct {
		Name string `json:"name" jsonschema:"description=Stop, in order"`
	} `json:"stops"`
}

// invopop/jsonschema drops a tag item that is not name=value without a
// word, so "description=City name, e.g. Oslo" reached the model as "City
// name" (the README's own sample did, and examples/chat's calculator). A
// Func or SchemaFor with such a tag is now a definition error that names
// the field and the item; escaped commas and the flags invopop knows pass.
func TestBareTagItemIsADefinitionError(t *testing.T) {
	run := func(context.Context, cutDescription) (string, error) { return "", nil }
	ft := tool.Func("weather", "Weather", run)
	err := tool.Validate(ft)
	if !errors.Is(err, tool.ErrInvalidTool) || !errors.Is(ft.Err(), tool.ErrInvalidTool) {
		t.Fatalf("Validate: %v; Err: %v; want ErrInvalidTool", err, ft.Err())
	}
	for _, want := range []string{"cutDescription.City", `" e.g. Oslo"`, `\\,`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := tool.SchemaFor[cutDescription](); !errors.Is(err, tool.ErrInvalidTool) {
		t.Errorf("SchemaFor: %v; want ErrInvalidTool", err)
	}
	if _, err := tool.SchemaFor[nestedCut](); err == nil || !strings.Contains(err.Error(), `" in order"`) {
		t.Errorf("SchemaFor of a nested struct: %v; want the nested field's item named", err)
	}

	ok := tool.Func("weather", "Weather", func(context.Context, escapedDescription) (string, error) { return "", nil })
	if err := tool.Validate(ok); err != nil {
		t.Fatalf("escaped comma and known flags: %v", err)
	}
	var schema struct {
		Properties map[string]struct {
			Description string `json:"description"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(ok.Spec().Parameters, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Properties["city"].Description; got != "City name, e.g. Oslo" {
		t.Errorf("description %q", got)
	}
}
