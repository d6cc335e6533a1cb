package providerrules_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

// A Gemini 3 tool loop as go-genai's chats_test.go
// (TestChatsStreamTrailingEmptyChunk) records the SDK sending it back: the
// user's question, the model's functionCall with its thoughtSignature, the
// functionResponse; here with a second, parallel call (which, as
// https://ai.google.dev/gemini-api/docs/thought-signatures says, carries no
// signature of its own) and the model's answer and a new question after.
const geminiToolLoop = `{"contents":[
 {"role":"user","parts":[{"text":"Weather in Paris and Oslo?"}]},
 {"role":"model","parts":[
   {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="},
   {"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}]},
 {"role":"user","parts":[
   {"functionResponse":{"name":"get_weather","response":{"output":"sunny"}}},
   {"functionResponse":{"name":"get_weather","response":{"output":"rain"}}}]},
 {"role":"model","parts":[{"text":"Sunny in Paris, rain in Oslo.","thoughtSignature":"c2lnLTI="}]},
 {"role":"user","parts":[{"text":"And tomorrow in Paris?"}]},
 {"role":"model","parts":[{"functionCall":{"id":"fc_1","name":"get_weather","args":{"city":"Paris","day":"tomorrow"}},"thoughtSignature":"c2lnLTM="}]},
 {"role":"user","parts":[{"functionResponse":{"id":"fc_1","name":"get_weather","response":{"output":"cloudy"}}}]}],
 "tools":[{"functionDeclarations":[{"name":"get_weather","parametersJsonSchema":{"type":"object"}}]}]}`

func TestGeminiValidRequestsPass(t *testing.T) {
	valid := map[string]string{
		"tool loop": geminiToolLoop,
		"plain":     `{"contents":[{"parts":[{"text":"Hi"}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]}}`,
		"image":     `{"contents":[{"role":"user","parts":[{"text":"What is this?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]}]}`,
		// Signatures outside the current turn are not validated.
		"old turn unsigned": strings.Replace(geminiToolLoop, `,"thoughtSignature":"c2lnLTE="`, ``, 1),
	}
	for name, body := range valid {
		if err := providerrules.CheckGemini([]byte(body), providerrules.Gemini3()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The request bodies go-genai pins in its golden files (the SDK's
	// encoding of text, inline image bytes, file data, several user
	// contents in a row) pass.
	dir := moduleDir(t, "google.golang.org/genai")
	files, err := filepath.Glob(filepath.Join(dir, "testdata", "golden", "*.mldev.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden requests in %s (%v)", dir, err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := providerrules.CheckGemini(body, providerrules.Gemini3()); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	// Without Gemini3, signatures are not required.
	if err := providerrules.CheckGemini([]byte(strings.ReplaceAll(geminiToolLoop, `,"thoughtSignature":"c2lnLTM="`, ``))); err != nil {
		t.Errorf("unsigned current turn without Gemini3: %v", err)
	}
}

func TestGeminiRulesRejectBadRequests(t *testing.T) {
	loop := geminiToolLoop
	cases := []ruleCase{
		{"gemini/body", `{"contents":[]}`},
		{"gemini/role", strings.Replace(loop, `"role":"model","parts":[{"text":"Sunny`, `"role":"assistant","parts":[{"text":"Sunny`, 1)},
		{"gemini/role", `{"contents":[{"role":"system","parts":[{"text":"Be brief."}]},{"role":"user","parts":[{"text":"Hi"}]}]}`},
		{"gemini/ends-with-user", `{"contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello"}]}]}`},
		{"gemini/parts-nonempty", strings.Replace(loop, `{"role":"model","parts":[{"text":"Sunny in Paris, rain in Oslo.","thoughtSignature":"c2lnLTI="}]}`, `{"role":"model","parts":[]}`, 1)},
		{"gemini/part-data", strings.Replace(loop, `{"text":"Sunny in Paris, rain in Oslo.","thoughtSignature":"c2lnLTI="}`, `{"thoughtSignature":"c2lnLTI="}`, 1)},
		{"gemini/part-data", `{"contents":[{"role":"user","parts":[{"text":""}]}]}`},
		// The history starts with the model's function call (gemini-cli
		// issue 11814).
		{"gemini/function-call-turn", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`},
		{"gemini/function-call-turn", `{"contents":[{"role":"user","parts":[{"text":"Hi"},{"functionCall":{"name":"f"}}]}]}`},
		{"gemini/function-response-turn", `{"contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello"}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`},
		{"gemini/function-response-count", strings.Replace(loop, `,
   {"functionResponse":{"name":"get_weather","response":{"output":"rain"}}}`, ``, 1)},
		{"gemini/function-response-count", strings.Replace(loop, `{"role":"user","parts":[{"functionResponse":{"id":"fc_1","name":"get_weather","response":{"output":"cloudy"}}}]}`, `{"role":"user","parts":[{"text":"never mind"}]}`, 1)},
		{"gemini/function-response-match", strings.Replace(loop, `{"functionResponse":{"name":"get_weather","response":{"output":"rain"}}}`, `{"functionResponse":{"name":"get_time","response":{"output":"noon"}}}`, 1)},
		{"gemini/function-response-match", strings.Replace(loop, `"functionResponse":{"id":"fc_1"`, `"functionResponse":{"id":"fc_2"`, 1)},
		{"gemini/thought-signature", strings.Replace(loop, `,"thoughtSignature":"c2lnLTM="`, ``, 1)},
	}
	// Gemini3 adds gemini/thought-signature and changes no other rule.
	check := func(b []byte) error { return providerrules.CheckGemini(b, providerrules.Gemini3()) }
	checkRejects(t, check, cases, geminiRules)
	if r := rulesOf(providerrules.CheckGemini([]byte("{"))); !slices.Equal(r, []string{"gemini/body"}) {
		t.Errorf("not JSON: rules %v", r)
	}
}

// geminiRules lists the rules of the package doc; every one must have a
// case above that shows it can fail.
var geminiRules = []string{
	"gemini/body", "gemini/role", "gemini/ends-with-user", "gemini/parts-nonempty", "gemini/part-data",
	"gemini/function-call-turn", "gemini/function-response-turn", "gemini/function-response-count",
	"gemini/function-response-match", "gemini/thought-signature",
}
