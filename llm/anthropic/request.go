package anthropic

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// SummaryPrefix starts the system-prompt block a summary message is sent as.
const SummaryPrefix = "Summary of the earlier conversation:\n"

func (c *Client) params(req llm.Request) (sdk.MessageNewParams, error) {
	var p sdk.MessageNewParams
	p.Model = sdk.Model(req.Model)
	if p.Model == "" {
		p.Model = sdk.Model(c.model)
	}
	if p.Model == "" {
		return p, badRequest("no model: set WithModel or Request.Model")
	}
	p.MaxTokens = int64(c.maxTokens)
	if req.MaxOutputTokens > 0 {
		p.MaxTokens = int64(req.MaxOutputTokens)
	}
	if c.thinking > 0 {
		// Refused here rather than by the API after a round trip
		// (budget_tokens "Must be ≥1024 and less than max_tokens",
		// anthropic-sdk-go message.go; "Thinking isn't compatible with
		// temperature ... modifications as well as forced tool use",
		// platform.claude.com/docs/en/build-with-claude/extended-thinking).
		switch {
		case p.MaxTokens <= int64(c.thinking):
			return p, badRequest("max output tokens %d must be above the thinking budget %d", p.MaxTokens, c.thinking)
		case req.Temperature != nil && *req.Temperature != 1:
			return p, badRequest("temperature %v cannot be used with thinking, which allows only 1", *req.Temperature)
		case req.ToolChoice.Mode == llm.ToolChoiceRequired || req.ToolChoice.Mode == llm.ToolChoiceTool:
			return p, badRequest("tool choice %q forces tool use, which thinking does not allow", req.ToolChoice.Mode)
		}
		p.Thinking = sdk.ThinkingConfigParamOfEnabled(int64(c.thinking))
	}
	for i, m := range req.Messages {
		switch m.Role {
		case message.RoleSystem:
			if t := m.Text(); t != "" {
				p.System = append(p.System, sdk.TextBlockParam{Text: t})
			}
			continue
		case message.RoleSummary:
			p.System = append(p.System, sdk.TextBlockParam{Text: SummaryPrefix + m.Text()})
			continue
		}
		role, blocks, err := toBlocks(m, fromClaude(m.Model, string(p.Model)))
		if err != nil {
			return p, badRequest("message %d (%s): %v", i, m.Role, err)
		}
		if len(blocks) == 0 {
			continue
		}
		// Consecutive turns of one role become one message, so that tool
		// results and the user's next words share a user turn.
		if n := len(p.Messages); n > 0 && p.Messages[n-1].Role == role {
			p.Messages[n-1].Content = append(p.Messages[n-1].Content, blocks...)
			continue
		}
		p.Messages = append(p.Messages, sdk.MessageParam{Role: role, Content: blocks})
	}
	if len(req.Tools) == 0 && hasToolBlocks(p.Messages) {
		// The API refuses tool_use or tool_result blocks in a request
		// without a tools field ("Requests which include `tool_use` or
		// `tool_result` blocks must define tools"), which a summary of a
		// history with tool calls is. An empty list is what it wants:
		// anthropic-sdk-go's cassette
		// toolrunner/testdata/cassettes/tool_runner_custom_handling.yaml
		// records the live API answering such a request, "tools":[], with
		// 200.
		p.Tools = []sdk.ToolUnionParam{}
	}
	for _, t := range req.Tools {
		schema, err := inputSchema(t.Parameters)
		if err != nil {
			return p, badRequest("tool %q: %v", t.Name, err)
		}
		tp := sdk.ToolParam{Name: t.Name, InputSchema: schema}
		if t.Description != "" {
			tp.Description = sdk.String(t.Description)
		}
		p.Tools = append(p.Tools, sdk.ToolUnionParam{OfTool: &tp})
	}
	switch req.ToolChoice.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		p.ToolChoice.OfNone = &sdk.ToolChoiceNoneParam{}
	case llm.ToolChoiceRequired:
		p.ToolChoice.OfAny = &sdk.ToolChoiceAnyParam{}
	case llm.ToolChoiceTool:
		if req.ToolChoice.Name == "" {
			return p, badRequest("tool choice %q needs a tool name", req.ToolChoice.Mode)
		}
		p.ToolChoice = sdk.ToolChoiceParamOfTool(req.ToolChoice.Name)
	default:
		return p, badRequest("unknown tool choice mode %q", req.ToolChoice.Mode)
	}
	if req.Temperature != nil {
		p.Temperature = sdk.Float(*req.Temperature)
	}
	if rf := req.ResponseFormat; rf != nil {
		var schema map[string]any
		if err := json.Unmarshal(rf.Schema, &schema); err != nil || schema == nil {
			return p, badRequest("response format %q: schema is not a JSON object", rf.Name)
		}
		p.OutputConfig.Format = sdk.JSONOutputFormatParam{Schema: schema}
	}
	return p, nil
}

// blank reports whether text is empty or whitespace only. The API refuses
// such text blocks ("text content blocks must contain non-whitespace text",
// reported in github.com/anthropics/claude-code/issues/23440), so they are
// not sent: a stored history holding one stays usable.
func blank(text string) bool { return strings.TrimSpace(text) == "" }

// hasToolBlocks reports whether msgs hold a tool_use or tool_result block.
func hasToolBlocks(msgs []sdk.MessageParam) bool {
	for _, m := range msgs {
		for _, b := range m.Content {
			if b.OfToolUse != nil || b.OfToolResult != nil {
				return true
			}
		}
	}
	return false
}

type partError string

func (e partError) Error() string { return string(e) }

// fromClaude reports whether an assistant message written by model can hold
// Anthropic's reasoning for a request to requestModel: model is unknown
// (""), names a Claude model, or is the model of this request (a
// compatible server's or a proxy's name). Reasoning from other models
// (Gemini's thought signatures, say) is not sent: the API cannot verify
// its signatures.
func fromClaude(model, requestModel string) bool {
	return model == "" || model == requestModel || strings.Contains(strings.ToLower(model), "claude")
}

// toBlocks translates a user, assistant or tool message into content blocks;
// ownReasoning says whether an assistant message's reasoning is sent.
func toBlocks(m message.Message, ownReasoning bool) (sdk.MessageParamRole, []sdk.ContentBlockParamUnion, error) {
	var blocks []sdk.ContentBlockParamUnion
	switch m.Role {
	case message.RoleUser:
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.Text:
				if !blank(p.Text) {
					blocks = append(blocks, sdk.NewTextBlock(p.Text))
				}
			case message.ImageURL:
				if mt, data, ok := parseDataURL(p.URL); ok {
					blocks = append(blocks, sdk.NewImageBlockBase64(mt, data))
				} else {
					blocks = append(blocks, sdk.NewImageBlock(sdk.URLImageSourceParam{URL: p.URL}))
				}
			case message.Binary:
				data := base64.StdEncoding.EncodeToString(p.Data)
				switch {
				case strings.HasPrefix(p.MIMEType, "image/"):
					blocks = append(blocks, sdk.NewImageBlockBase64(p.MIMEType, data))
				case p.MIMEType == "application/pdf":
					b := sdk.NewDocumentBlock(sdk.Base64PDFSourceParam{Data: data})
					if p.Name != "" {
						b.OfDocument.Title = sdk.String(p.Name)
					}
					blocks = append(blocks, b)
				default:
					return "", nil, partError("binary content of type " + p.MIMEType + " cannot be sent")
				}
			case message.Unknown:
			default:
				return "", nil, partError("a user message cannot carry a " + p.PartType() + " part")
			}
		}
		return sdk.MessageParamRoleUser, blocks, nil
	case message.RoleAssistant:
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.Text:
				if !blank(p.Text) {
					blocks = append(blocks, sdk.NewTextBlock(p.Text))
				}
			case message.Reasoning:
				switch {
				case !ownReasoning:
				case p.Redacted:
					blocks = append(blocks, sdk.NewRedactedThinkingBlock(p.Signature))
				case p.Signature != "":
					blocks = append(blocks, sdk.NewThinkingBlock(p.Signature, p.Text))
				}
				// Reasoning without a signature (from another provider)
				// cannot be verified by the API and is dropped.
			case message.ToolCall:
				input := json.RawMessage(p.Input)
				if !json.Valid(input) {
					input = json.RawMessage(`{}`)
				}
				blocks = append(blocks, sdk.NewToolUseBlock(p.ID, input, p.Name))
			case message.Unknown:
			default:
				return "", nil, partError("an assistant message cannot carry a " + p.PartType() + " part")
			}
		}
		return sdk.MessageParamRoleAssistant, blocks, nil
	case message.RoleTool:
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.ToolResult:
				b := sdk.ToolResultBlockParam{ToolUseID: p.CallID}
				if !blank(p.Content) {
					b.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: p.Content}}}
				}
				if p.IsError {
					b.IsError = sdk.Bool(true)
				}
				blocks = append(blocks, sdk.ContentBlockParamUnion{OfToolResult: &b})
			case message.Unknown:
			default:
				return "", nil, partError("a tool message cannot carry a " + p.PartType() + " part")
			}
		}
		return sdk.MessageParamRoleUser, blocks, nil
	}
	return "", nil, partError("unsupported role")
}

// parseDataURL splits a base64 data: URL into its media type and data.
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, found = strings.CutSuffix(meta, ";base64")
	if !found {
		return "", "", false
	}
	return mediaType, data, true
}

// inputSchema turns a tool's JSON schema into the SDK's input schema,
// keeping every keyword.
func inputSchema(raw json.RawMessage) (sdk.ToolInputSchemaParam, error) {
	var s sdk.ToolInputSchemaParam
	if len(raw) == 0 {
		s.Properties = map[string]any{}
		return s, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return s, partError("parameters are not a JSON object")
	}
	if t, ok := m["type"]; ok && t != "object" {
		return s, partError("parameters must describe an object")
	}
	delete(m, "type")
	if props, ok := m["properties"]; ok {
		s.Properties = props
		delete(m, "properties")
	}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				s.Required = append(s.Required, name)
			}
		}
		delete(m, "required")
	}
	if len(m) > 0 {
		s.ExtraFields = m
	}
	return s, nil
}
