package sessiontest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func testContent(t *testing.T, s *suite) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	unknownRaw := `{"type":"x_future_part","z":1, "a":[true,null,{"nested":"é\u00e9"}],"type2":"  spaced  "}`
	cases := []struct {
		name string
		msg  message.Message
	}{
		{"every_part_type", message.Message{
			ID:   message.NewID(),
			Role: message.RoleAssistant,
			Parts: []message.Part{
				message.Text{Text: "hello"},
				message.Reasoning{Text: "thinking", Signature: "sig-abc=="},
				message.Reasoning{Signature: "ENCRYPTED", Redacted: true},
				message.ImageURL{URL: "https://example.com/a.png", Detail: "high"},
				message.ImageURL{URL: "data:image/png;base64,iVBORw0KGgo="},
				message.Binary{MIMEType: "application/pdf", Data: []byte("%PDF-1.7"), Name: "a.pdf"},
				message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
				message.ToolCall{ID: "call_2", Name: "noop", Synthesized: true},
				message.ToolResult{CallID: "call_1", Name: "weather", Content: "12°C", Metadata: json.RawMessage(`{"ms":12}`)},
				message.ToolResult{CallID: "call_2", Name: "noop", Content: "interrupted", IsError: true, Synthesized: true},
				message.Unknown{Type: "x_future_part", Raw: json.RawMessage(unknownRaw)},
			},
			Model:     "gpt-4.1-2025-04-14",
			CreatedAt: 1732460000123456789,
			Usage:     &message.Usage{InputTokens: 12, OutputTokens: 7, CacheReadTokens: 3, CacheWriteTokens: 2, ReasoningTokens: 5},
		}},
		{"unknown_part_kept_byte_for_byte", message.NewMessage(message.RoleAssistant,
			message.Unknown{Type: "x_future_part", Raw: json.RawMessage(unknownRaw)},
			message.Unknown{Type: "another.kind", Raw: json.RawMessage(`{ "type" : "another.kind" }`)})},
		{"reasoning_signature_kept", message.NewMessage(message.RoleAssistant,
			message.Reasoning{Text: "step 1\nstep 2", Signature: strings.Repeat("EqQBCkgIARABGAIiQL", 40)},
			message.Reasoning{Signature: "redacted-data", Redacted: true})},
		{"binary_with_all_256_byte_values", message.NewMessage(message.RoleUser,
			message.Binary{MIMEType: "application/octet-stream", Data: allBytes, Name: "bytes.bin"})},
		{"text_of_1_MiB", message.NewMessage(message.RoleUser,
			message.Text{Text: strings.Repeat("0123456789abcdé\n", 1<<16)})},
		{"tool_call_input_not_valid_JSON_kept", message.NewMessage(message.RoleAssistant,
			message.ToolCall{ID: "c1", Name: "broken", Input: json.RawMessage(`{"city": "Os`)})},
		{"tool_call_input_spacing_and_key_order_kept", message.NewMessage(message.RoleAssistant,
			message.ToolCall{ID: "c1", Name: "t", Input: json.RawMessage("{ \"z\": 1,\n  \"a\" : [2,1], \"z2\":1.50 }")})},
		{"tool_result_metadata_kept", message.NewMessage(message.RoleTool,
			message.ToolResult{CallID: "c1", Name: "t", Content: "done", Metadata: json.RawMessage(`{"b":2, "a":{"x":[1,2]}}`)},
			message.ToolResult{CallID: "c2", Name: "t", Content: "", Metadata: json.RawMessage(`not json either`)})},
		{"unicode_text_kept", message.NewMessage(message.RoleUser,
			message.Text{Text: "中文 日本語 한국어 | עברית العربية | 👩‍👩‍👧 🏳️‍🌈 🦜 | e\u0301 é | \x00 nul \x01\x1f\x7f | \ufeff\u2028\u2029 | \U0010FFFF"})},
		{"unicode_in_every_field_kept", message.Message{ID: "ид-🆔", Role: "ролль", Model: "模型-✓",
			Parts: []message.Part{
				message.ToolCall{ID: "呼叫", Name: "outil_é", Input: json.RawMessage(`{"q":"日本"}`)},
				message.ToolResult{CallID: "呼叫", Name: "outil_é", Content: "résultat \x00"},
				message.Binary{MIMEType: "text/plain; charset=utf-8", Data: []byte("ü"), Name: "файл.txt"},
			}, CreatedAt: 42}},
		{"model_usage_and_nanosecond_CreatedAt_kept", message.Message{ID: message.NewID(), Role: message.RoleAssistant,
			Parts: []message.Part{message.Text{Text: "x"}}, Model: "claude-sonnet-4-5",
			CreatedAt: 1732460000999999999, Usage: &message.Usage{OutputTokens: 1}}},
		{"unknown_role_kept", message.NewMessage("narrator", message.Text{Text: "meanwhile"})},
		{"message_without_parts_kept", message.Message{ID: message.NewID(), Role: message.RoleAssistant, CreatedAt: 7}},
		{"empty_strings_kept", message.NewMessage(message.RoleAssistant,
			message.Text{}, message.ToolCall{ID: "c", Name: "t"}, message.ToolResult{CallID: "c"})},
		{"many_parts_kept_in_order", manyParts(200)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, sess := s.withSession(t)
			want := []message.Message{message.NewUserMessage("before"), c.msg, message.NewUserMessage("after")}
			add(t, sess, want...)
			sameMessages(t, "GetMessages on the same handle", want, all(t, sess))
			sameMessages(t, "GetMessages on a loaded handle", want, all(t, load(t, st, "s1")))
			sameMessages(t, "GetMessages(2)", want[1:], get(t, sess, session.Limit(2)))
			if _, err := sess.PopMessage(t.Context()); err != nil {
				t.Fatalf("PopMessage: %v", err)
			}
			popped, err := sess.PopMessage(t.Context())
			if err != nil || popped == nil {
				t.Fatalf("PopMessage = %v, %v", popped, err)
			}
			sameMessages(t, "popped message", want[1:2], []message.Message{*popped})
		})
	}
}

func manyParts(n int) message.Message {
	parts := make([]message.Part, n)
	for i := range parts {
		switch i % 3 {
		case 0:
			parts[i] = message.Text{Text: strings.Repeat("p", i)}
		case 1:
			parts[i] = message.ToolCall{ID: "c" + strings.Repeat("x", i), Name: "t", Input: json.RawMessage(`{}`)}
		default:
			parts[i] = message.Binary{MIMEType: "application/octet-stream", Data: []byte{byte(i)}}
		}
	}
	return message.NewMessage(message.RoleAssistant, parts...)
}
