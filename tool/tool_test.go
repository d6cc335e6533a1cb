package tool_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/tool"
)

type addArgs struct {
	A     int    `json:"a" jsonschema:"description=first term"`
	B     int    `json:"b"`
	Note  string `json:"note,omitempty"`
	Inner *struct {
		X string `json:"x"`
	} `json:"inner,omitempty"`
}

func adder() *tool.FuncTool[addArgs, int] {
	return tool.Func("add", "Adds two integers", func(ctx context.Context, a addArgs) (int, error) {
		return a.A + a.B, nil
	})
}

func call(input string) message.ToolCall {
	return message.ToolCall{ID: "c1", Name: "add", Input: json.RawMessage(input)}
}

func TestSchemaFromStruct(t *testing.T) {
	spec := adder().Spec()
	var s struct {
		Type       string                     `json:"type"`
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
		AddProps   *bool                      `json:"additionalProperties"`
		Ref        string                     `json:"$ref"`
		Schema     string                     `json:"$schema"`
	}
	if err := json.Unmarshal(spec.Parameters, &s); err != nil {
		t.Fatal(err)
	}
	if s.Type != "object" || s.Ref != "" || s.Schema != "" {
		t.Errorf("schema not an inlined object: %s", spec.Parameters)
	}
	if strings.Join(s.Required, ",") != "a,b" {
		t.Errorf("required = %v, want [a b]", s.Required)
	}
	if !strings.Contains(string(s.Properties["a"]), "first term") {
		t.Errorf("description missing: %s", s.Properties["a"])
	}
	if s.AddProps == nil || *s.AddProps {
		t.Errorf("additionalProperties should be false: %s", spec.Parameters)
	}
	if spec.Name != "add" || spec.Description != "Adds two integers" {
		t.Errorf("spec = %+v", spec)
	}
	if err := tool.Validate(adder()); err != nil {
		t.Fatal(err)
	}
}

func TestGoodCall(t *testing.T) {
	r := tool.Call(t.Context(), adder(), call(`{"a":2,"b":40}`), 0)
	if r.IsError || r.Content != "42" || r.CallID != "c1" || r.Name != "add" {
		t.Fatalf("result = %+v", r)
	}
}

func TestBadArgumentsBecomeErrorResults(t *testing.T) {
	for name, input := range map[string]string{
		"invalid json":     `{"a":2,`,
		"wrong type":       `{"a":"two","b":1}`,
		"missing required": `{"a":2}`,
		"null required":    `{"a":2,"b":null}`,
		"unknown field":    `{"a":2,"b":1,"c":3}`,
		"not an object":    `[1,2]`,
		"nested missing":   `{"a":1,"b":1,"inner":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := tool.Call(t.Context(), adder(), call(input), 0)
			if !r.IsError || !strings.Contains(r.Content, "invalid arguments") || r.Synthesized {
				t.Fatalf("result = %+v", r)
			}
		})
	}
}

func TestEmptyInputForNoArgs(t *testing.T) {
	now := tool.Func("now", "time", func(ctx context.Context, _ struct{}) (string, error) { return "noon", nil })
	for _, in := range []string{"", "null", "{}", "  "} {
		r := tool.Call(t.Context(), now, message.ToolCall{ID: "x", Name: "now", Input: json.RawMessage(in)}, 0)
		if r.IsError || r.Content != "noon" {
			t.Errorf("input %q: %+v", in, r)
		}
	}
}

func TestToolErrorPanicAndTimeout(t *testing.T) {
	failing := tool.Func("fail", "", func(ctx context.Context, _ struct{}) (string, error) {
		return "", errors.New("disk full")
	})
	r := tool.Call(t.Context(), failing, message.ToolCall{ID: "1", Name: "fail"}, 0)
	if !r.IsError || !strings.Contains(r.Content, "disk full") {
		t.Errorf("error: %+v", r)
	}

	panicking := tool.Func("boom", "", func(ctx context.Context, _ struct{}) (string, error) {
		var m map[string]int
		m["x"] = 1 // nil map write panics
		return "", nil
	})
	r = tool.Call(t.Context(), panicking, message.ToolCall{ID: "2", Name: "boom"}, 0)
	if !r.IsError || !strings.Contains(r.Content, "panicked") {
		t.Errorf("panic: %+v", r)
	}

	release := make(chan struct{})
	defer close(release)
	stuck := tool.Func("stuck", "", func(ctx context.Context, _ struct{}) (string, error) {
		<-release // ignores ctx on purpose
		return "late", nil
	}, tool.WithTimeout(20*time.Millisecond))
	r = tool.Call(t.Context(), stuck, message.ToolCall{ID: "3", Name: "stuck"}, time.Hour)
	if !r.IsError || !r.Synthesized || !strings.Contains(r.Content, "did not finish") {
		t.Errorf("timeout: %+v", r)
	}
}

func TestInterruptedByContext(t *testing.T) {
	started := make(chan struct{})
	slow := tool.Func("slow", "", func(ctx context.Context, _ struct{}) (string, error) {
		close(started)
		<-ctx.Done()
		return "", ctx.Err()
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	r := tool.Call(ctx, slow, message.ToolCall{ID: "4", Name: "slow"}, 0)
	if !r.IsError || !r.Synthesized || r.CallID != "4" {
		t.Fatalf("interrupted: %+v", r)
	}
}

func TestUnknownTool(t *testing.T) {
	r := tool.Call(t.Context(), nil, message.ToolCall{ID: "5", Name: "nope"}, 0)
	if !r.IsError || !strings.Contains(r.Content, "nope") {
		t.Fatalf("%+v", r)
	}
}

func TestResultAndStructOutputs(t *testing.T) {
	withMeta := tool.Func("meta", "", func(ctx context.Context, _ struct{}) (tool.Result, error) {
		return tool.Result{Content: "ok", Metadata: json.RawMessage(`{"rows":3}`)}, nil
	})
	r := tool.Call(t.Context(), withMeta, message.ToolCall{ID: "6", Name: "meta"}, 0)
	if r.Content != "ok" || string(r.Metadata) != `{"rows":3}` {
		t.Errorf("%+v", r)
	}
	type point struct{ X, Y int }
	pt := tool.Func("pt", "", func(ctx context.Context, _ struct{}) (point, error) { return point{1, 2}, nil })
	r = tool.Call(t.Context(), pt, message.ToolCall{ID: "7", Name: "pt"}, 0)
	if r.Content != `{"X":1,"Y":2}` {
		t.Errorf("%+v", r)
	}
}

func TestValidateRejectsBadDefinitions(t *testing.T) {
	notStruct := tool.Func("n", "", func(ctx context.Context, s string) (string, error) { return s, nil })
	if err := notStruct.Err(); !errors.Is(err, tool.ErrInvalidTool) {
		t.Errorf("non-struct args: %v", err)
	}
	type tree struct {
		Name     string `json:"name"`
		Children []tree `json:"children"`
	}
	recursive := tool.Func("tree", "", func(ctx context.Context, _ tree) (string, error) { return "", nil })
	if err := recursive.Err(); !errors.Is(err, tool.ErrInvalidTool) {
		t.Errorf("recursive args: %v", err)
	}
	for name, tools := range map[string][]tool.Tool{
		"bad name":   {tool.Func("has space", "", func(ctx context.Context, _ struct{}) (string, error) { return "", nil })},
		"duplicate":  {adder(), adder()},
		"not struct": {notStruct},
		"nil tool":   {nil},
		"nil func":   {tool.Func[struct{}, string]("x", "", nil)},
	} {
		if err := tool.Validate(tools...); !errors.Is(err, tool.ErrInvalidTool) {
			t.Errorf("%s: want ErrInvalidTool, got %v", name, err)
		}
	}
}
