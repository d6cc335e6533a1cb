package message_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
)

// unicodeSamples are strings that must come back exactly: CJK, right-to-left
// scripts, emoji (with ZWJ sequences and skin tones), combining marks, NUL
// and other control characters, JSON's special characters, the separators
// U+2028 and U+2029 (which encoders escape) and HTML-like text (which must not
// come back HTML-escaped).
var unicodeSamples = []string{
	"",
	"plain ascii",
	"用户的问题：今天奥斯陆的天气怎么样？",
	"こんにちは、世界",
	"안녕하세요",
	"مرحبا بالعالم",
	"שלום עולם",
	"mixed: hello مرحبا 123 עולם",
	"🙂👍🏽👩‍👩‍👧‍👦🏳️‍🌈",
	"e\u0301 n\u0303 a\u030a\u0327 Z̷̢͎̈́a̸͉͋l̵̰̓g̶̰͝o̶̜͌",
	"\x00",
	"nul\x00inside\x00",
	"\x01\x02\x1f\x7f\u0080\u009f",
	"\b\f\n\r\t",
	`quote " backslash \ slash /`,
	"\u2028line\u2029para",
	"<script>alert('&amp;')</script>",
	"\ufeffBOM and \ufffd replacement char",
	"\U0010ffff max code point",
	strings.Repeat("é", 1000),
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// roundTripParts is every part type with interesting values.
func roundTripParts() map[string][]message.Part {
	mib := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	cases := map[string][]message.Part{
		"text":                  {message.Text{Text: "What's the weather in Oslo?"}},
		"empty text":            {message.Text{}},
		"text 1MiB":             {message.Text{Text: mib}},
		"reasoning":             {message.Reasoning{Text: "The user wants weather; call the tool.", Signature: "EqQBCkYIARgCIkDx+/=="}},
		"reasoning redacted":    {message.Reasoning{Signature: "ErUBCkYIBRgCIkBcb3BhcXVlIGJsb2I=", Redacted: true}},
		"image url":             {message.ImageURL{URL: "https://example.com/cat.png?a=1&b=<2>", Detail: "high"}},
		"image data url":        {message.ImageURL{URL: "data:image/png;base64,iVBORw0KGgo="}},
		"binary all bytes":      {message.Binary{MIMEType: "application/octet-stream", Data: allBytes(), Name: "all.bin"}},
		"binary no name":        {message.Binary{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}}},
		"binary empty":          {message.Binary{MIMEType: "text/plain"}},
		"binary 1MiB":           {message.Binary{MIMEType: "application/pdf", Data: []byte(mib), Name: "big.pdf"}},
		"tool call":             {message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}},
		"tool call odd json":    {message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage("{ \"b\" : 1,\n\t\"a\":[ 2 ,3 ] }")}},
		"tool call invalid":     {message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city": "Oslo", `)}},
		"tool call not object":  {message.ToolCall{ID: "c", Name: "f", Input: json.RawMessage(`"just a string"`)}},
		"tool call no input":    {message.ToolCall{ID: "c", Name: "f"}},
		"tool call synthesized": {message.ToolCall{ID: "c", Name: "f", Input: json.RawMessage(`{}`), Synthesized: true}},
		"tool result": {message.ToolResult{CallID: "call_1", Name: "weather", Content: "4°C, rain",
			Metadata: json.RawMessage(`{"elapsed_ms": 12, "source":"met.no"}`)}},
		"tool result error":       {message.ToolResult{CallID: "call_1", Name: "weather", Content: "city not found", IsError: true}},
		"tool result synthesized": {message.ToolResult{CallID: "c", Name: "f", Content: "interrupted", IsError: true, Synthesized: true}},
		"tool result bad meta":    {message.ToolResult{CallID: "c", Metadata: json.RawMessage(`not json`)}},
		"unknown":                 {message.Unknown{Type: "video", Raw: json.RawMessage(`{"type":"video","url":"x","extra":{"k":[1,2]}}`)}},
		"mixed": {
			message.Reasoning{Text: "think", Signature: "sig"},
			message.Text{Text: "Let me check."},
			message.ToolCall{ID: "a", Name: "f", Input: json.RawMessage(`{}`)},
			message.Unknown{Type: "x-later", Raw: json.RawMessage(`{ "type" : "x-later" , "n":1 }`)},
			message.ToolCall{ID: "b", Name: "g", Input: json.RawMessage(`[1]`)},
			message.Binary{MIMEType: "audio/wav", Data: []byte{1, 2, 3}},
			message.ImageURL{URL: "u"},
		},
	}
	raw := func(s string) json.RawMessage {
		if s == "" {
			return nil // an empty input or metadata comes back nil
		}
		return json.RawMessage(s)
	}
	for i, s := range unicodeSamples {
		cases[fmt.Sprintf("unicode %02d", i)] = []message.Part{
			message.Text{Text: s},
			message.Reasoning{Text: s, Signature: s},
			message.ImageURL{URL: s, Detail: s},
			message.Binary{MIMEType: s, Data: []byte(s + "\xff"), Name: s},
			message.ToolCall{ID: s, Name: s, Input: raw(s)},
			message.ToolResult{CallID: s, Name: s, Content: s, Metadata: raw(s)},
		}
	}
	return cases
}

func TestPartsRoundTrip(t *testing.T) {
	for name, parts := range roundTripParts() {
		t.Run(name, func(t *testing.T) {
			data, err := message.MarshalParts(parts)
			if err != nil {
				t.Fatalf("MarshalParts: %v", err)
			}
			if !json.Valid(data) {
				t.Fatalf("MarshalParts wrote invalid JSON: %.200q", data)
			}
			got, err := message.UnmarshalParts(data)
			if err != nil {
				t.Fatalf("UnmarshalParts: %v", err)
			}
			if diff := cmpDiff(parts, got); diff != "" {
				t.Errorf("parts changed in a round trip (-want +got):\n%.2000s", diff)
			}
			again, err := message.MarshalParts(got)
			if err != nil {
				t.Fatalf("MarshalParts again: %v", err)
			}
			if !bytes.Equal(data, again) {
				t.Errorf("encoding is not stable:\n first %.300q\nsecond %.300q", data, again)
			}
			if err := message.NewMessage(message.RoleAssistant, parts...).Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for name, parts := range roundTripParts() {
		t.Run(name, func(t *testing.T) {
			m := message.Message{
				ID:        "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
				Role:      message.RoleAssistant,
				Parts:     parts,
				Model:     "gpt-4.1-mini",
				CreatedAt: 1732460000123456789,
				Usage:     &message.Usage{InputTokens: 12, OutputTokens: 7, CacheReadTokens: 3, CacheWriteTokens: 2, ReasoningTokens: 1},
			}
			data, err := m.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if !json.Valid(data) {
				t.Fatalf("MarshalJSON wrote invalid JSON: %.200q", data)
			}
			var got message.Message
			if err := got.UnmarshalJSON(data); err != nil {
				t.Fatalf("UnmarshalJSON: %v", err)
			}
			if diff := cmpDiff(m, got); diff != "" {
				t.Errorf("message changed in a round trip (-want +got):\n%.2000s", diff)
			}
		})
	}

	// Every role, with and without the optional fields, and roles this
	// release does not know.
	for _, m := range []message.Message{
		{},
		{Role: message.RoleUser},
		{ID: "x", Role: message.RoleSystem, Parts: []message.Part{}},
		{ID: "y", Role: message.RoleTool, CreatedAt: -1},
		{ID: "z", Role: message.RoleSummary, Usage: &message.Usage{}},
		{ID: "新", Role: "developer", Model: "m\x00"},
	} {
		data, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON(%+v): %v", m, err)
		}
		var got message.Message
		if err := got.UnmarshalJSON(data); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", data, err)
		}
		// nil and empty Parts both come back empty.
		if diff := cmpDiff(m, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: round trip (-want +got):\n%s", data, diff)
		}
	}
}

func TestMessageJSONInSlice(t *testing.T) {
	// Messages inside other values use MarshalJSON and UnmarshalJSON too.
	in := []message.Message{
		message.NewUserMessage("hi"),
		{ID: "a", Role: message.RoleAssistant, Parts: []message.Part{message.ToolCall{ID: "c", Name: "f", Input: json.RawMessage(`{"x":1}`)}}, CreatedAt: 5},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []message.Message
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmpDiff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestEmptyParts(t *testing.T) {
	for _, parts := range [][]message.Part{nil, {}} {
		data, err := message.MarshalParts(parts)
		if err != nil || string(data) != "[]" {
			t.Errorf("MarshalParts(%#v) = %s, %v; want [], nil", parts, data, err)
		}
	}
	for _, in := range []string{"[]", " [ ] ", "\n[]\n"} {
		got, err := message.UnmarshalParts([]byte(in))
		if err != nil || len(got) != 0 {
			t.Errorf("UnmarshalParts(%q) = %v, %v; want no parts", in, got, err)
		}
	}
}

// TestFieldsOmitted pins the documented rule that zero fields are omitted
// and missing fields read as zero.
func TestFieldsOmitted(t *testing.T) {
	data, err := message.MarshalParts([]message.Part{
		message.Text{}, message.Reasoning{}, message.ImageURL{}, message.Binary{}, message.ToolCall{}, message.ToolResult{},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"type":"text"},{"type":"reasoning"},{"type":"image_url"},{"type":"binary"},{"type":"tool_call"},{"type":"tool_result"}]`
	if string(data) != want {
		t.Errorf("MarshalParts of zero parts =\n%s\nwant\n%s", data, want)
	}
}

func TestUnknownPreservedByteForByte(t *testing.T) {
	raws := []string{
		`{"type":"video","url":"x","extra":{"k":[1,2]}}`,
		"{ \"type\" :\t\"video\" ,\n  \"url\":\"x\",  \"extra\" : { \"k\" : [ 1 , 2 ] } }",
		`{"extra":{"type":"text"},"type":"x-later","n":1.50e+3,"s":"\u00e9\ud83d\ude00"}`,
		`{"type":"future_part"}`,
		`{"type":"video","type2":null,"arr":[],"obj":{}}`,
	}
	for _, raw := range raws {
		in := `[{"type":"text","text":"before"},` + raw + `,{"type":"text","text":"after"}]`
		parts, err := message.UnmarshalParts([]byte(in))
		if err != nil {
			t.Fatalf("UnmarshalParts(%s): %v", in, err)
		}
		if len(parts) != 3 {
			t.Fatalf("UnmarshalParts(%s) gave %d parts, want 3", in, len(parts))
		}
		u, ok := parts[1].(message.Unknown)
		if !ok {
			t.Fatalf("part 1 is %T, want Unknown", parts[1])
		}
		if string(u.Raw) != raw {
			t.Errorf("Unknown.Raw = %s, want %s", u.Raw, raw)
		}
		var probe struct{ Type string }
		_ = json.Unmarshal([]byte(raw), &probe)
		if u.Type != probe.Type || u.PartType() != probe.Type {
			t.Errorf("Unknown.Type = %q, PartType() = %q; want %q", u.Type, u.PartType(), probe.Type)
		}
		out, err := message.MarshalParts(parts)
		if err != nil {
			t.Fatalf("MarshalParts: %v", err)
		}
		if string(out) != in {
			t.Errorf("decode -> encode changed the bytes:\n got %s\nwant %s", out, in)
		}
		// And through a whole message. (json.Marshal of a value holding
		// a Message compacts what MarshalJSON returns, as it does for
		// every json.Marshaler, so only MarshalJSON itself keeps the
		// bytes.)
		m := message.Message{ID: "m", Role: message.RoleUser, Parts: parts}
		data, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back message.Message
		if err := back.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		if got := string(back.Parts[1].(message.Unknown).Raw); got != raw {
			t.Errorf("through a message, Unknown.Raw = %s, want %s", got, raw)
		}
	}
}

// TestUnknownWithForeignFields: a part from a later release may use a field
// name of ours with another JSON type; it is still kept, not refused.
func TestUnknownWithForeignFields(t *testing.T) {
	raws := []string{
		`{"type":"video","text":{"lang":"en"},"data":[1,2,3],"id":42,"is_error":"no","input":{"a":1}}`,
		`{"type":"video","data":"not base64!"}`,
		`{"type":"video","redacted":null,"name":["a"]}`,
	}
	for _, raw := range raws {
		in := `[{"type":"text","text":"a"},` + raw + `,{"type":"binary","data":"AAE="}]`
		parts, err := message.UnmarshalParts([]byte(in))
		if err != nil {
			t.Fatalf("UnmarshalParts(%s): %v", in, err)
		}
		want := []message.Part{
			message.Text{Text: "a"},
			message.Unknown{Type: "video", Raw: json.RawMessage(raw)},
			message.Binary{Data: []byte{0, 1}},
		}
		if diff := cmpDiff(want, parts); diff != "" {
			t.Errorf("UnmarshalParts(%s) (-want +got):\n%s", in, diff)
		}
		out, err := message.MarshalParts(parts)
		if err != nil || string(out) != in {
			t.Errorf("MarshalParts = %s, %v; want %s", out, err, in)
		}
	}
}

func TestUnknownRefused(t *testing.T) {
	bad := []message.Unknown{
		{Type: "text", Raw: json.RawMessage(`{"type":"text","text":"x"}`)},          // claims a known type
		{Type: "tool_call", Raw: json.RawMessage(`{"type":"tool_call"}`)},           // claims a known type
		{Type: "video", Raw: json.RawMessage(`{"type":"text","text":"x"}`)},         // raw is a known type
		{Type: "video", Raw: json.RawMessage(`{"type":"audio"}`)},                   // types differ
		{Type: "video", Raw: json.RawMessage(`{"url":"x"}`)},                        // raw has no type
		{Type: "video", Raw: json.RawMessage(`["type","video"]`)},                   // not an object
		{Type: "video", Raw: json.RawMessage(`"video"`)},                            // not an object
		{Type: "video", Raw: json.RawMessage(`null`)},                               // not an object
		{Type: "video", Raw: json.RawMessage(`42`)},                                 // not an object
		{Type: "video", Raw: nil},                                                   // empty
		{Type: "video", Raw: json.RawMessage(`{"type":"video"`)},                    // truncated
		{Type: "video", Raw: json.RawMessage(`{"type":"video"} {"type":"video"}`)},  // two values
		{Type: "video", Raw: json.RawMessage(`{"type":"video"}],[{"type":"text"}`)}, // injection
		{Type: "", Raw: json.RawMessage(`{"type":""}`)},                             // no type
	}
	for _, u := range bad {
		parts := []message.Part{message.Text{Text: "ok"}, u}
		if data, err := message.MarshalParts(parts); !errors.Is(err, message.ErrInvalid) {
			t.Errorf("MarshalParts(%s) = %s, %v; want an error matching ErrInvalid", u.Raw, data, err)
		}
		m := message.NewMessage(message.RoleUser, parts...)
		if err := m.Validate(); !errors.Is(err, message.ErrInvalid) {
			t.Errorf("Validate with Unknown %s = %v; want ErrInvalid", u.Raw, err)
		}
		if _, err := json.Marshal(m); err == nil {
			t.Errorf("json.Marshal of a message with Unknown %s succeeded", u.Raw)
		}
	}
}

func TestNilPartRefused(t *testing.T) {
	parts := []message.Part{message.Text{Text: "a"}, nil}
	if _, err := message.MarshalParts(parts); !errors.Is(err, message.ErrInvalid) {
		t.Errorf("MarshalParts with a nil part: %v, want ErrInvalid", err)
	}
	if err := (message.Message{Role: message.RoleUser, Parts: parts}).Validate(); !errors.Is(err, message.ErrInvalid) {
		t.Errorf("Validate with a nil part: %v, want ErrInvalid", err)
	}
}

func TestMalformed(t *testing.T) {
	partsCases := map[string]string{
		"empty":                              ``,
		"spaces":                             "  \n ",
		"null":                               `null`,
		"object":                             `{"type":"text","text":"x"}`,
		"string":                             `"[]"`,
		"number":                             `1`,
		"future version":                     `{"v":2,"parts":[{"type":"text","text":"x"}]}`,
		"future version first":               `{"v":2}`,
		"part without type":                  `[{"text":"x"}]`,
		"part with empty type":               `[{"type":"","text":"x"}]`,
		"part null":                          `[null]`,
		"part not object":                    `["text"]`,
		"part number":                        `[1]`,
		"part array":                         `[[{"type":"text"}]]`,
		"type not string":                    `[{"type":1}]`,
		"text not string":                    `[{"type":"text","text":1}]`,
		"redacted not bool":                  `[{"type":"reasoning","redacted":"yes"}]`,
		"data not base64":                    `[{"type":"binary","data":"!!!"}]`,
		"data numbers too big":               `[{"type":"binary","data":[1,2,300]}]`,
		"known part bad field after unknown": `[{"type":"video","text":1},{"type":"text","text":1}]`,
		"unknown then no type":               `[{"type":"video","text":1},{"text":"x"}]`,
		"unknown then null":                  `[{"type":"video","text":1},null]`,
		"unknown then not object":            `[{"type":"video","text":1},"x"]`,
		"unknown type empty":                 `[{"type":"video","text":1},{"type":""}]`,
		"input not string":                   `[{"type":"tool_call","id":"c","input":{"city":"Oslo"}}]`,
		"metadata not string":                `[{"type":"tool_result","metadata":{"k":1}}]`,
		"is_error not bool":                  `[{"type":"tool_result","is_error":1}]`,
		"unknown type not string":            `[{"type":["video"]}]`,
		"truncated":                          `[{"type":"text","text":"hel`,
		"truncated array":                    `[{"type":"text","text":"hello"}`,
		"trailing comma":                     `[{"type":"text"},]`,
		"trailing garbage":                   `[{"type":"text"}] x`,
		"two arrays":                         `[][]`,
		"bad unknown after good":             `[{"type":"text"},{"type":"video",}]`,
		"invalid escape":                     `[{"type":"text","text":"\x"}]`,
		"raw control char":                   "[{\"type\":\"text\",\"text\":\"a\x01b\"}]",
	}
	for name, in := range partsCases {
		t.Run("parts/"+name, func(t *testing.T) {
			got, err := message.UnmarshalParts([]byte(in))
			if !errors.Is(err, message.ErrMalformed) {
				t.Errorf("UnmarshalParts(%q) = %v, %v; want an error matching ErrMalformed", in, got, err)
			}
			if got != nil {
				t.Errorf("UnmarshalParts(%q) returned parts %v with its error", in, got)
			}
		})
	}

	messageCases := map[string]string{
		"empty":             ``,
		"array":             `[]`,
		"string":            `"message"`,
		"truncated":         `{"id":"a","role":"user","parts":[{"type":"text"`,
		"id not string":     `{"id":1,"role":"user","parts":[]}`,
		"role not string":   `{"id":"a","role":true,"parts":[]}`,
		"created_at string": `{"id":"a","role":"user","parts":[],"created_at":"2024-11-24"}`,
		"created_at float":  `{"id":"a","role":"user","parts":[],"created_at":1.5}`,
		"usage not object":  `{"id":"a","role":"user","parts":[],"usage":[1]}`,
		"usage bad field":   `{"id":"a","role":"user","parts":[],"usage":{"input_tokens":"12"}}`,
		"parts object":      `{"id":"a","role":"user","parts":{"type":"text"}}`,
		"parts future":      `{"id":"a","role":"user","parts":{"v":2,"parts":[]}}`,
		"parts string":      `{"id":"a","role":"user","parts":"[]"}`,
		"part without type": `{"id":"a","role":"user","parts":[{"text":"x"}]}`,
		"part wrong field":  `{"id":"a","role":"user","parts":[{"type":"text","text":false}]}`,
	}
	for name, in := range messageCases {
		t.Run("message/"+name, func(t *testing.T) {
			var m message.Message
			if err := json.Unmarshal([]byte(in), &m); err == nil {
				t.Errorf("json.Unmarshal(%q) succeeded: %+v", in, m)
			}
			if err := m.UnmarshalJSON([]byte(in)); !errors.Is(err, message.ErrMalformed) {
				t.Errorf("UnmarshalJSON(%q) = %v; want an error matching ErrMalformed", in, err)
			}
		})
	}

	for _, in := range []string{`[1]`, `"x"`, `{"input_tokens":"1"}`, `{`} {
		if u, err := message.UnmarshalUsage([]byte(in)); !errors.Is(err, message.ErrMalformed) {
			t.Errorf("UnmarshalUsage(%q) = %v, %v; want ErrMalformed", in, u, err)
		}
	}
}

func TestUsageEncoding(t *testing.T) {
	if data, err := message.MarshalUsage(nil); data != nil || err != nil {
		t.Errorf("MarshalUsage(nil) = %q, %v; want nil, nil", data, err)
	}
	if u, err := message.UnmarshalUsage(nil); u != nil || err != nil {
		t.Errorf("UnmarshalUsage(nil) = %v, %v; want nil, nil", u, err)
	}
	for _, u := range []message.Usage{{}, {InputTokens: 1}, {InputTokens: 1 << 62, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, ReasoningTokens: 5}} {
		data, err := message.MarshalUsage(&u)
		if err != nil {
			t.Fatal(err)
		}
		got, err := message.UnmarshalUsage(data)
		if err != nil || got == nil || *got != u {
			t.Errorf("usage %+v: round trip via %s gave %v, %v", u, data, got, err)
		}
	}
	data, _ := message.MarshalUsage(&message.Usage{InputTokens: 12, OutputTokens: 7})
	if string(data) != `{"input_tokens":12,"output_tokens":7}` {
		t.Errorf("MarshalUsage = %s", data)
	}

	a := message.Usage{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, ReasoningTokens: 5}
	if got, want := a.Add(a), (message.Usage{InputTokens: 2, OutputTokens: 4, CacheReadTokens: 6, CacheWriteTokens: 8, ReasoningTokens: 10}); got != want {
		t.Errorf("Add = %+v, want %+v", got, want)
	}
	if !(message.Usage{}).IsZero() {
		t.Errorf("IsZero of the zero Usage = false")
	}
	for _, u := range []message.Usage{a, {InputTokens: 1}, {ReasoningTokens: 1}, {CacheWriteTokens: -1}} {
		if u.IsZero() {
			t.Errorf("IsZero(%+v) = true", u)
		}
	}
}

// embeddedText satisfies Part by embedding Text, but is not a part type
// the encoding knows.
type embeddedText struct{ message.Text }

func TestForeignPartRefused(t *testing.T) {
	parts := []message.Part{embeddedText{message.Text{Text: "x"}}}
	if _, err := message.MarshalParts(parts); !errors.Is(err, message.ErrInvalid) {
		t.Errorf("MarshalParts of a foreign part type: %v, want ErrInvalid", err)
	}
	if err := (message.Message{Role: message.RoleUser, Parts: parts}).Validate(); !errors.Is(err, message.ErrInvalid) {
		t.Errorf("Validate of a foreign part type: %v, want ErrInvalid", err)
	}
	if _, err := (message.Message{Role: message.RoleUser, Parts: parts}).MarshalJSON(); !errors.Is(err, message.ErrInvalid) {
		t.Errorf("MarshalJSON of a foreign part type: %v, want ErrInvalid", err)
	}
}
