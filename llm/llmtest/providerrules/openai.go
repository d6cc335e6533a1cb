package providerrules

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Sources cited below:
//
//   - [sdk] github.com/openai/openai-go/v3 chatcompletion.go (v3.96.0), the
//     generated API reference of ChatCompletionNewParams and its messages;
//   - [deepseek] https://api-docs.deepseek.com/guides/thinking_mode
//     (Thinking Mode: "Between two user messages, if the model performed
//     tool calls, the reasoning_content of the intermediate assistant
//     messages must take part in the context and must be passed back to the
//     API in all subsequent user turns"; otherwise the API answers 400);
//   - the API's own 400 messages, with a public report that shows each one.

// OpenAIOption adjusts CheckOpenAI to a kind of server.
type OpenAIOption func(*openaiConfig)

type openaiConfig struct {
	thinking bool
}

// ThinkingServer checks for a DeepSeek-style thinking server (DeepSeek's
// thinking mode, Moonshot's Kimi thinking models), which requires each
// assistant message that made tool calls to carry its reasoning_content
// back in every later request (rule openai/reasoning-content).
func ThinkingServer() OpenAIOption { return func(c *openaiConfig) { c.thinking = true } }

type openaiMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	ReasoningContent *string         `json:"reasoning_content"`
	ToolCallID       string          `json:"tool_call_id"`
	ToolCalls        []struct {
		ID string `json:"id"`
	} `json:"tool_calls"`
}

// openaiContentEmpty reports whether content is absent, null, "", or an
// array with no part carrying text or other content.
func openaiContentEmpty(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == ""
	}
	var parts []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Refusal string `json:"refusal"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return false
	}
	for _, p := range parts {
		if p.Text != "" || p.Refusal != "" {
			return false
		}
	}
	return true
}

// CheckOpenAI checks body, the JSON of a Chat Completions request (POST
// /chat/completions), against the OpenAI rules listed in the package doc,
// adjusted by opts. It returns nil when every rule holds, or an error
// joining one *Violation per broken rule and place.
func CheckOpenAI(body []byte, opts ...OpenAIOption) error {
	var cfg openaiConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	var b struct {
		Messages       []openaiMessage `json:"messages"`
		ResponseFormat *struct {
			Type       string `json:"type"`
			JSONSchema *struct {
				Name   string          `json:"name"`
				Schema json.RawMessage `json:"schema"`
				Strict *bool           `json:"strict"`
			} `json:"json_schema"`
		} `json:"response_format"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return &Violation{Rule: "openai/body", Detail: "body is not a JSON request object: " + err.Error()}
	}
	var c collector
	if len(b.Messages) == 0 {
		// [sdk] ChatCompletionNewParams.Messages is required.
		c.add("openai/body", "messages", "no messages")
	}
	// owner[i] is the index of the assistant message whose tool calls the
	// tool message i may answer (the one before its run of tool messages).
	for i := 0; i < len(b.Messages); i++ {
		m := b.Messages[i]
		path := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "assistant":
			// Rule openai/assistant-content [sdk]
			// ChatCompletionAssistantMessageParam.Content: "The contents of
			// the assistant message. Required unless `tool_calls` or
			// `function_call` is specified."
			if len(m.ToolCalls) == 0 && openaiContentEmpty(m.Content) {
				c.add("openai/assistant-content", path, "assistant message has neither content nor tool_calls")
			}
			if len(m.ToolCalls) == 0 {
				continue
			}
			// Rule openai/reasoning-content [deepseek].
			if cfg.thinking && (m.ReasoningContent == nil || *m.ReasoningContent == "") {
				c.add("openai/reasoning-content", path, "assistant message with tool_calls has no reasoning_content")
			}
			// Rule openai/tool-call-answered: "An assistant message with
			// 'tool_calls' must be followed by tool messages responding to
			// each 'tool_call_id'. The following tool_call_ids did not have
			// response messages: ..." (the API's 400, reported in
			// github.com/BerriAI/litellm/issues/10083); [sdk]
			// ChatCompletionToolMessageParam.ToolCallID: "Tool call that this
			// message is responding to."
			answered := map[string]bool{}
			j := i + 1
			for ; j < len(b.Messages) && b.Messages[j].Role == "tool"; j++ {
				answered[b.Messages[j].ToolCallID] = true
			}
			var missing []string
			calls := map[string]bool{}
			for _, tc := range m.ToolCalls {
				calls[tc.ID] = true
				if !answered[tc.ID] {
					missing = append(missing, tc.ID)
				}
			}
			if len(missing) > 0 {
				c.add("openai/tool-call-answered", path, "tool_call_ids without a tool message right after: %s", strings.Join(missing, ", "))
			}
			// Rule openai/tool-message-orphan: "Invalid parameter: messages
			// with role 'tool' must be a response to a preceeding message
			// with 'tool_calls'." (the API's 400, its spelling, reported in
			// github.com/dimagi/open-chat-studio/issues/1659).
			for k := i + 1; k < j; k++ {
				if !calls[b.Messages[k].ToolCallID] {
					c.add("openai/tool-message-orphan", fmt.Sprintf("messages[%d]", k), "tool message answers %q, not a tool call of messages[%d]", b.Messages[k].ToolCallID, i)
				}
			}
			i = j - 1
		case "tool":
			// A tool message not inside the run after an assistant message
			// with tool_calls (those runs are consumed above).
			c.add("openai/tool-message-orphan", path, "tool message %q does not follow an assistant message with tool_calls", m.ToolCallID)
		}
	}
	// Rule openai/strict-schema [openai-strict]: with "strict": true the
	// schema's root is an object, and every object sets
	// additionalProperties false and lists all its properties as required.
	if rf := b.ResponseFormat; rf != nil && rf.Type == "json_schema" && rf.JSONSchema != nil &&
		rf.JSONSchema.Strict != nil && *rf.JSONSchema.Strict {
		var root struct {
			Type any `json:"type"`
		}
		if json.Unmarshal(rf.JSONSchema.Schema, &root) != nil || root.Type != "object" {
			c.add("openai/strict-schema", "response_format.json_schema.schema", `the root is not "type": "object"`)
		}
		for _, p := range schemaProblems(rf.JSONSchema.Schema, true) {
			c.add("openai/strict-schema", "response_format.json_schema.schema", "%s", p)
		}
	}
	return c.err()
}
