package providerrules

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Sources cited below:
//
//   - [sdk] google.golang.org/genai types.go (v1.77.0), the generated
//     reference of Content, Part, FunctionCall and FunctionResponse;
//   - [signatures] https://ai.google.dev/gemini-api/docs/thought-signatures
//     (Gemini 3 validates thought signatures on function calls of the
//     current turn, the turn since the last user message that is not only
//     function responses; in parallel calls only the first functionCall part
//     of a step carries one; a missing one is a 400);
//   - the API's own 400 messages, with a public report that shows each one.

// GeminiOption adjusts CheckGemini to a kind of model.
type GeminiOption func(*geminiConfig)

type geminiConfig struct {
	gemini3 bool
}

// Gemini3 checks for a Gemini 3 model, which refuses a function-calling
// loop whose function calls come back without their thought signatures
// (rule gemini/thought-signature).
func Gemini3() GeminiOption { return func(c *geminiConfig) { c.gemini3 = true } }

// geminiPart is the part of a Part the rules read.
type geminiPart struct {
	Text             *string         `json:"text"`
	Thought          bool            `json:"thought"`
	ThoughtSignature string          `json:"thoughtSignature"`
	InlineData       json.RawMessage `json:"inlineData"`
	FileData         json.RawMessage `json:"fileData"`
	FunctionCall     *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"functionResponse"`
	ExecutableCode      json.RawMessage `json:"executableCode"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult"`
}

// hasData reports whether p carries one of the data fields of Part's
// "data" oneof.
func (p geminiPart) hasData() bool {
	set := func(r json.RawMessage) bool { return len(r) > 0 && string(r) != "null" }
	return (p.Text != nil && *p.Text != "") || set(p.InlineData) || set(p.FileData) ||
		p.FunctionCall != nil || p.FunctionResponse != nil || set(p.ExecutableCode) || set(p.CodeExecutionResult)
}

type geminiContent struct {
	Role  string       `json:"role"`
	Parts []geminiPart `json:"parts"`
}

func (c geminiContent) calls() (n int, first int) {
	first = -1
	for j, p := range c.Parts {
		if p.FunctionCall != nil {
			if first < 0 {
				first = j
			}
			n++
		}
	}
	return n, first
}

func (c geminiContent) responses() int {
	n := 0
	for _, p := range c.Parts {
		if p.FunctionResponse != nil {
			n++
		}
	}
	return n
}

// CheckGemini checks body, the JSON of a Gemini API generateContent request
// (POST /v1beta/models/{model}:generateContent), against the Gemini rules
// listed in the package doc, adjusted by opts. It returns nil when every
// rule holds, or an error joining one *Violation per broken rule and place.
func CheckGemini(body []byte, opts ...GeminiOption) error {
	var cfg geminiConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	var b struct {
		Contents []geminiContent `json:"contents"`
		Tools    []struct {
			FunctionDeclarations []json.RawMessage `json:"functionDeclarations"`
		} `json:"tools"`
		GenerationConfig *struct {
			ResponseMIMEType string `json:"responseMimeType"`
		} `json:"generationConfig"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return &Violation{Rule: "gemini/body", Detail: "body is not a JSON request object: " + err.Error()}
	}
	var c collector
	if len(b.Contents) == 0 {
		// "* GenerateContentRequest.contents: contents is not specified"
		// (the API's 400, reported in
		// github.com/quarkiverse/quarkus-langchain4j/pull/2480).
		c.add("gemini/body", "contents", "no contents")
	}
	role := func(i int) string {
		if r := b.Contents[i].Role; r != "" {
			return r
		}
		return "user" // [sdk] Content.Role: "If not set, the service will default to 'user'."
	}
	for i, ct := range b.Contents {
		path := fmt.Sprintf("contents[%d]", i)
		// Rule gemini/role [sdk] Content.Role: "Must be either 'user' or
		// 'model'."
		if r := role(i); r != "user" && r != "model" {
			c.add("gemini/role", path+".role", "role %q is neither user nor model", r)
		}
		// Rule gemini/parts-nonempty: "* GenerateContentRequest.contents[41]
		// .parts: contents.parts must not be empty." (the API's 400,
		// reported in github.com/langchain-ai/langchain-google/issues/691).
		if len(ct.Parts) == 0 {
			c.add("gemini/parts-nonempty", path+".parts", "content has no parts")
		}
		// Rule gemini/part-data: "* GenerateContentRequest.contents[33]
		// .parts[0].data: required oneof field 'data' must have one
		// initialized field" (the API's 400, reported in
		// github.com/boldsoftware/sketch/issues/68): a part with only a
		// thought signature, or an empty text, has none.
		for j, p := range ct.Parts {
			if !p.hasData() {
				c.add("gemini/part-data", fmt.Sprintf("%s.parts[%d]", path, j), "part carries no data (text, inlineData, fileData, functionCall, functionResponse, ...)")
			}
		}
	}

	// Turns of one role in a row are accepted: go-genai's golden request
	// testdata/golden/TestModelsGenerateContent_WithUnionContents.mldev.json
	// sends three user contents in a row (an alternation rule, which
	// gemini-pro enforced in 2024, github.com/Portkey-AI/gateway/pull/246,
	// is not checked; convo's client merges such turns anyway).
	// Rule gemini/ends-with-user: the request ends with a user turn (a
	// prompt or function responses): "Please ensure that multiturn requests
	// ends with a user role or a function response." (the API's 400,
	// reported in github.com/songquanpeng/one-api/issues/836; still so for
	// generateContent per github.com/crewAIInc/crewAI/pull/6973).
	if n := len(b.Contents); n > 0 && role(n-1) != "user" {
		c.add("gemini/ends-with-user", fmt.Sprintf("contents[%d]", n-1), "the request ends with a %s turn", role(n-1))
	}

	for i, ct := range b.Contents {
		path := fmt.Sprintf("contents[%d]", i)
		n, _ := ct.calls()
		if n > 0 {
			// Rule gemini/function-call-turn: "Please ensure that function
			// call turn comes immediately after a user turn or after a
			// function response turn." (the API's 400, reported for a
			// history starting with a function call in
			// github.com/google-gemini/gemini-cli/issues/11814).
			if role(i) != "model" {
				c.add("gemini/function-call-turn", path, "function calls in a %s content", role(i))
			} else if i == 0 || role(i-1) != "user" {
				c.add("gemini/function-call-turn", path, "function call turn does not follow a user turn")
			}
		}
		if r := ct.responses(); r > 0 {
			// Rule gemini/function-response-turn: "Please ensure that
			// function response turn comes immediately after a function
			// call turn." (the API's 400, reported in
			// github.com/GoogleCloudPlatform/generative-ai/pull/368).
			if prev := i - 1; prev < 0 || role(prev) != "model" || func() bool { k, _ := b.Contents[prev].calls(); return k == 0 }() {
				c.add("gemini/function-response-turn", path, "function responses do not follow a function call turn")
			}
		}
		if n == 0 || i+1 >= len(b.Contents) {
			continue
		}
		next := b.Contents[i+1]
		// Rule gemini/function-response-count: "Please ensure that the
		// number of function response parts is equal to the number of
		// function call parts of the function call turn." (the API's 400,
		// reported in github.com/google-gemini/gemini-cli/issues/16415).
		if r := next.responses(); role(i+1) != "user" || r != n {
			c.add("gemini/function-response-count", fmt.Sprintf("contents[%d]", i+1), "%d function calls answered by %d function responses", n, next.responses())
		}
		// Rule gemini/function-response-match [sdk] FunctionResponse.Name:
		// "Matches FunctionDeclaration.name and FunctionCall.name";
		// FunctionResponse.ID: "Populated by the client to match the
		// corresponding function call id".
		names := map[string]int{}
		ids := map[string]bool{}
		for _, p := range ct.Parts {
			if fc := p.FunctionCall; fc != nil {
				names[fc.Name]++
				if fc.ID != "" {
					ids[fc.ID] = true
				}
			}
		}
		for j, p := range next.Parts {
			fr := p.FunctionResponse
			if fr == nil {
				continue
			}
			at := fmt.Sprintf("contents[%d].parts[%d]", i+1, j)
			switch {
			case names[fr.Name] == 0:
				c.add("gemini/function-response-match", at, "function response %q answers no function call of contents[%d]", fr.Name, i)
			case fr.ID != "" && !ids[fr.ID]:
				c.add("gemini/function-response-match", at, "function response id %q answers no function call of contents[%d]", fr.ID, i)
			default:
				names[fr.Name]--
			}
		}
	}

	if cfg.gemini3 {
		// Rule gemini/thought-signature [signatures]: in the current turn
		// (after the last user content that is not only function
		// responses), the first functionCall part of each model step must
		// carry its thoughtSignature. The API answers "Function call is
		// missing a thought_signature in functionCall parts. This is
		// required for tools to work correctly ..." (reported in
		// github.com/csells/dartantic/pull/86 and
		// github.com/chatboxai/chatbox/issues/3308).
		start := 0
		for i, ct := range b.Contents {
			if role(i) == "user" && len(ct.Parts) > ct.responses() {
				start = i + 1
			}
		}
		for i := start; i < len(b.Contents); i++ {
			ct := b.Contents[i]
			if _, first := ct.calls(); first >= 0 && role(i) == "model" && strings.TrimSpace(ct.Parts[first].ThoughtSignature) == "" {
				c.add("gemini/thought-signature", fmt.Sprintf("contents[%d].parts[%d]", i, first), "function call %q of the current turn has no thoughtSignature", ct.Parts[first].FunctionCall.Name)
			}
		}
	}
	// Rule gemini/json-with-tools: before Gemini 3, a request declaring
	// functions with responseMimeType "application/json" is refused: "400
	// INVALID_ARGUMENT: Function calling with a response mime type:
	// 'application/json' is unsupported" (github.com/googleapis/python-genai
	// issues/867, with gemini-2.5 models). Gemini 3 combines structured
	// output with function calling
	// (https://ai.google.dev/gemini-api/docs/structured-output, "Structured
	// outputs with tools").
	if !cfg.gemini3 && b.GenerationConfig != nil && b.GenerationConfig.ResponseMIMEType == "application/json" {
		for _, t := range b.Tools {
			if len(t.FunctionDeclarations) > 0 {
				c.add("gemini/json-with-tools", "generationConfig.responseMimeType", "function declarations with a JSON response before Gemini 3")
				break
			}
		}
	}
	return c.err()
}
