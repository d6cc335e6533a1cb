package openai

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// SummaryPrefix starts the system message a summary message is sent as.
const SummaryPrefix = "Summary of the earlier conversation:\n"

// params translates req into the SDK's request body.
func (c *Client) params(req llm.Request, stream bool) (sdk.ChatCompletionNewParams, error) {
	var p sdk.ChatCompletionNewParams
	p.Model = shared.ChatModel(req.Model)
	if p.Model == "" {
		p.Model = shared.ChatModel(c.model)
	}
	if p.Model == "" {
		return p, badRequest("no model: set WithModel or Request.Model")
	}
	for i, m := range req.Messages {
		msgs, err := toMessages(m)
		if err != nil {
			return p, badRequestf(i, m, err)
		}
		p.Messages = append(p.Messages, msgs...)
	}
	for _, t := range req.Tools {
		fn := shared.FunctionDefinitionParam{Name: t.Name}
		if t.Description != "" {
			fn.Description = sdk.String(t.Description)
		}
		params := shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		if len(t.Parameters) > 0 {
			params = nil
			if err := json.Unmarshal(t.Parameters, &params); err != nil || params == nil {
				return p, badRequest("tool %q: parameters are not a JSON object", t.Name)
			}
		}
		fn.Parameters = params
		p.Tools = append(p.Tools, sdk.ChatCompletionFunctionTool(fn))
	}
	switch req.ToolChoice.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		p.ToolChoice.OfAuto = sdk.String("none")
	case llm.ToolChoiceRequired:
		p.ToolChoice.OfAuto = sdk.String("required")
	case llm.ToolChoiceTool:
		if req.ToolChoice.Name == "" {
			return p, badRequest("tool choice %q needs a tool name", req.ToolChoice.Mode)
		}
		p.ToolChoice = sdk.ToolChoiceOptionFunctionToolChoice(sdk.ChatCompletionNamedToolChoiceFunctionParam{Name: req.ToolChoice.Name})
	default:
		return p, badRequest("unknown tool choice mode %q", req.ToolChoice.Mode)
	}
	if req.Temperature != nil {
		p.Temperature = sdk.Float(*req.Temperature)
	}
	if req.MaxOutputTokens > 0 {
		if c.legacyMax {
			p.MaxTokens = sdk.Int(int64(req.MaxOutputTokens))
		} else {
			p.MaxCompletionTokens = sdk.Int(int64(req.MaxOutputTokens))
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		name := rf.Name
		if name == "" {
			name = "response"
		}
		js := shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: name}
		if len(rf.Schema) > 0 {
			if !json.Valid(rf.Schema) {
				return p, badRequest("response format %q: schema is not valid JSON", name)
			}
			js.Schema = rf.Schema
		}
		if rf.Strict {
			js.Strict = sdk.Bool(true)
		}
		p.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{JSONSchema: js}
	}
	if stream {
		p.StreamOptions.IncludeUsage = sdk.Bool(true)
	}
	return p, nil
}

type partError struct{ msg string }

func (e *partError) Error() string { return e.msg }

func badRequestf(i int, m message.Message, err error) error {
	return badRequest("message %d (%s): %v", i, m.Role, err)
}

// toMessages translates one convo message into Chat Completions messages.
func toMessages(m message.Message) ([]sdk.ChatCompletionMessageParamUnion, error) {
	switch m.Role {
	case message.RoleSystem:
		return []sdk.ChatCompletionMessageParamUnion{sdk.SystemMessage(textOnly(m))}, nil
	case message.RoleSummary:
		return []sdk.ChatCompletionMessageParamUnion{sdk.SystemMessage(SummaryPrefix + textOnly(m))}, nil
	case message.RoleUser:
		u, err := userContent(m.Parts)
		if err != nil {
			return nil, err
		}
		return []sdk.ChatCompletionMessageParamUnion{{OfUser: &u}}, nil
	case message.RoleAssistant:
		var a sdk.ChatCompletionAssistantMessageParam
		var texts, reasoning []string
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.Text:
				if p.Text != "" {
					texts = append(texts, p.Text)
				}
			case message.ToolCall:
				args := string(p.Input)
				if args == "" {
					args = "{}"
				}
				a.ToolCalls = append(a.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
						ID:       p.ID,
						Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: p.Name, Arguments: args},
					},
				})
			case message.Reasoning:
				// Reasoning a compatible server returned (no signature: a
				// signed block is another provider's and means nothing
				// here).
				if !p.Redacted && p.Signature == "" && p.Text != "" {
					reasoning = append(reasoning, p.Text)
				}
			case message.Unknown:
				// Unknown parts cannot be expressed.
			default:
				return nil, &partError{"an assistant message cannot carry a " + p.PartType() + " part"}
			}
		}
		if len(texts) > 0 {
			a.Content.OfString = sdk.String(strings.Join(texts, "\n"))
		}
		if len(reasoning) > 0 && len(a.ToolCalls) > 0 {
			// DeepSeek's thinking mode (and Kimi's) refuses a request
			// whose earlier tool-call turns lack their reasoning_content
			// ("if the model performed tool calls, the reasoning_content
			// ... must be passed back to the API in all subsequent user
			// turns", api-docs.deepseek.com/guides/thinking_mode). It is
			// sent on those turns only: DeepSeek ignores it on others, and
			// other servers are not sent a field they do not need.
			a.SetExtraFields(map[string]any{"reasoning_content": strings.Join(reasoning, "\n")})
		}
		if len(texts) == 0 && len(a.ToolCalls) == 0 {
			// Nothing the API would accept: content is "Required unless
			// tool_calls or function_call is specified" (openai-go
			// chatcompletion.go). A stored empty answer is skipped so the
			// session stays usable.
			return nil, nil
		}
		return []sdk.ChatCompletionMessageParamUnion{{OfAssistant: &a}}, nil
	case message.RoleTool:
		var out []sdk.ChatCompletionMessageParamUnion
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.ToolResult:
				out = append(out, sdk.ToolMessage(p.Content, p.CallID))
			case message.Unknown:
			default:
				return nil, &partError{"a tool message cannot carry a " + p.PartType() + " part"}
			}
		}
		return out, nil
	default:
		return nil, &partError{"unsupported role"}
	}
}

// textOnly joins the text parts of a system or summary message.
func textOnly(m message.Message) string { return m.Text() }

func userContent(parts []message.Part) (sdk.ChatCompletionUserMessageParam, error) {
	var u sdk.ChatCompletionUserMessageParam
	if len(parts) == 1 {
		if t, ok := parts[0].(message.Text); ok {
			u.Content.OfString = sdk.String(t.Text)
			return u, nil
		}
	}
	var cps []sdk.ChatCompletionContentPartUnionParam
	for _, p := range parts {
		switch p := p.(type) {
		case message.Text:
			cps = append(cps, sdk.TextContentPart(p.Text))
		case message.ImageURL:
			cps = append(cps, sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: p.URL, Detail: p.Detail}))
		case message.Binary:
			dataURL := "data:" + p.MIMEType + ";base64," + base64.StdEncoding.EncodeToString(p.Data)
			switch {
			case strings.HasPrefix(p.MIMEType, "image/"):
				cps = append(cps, sdk.ImageContentPart(sdk.ChatCompletionContentPartImageImageURLParam{URL: dataURL}))
			case p.MIMEType == "application/pdf":
				f := sdk.ChatCompletionContentPartFileFileParam{FileData: sdk.String(dataURL)}
				name := p.Name
				if name == "" {
					name = "document.pdf"
				}
				f.Filename = sdk.String(name)
				cps = append(cps, sdk.FileContentPart(f))
			default:
				return u, &partError{"binary content of type " + p.MIMEType + " cannot be sent"}
			}
		case message.Unknown:
		default:
			return u, &partError{"a user message cannot carry a " + p.PartType() + " part"}
		}
	}
	u.Content.OfArrayOfContentParts = cps
	return u, nil
}
