package message_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/convo-dev/convo/message"
)

func TestValidate(t *testing.T) {
	valid := []message.Message{
		message.NewUserMessage("hi"),
		message.NewUserMessage(""),
		{Role: message.RoleAssistant}, // no ID: the store assigns one
		{Role: "developer", ID: "x"},  // a role from a later release
		message.NewMessage(message.RoleAssistant, roundTripParts()["mixed"]...),
		message.NewMessage(message.RoleUser, message.Binary{MIMEType: "application/octet-stream", Data: []byte{0xff, 0xfe, 0}}),
		message.NewMessage(message.RoleUser, message.Text{Text: "\x00 nul and \u2028 are valid UTF-8"}),
	}
	for _, m := range valid {
		if err := m.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", m, err)
		}
	}

	const bad = "ok\xff\xfe"
	invalid := map[string]message.Message{
		"empty role":         {ID: "x"},
		"zero message":       {},
		"id":                 {ID: bad, Role: message.RoleUser},
		"role":               {Role: bad},
		"model":              {Role: message.RoleAssistant, Model: bad},
		"text":               message.NewMessage(message.RoleUser, message.Text{Text: bad}),
		"reasoning text":     message.NewMessage(message.RoleAssistant, message.Reasoning{Text: bad}),
		"reasoning sig":      message.NewMessage(message.RoleAssistant, message.Reasoning{Signature: bad}),
		"image url":          message.NewMessage(message.RoleUser, message.ImageURL{URL: bad}),
		"image detail":       message.NewMessage(message.RoleUser, message.ImageURL{URL: "u", Detail: bad}),
		"binary mime":        message.NewMessage(message.RoleUser, message.Binary{MIMEType: bad}),
		"binary name":        message.NewMessage(message.RoleUser, message.Binary{Name: bad}),
		"call id":            message.NewMessage(message.RoleAssistant, message.ToolCall{ID: bad}),
		"call name":          message.NewMessage(message.RoleAssistant, message.ToolCall{Name: bad}),
		"call input":         message.NewMessage(message.RoleAssistant, message.ToolCall{Input: json.RawMessage(bad)}),
		"result call id":     message.NewMessage(message.RoleTool, message.ToolResult{CallID: bad}),
		"result name":        message.NewMessage(message.RoleTool, message.ToolResult{Name: bad}),
		"result content":     message.NewMessage(message.RoleTool, message.ToolResult{Content: bad}),
		"result metadata":    message.NewMessage(message.RoleTool, message.ToolResult{Metadata: json.RawMessage(bad)}),
		"later part invalid": message.NewMessage(message.RoleUser, message.Text{Text: "fine"}, message.Text{Text: "\xc3"}),
		"nil part":           message.NewMessage(message.RoleUser, nil),
		"unknown known type": message.NewMessage(message.RoleUser, message.Unknown{Type: "text", Raw: json.RawMessage(`{"type":"text"}`)}),
		"unknown not object": message.NewMessage(message.RoleUser, message.Unknown{Type: "video", Raw: json.RawMessage(`[]`)}),
	}
	for name, m := range invalid {
		if err := m.Validate(); !errors.Is(err, message.ErrInvalid) {
			t.Errorf("%s: Validate = %v, want an error matching ErrInvalid", name, err)
		}
	}
}

func TestConstructors(t *testing.T) {
	before := time.Now().UnixNano()
	tests := []struct {
		m    message.Message
		role message.Role
	}{
		{message.NewUserMessage("u"), message.RoleUser},
		{message.NewSystemMessage("s"), message.RoleSystem},
		{message.NewAssistantMessage("a"), message.RoleAssistant},
		{message.NewSummaryMessage("z"), message.RoleSummary},
		{message.NewMessage(message.RoleTool, message.Text{Text: "t"}), message.RoleTool},
	}
	after := time.Now().UnixNano()
	for _, tt := range tests {
		m := tt.m
		if m.Role != tt.role {
			t.Errorf("role = %q, want %q", m.Role, tt.role)
		}
		if m.CreatedAt < before || m.CreatedAt > after {
			t.Errorf("%s: CreatedAt = %d, want between %d and %d", m.Role, m.CreatedAt, before, after)
		}
		id, err := uuid.Parse(m.ID)
		if err != nil || id.Version() != 7 || id.String() != m.ID {
			t.Errorf("%s: ID = %q, want a canonical UUIDv7 (%v)", m.Role, m.ID, err)
		}
		if len(m.Parts) != 1 || m.Model != "" || m.Usage != nil {
			t.Errorf("%s: %+v, want one part and nothing else", m.Role, m)
		}
		if !m.Role.Known() {
			t.Errorf("%q.Known() = false", m.Role)
		}
	}
	if got := message.NewUserMessage("hello").Parts; len(got) != 1 || got[0] != (message.Text{Text: "hello"}) {
		t.Errorf("NewUserMessage parts = %#v", got)
	}
	for _, r := range []message.Role{"", "developer", "User"} {
		if r.Known() {
			t.Errorf("%q.Known() = true", r)
		}
	}

	tm := message.NewToolResultMessage(
		message.ToolResult{CallID: "a", Content: "1"},
		message.ToolResult{CallID: "b", Content: "2", IsError: true},
	)
	if tm.Role != message.RoleTool || len(tm.ToolResults()) != 2 || tm.ToolResults()[1].CallID != "b" || tm.ID == "" {
		t.Errorf("NewToolResultMessage = %+v", tm)
	}
	if m := message.NewMessage(message.RoleUser); m.Parts != nil || m.ID == "" {
		t.Errorf("NewMessage without parts = %+v", m)
	}
}

// TestNewIDSortable: IDs made later compare greater as strings, so they
// sort by creation, and they are unique.
func TestNewIDSortable(t *testing.T) {
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = message.NewID()
	}
	for i := 1; i < n; i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("NewID %d = %q is not greater than the one before, %q", i, ids[i], ids[i-1])
		}
	}
	if !slices.IsSorted(ids) {
		t.Fatal("IDs not sorted")
	}
	// Across messages made by the constructors, too.
	a := message.NewUserMessage("a")
	b := message.NewAssistantMessage("b")
	if b.ID <= a.ID {
		t.Errorf("later message ID %q <= earlier %q", b.ID, a.ID)
	}
}

func TestAccessors(t *testing.T) {
	call1 := message.ToolCall{ID: "c1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}
	call2 := message.ToolCall{ID: "c2", Name: "time"}
	res1 := message.ToolResult{CallID: "c1", Content: "rain"}
	img := message.ImageURL{URL: "https://x/cat.png", Detail: "low"}
	bin := message.Binary{MIMEType: "application/pdf", Data: []byte("%PDF"), Name: "a.pdf"}
	r1 := message.Reasoning{Text: "first", Signature: "s1"}
	r2 := message.Reasoning{Signature: "s2", Redacted: true}
	m := message.NewMessage(message.RoleAssistant,
		r1,
		message.Unknown{Type: "video", Raw: json.RawMessage(`{"type":"video"}`)},
		message.Text{Text: "one"},
		call1,
		img,
		message.Text{Text: ""},
		r2,
		bin,
		message.Text{Text: "three"},
		call2,
		res1,
	)
	if got := m.Content(); got != "one" {
		t.Errorf("Content() = %q, want the first text part", got)
	}
	if got := m.Text(); got != "one\n\nthree" {
		t.Errorf("Text() = %q, want every text part joined by newlines", got)
	}
	if diff := cmpDiff([]message.ToolCall{call1, call2}, m.ToolCalls()); diff != "" {
		t.Errorf("ToolCalls (-want +got):\n%s", diff)
	}
	if diff := cmpDiff([]message.ToolResult{res1}, m.ToolResults()); diff != "" {
		t.Errorf("ToolResults (-want +got):\n%s", diff)
	}
	if diff := cmpDiff([]message.ImageURL{img}, m.ImageURLContent()); diff != "" {
		t.Errorf("ImageURLContent (-want +got):\n%s", diff)
	}
	if diff := cmpDiff([]message.Binary{bin}, m.BinaryContent()); diff != "" {
		t.Errorf("BinaryContent (-want +got):\n%s", diff)
	}
	if got := m.ReasoningContent(); got != r1 {
		t.Errorf("ReasoningContent() = %+v, want the first reasoning part", got)
	}
	if diff := cmpDiff([]message.Reasoning{r1, r2}, m.AllReasoning()); diff != "" {
		t.Errorf("AllReasoning (-want +got):\n%s", diff)
	}

	empty := message.Message{Role: message.RoleUser}
	if empty.Content() != "" || empty.Text() != "" || empty.ToolCalls() != nil || empty.ToolResults() != nil ||
		empty.ImageURLContent() != nil || empty.BinaryContent() != nil || empty.ReasoningContent() != (message.Reasoning{}) || empty.AllReasoning() != nil {
		t.Errorf("accessors of an empty message return content")
	}
	if got := message.NewUserMessage("only").Text(); got != "only" {
		t.Errorf("Text() of one part = %q", got)
	}
}

func TestPartTypes(t *testing.T) {
	for _, tt := range []struct {
		p    message.Part
		want string
	}{
		{message.Text{}, "text"},
		{message.Reasoning{}, "reasoning"},
		{message.ImageURL{}, "image_url"},
		{message.Binary{}, "binary"},
		{message.ToolCall{}, "tool_call"},
		{message.ToolResult{}, "tool_result"},
		{message.Unknown{Type: "video"}, "video"},
	} {
		if got := tt.p.PartType(); got != tt.want {
			t.Errorf("%T.PartType() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// Issue 17 item 9: Text was quadratic (string += per part; 10,000 parts took
// 9.6 s). It now allocates once, whatever the number of parts: with the old
// code this test counted one allocation per part.
func TestTextOfManyPartsAllocatesOnce(t *testing.T) {
	parts := make([]message.Part, 10_000)
	for i := range parts {
		parts[i] = message.Text{Text: "word"}
	}
	m := message.NewMessage(message.RoleAssistant, parts...)
	var got string
	allocs := testing.AllocsPerRun(5, func() { got = m.Text() })
	if allocs > 1 {
		t.Errorf("Text of 10,000 parts: %v allocations per call, want 1", allocs)
	}
	if want := strings.Repeat("word\n", 9_999) + "word"; got != want {
		t.Errorf("Text of 10,000 parts: got %d bytes, want %d", len(got), len(want))
	}
	mixed := message.NewMessage(message.RoleAssistant,
		message.Text{Text: "a"}, message.ToolCall{ID: "c", Name: "f", Input: []byte(`{}`)}, message.Text{Text: "b"})
	if got := mixed.Text(); got != "a\nb" {
		t.Errorf("Text of text, call, text = %q, want %q", got, "a\nb")
	}
}

// Issue 14 item 2: a bad field in an import said "Go struct field
// wireMessage.created_at"; errors name the field and JSON types instead.
func TestDecodeErrorsSpeakJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"id":"m1","role":"user","created_at":"yesterday"}`, `field "created_at" holds a JSON string, want an integer`},
		{`{"id":7,"role":"user"}`, `field "id" holds a JSON number, want a string`},
		{`{"id":"m1","role":"user","usage":[1]}`, `field "usage" holds a JSON array, want an object`},
		{`{"id":"m1",`, `unexpected end of JSON input`},
	} {
		var m message.Message
		err := m.UnmarshalJSON([]byte(tc.in))
		if !errors.Is(err, message.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UnmarshalJSON(%s) = %v, want ErrMalformed saying %q", tc.in, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "wire")) {
			t.Errorf("UnmarshalJSON(%s): %v names Go internals", tc.in, err)
		}
	}
}
