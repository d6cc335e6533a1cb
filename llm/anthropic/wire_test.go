package anthropic_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/message"
)

// "input length and `max_tokens` exceed context limit" is the API's 400 when
// the prompt fits but prompt plus max_tokens does not (the message as
// reported in github.com/docker/docker-agent/issues/569 and
// github.com/continuedev/continue/issues/6080): the context is too long for
// the request, and a caller that compacts on ErrContextTooLong must see it.
func TestInputPlusMaxTokensIsContextTooLong(t *testing.T) {
	for _, msg := range []string{
		"input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, decrease input length or `max_tokens` and try again",
		"prompt is too long: 208310 tokens > 200000 maximum",
	} {
		f := newServer(t, reply{status: 400, body: errorBody("invalid_request_error", msg)})
		c := newClient(t, f, anthropic.WithMaxRetries(0))
		_, err := c.Generate(t.Context(), userReq("x"))
		if !errors.Is(err, llm.ErrContextTooLong) || errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%q: err = %v, want ErrContextTooLong only", msg, err)
		}
	}
}

// Extended thinking: "budget_tokens ... Must be ≥1024 and less than
// max_tokens" (anthropic-sdk-go message.go, ThinkingConfigEnabledParam), and
// "Thinking isn't compatible with temperature, top_p, or top_k
// modifications as well as forced tool use"
// (platform.claude.com/docs/en/build-with-claude/extended-thinking). New
// refuses a budget that cannot work; a request that conflicts fails before
// any I/O.
func TestThinkingConflictsRefusedBeforeSending(t *testing.T) {
	for name, opts := range map[string][]anthropic.Option{
		"budget equals default max tokens": {anthropic.WithThinking(anthropic.DefaultMaxTokens)},
		"budget above max tokens":          {anthropic.WithThinking(8000), anthropic.WithMaxTokens(4096)},
		"budget below minimum":             {anthropic.WithThinking(1000)},
	} {
		if _, err := anthropic.New(append([]anthropic.Option{anthropic.WithModel("m")}, opts...)...); err == nil || !strings.Contains(err.Error(), "thinking") {
			t.Errorf("%s: New err = %v, want an error about thinking", name, err)
		}
	}

	f := newServer(t)
	c := newClient(t, f, anthropic.WithThinking(2048))
	half, one := 0.5, 1.0
	for name, req := range map[string]llm.Request{
		"temperature 0.5":     {Messages: userReq("x").Messages, Temperature: &half},
		"max tokens = budget": {Messages: userReq("x").Messages, MaxOutputTokens: 2048},
		"forced tool":         {Messages: userReq("x").Messages, Tools: []llm.ToolSpec{{Name: "t"}}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceRequired}},
	} {
		if _, err := c.Generate(t.Context(), req); !errors.Is(err, llm.ErrBadRequest) || !strings.Contains(err.Error(), "thinking") {
			t.Errorf("%s: Generate err = %v, want ErrBadRequest about thinking", name, err)
		}
		if _, err := collect(t, c.Stream(t.Context(), req)); !errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%s: Stream err = %v, want ErrBadRequest", name, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	// Temperature 1 is what thinking requires, and is sent.
	f2 := newServer(t, reply{body: messageBody(`[{"type":"text","text":"ok"}]`, "end_turn", 1, 0, 0, 1)})
	c2 := newClient(t, f2, anthropic.WithThinking(2048))
	if _, err := c2.Generate(t.Context(), llm.Request{Messages: userReq("x").Messages, Temperature: &one}); err != nil {
		t.Errorf("temperature 1 with thinking: %v", err)
	}
}

// A refusal (stop_reason "refusal") is llm.FinishRefusal, as OpenAI's
// refusal field is. The body is the example of
// platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals:
// the partial text and stop_details with the explanation, which becomes the
// message's text.
func TestRefusal(t *testing.T) {
	body := `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
	  "content":[{"type":"text","text":"Hello.."}],
	  "stop_reason":"refusal",
	  "stop_details":{"type":"refusal","category":"cyber","explanation":"This request was declined because it could enable cyber harm."},
	  "usage":{"input_tokens":10,"output_tokens":3}}`
	f := newServer(t, reply{body: body})
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), userReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != llm.FinishRefusal {
		t.Errorf("finish %q, want %q", res.FinishReason, llm.FinishRefusal)
	}
	want := []message.Part{message.Text{Text: "This request was declined because it could enable cyber harm."}}
	if diff := cmp.Diff(want, res.Message.Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}

// moduleDir returns where the go command keeps module path's source.
func moduleDir(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("locating module %s: %v", path, err)
		}
		t.Skipf("module %s not in the module cache (%v)", path, err)
	}
	return dir
}

// TestStreamedRefusalFromSDKFixture streams anthropic-sdk-go's refusal
// fixture (lib/betafallback/testdata/fallbackstream/refusal.sse: thinking,
// partial text, then message_delta with stop_reason "refusal" and no
// explanation), read from the module cache.
func TestStreamedRefusalFromSDKFixture(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(moduleDir(t, "github.com/anthropics/anthropic-sdk-go"), "lib", "betafallback", "testdata", "fallbackstream", "refusal.sse"))
	if err != nil {
		t.Fatal(err)
	}
	var sse []string
	for _, block := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		var name, data string
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		sse = append(sse, name+"\n"+data)
	}
	f := newServer(t, reply{sse: sse})
	c := newClient(t, f)
	evs, err := collect(t, c.Stream(t.Context(), userReq("x")))
	if err != nil {
		t.Fatal(err)
	}
	res := evs[len(evs)-1].Response
	if res.FinishReason != llm.FinishRefusal {
		t.Errorf("finish %q, want %q", res.FinishReason, llm.FinishRefusal)
	}
	if got := res.Message.Text(); got != "Hi" {
		t.Errorf("text %q, want the partial text %q (no explanation was given)", got, "Hi")
	}
}

// A stream that ends before message_stop is incomplete, however much it
// delivered, even after its message_delta.
func TestStreamWithoutMessageStopIsIncomplete(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		messageStart(10, 0, 0),
		ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`),
		blockStop(0),
		messageDelta("end_turn", 2),
	}})
	c := newClient(t, f)
	_, err := collect(t, c.Stream(t.Context(), userReq("x")))
	if !errors.Is(err, llm.ErrIncomplete) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want ErrIncomplete (and io.ErrUnexpectedEOF)", err)
	}
}

// A tool call cut off by max_tokens: FinishLength, and the input exactly as
// far as it came, never the {} placeholder of content_block_start.
func TestToolCallCutOffByMaxTokens(t *testing.T) {
	start := ev(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"weather","input":{}}}`)
	for name, tc := range map[string]struct {
		deltas []string
		want   string
	}{
		"no input yet":  {nil, ""},
		"partial input": {[]string{ev(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}}`)}, `{"city": "Os`},
	} {
		sse := append([]string{messageStart(10, 0, 0), start}, tc.deltas...)
		sse = append(sse, blockStop(0), messageDelta("max_tokens", 5), messageStop)
		f := newServer(t, reply{sse: sse})
		c := newClient(t, f)
		evs, err := collect(t, c.Stream(t.Context(), userReq("x")))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res := evs[len(evs)-1].Response
		if res.FinishReason != llm.FinishLength {
			t.Errorf("%s: finish %q, want length", name, res.FinishReason)
		}
		calls := res.Message.ToolCalls()
		if len(calls) != 1 || string(calls[0].Input) != tc.want {
			t.Errorf("%s: calls %+v, want input %q", name, calls, tc.want)
		}
	}
}

// Empty answers come back faithfully: no parts, the finish reason.
func TestEmptyAnswerComesBackFaithfully(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[]`, "max_tokens", 10, 0, 0, 4096)})
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), userReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Message.Parts) != 0 || res.FinishReason != llm.FinishLength {
		t.Errorf("parts %+v finish %q, want none and length", res.Message.Parts, res.FinishReason)
	}
}

// "Your credit balance is too low to access the Anthropic API" (a 400
// invalid_request_error, reported in
// github.com/anthropics/claude-quickstarts/issues/229) is billing, as
// OpenAI's insufficient_quota is: ErrQuotaExceeded.
func TestCreditBalanceIsQuotaExceeded(t *testing.T) {
	f := newServer(t, reply{status: 400, body: errorBody("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.")})
	c := newClient(t, f, anthropic.WithMaxRetries(0))
	_, err := c.Generate(t.Context(), userReq("x"))
	if !errors.Is(err, llm.ErrQuotaExceeded) || errors.Is(err, llm.ErrBadRequest) {
		t.Errorf("err = %v, want ErrQuotaExceeded only", err)
	}
}

// Whitespace-only text is refused by the API ("text content blocks must
// contain non-whitespace text"): a stored history holding some (a model's
// "\n" next to its tool call, an old whitespace user turn) is sent without
// those blocks, as empty text already is, so the session stays usable. The
// fake server's providerrules check fails the test otherwise.
func TestWhitespaceTextIsNotSent(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"ok"}]`, "end_turn", 1, 0, 0, 1)})
	c := newClient(t, f)
	req := llm.Request{
		Messages: []message.Message{
			message.NewUserMessage("Weather?"),
			message.NewMessage(message.RoleAssistant, message.Text{Text: "\n\n"}, message.ToolCall{ID: "toolu_1", Name: "weather", Input: []byte(`{}`)}),
			message.NewToolResultMessage(message.ToolResult{CallID: "toolu_1", Name: "weather", Content: "4°C"}),
			message.NewMessage(message.RoleAssistant, message.Text{Text: "4°C."}),
			message.NewUserMessage(" \n"),
			message.NewUserMessage("Thanks"),
		},
		Tools: []llm.ToolSpec{{Name: "weather"}},
	}
	if _, err := c.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(f.last().raw), `\n\n"`) || strings.Contains(string(f.last().raw), `" \n"`) {
		t.Errorf("whitespace text sent: %s", f.last().raw)
	}
}

// A session continued on Claude after Gemini: the thought signature the
// gemini client stored (a Reasoning part without text) is Gemini's, which
// the API cannot verify, so it is not sent as a thinking block; Claude's
// own signed thinking, and reasoning of a message with no model, are.
func TestOtherProvidersReasoningIsNotSent(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"ok"}]`, "end_turn", 1, 0, 0, 1)})
	c := newClient(t, f)
	turn := func(model string, parts ...message.Part) message.Message {
		m := message.NewMessage(message.RoleAssistant, parts...)
		m.Model = model
		return m
	}
	req := llm.Request{Messages: []message.Message{
		message.NewUserMessage("Hi"),
		turn("gemini-3-pro-preview", message.Reasoning{Signature: "c2lnLTE="}, message.Text{Text: "Gemini."}),
		message.NewUserMessage("Again"),
		turn("claude-sonnet-4-5-20250929", message.Reasoning{Text: "Think.", Signature: "EqQBCgIYAhIM"}, message.Text{Text: "Claude."}),
		message.NewUserMessage("Again"),
		turn("", message.Reasoning{Text: "Hm.", Signature: "EqQBCgIYAhIN"}, message.Text{Text: "Unknown."}),
		message.NewUserMessage("Bye"),
	}}
	if _, err := c.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	msgs := f.last().body["messages"].([]any)
	jsonEq(t, "gemini turn", msgs[1], `{"role":"assistant","content":[{"type":"text","text":"Gemini."}]}`)
	jsonEq(t, "claude turn", msgs[3], `{"role":"assistant","content":[{"type":"thinking","thinking":"Think.","signature":"EqQBCgIYAhIM"},{"type":"text","text":"Claude."}]}`)
	jsonEq(t, "unknown turn", msgs[5], `{"role":"assistant","content":[{"type":"thinking","thinking":"Hm.","signature":"EqQBCgIYAhIN"},{"type":"text","text":"Unknown."}]}`)
}
