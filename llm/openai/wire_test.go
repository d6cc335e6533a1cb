package openai_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest/providerrules"
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/message"
)

func userOnly(text string) llm.Request {
	return llm.Request{Messages: []message.Message{message.NewUserMessage(text)}}
}

// A 429 "insufficient_quota" is billing, not a rate limit: waiting does not
// help, so it is ErrQuotaExceeded and never retried. The body is OpenAI's
// (reported in github.com/openai/openai-cookbook/issues/844).
func TestInsufficientQuotaIsNotRetried(t *testing.T) {
	body := errorBody("You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.", "insufficient_quota", "", "insufficient_quota")
	for _, stream := range []bool{false, true} {
		f := newServer(t,
			reply{status: 429, header: map[string]string{"Retry-After": "0"}, body: body},
			reply{body: completion(`{"role":"assistant","content":"should not get here"}`, "stop", 1, 1, 0, 0)})
		c := newClient(t, f, openai.WithMaxRetries(2))
		var err error
		if stream {
			_, err = collect(t, c.Stream(t.Context(), userOnly("x")))
		} else {
			_, err = c.Generate(t.Context(), userOnly("x"))
		}
		if !errors.Is(err, llm.ErrQuotaExceeded) || errors.Is(err, llm.ErrRateLimited) {
			t.Errorf("stream=%v: err = %v, want ErrQuotaExceeded and not ErrRateLimited", stream, err)
		}
		if _, ok := llm.RetryAfter(err); ok {
			t.Errorf("stream=%v: llm.RetryAfter says a quota error is a rate limit", stream)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("stream=%v: %d requests, want 1 (no retry)", stream, n)
		}
	}
}

// OpenAI's refusal field (the refusal example of
// platform.openai.com/docs/guides/structured-outputs: content null, refusal
// text, finish_reason "stop") is llm.FinishRefusal with the refusal as the
// message's text, streamed or not.
func TestRefusal(t *testing.T) {
	const refusal = "I'm sorry, I cannot assist with that request."
	f := newServer(t,
		reply{body: completion(`{"role":"assistant","content":null,"refusal":"I'm sorry, I cannot assist with that request."}`, "stop", 10, 10, 0, 0)},
		reply{sse: []string{
			chunk(`{"role":"assistant","content":null,"refusal":""}`, ""),
			chunk(`{"refusal":"I'm sorry, "}`, ""),
			chunk(`{"refusal":"I cannot assist with that request."}`, ""),
			chunk(`{}`, "stop"),
			usageChunk(10, 10, 0, 0),
			"[DONE]",
		}},
	)
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), userOnly("x"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := collect(t, c.Stream(t.Context(), userOnly("x")))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*llm.Response{"generate": res, "stream": evs[len(evs)-1].Response} {
		if r.FinishReason != llm.FinishRefusal {
			t.Errorf("%s: finish %q, want %q", name, r.FinishReason, llm.FinishRefusal)
		}
		if diff := cmp.Diff([]message.Part{message.Text{Text: refusal}}, r.Message.Parts); diff != "" {
			t.Errorf("%s: parts (-want +got):\n%s", name, diff)
		}
	}
}

// A stream cut after the finish chunk, before the usage chunk and [DONE],
// is not a complete answer.
func TestStreamCutAfterFinishIsIncomplete(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		chunk(`{"role":"assistant","content":"Hello"}`, ""),
		chunk(`{}`, "stop"),
	}})
	c := newClient(t, f)
	_, err := collect(t, c.Stream(t.Context(), userOnly("x")))
	if !errors.Is(err, llm.ErrIncomplete) {
		t.Fatalf("err = %v, want ErrIncomplete", err)
	}
	// The same stream with its end is complete.
	f2 := newServer(t, reply{sse: []string{
		chunk(`{"role":"assistant","content":"Hello"}`, ""),
		chunk(`{}`, "stop"),
		usageChunk(3, 1, 0, 0),
		"[DONE]",
	}})
	c2 := newClient(t, f2)
	evs, err := collect(t, c2.Stream(t.Context(), userOnly("x")))
	if err != nil {
		t.Fatal(err)
	}
	if u := evs[len(evs)-1].Response.Usage; u.InputTokens != 3 {
		t.Errorf("usage %+v", u)
	}
}

// DeepSeek's thinking mode returns reasoning_content beside tool_calls and
// requires it back on that assistant message in every later request
// (api-docs.deepseek.com/guides/thinking_mode, tool calls): the response
// below has DeepSeek's shape. The reasoning is parsed, and the next
// request, checked by providerrules with ThinkingServer, carries it.
func TestReasoningContentSentBackOnToolTurns(t *testing.T) {
	f := newServer(t,
		reply{body: completion(`{"role":"assistant","content":"","reasoning_content":"I need the date first.","tool_calls":[{"index":0,"id":"call_00_dG0x","type":"function","function":{"name":"get_date","arguments":"{}"}}]}`, "tool_calls", 100, 20, 0, 15)},
		reply{body: completion(`{"role":"assistant","content":"Tomorrow is 2025-12-02.","reasoning_content":"Add one day."}`, "stop", 130, 10, 0, 4)},
		reply{body: completion(`{"role":"assistant","content":"You are welcome."}`, "stop", 150, 4, 0, 0)},
	)
	c := newClient(t, f)
	tools := []llm.ToolSpec{{Name: "get_date", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}}
	history := []message.Message{message.NewUserMessage("What date is tomorrow?")}
	res, err := c.Generate(t.Context(), llm.Request{Messages: history, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.Message.Parts[0].(message.Reasoning); !ok || r.Text != "I need the date first." {
		t.Fatalf("parts %+v, want the reasoning first", res.Message.Parts)
	}
	history = append(history, res.Message, message.NewToolResultMessage(message.ToolResult{CallID: "call_00_dG0x", Name: "get_date", Content: "2025-12-01"}))
	res2, err := c.Generate(t.Context(), llm.Request{Messages: history, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, res2.Message, message.NewUserMessage("Thanks"))
	if _, err := c.Generate(t.Context(), llm.Request{Messages: history, Tools: tools}); err != nil {
		t.Fatal(err)
	}
	for i, r := range f.requests()[1:] {
		if err := providerrules.CheckOpenAI(r.raw, providerrules.ThinkingServer()); err != nil {
			t.Errorf("request %d: %v", i+2, err)
		}
	}
	// Only the tool-call turn carries it: DeepSeek ignores it elsewhere,
	// and other servers are not sent a field they do not need.
	msgs := f.last().body["messages"].([]any)
	var carrying []int
	for i, m := range msgs {
		if _, ok := m.(map[string]any)["reasoning_content"]; ok {
			carrying = append(carrying, i)
		}
	}
	if !slices.Equal(carrying, []int{1}) {
		t.Errorf("messages carrying reasoning_content: %v, want [1] (the tool-call turn)", carrying)
	}
}

// A tool call cut off by the output limit: FinishLength, never stop, and
// the arguments exactly as far as they came.
func TestToolCallCutOffByLength(t *testing.T) {
	partial := `{"city": "Os`
	f := newServer(t,
		reply{body: completion(`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\": \"Os"}}]}`, "length", 10, 5, 0, 0)},
		reply{sse: []string{
			chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]}`, ""),
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Os"}}]}`, ""),
			chunk(`{}`, "length"),
			usageChunk(10, 5, 0, 0),
			"[DONE]",
		}},
	)
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), userOnly("x"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := collect(t, c.Stream(t.Context(), userOnly("x")))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*llm.Response{"generate": res, "stream": evs[len(evs)-1].Response} {
		calls := r.Message.ToolCalls()
		if r.FinishReason != llm.FinishLength || len(calls) != 1 || string(calls[0].Input) != partial {
			t.Errorf("%s: finish %q calls %+v, want length and input %q", name, r.FinishReason, calls, partial)
		}
	}
}

// Empty answers come back faithfully: a reasoning model that spent its
// budget (content "", finish "length") and a filtered answer (content null,
// finish "content_filter") have no parts and keep their finish reason.
func TestEmptyAnswersComeBackFaithfully(t *testing.T) {
	f := newServer(t,
		reply{body: completion(`{"role":"assistant","content":"","refusal":null,"annotations":[]}`, "length", 20, 4096, 0, 4096)},
		reply{body: completion(`{"role":"assistant","content":null}`, "content_filter", 20, 0, 0, 0)},
	)
	c := newClient(t, f)
	for _, want := range []llm.FinishReason{llm.FinishLength, llm.FinishContentFilter} {
		res, err := c.Generate(t.Context(), userOnly("x"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Message.Parts) != 0 || res.FinishReason != want {
			t.Errorf("parts %+v finish %q, want none and %q", res.Message.Parts, res.FinishReason, want)
		}
	}
}

// An assistant message with neither text nor tool calls cannot be sent
// (content is "Required unless tool_calls or function_call is specified",
// openai-go chatcompletion.go): a stored history holding one is sent
// without it, so the session stays usable. The fake server's
// providerrules check fails the test otherwise.
func TestEmptyAssistantMessageIsNotSent(t *testing.T) {
	f := newServer(t, reply{body: completion(`{"role":"assistant","content":"ok"}`, "stop", 1, 1, 0, 0)})
	c := newClient(t, f)
	req := llm.Request{Messages: []message.Message{
		message.NewUserMessage("Think hard."),
		message.NewMessage(message.RoleAssistant, message.Reasoning{Text: "Spent the whole budget."}),
		message.NewMessage(message.RoleAssistant),
		message.NewUserMessage("Again?"),
	}}
	if _, err := c.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if n := len(f.last().body["messages"].([]any)); n != 2 {
		t.Errorf("%d messages sent, want the 2 user messages: %s", n, f.last().raw)
	}
}
