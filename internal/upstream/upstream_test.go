package upstream

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/message"
)

// The fixture rows themselves (every part type, as that project's code
// wrote them) are converted by the stores' upgrade tests; these are the
// cases the fixtures do not hold.

func TestConvertKeepsWhatConvoHasNoFieldFor(t *testing.T) {
	r := Row{ID: "1", SessionID: "s", Role: "assistant", CreatedAt: 5, Parts: []byte(`{"role":"assistant","parts":[` +
		`{"type":"tool_call","data":{"id":"c1","name":"f","input":"{\"a\":","type":"custom","finished":false}},` +
		`{"type":"unknown","data":{"x":1}}]}`)}
	m, err := Convert(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []message.Part{
		message.ToolCall{ID: "c1", Name: "f", Input: json.RawMessage(`{"a":`)},
		message.Unknown{Type: ExtraType, Raw: json.RawMessage(`{"call_id":"c1","call_type":"custom","finished":false,"type":"upstream_tool_call_extra"}`)},
		message.Unknown{Type: "unknown", Raw: json.RawMessage(`{"type":"unknown","data":{"x":1}}`)},
	}
	if diff := cmp.Diff(want, m.Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	// What the stores write back decodes to the same parts.
	b, err := message.MarshalParts(m.Parts)
	if err != nil {
		t.Fatal(err)
	}
	back, err := message.UnmarshalParts(b)
	if err != nil || !cmp.Equal(want, back) {
		t.Errorf("round trip: %v\n%s", err, cmp.Diff(want, back))
	}
}

func TestConvertRefusesWhatItCannotRead(t *testing.T) {
	for name, parts := range map[string]string{
		"not JSON":             `{"role":`,
		"no parts":             `{"role":"user"}`,
		"part not an object":   `{"parts":[1]}`,
		"part without type":    `{"parts":[{"data":{"text":"x"}}]}`,
		"text data not object": `{"parts":[{"type":"text","data":"x"}]}`,
		"binary not base64":    `{"parts":[{"type":"binary","data":{"MIMEType":"a/b","Data":"%%%"}}]}`,
		"signature not base64": `{"parts":[{"type":"tool_call","data":{"id":"c","thought_signature":"%%%"}}]}`,
	} {
		if _, err := Convert(Row{ID: "1", Role: "user", Parts: []byte(parts)}); !errors.Is(err, ErrUnconvertible) {
			t.Errorf("%s: %v, want ErrUnconvertible", name, err)
		}
	}
	if _, err := Convert(Row{ID: "1", Parts: []byte(`{"parts":[]}`)}); !errors.Is(err, ErrUnconvertible) {
		t.Errorf("empty role: %v, want ErrUnconvertible", err)
	}
}
