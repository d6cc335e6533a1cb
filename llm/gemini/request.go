package gemini

import (
	"encoding/base64"
	"encoding/json"
	"mime"
	"path"
	"regexp"
	"strings"

	"google.golang.org/genai"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// SummaryPrefix starts the system-instruction part a summary message is
// sent as.
const SummaryPrefix = "Summary of the earlier conversation:\n"

// LocalCallIDPrefix starts the ID the client gives a function call that the
// API returned without one. Such IDs are convo's, not the API's, so they are
// not sent back (neither on the call nor on its response): the API matches
// those by name and order. google/adk-go does the same with its "adk-"
// prefix (internal/utils: PopulateClientFunctionCallID,
// RemoveClientFunctionCallID).
const LocalCallIDPrefix = "gemini-call-"

// params is one request as the SDK takes it.
type params struct {
	model    string
	contents []*genai.Content
	config   *genai.GenerateContentConfig
}

func (c *Client) params(req llm.Request) (params, error) {
	p := params{model: req.Model, config: &genai.GenerateContentConfig{}}
	if p.model == "" {
		p.model = c.cfg.model
	}
	if p.model == "" {
		return p, badRequest("no model: set WithModel or Request.Model")
	}
	cfg := p.config
	if c.cfg.includeThoughts || c.cfg.thinkingLevel != "" || c.cfg.thinkingBudget != nil {
		tc := &genai.ThinkingConfig{IncludeThoughts: c.cfg.includeThoughts, ThinkingLevel: genai.ThinkingLevel(c.cfg.thinkingLevel)}
		if b := c.cfg.thinkingBudget; b != nil {
			v := int32(*b)
			tc.ThinkingBudget = &v
		}
		cfg.ThinkingConfig = tc
	}
	var system []*genai.Part
	names := map[string]string{} // call ID → function name, for results without one
	for i, m := range req.Messages {
		switch m.Role {
		case message.RoleSystem:
			if t := m.Text(); !blank(t) {
				system = append(system, &genai.Part{Text: t})
			}
			continue
		case message.RoleSummary:
			if t := m.Text(); !blank(t) {
				system = append(system, &genai.Part{Text: SummaryPrefix + t})
			}
			continue
		}
		role, parts, err := toParts(m, names, fromGemini(m.Model, p.model))
		if err != nil {
			return p, badRequest("message %d (%s): %v", i, m.Role, err)
		}
		if len(parts) == 0 {
			continue
		}
		// Consecutive turns of one role become one content, so that the
		// responses to parallel calls and the user's next words share a
		// user turn and the roles alternate.
		if n := len(p.contents); n > 0 && p.contents[n-1].Role == role {
			p.contents[n-1].Parts = append(p.contents[n-1].Parts, parts...)
			continue
		}
		p.contents = append(p.contents, &genai.Content{Role: role, Parts: parts})
	}
	if len(p.contents) == 0 {
		// The API answers 400 "contents is not specified".
		return p, badRequest("nothing to send: no user, assistant or tool message with content")
	}
	if len(system) > 0 {
		cfg.SystemInstruction = &genai.Content{Parts: system}
	}
	if len(req.Tools) > 0 {
		tool := &genai.Tool{}
		for _, t := range req.Tools {
			fd := &genai.FunctionDeclaration{Name: t.Name, Description: t.Description}
			if len(t.Parameters) > 0 {
				var schema map[string]any
				if err := json.Unmarshal(t.Parameters, &schema); err != nil || schema == nil {
					return p, badRequest("tool %q: parameters are not a JSON object", t.Name)
				}
				if typ, ok := schema["type"]; ok && typ != "object" {
					return p, badRequest("tool %q: parameters must describe an object", t.Name)
				}
				fd.ParametersJsonSchema = schema
			}
			tool.FunctionDeclarations = append(tool.FunctionDeclarations, fd)
		}
		cfg.Tools = []*genai.Tool{tool}
	}
	switch req.ToolChoice.Mode {
	case llm.ToolChoiceAuto:
	case llm.ToolChoiceNone:
		cfg.ToolConfig = &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeNone}}
	case llm.ToolChoiceRequired:
		cfg.ToolConfig = &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{Mode: genai.FunctionCallingConfigModeAny}}
	case llm.ToolChoiceTool:
		if req.ToolChoice.Name == "" {
			return p, badRequest("tool choice %q needs a tool name", req.ToolChoice.Mode)
		}
		cfg.ToolConfig = &genai.ToolConfig{FunctionCallingConfig: &genai.FunctionCallingConfig{
			Mode: genai.FunctionCallingConfigModeAny, AllowedFunctionNames: []string{req.ToolChoice.Name},
		}}
	default:
		return p, badRequest("unknown tool choice mode %q", req.ToolChoice.Mode)
	}
	if req.Temperature != nil {
		t := float32(*req.Temperature)
		cfg.Temperature = &t
	}
	if req.MaxOutputTokens > 0 {
		cfg.MaxOutputTokens = int32(min(req.MaxOutputTokens, 1<<31-1))
	}
	if rf := req.ResponseFormat; rf != nil {
		var schema map[string]any
		if err := json.Unmarshal(rf.Schema, &schema); err != nil || schema == nil {
			return p, badRequest("response format %q: schema is not a JSON object", rf.Name)
		}
		if len(req.Tools) > 0 && beforeGemini3.MatchString(p.model) {
			// The API answers 400 "Function calling with a response mime
			// type: 'application/json' is unsupported" before Gemini 3
			// (github.com/googleapis/python-genai/issues/867).
			return p, badRequest("model %q cannot combine function calling with a JSON response format (Gemini 3 can)", p.model)
		}
		cfg.ResponseMIMEType = "application/json"
		cfg.ResponseJsonSchema = schema
	}
	return p, nil
}

// blank reports whether text is empty or whitespace only. Such text is not
// sent: the SDK drops an empty "text" (omitempty), which would leave a part
// with no data at all, and a whitespace-only one says nothing.
func blank(text string) bool { return strings.TrimSpace(text) == "" }

// beforeGemini3 matches the names of Gemini models older than Gemini 3.
var beforeGemini3 = regexp.MustCompile(`^(models/)?gemini-(1|2)[.-]`)

type partError string

func (e partError) Error() string { return string(e) }

// fromGemini reports whether an assistant message written by model can
// hold Gemini's reasoning for a request to requestModel: model is unknown
// (""), names a Gemini model, or is the model of this request (an alias a
// proxy reports back). Reasoning from other models (Claude's signed
// thinking, say) is not sent, since Gemini cannot verify its signatures.
func fromGemini(model, requestModel string) bool {
	return model == "" || model == requestModel || strings.Contains(strings.ToLower(model), "gemini")
}

// signature decodes a stored thought signature (standard base64, as the
// response carried it). A signature that is not base64 did not come from
// this client and is not sent.
func signature(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// toParts translates a user, assistant or tool message into the parts of a
// "user" or "model" content.
func toParts(m message.Message, names map[string]string, ownReasoning bool) (string, []*genai.Part, error) {
	var parts []*genai.Part
	switch m.Role {
	case message.RoleUser:
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.Text:
				if !blank(p.Text) {
					parts = append(parts, &genai.Part{Text: p.Text})
				}
			case message.ImageURL:
				parts = append(parts, imagePart(p.URL))
			case message.Binary:
				parts = append(parts, &genai.Part{InlineData: &genai.Blob{MIMEType: p.MIMEType, Data: p.Data}})
			case message.Unknown:
			default:
				return "", nil, partError("a user message cannot carry a " + p.PartType() + " part")
			}
		}
		return genai.RoleUser, parts, nil
	case message.RoleAssistant:
		// A Reasoning part without text holds the thought signature of the
		// part after it (see the package doc); pending carries it there.
		var pending []byte
		add := func(part *genai.Part) {
			if pending != nil {
				part.ThoughtSignature, pending = pending, nil
			}
			parts = append(parts, part)
		}
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.Text:
				if !blank(p.Text) {
					add(&genai.Part{Text: p.Text})
				}
			case message.Reasoning:
				if p.Redacted || !ownReasoning {
					continue // another provider's reasoning
				}
				sig := signature(p.Signature)
				if p.Text == "" {
					if sig != nil {
						pending = sig
					}
					continue
				}
				parts = append(parts, &genai.Part{Text: p.Text, Thought: true, ThoughtSignature: sig})
			case message.ToolCall:
				names[p.ID] = p.Name
				args := map[string]any{}
				if len(p.Input) > 0 {
					if err := json.Unmarshal(p.Input, &args); err != nil || args == nil {
						args = map[string]any{} // arguments that are not a JSON object
					}
				}
				fc := &genai.FunctionCall{Name: p.Name, Args: args}
				if !strings.HasPrefix(p.ID, LocalCallIDPrefix) {
					fc.ID = p.ID
				}
				add(&genai.Part{FunctionCall: fc})
			case message.Binary:
				add(&genai.Part{InlineData: &genai.Blob{MIMEType: p.MIMEType, Data: p.Data}})
			case message.Unknown:
			default:
				return "", nil, partError("an assistant message cannot carry a " + p.PartType() + " part")
			}
		}
		if pending != nil {
			// A signature after the last part (a stream's final chunk can
			// carry one alone) goes on the last part that has none.
			for i := len(parts) - 1; i >= 0; i-- {
				if parts[i].ThoughtSignature == nil {
					parts[i].ThoughtSignature = pending
					break
				}
			}
		}
		return genai.RoleModel, parts, nil
	case message.RoleTool:
		for _, p := range m.Parts {
			switch p := p.(type) {
			case message.ToolResult:
				name := p.Name
				if name == "" {
					name = names[p.CallID]
				}
				key := "output"
				if p.IsError {
					key = "error"
				}
				fr := &genai.FunctionResponse{Name: name, Response: map[string]any{key: p.Content}}
				if !strings.HasPrefix(p.CallID, LocalCallIDPrefix) {
					fr.ID = p.CallID
				}
				parts = append(parts, &genai.Part{FunctionResponse: fr})
			case message.Unknown:
			default:
				return "", nil, partError("a tool message cannot carry a " + p.PartType() + " part")
			}
		}
		return genai.RoleUser, parts, nil
	}
	return "", nil, partError("unsupported role")
}

// imagePart sends a base64 data: URL inline and any other URL as fileData,
// with the MIME type its extension names (image/jpeg when it names none).
func imagePart(u string) *genai.Part {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok {
			if mt, ok := strings.CutSuffix(meta, ";base64"); ok {
				if b, err := base64.StdEncoding.DecodeString(data); err == nil {
					return &genai.Part{InlineData: &genai.Blob{MIMEType: mt, Data: b}}
				}
			}
		}
	}
	mt := "image/jpeg"
	if t := mime.TypeByExtension(path.Ext(strings.SplitN(u, "?", 2)[0])); strings.HasPrefix(t, "image/") {
		mt = t
	}
	return &genai.Part{FileData: &genai.FileData{FileURI: u, MIMEType: mt}}
}
