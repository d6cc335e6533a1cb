package providerrules_test

import (
	"slices"
	"testing"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

// The schemas of OpenAI's Structured Outputs guide
// (https://platform.openai.com/docs/guides/structured-outputs): strict mode
// accepts an object root whose objects all set additionalProperties false
// and require every property, and refuses the others.
func TestOpenAIStrictSchema(t *testing.T) {
	body := func(schema string, strict string) []byte {
		return []byte(`{"model":"m","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":` + strict + `,"schema":` + schema + `}}}`)
	}
	good := `{"type":"object","properties":{"steps":{"type":"array","items":{"type":"object","properties":{"explanation":{"type":"string"},"output":{"type":"string"}},"required":["explanation","output"],"additionalProperties":false}},"final_answer":{"type":"string"}},"required":["steps","final_answer"],"additionalProperties":false}`
	if err := providerrules.CheckOpenAI(body(good, "true")); err != nil {
		t.Errorf("the guide's math-tutor schema: %v", err)
	}
	bad := map[string]string{
		"optional field":          `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["a"],"additionalProperties":false}`,
		"no additionalProperties": `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
		"nested open object":      `{"type":"object","properties":{"a":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},"required":["a"],"additionalProperties":false}`,
		"map":                     `{"type":"object","properties":{"m":{"type":"object","additionalProperties":{"type":"string"}}},"required":["m"],"additionalProperties":false}`,
		"array root":              `{"type":"array","items":{"type":"string"}}`,
	}
	for name, schema := range bad {
		err := providerrules.CheckOpenAI(body(schema, "true"))
		if !slices.Contains(rulesOf(err), "openai/strict-schema") {
			t.Errorf("%s: rules %v, want openai/strict-schema", name, rulesOf(err))
		}
		// Without strict the schema is guidance, and any schema is sent.
		if err := providerrules.CheckOpenAI(body(schema, "false")); err != nil {
			t.Errorf("%s without strict: %v", name, err)
		}
	}
}

// Anthropic's structured outputs
// (https://platform.claude.com/docs/en/build-with-claude/structured-outputs)
// need additionalProperties false on every object; optional properties are
// allowed.
func TestAnthropicOutputSchema(t *testing.T) {
	body := func(schema string) []byte {
		return []byte(`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],"output_config":{"format":{"type":"json_schema","schema":` + schema + `}}}`)
	}
	if err := providerrules.CheckAnthropic(body(`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a"],"additionalProperties":false}`)); err != nil {
		t.Errorf("closed object with an optional property: %v", err)
	}
	for name, schema := range map[string]string{
		"open root":   `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`,
		"open nested": `{"type":"object","properties":{"a":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}}},"required":["a"],"additionalProperties":false}`,
	} {
		if got := rulesOf(providerrules.CheckAnthropic(body(schema))); !slices.Contains(got, "anthropic/output-schema") {
			t.Errorf("%s: rules %v, want anthropic/output-schema", name, got)
		}
	}
}

// Before Gemini 3, function declarations and a JSON response cannot be
// combined (github.com/googleapis/python-genai/issues/867); Gemini 3 can.
func TestGeminiJSONWithTools(t *testing.T) {
	withTools := []byte(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"generationConfig":{"responseMimeType":"application/json"}}`)
	if got := rulesOf(providerrules.CheckGemini(withTools)); !slices.Contains(got, "gemini/json-with-tools") {
		t.Errorf("rules %v, want gemini/json-with-tools", got)
	}
	if err := providerrules.CheckGemini(withTools, providerrules.Gemini3()); err != nil {
		t.Errorf("Gemini 3: %v", err)
	}
	noTools := []byte(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"generationConfig":{"responseMimeType":"application/json"}}`)
	if err := providerrules.CheckGemini(noTools); err != nil {
		t.Errorf("JSON without tools: %v", err)
	}
}
