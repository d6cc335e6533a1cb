package providerrules_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

const weatherTool = `[{"name":"get_weather","description":"Get weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`

// A tool loop as the Messages API documents it and the SDK cassettes
// record it: user, assistant text + tool_use, user tool_result.
const anthropicToolLoop = `{"model":"claude-sonnet-4-5","max_tokens":1024,"tools":` + weatherTool + `,"messages":[
 {"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},
 {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"15 degrees"}]},{"type":"text","text":"And tomorrow?"}]}]}`

// The same with extended thinking, the thinking block passed back first.
const anthropicThinkingLoop = `{"model":"claude-sonnet-4-5","max_tokens":16000,"thinking":{"type":"enabled","budget_tokens":10000},"tools":` + weatherTool + `,"messages":[
 {"role":"user","content":"Weather in Paris?"},
 {"role":"assistant","content":[{"type":"thinking","thinking":"Use the tool.","signature":"sig"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"15 degrees"}]}]}`

func rulesOf(err error) []string { return providerrules.Rules(err) }

func TestAnthropicValidRequestsPass(t *testing.T) {
	valid := map[string]string{
		"tool loop":                      anthropicToolLoop,
		"thinking loop":                  anthropicThinkingLoop,
		"plain":                          `{"model":"m","max_tokens":10,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}`,
		"prefill":                        `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[]}]}`,
		"thinking temperature 1":         `{"model":"m","max_tokens":2048,"temperature":1,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"Hi"}]}`,
		"redacted thinking first":        strings.Replace(anthropicThinkingLoop, `{"type":"thinking","thinking":"Use the tool.","signature":"sig"}`, `{"type":"redacted_thinking","data":"abc"}`, 1),
		"tool result with empty content": `{"model":"m","max_tokens":10,"tools":` + weatherTool + `,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"get_weather","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":""}]}]}`,
	}
	for name, body := range valid {
		if err := providerrules.CheckAnthropic([]byte(body)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAnthropicRecordedRequestsPass runs the rules on requests the live
// API accepted, recorded in anthropic-sdk-go's test cassettes: a rule that
// refuses one of them is wrong.
func TestAnthropicRecordedRequestsPass(t *testing.T) {
	recorded := anthropicRecordedRequests(t)
	withTools := 0
	for name, body := range recorded {
		if err := providerrules.CheckAnthropic(body); err != nil {
			t.Errorf("%s: %v\n%s", name, err, body)
		}
		if strings.Contains(string(body), `"tool_result"`) {
			withTools++
		}
	}
	if withTools == 0 {
		t.Fatalf("none of %d recorded requests continues a tool-use turn; the fixture is not what this test needs", len(recorded))
	}
}

func TestAnthropicRulesRejectBadRequests(t *testing.T) {
	loop := anthropicToolLoop
	think := anthropicThinkingLoop
	cases := []ruleCase{
		{"anthropic/first-message-user", `{"model":"m","max_tokens":10,"messages":[{"role":"assistant","content":"Hello"},{"role":"user","content":"Hi"}]}`},
		{"anthropic/first-message-user", `{"model":"m","max_tokens":10,"messages":[]}`},
		{"anthropic/content-nonempty", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[]},{"role":"user","content":"Again"}]}`},
		{"anthropic/text-nonblank", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"\n"}]}`},
		{"anthropic/text-nonblank", `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`},
		{"anthropic/text-nonblank", strings.Replace(loop, `{"type":"text","text":"Checking."}`, `{"type":"text","text":"  \n"}`, 1)},
		{"anthropic/text-nonblank", strings.Replace(loop, `"text":"15 degrees"`, `"text":" "`, 1)},
		{"anthropic/text-nonblank", `{"model":"m","max_tokens":10,"system":[{"type":"text","text":" "}],"messages":[{"role":"user","content":"Hi"}]}`},
		{"anthropic/tool-use-answered", strings.Replace(loop, `{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"15 degrees"}]},`, ``, 1)},
		{"anthropic/tool-use-answered", `{"model":"m","max_tokens":10,"tools":` + weatherTool + `,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"get_weather","input":{}}]}]}`},
		{"anthropic/tool-results-first", strings.Replace(loop, `[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"15 degrees"}]},{"type":"text","text":"And tomorrow?"}]`, `[{"type":"text","text":"And tomorrow?"},{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"15 degrees"}]}]`, 1)},
		{"anthropic/tool-result-orphan", strings.Replace(loop, `"tool_use_id":"toolu_1"`, `"tool_use_id":"toolu_other"`, 1)},
		{"anthropic/tools-defined", strings.Replace(loop, `"tools":`+weatherTool+`,`, ``, 1)},
		{"anthropic/thinking-temperature", strings.Replace(think, `"max_tokens":16000,`, `"max_tokens":16000,"temperature":0.2,`, 1)},
		{"anthropic/thinking-budget", strings.Replace(think, `"max_tokens":16000`, `"max_tokens":10000`, 1)},
		{"anthropic/thinking-budget", strings.Replace(think, `"budget_tokens":10000`, `"budget_tokens":1000`, 1)},
		{"anthropic/thinking-tool-choice", strings.Replace(think, `"max_tokens":16000,`, `"max_tokens":16000,"tool_choice":{"type":"any"},`, 1)},
		{"anthropic/thinking-first", strings.Replace(think, `{"type":"thinking","thinking":"Use the tool.","signature":"sig"},`, ``, 1)},
		{"anthropic/thinking-first", strings.Replace(think, `{"type":"thinking","thinking":"Use the tool.","signature":"sig"},`, `{"type":"text","text":"Let me look."},`, 1)},
	}
	checkRejects(t, func(b []byte) error { return providerrules.CheckAnthropic(b) }, cases, anthropicRules)
}

// anthropicRules lists the rules of the package doc; every one must have a
// case above that shows it can fail.
var anthropicRules = []string{
	"anthropic/first-message-user", "anthropic/content-nonempty", "anthropic/text-nonblank",
	"anthropic/tool-use-answered", "anthropic/tool-results-first", "anthropic/tool-result-orphan",
	"anthropic/tools-defined", "anthropic/thinking-temperature", "anthropic/thinking-budget",
	"anthropic/thinking-tool-choice", "anthropic/thinking-first",
}

// The function-calling exchange of OpenAI's guide
// (https://platform.openai.com/docs/guides/function-calling): the
// assistant's tool_calls, a tool message per call, then the next request.
const openaiToolLoop = `{"model":"gpt-4.1","messages":[
 {"role":"system","content":"Be brief."},
 {"role":"user","content":"Weather in Paris and Bogotá?"},
 {"role":"assistant","content":null,"tool_calls":[
   {"id":"call_12345xyz","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris, France\"}"}},
   {"id":"call_67890abc","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Bogotá, Colombia\"}"}}]},
 {"role":"tool","tool_call_id":"call_12345xyz","content":"15"},
 {"role":"tool","tool_call_id":"call_67890abc","content":"18"},
 {"role":"assistant","content":"Paris 15°C, Bogotá 18°C."},
 {"role":"user","content":"Thanks"}]}`

// A DeepSeek thinking-mode tool loop (api-docs.deepseek.com, Thinking Mode,
// tool calls): reasoning_content passed back on the tool-call turn.
const deepseekToolLoop = `{"model":"deepseek-v4-pro","messages":[
 {"role":"user","content":"Weather in Hangzhou tomorrow?"},
 {"role":"assistant","content":"","reasoning_content":"I need the date first.","tool_calls":[{"id":"call_0","type":"function","function":{"name":"get_date","arguments":"{}"}}]},
 {"role":"tool","tool_call_id":"call_0","content":"2025-12-01"},
 {"role":"assistant","content":"Sunny.","reasoning_content":"Answer."},
 {"role":"user","content":"And after?"}]}`

func TestOpenAIValidRequestsPass(t *testing.T) {
	valid := map[string]string{
		"tool loop":          openaiToolLoop,
		"plain":              `{"model":"m","messages":[{"role":"user","content":"Hi"}]}`,
		"content parts":      `{"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[{"type":"text","text":"Hello"}]},{"role":"user","content":"Bye"}]}`,
		"thinking tool loop": deepseekToolLoop,
	}
	for name, body := range valid {
		if err := providerrules.CheckOpenAI([]byte(body)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := providerrules.CheckOpenAI([]byte(deepseekToolLoop), providerrules.ThinkingServer()); err != nil {
		t.Errorf("thinking tool loop, thinking server: %v", err)
	}
}

func TestOpenAIRulesRejectBadRequests(t *testing.T) {
	loop := openaiToolLoop
	cases := []ruleCase{
		{"openai/tool-call-answered", strings.Replace(loop, `{"role":"tool","tool_call_id":"call_67890abc","content":"18"},`, ``, 1)},
		{"openai/tool-call-answered", strings.Replace(loop, `{"role":"tool","tool_call_id":"call_12345xyz","content":"15"},`, `{"role":"user","content":"wait"},{"role":"tool","tool_call_id":"call_12345xyz","content":"15"},`, 1)},
		{"openai/tool-message-orphan", strings.Replace(loop, `"tool_call_id":"call_67890abc"`, `"tool_call_id":"call_nope"`, 1)},
		{"openai/tool-message-orphan", `{"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"tool","tool_call_id":"x","content":"1"}]}`},
		{"openai/assistant-content", strings.Replace(loop, `{"role":"assistant","content":"Paris 15°C, Bogotá 18°C."}`, `{"role":"assistant","content":""}`, 1)},
		{"openai/assistant-content", strings.Replace(loop, `{"role":"assistant","content":"Paris 15°C, Bogotá 18°C."}`, `{"role":"assistant"}`, 1)},
		{"openai/assistant-content", strings.Replace(loop, `{"role":"assistant","content":"Paris 15°C, Bogotá 18°C."}`, `{"role":"assistant","content":null}`, 1)},
		{"openai/reasoning-content", strings.Replace(deepseekToolLoop, `"reasoning_content":"I need the date first.",`, ``, 1)},
	}
	// ThinkingServer adds openai/reasoning-content and changes no other rule.
	check := func(b []byte) error { return providerrules.CheckOpenAI(b, providerrules.ThinkingServer()) }
	checkRejects(t, check, cases, []string{"openai/tool-call-answered", "openai/tool-message-orphan", "openai/assistant-content", "openai/reasoning-content"})
	// Without ThinkingServer, reasoning_content is not required.
	if err := providerrules.CheckOpenAI([]byte(strings.Replace(deepseekToolLoop, `"reasoning_content":"I need the date first.",`, ``, 1))); err != nil {
		t.Errorf("reasoning_content required without ThinkingServer: %v", err)
	}
}

func TestNotJSON(t *testing.T) {
	if r := rulesOf(providerrules.CheckAnthropic([]byte("{"))); !slices.Equal(r, []string{"anthropic/body"}) {
		t.Errorf("anthropic: rules %v", r)
	}
	if r := rulesOf(providerrules.CheckOpenAI([]byte("["))); !slices.Equal(r, []string{"openai/body"}) {
		t.Errorf("openai: rules %v", r)
	}
}

// ruleCase is a request body that breaks rule.
type ruleCase struct {
	rule string
	body string
}

// checkRejects fails unless check finds each case's rule broken, as a
// *Violation matching ErrViolation, and unless every rule in rules has a
// case: a rule that cannot fail checks nothing.
func checkRejects(t *testing.T, check func(body []byte) error, cases []ruleCase, rules []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		err := check([]byte(c.body))
		if !slices.Contains(rulesOf(err), c.rule) {
			t.Errorf("%s: got %v, want a violation of it\n%s", c.rule, err, c.body)
			continue
		}
		var v *providerrules.Violation
		if !errors.Is(err, providerrules.ErrViolation) || !errors.As(err, &v) || v.Rule == "" {
			t.Errorf("%s: error %v is not a *Violation matching ErrViolation", c.rule, err)
		}
		seen[c.rule] = true
	}
	for _, r := range rules {
		if !seen[r] {
			t.Errorf("rule %s has no failing case", r)
		}
	}
}
