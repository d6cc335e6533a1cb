package providerrules

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Sources cited below:
//
//   - [sdk] github.com/anthropics/anthropic-sdk-go message.go (v1.84.0), the
//     generated API reference of MessageNewParams and its parts;
//   - [tools] https://platform.claude.com/docs/en/agents-and-tools/tool-use/handle-tool-calls;
//   - [thinking] https://platform.claude.com/docs/en/build-with-claude/extended-thinking
//     ("Thinking isn't compatible with temperature, top_p, or top_k
//     modifications as well as forced tool use", and the tool-use section:
//     the last assistant turn's thinking blocks must be passed back);
//   - the API's own 400 messages, quoted where a rule's wording comes from
//     them, with a public report that shows each one.

// anthropicBody is the part of a Messages API request the rules read.
type anthropicBody struct {
	MaxTokens   *int64          `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	System      json.RawMessage `json:"system"`
	Thinking    *struct {
		Type         string `json:"type"`
		BudgetTokens *int64 `json:"budget_tokens"`
	} `json:"thinking"`
	ToolChoice *struct {
		Type string `json:"type"`
	} `json:"tool_choice"`
	Tools        *[]json.RawMessage `json:"tools"`
	OutputConfig *struct {
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// anthropicBlock is one content block.
type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	ID        string          `json:"id"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

// anthropicBlocks decodes message content, a string or an array of blocks
// (a string is shorthand for one text block [sdk: MessageParam.Content]).
func anthropicBlocks(raw json.RawMessage) ([]anthropicBlock, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []anthropicBlock{{Type: "text", Text: &s}}, nil
	}
	var bs []anthropicBlock
	if err := json.Unmarshal(raw, &bs); err != nil {
		return nil, err
	}
	return bs, nil
}

// CheckAnthropic checks body, the JSON of a Messages API request (POST
// /v1/messages), against the Anthropic rules listed in the package doc. It
// returns nil when every rule holds, or an error joining one *Violation per
// broken rule and place.
func CheckAnthropic(body []byte) error {
	var b anthropicBody
	if err := json.Unmarshal(body, &b); err != nil {
		return &Violation{Rule: "anthropic/body", Detail: "body is not a JSON request object: " + err.Error()}
	}
	var c collector
	thinkingOn := b.Thinking != nil && b.Thinking.Type != "" && b.Thinking.Type != "disabled"

	// System prompt text blocks obey the same non-blank rule as message
	// text blocks: the API answers "system: text content blocks must be
	// non-empty" ([sdk] TextBlockParam is the system prompt's block type).
	if sys := b.System; len(sys) > 0 && string(sys) != "null" {
		var s string
		if json.Unmarshal(sys, &s) != nil {
			blocks, err := anthropicBlocks(sys)
			if err != nil {
				c.add("anthropic/body", "system", "not a string or an array of blocks: %v", err)
			}
			for j, bl := range blocks {
				if bl.Type == "text" && bl.Text != nil && strings.TrimSpace(*bl.Text) == "" {
					c.add("anthropic/text-nonblank", fmt.Sprintf("system[%d]", j), "text block is empty or whitespace only")
				}
			}
		}
	}

	msgs := make([][]anthropicBlock, len(b.Messages))
	hasToolBlocks := false
	for i, m := range b.Messages {
		blocks, err := anthropicBlocks(m.Content)
		if err != nil {
			c.add("anthropic/body", fmt.Sprintf("messages[%d].content", i), "not a string or an array of blocks: %v", err)
			continue
		}
		msgs[i] = blocks
		if m.Role != "user" && m.Role != "assistant" {
			// [sdk] MessageParamRole: "user" or "assistant".
			c.add("anthropic/body", fmt.Sprintf("messages[%d].role", i), "role %q is neither user nor assistant", m.Role)
		}
		for j, bl := range blocks {
			path := fmt.Sprintf("messages[%d].content[%d]", i, j)
			switch bl.Type {
			case "tool_use", "tool_result":
				hasToolBlocks = true
			}
			// Rule anthropic/text-nonblank. The API refuses an empty text
			// block ("messages: text content blocks must be non-empty") and
			// a whitespace-only one ("messages: text content blocks must
			// contain non-whitespace text", reported in
			// github.com/anthropics/claude-code/issues/23440).
			if bl.Type == "text" && (bl.Text == nil || strings.TrimSpace(*bl.Text) == "") {
				c.add("anthropic/text-nonblank", path, "text block is empty or whitespace only")
			}
			if bl.Type == "tool_result" && len(bl.Content) > 0 {
				// A tool result's content is a string or blocks [tools];
				// its text blocks are text blocks like any other. An empty
				// string content is allowed (content is optional [sdk]).
				var s string
				if json.Unmarshal(bl.Content, &s) != nil {
					inner, err := anthropicBlocks(bl.Content)
					if err != nil {
						c.add("anthropic/body", path+".content", "not a string or an array of blocks: %v", err)
					}
					for k, ib := range inner {
						if ib.Type == "text" && (ib.Text == nil || strings.TrimSpace(*ib.Text) == "") {
							c.add("anthropic/text-nonblank", fmt.Sprintf("%s.content[%d]", path, k), "text block is empty or whitespace only")
						}
					}
				}
			}
		}
		// Rule anthropic/content-nonempty: "messages.N: all messages must
		// have non-empty content except for the optional final assistant
		// message" (the API's 400, reported in
		// github.com/anthropics/claude-code/issues/3196).
		if len(blocks) == 0 && !(i == len(b.Messages)-1 && m.Role == "assistant") {
			c.add("anthropic/content-nonempty", fmt.Sprintf("messages[%d]", i), "%s message has no content", m.Role)
		}
	}

	// Rule anthropic/first-message-user: the API answers 'messages: first
	// message must use the "user" role' (reported in
	// github.com/lobehub/lobehub/issues/1601 and
	// github.com/langchain4j/langchain4j/issues/940); [sdk] MessageNewParams
	// .Messages: "Our models are trained to operate on alternating user and
	// assistant conversational turns", the conversation opening with the
	// user's.
	if len(b.Messages) == 0 {
		c.add("anthropic/first-message-user", "messages", "no messages")
	} else if b.Messages[0].Role != "user" {
		c.add("anthropic/first-message-user", "messages[0]", "first message has role %q", b.Messages[0].Role)
	}

	for i, m := range b.Messages {
		if m.Role != "assistant" {
			continue
		}
		var uses []string
		for _, bl := range msgs[i] {
			if bl.Type == "tool_use" {
				uses = append(uses, bl.ID)
			}
		}
		if len(uses) == 0 {
			continue
		}
		// Rules anthropic/tool-use-answered and anthropic/tool-results-first
		// [tools]: the results go back in "a new message with the role of
		// user" holding tool_result blocks with the tool_use_id they answer.
		// The API's messages: "messages.N: `tool_use` ids were found without
		// `tool_result` blocks immediately after: ... Each `tool_use` block
		// must have a corresponding `tool_result` block in the next message"
		// (github.com/anthropics/claude-code/issues/3512) and "Did not find 1
		// `tool_result` block(s) at the beginning of this message. Messages
		// following `tool_use` blocks must begin with a matching number of
		// `tool_result` blocks"
		// (github.com/anthropics/anthropic-sdk-typescript/issues/653).
		if i+1 >= len(b.Messages) || b.Messages[i+1].Role != "user" {
			c.add("anthropic/tool-use-answered", fmt.Sprintf("messages[%d]", i), "tool_use %s not followed by a user turn with its tool_result", strings.Join(uses, ", "))
			continue
		}
		next := msgs[i+1]
		answered := map[string]bool{}
		leading := 0
		for _, bl := range next {
			if bl.Type != "tool_result" {
				break
			}
			leading++
			answered[bl.ToolUseID] = true
		}
		var missing []string
		for _, id := range uses {
			if !answered[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			anywhere := map[string]bool{}
			for _, bl := range next {
				if bl.Type == "tool_result" {
					anywhere[bl.ToolUseID] = true
				}
			}
			var late, absent []string
			for _, id := range missing {
				if anywhere[id] {
					late = append(late, id)
				} else {
					absent = append(absent, id)
				}
			}
			if len(absent) > 0 {
				c.add("anthropic/tool-use-answered", fmt.Sprintf("messages[%d]", i+1), "no tool_result for tool_use %s", strings.Join(absent, ", "))
			}
			if len(late) > 0 {
				c.add("anthropic/tool-results-first", fmt.Sprintf("messages[%d]", i+1), "tool_result for %s comes after another block", strings.Join(late, ", "))
			}
		}
	}

	// Rule anthropic/tool-result-orphan: "messages.N.content.M: unexpected
	// `tool_use_id` found in `tool_result` blocks: ... Each `tool_result`
	// block must have a corresponding `tool_use` block in the previous
	// message" (the API's 400, github.com/anthropics/claude-code/issues/13460).
	for i, m := range b.Messages {
		if m.Role != "user" {
			continue
		}
		prev := map[string]bool{}
		if i > 0 && b.Messages[i-1].Role == "assistant" {
			for _, bl := range msgs[i-1] {
				if bl.Type == "tool_use" {
					prev[bl.ID] = true
				}
			}
		}
		for j, bl := range msgs[i] {
			if bl.Type == "tool_result" && !prev[bl.ToolUseID] {
				c.add("anthropic/tool-result-orphan", fmt.Sprintf("messages[%d].content[%d]", i, j), "tool_result %q answers no tool_use of the previous assistant turn", bl.ToolUseID)
			}
		}
	}

	// Rule anthropic/tools-defined: "Requests which include `tool_use` or
	// `tool_result` blocks must define tools." (the API's 400 to a history
	// with tool blocks sent without tools, as a summary request is; the
	// same rule on Bedrock reads "The toolConfig field must be defined when
	// using toolUse and toolResult content blocks",
	// github.com/strands-agents/harness-sdk/issues/998). What the API
	// wants is the field: anthropic-sdk-go's cassette
	// toolrunner/testdata/cassettes/tool_runner_custom_handling.yaml records
	// the live API answering 200 to tool blocks with "tools":[].
	if hasToolBlocks && b.Tools == nil {
		c.add("anthropic/tools-defined", "tools", "the messages hold tool_use or tool_result blocks but the request has no tools field")
	}

	if thinkingOn {
		// Rule anthropic/thinking-temperature [thinking]: "Thinking isn't
		// compatible with temperature, top_p, or top_k modifications"; the
		// API answers "`temperature` may only be set to 1 when thinking is
		// enabled" (github.com/MartialBE/one-hub/issues/529).
		if b.Temperature != nil && *b.Temperature != 1 {
			c.add("anthropic/thinking-temperature", "temperature", "temperature %v with thinking on (only 1 is allowed)", *b.Temperature)
		}
		// Rule anthropic/thinking-tool-choice [thinking]: "Tool use with
		// thinking only supports tool_choice: {"type": "auto"} (the default)
		// or tool_choice: {"type": "none"}"; the API answers "Thinking may
		// not be enabled when tool_choice forces tool use"
		// (github.com/run-llama/llama_index/issues/19641).
		if tc := b.ToolChoice; tc != nil && (tc.Type == "any" || tc.Type == "tool") {
			c.add("anthropic/thinking-tool-choice", "tool_choice", "tool_choice %q forces tool use with thinking on", tc.Type)
		}
		// Rule anthropic/thinking-budget [sdk] ThinkingConfigEnabledParam
		// .BudgetTokens: "Must be ≥1024 and less than `max_tokens`"; the API
		// answers "`max_tokens` must be greater than
		// `thinking.budget_tokens`".
		if b.Thinking.Type == "enabled" {
			switch {
			case b.Thinking.BudgetTokens == nil:
				c.add("anthropic/thinking-budget", "thinking.budget_tokens", "thinking enabled without budget_tokens")
			case *b.Thinking.BudgetTokens < 1024:
				c.add("anthropic/thinking-budget", "thinking.budget_tokens", "budget_tokens %d is below 1024", *b.Thinking.BudgetTokens)
			case b.MaxTokens != nil && *b.Thinking.BudgetTokens >= *b.MaxTokens:
				c.add("anthropic/thinking-budget", "thinking.budget_tokens", "budget_tokens %d is not below max_tokens %d", *b.Thinking.BudgetTokens, *b.MaxTokens)
			}
		}
		// Rule anthropic/thinking-first [thinking]: when a tool-use turn is
		// continued, the thinking blocks of the last assistant turn must be
		// passed back. The API answers "messages.N.content.0.type: Expected
		// `thinking` or `redacted_thinking`, but found `tool_use`. When
		// `thinking` is enabled, a final `assistant` message must start
		// with a thinking block (preceeding the lastmost set of `tool_use`
		// and `tool_result` blocks)" (github.com/Kilo-Org/kilocode/issues/5219).
		if n := len(b.Messages); n >= 2 && b.Messages[n-1].Role == "user" && b.Messages[n-2].Role == "assistant" {
			continues := false
			for _, bl := range msgs[n-1] {
				if bl.Type == "tool_result" {
					continues = true
				}
			}
			if continues {
				a := msgs[n-2]
				if len(a) == 0 || (a[0].Type != "thinking" && a[0].Type != "redacted_thinking") {
					first := "nothing"
					if len(a) > 0 {
						first = a[0].Type
					}
					c.add("anthropic/thinking-first", fmt.Sprintf("messages[%d].content[0]", n-2), "the tool-use turn being continued starts with %s, not a thinking block", first)
				}
			}
		}
	}
	// Rule anthropic/output-schema [anthropic-so]: every object of the
	// output_config.format schema sets additionalProperties false.
	if oc := b.OutputConfig; oc != nil && oc.Format != nil {
		for _, p := range schemaProblems(oc.Format.Schema, false) {
			c.add("anthropic/output-schema", "output_config.format.schema", "%s", p)
		}
	}
	return c.err()
}
