package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/message"
)

func newClient(t testing.TB, f *fakeServer, opts ...anthropic.Option) *anthropic.Client {
	t.Helper()
	all := append([]anthropic.Option{
		anthropic.WithBaseURL(f.url()),
		anthropic.WithAPIKey("sk-ant-test"),
		anthropic.WithModel("claude-sonnet-4-5"),
		anthropic.WithHTTPClient(&http.Client{Transport: &http.Transport{}}),
	}, opts...)
	c, err := anthropic.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var ignoreIdentity = cmpopts.IgnoreFields(message.Message{}, "ID", "CreatedAt")

func collect(t testing.TB, seq func(func(llm.Event, error) bool)) ([]llm.Event, error) {
	t.Helper()
	var evs []llm.Event
	for ev, err := range seq {
		if err != nil {
			if ev != (llm.Event{}) {
				t.Errorf("error %v came with a non-zero event %+v", err, ev)
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func userReq(text string) llm.Request {
	return llm.Request{Messages: []message.Message{message.NewUserMessage(text)}}
}

func TestGenerateTextAndRequestMapping(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"It is sunny in Oslo."}]`, "end_turn", 100, 2000, 50, 9)})
	c := newClient(t, f, anthropic.WithHeader("anthropic-beta", "token-efficient-tools-2025-02-19"))
	temp := 0.5
	req := llm.Request{
		Messages: []message.Message{
			message.NewSystemMessage("You are terse."),
			message.NewSummaryMessage("The user lives in Oslo."),
			message.NewUserMessage("Weather?"),
			message.NewMessage(message.RoleAssistant,
				message.Text{Text: "Checking."},
				message.ToolCall{ID: "toolu_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
				message.ToolCall{ID: "toolu_2", Name: "time"},
			),
			message.NewToolResultMessage(
				message.ToolResult{CallID: "toolu_1", Name: "weather", Content: "sunny", Metadata: json.RawMessage(`{"x":1}`)},
			),
			message.NewToolResultMessage(
				message.ToolResult{CallID: "toolu_2", Name: "time", Content: "clock broke", IsError: true},
			),
			message.NewUserMessage("And tomorrow?"),
		},
		Temperature: &temp,
	}
	res, err := c.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := f.last()
	if got.path != "/v1/messages" {
		t.Errorf("path %q", got.path)
	}
	for k, want := range map[string]string{
		"X-Api-Key":         "sk-ant-test",
		"Anthropic-Version": "2023-06-01",
		"Anthropic-Beta":    "token-efficient-tools-2025-02-19",
		"Authorization":     "",
	} {
		if h := got.header.Get(k); h != want {
			t.Errorf("header %s = %q, want %q", k, h, want)
		}
	}
	jsonEq(t, "model", got.body["model"], `"claude-sonnet-4-5"`)
	jsonEq(t, "max_tokens", got.body["max_tokens"], `4096`)
	jsonEq(t, "temperature", got.body["temperature"], `0.5`)
	for _, k := range []string{"stream", "tool_choice", "thinking", "output_config"} {
		if v, ok := got.body[k]; ok {
			t.Errorf("unexpected %q: %v", k, v)
		}
	}
	// The history holds tool blocks and the request names no tools: the
	// API wants a tools field all the same, so an empty one is sent.
	jsonEq(t, "tools", got.body["tools"], `[]`)
	jsonEq(t, "system", got.body["system"], `[
		{"type":"text","text":"You are terse."},
		{"type":"text","text":"Summary of the earlier conversation:\nThe user lives in Oslo."}]`)
	jsonEq(t, "messages", got.body["messages"], `[
		{"role":"user","content":[{"type":"text","text":"Weather?"}]},
		{"role":"assistant","content":[
			{"type":"text","text":"Checking."},
			{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Oslo"}},
			{"type":"tool_use","id":"toolu_2","name":"time","input":{}}]},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}]},
			{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"clock broke"}],"is_error":true},
			{"type":"text","text":"And tomorrow?"}]}
	]`)

	wantUsage := message.Usage{InputTokens: 2150, OutputTokens: 9, CacheReadTokens: 2000, CacheWriteTokens: 50}
	want := &llm.Response{
		Message: message.Message{
			Role:  message.RoleAssistant,
			Parts: []message.Part{message.Text{Text: "It is sunny in Oslo."}},
			Model: "claude-sonnet-4-5-20250929",
			Usage: &wantUsage,
		},
		FinishReason: llm.FinishStop,
		Usage:        wantUsage,
	}
	if diff := cmp.Diff(want, res, ignoreIdentity); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if res.Message.ID == "" || res.Message.CreatedAt == 0 {
		t.Errorf("message has no ID or CreatedAt")
	}
}

const thinkingContent = `[
	{"type":"thinking","thinking":"The user wants the weather; I should call the tool.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+Zxz9C+v1n5EsNtHZ/Z8Ms2aFa0dVw/vPNMOcpRAf0fHgVq2XyJ2uWfxCgD"},
	{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pzs=="},
	{"type":"text","text":"Let me check."},
	{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"weather","input":{"city":"Oslo"}}
]`

func TestThinkingRoundTrip(t *testing.T) {
	f := newServer(t,
		reply{body: messageBody(thinkingContent, "tool_use", 400, 0, 0, 300)},
		reply{body: messageBody(`[{"type":"text","text":"Sunny."}]`, "end_turn", 500, 0, 0, 5)},
	)
	c := newClient(t, f, anthropic.WithThinking(2048), anthropic.WithMaxTokens(8192))
	msgs := []message.Message{message.NewUserMessage("Weather in Oslo?")}
	res, err := c.Generate(t.Context(), llm.Request{Messages: msgs, Tools: []llm.ToolSpec{{Name: "weather"}}})
	if err != nil {
		t.Fatal(err)
	}
	body := f.last().body
	jsonEq(t, "thinking", body["thinking"], `{"type":"enabled","budget_tokens":2048}`)
	jsonEq(t, "max_tokens", body["max_tokens"], `8192`)

	wantParts := []message.Part{
		message.Reasoning{Text: "The user wants the weather; I should call the tool.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+Zxz9C+v1n5EsNtHZ/Z8Ms2aFa0dVw/vPNMOcpRAf0fHgVq2XyJ2uWfxCgD"},
		message.Reasoning{Signature: "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pzs==", Redacted: true},
		message.Text{Text: "Let me check."},
		message.ToolCall{ID: "toolu_01A09q90qw90lq917835lq9", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
	}
	if diff := cmp.Diff(wantParts, res.Message.Parts); diff != "" {
		t.Fatalf("parts (-want +got):\n%s", diff)
	}
	if res.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish %q", res.FinishReason)
	}

	// The assistant turn goes back exactly as it came, signatures and all.
	msgs = append(msgs, res.Message, message.NewToolResultMessage(message.ToolResult{CallID: "toolu_01A09q90qw90lq917835lq9", Content: "sunny"}))
	if _, err := c.Generate(t.Context(), llm.Request{Messages: msgs, Tools: []llm.ToolSpec{{Name: "weather"}}}); err != nil {
		t.Fatal(err)
	}
	var sent []map[string]any
	b, _ := json.Marshal(f.last().body["messages"])
	_ = json.Unmarshal(b, &sent)
	if len(sent) != 3 {
		t.Fatalf("sent %d messages: %s", len(sent), b)
	}
	jsonEq(t, "assistant content", sent[1]["content"], thinkingContent)
}

func TestToolsAndParallelCalls(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[
		{"type":"tool_use","id":"toolu_a","name":"weather","input":{"city":"Oslo"}},
		{"type":"tool_use","id":"toolu_b","name":"weather","input":{"city":"Bergen"}}]`, "tool_use", 10, 0, 0, 20)})
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), llm.Request{
		Model:    "claude-haiku-4-5",
		Messages: []message.Message{message.NewUserMessage("Oslo and Bergen?")},
		Tools: []llm.ToolSpec{
			{Name: "weather", Description: "Current weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","description":"City"}},"required":["city"],"additionalProperties":false}`)},
		},
		ToolChoice:      llm.ToolChoice{Mode: llm.ToolChoiceRequired},
		MaxOutputTokens: 300,
		ResponseFormat:  &llm.ResponseFormat{Name: "a", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := f.last().body
	jsonEq(t, "model", body["model"], `"claude-haiku-4-5"`)
	jsonEq(t, "max_tokens", body["max_tokens"], `300`)
	jsonEq(t, "tools", body["tools"], `[{"name":"weather","description":"Current weather","input_schema":{"type":"object","properties":{"city":{"type":"string","description":"City"}},"required":["city"],"additionalProperties":false}}]`)
	jsonEq(t, "tool_choice", body["tool_choice"], `{"type":"any"}`)
	jsonEq(t, "output_config", body["output_config"], `{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}}`)
	want := []message.ToolCall{
		{ID: "toolu_a", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		{ID: "toolu_b", Name: "weather", Input: json.RawMessage(`{"city":"Bergen"}`)},
	}
	if diff := cmp.Diff(want, res.Message.ToolCalls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestToolChoiceMapping(t *testing.T) {
	for _, tc := range []struct {
		choice llm.ToolChoice
		want   string
	}{
		{llm.ToolChoice{Mode: llm.ToolChoiceNone}, `{"type":"none"}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceRequired}, `{"type":"any"}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "weather"}, `{"type":"tool","name":"weather"}`},
	} {
		f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"ok"}]`, "end_turn", 1, 0, 0, 1)})
		c := newClient(t, f)
		req := userReq("hi")
		req.Tools = []llm.ToolSpec{{Name: "weather"}}
		req.ToolChoice = tc.choice
		if _, err := c.Generate(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		jsonEq(t, string(tc.choice.Mode), f.last().body["tool_choice"], tc.want)
	}
}

func TestImages(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"A cat."}]`, "end_turn", 1500, 0, 0, 3)})
	c := newClient(t, f)
	_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{
		message.NewMessage(message.RoleUser,
			message.Text{Text: "What is in these?"},
			message.ImageURL{URL: "https://example.com/cat.jpg", Detail: "high"},
			message.ImageURL{URL: "data:image/gif;base64,R0lGODdh"},
			message.Binary{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0, 1, 2}},
			message.Binary{MIMEType: "application/pdf", Data: []byte("%PDF-1.7"), Name: "cat.pdf"},
		),
	}})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "messages", f.last().body["messages"], `[{"role":"user","content":[
		{"type":"text","text":"What is in these?"},
		{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
		{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lGODdh"}},
		{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORwABAg=="}},
		{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjc="},"title":"cat.pdf"}
	]}]`)
}

func TestUntranslatableRequestFailsBeforeIO(t *testing.T) {
	f := newServer(t)
	c := newClient(t, f)
	noModel, err := anthropic.New(anthropic.WithBaseURL(f.url()))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		c   *anthropic.Client
		req llm.Request
	}{
		"audio":  {c, llm.Request{Messages: []message.Message{message.NewMessage(message.RoleUser, message.Binary{MIMEType: "audio/wav", Data: []byte{1}})}}},
		"role":   {c, llm.Request{Messages: []message.Message{message.NewMessage("critic", message.Text{Text: "x"})}}},
		"schema": {c, llm.Request{Messages: []message.Message{message.NewUserMessage("x")}, Tools: []llm.ToolSpec{{Name: "t", Parameters: json.RawMessage(`{"type":"string"}`)}}}},
		"model":  {noModel, userReq("x")},
	} {
		if _, err := tc.c.Generate(t.Context(), tc.req); !errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%s: err = %v, want ErrBadRequest", name, err)
		}
		if _, err := collect(t, tc.c.Stream(t.Context(), tc.req)); !errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%s: stream err = %v, want ErrBadRequest", name, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestStreamTextMatchesGenerate(t *testing.T) {
	f := newServer(t,
		reply{sse: []string{
			messageStart(25, 100, 10),
			ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			ping,
			ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"It is "}}`),
			ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"sunny."}}`),
			blockStop(0),
			messageDelta("end_turn", 15),
			messageStop,
		}},
		reply{body: messageBody(`[{"type":"text","text":"It is sunny."}]`, "end_turn", 25, 100, 10, 15)},
	)
	c := newClient(t, f)
	evs, err := collect(t, c.Stream(t.Context(), userReq("Weather?")))
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "stream", f.last().body["stream"], `true`)
	var text string
	for _, e := range evs[:len(evs)-1] {
		if e.Type != llm.EventTextDelta {
			t.Errorf("unexpected event %+v", e)
		}
		text += e.Text
	}
	if text != "It is sunny." {
		t.Errorf("deltas joined %q", text)
	}
	done := evs[len(evs)-1]
	if done.Type != llm.EventDone {
		t.Fatalf("last event %+v", done)
	}
	gen, err := c.Generate(t.Context(), userReq("Weather?"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gen, done.Response, ignoreIdentity); diff != "" {
		t.Errorf("stream and generate differ (-generate +stream):\n%s", diff)
	}
	want := message.Usage{InputTokens: 135, OutputTokens: 15, CacheReadTokens: 100, CacheWriteTokens: 10}
	if done.Response.Usage != want {
		t.Errorf("usage %+v, want %+v", done.Response.Usage, want)
	}
}

func TestStreamThinkingAndFragmentedToolInput(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		messageStart(400, 0, 0),
		ev(`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two cities, "}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"two calls."}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIMsig=="}}`),
		blockStop(0),
		ev(`{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgyredacted"}}`),
		blockStop(1),
		ev(`{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`),
		ev(`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Checking both."}}`),
		blockStop(2),
		ev(`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_a","name":"weather","input":{}}}`),
		ev(`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":""}}`),
		ev(`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}}`),
		ev(`{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"lo\"}"}}`),
		blockStop(3),
		ev(`{"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"toolu_b","name":"time","input":{"tz":"UTC"}}}`),
		blockStop(4),
		messageDelta("tool_use", 120),
		messageStop,
	}})
	c := newClient(t, f, anthropic.WithThinking(1024))
	evs, err := collect(t, c.Stream(t.Context(), userReq("Oslo?")))
	if err != nil {
		t.Fatal(err)
	}
	var reasoning string
	var deltas []llm.ToolCallDelta
	for _, e := range evs {
		switch e.Type {
		case llm.EventReasoningDelta:
			reasoning += e.Text
		case llm.EventToolCallDelta:
			deltas = append(deltas, *e.ToolCall)
		}
	}
	if reasoning != "Two cities, two calls." {
		t.Errorf("reasoning deltas %q", reasoning)
	}
	wantDeltas := []llm.ToolCallDelta{
		{Index: 0, ID: "toolu_a", Name: "weather"},
		{Index: 0, InputDelta: `{"city": "Os`},
		{Index: 0, InputDelta: `lo"}`},
		{Index: 1, ID: "toolu_b", Name: "time"},
	}
	if diff := cmp.Diff(wantDeltas, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	res := evs[len(evs)-1].Response
	wantParts := []message.Part{
		message.Reasoning{Text: "Two cities, two calls.", Signature: "EqQBCgIYAhIMsig=="},
		message.Reasoning{Signature: "EmwKAhgBEgyredacted", Redacted: true},
		message.Text{Text: "Checking both."},
		message.ToolCall{ID: "toolu_a", Name: "weather", Input: json.RawMessage(`{"city": "Oslo"}`)},
		message.ToolCall{ID: "toolu_b", Name: "time", Input: json.RawMessage(`{"tz":"UTC"}`)},
	}
	if diff := cmp.Diff(wantParts, res.Message.Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	if res.FinishReason != llm.FinishToolCalls || res.Usage.OutputTokens != 120 || res.Usage.InputTokens != 400 {
		t.Errorf("finish %q usage %+v", res.FinishReason, res.Usage)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		messageStart(10, 0, 0),
		ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`),
		ev(`{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`),
	}})
	c := newClient(t, f)
	evs, err := collect(t, c.Stream(t.Context(), userReq("x")))
	if !errors.Is(err, llm.ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
	var ae *llm.APIError
	if !errors.As(err, &ae) || ae.Message != "Overloaded" || ae.StatusCode != 0 {
		t.Errorf("APIError %+v", ae)
	}
	if len(evs) != 1 || evs[0].Text != "Hel" {
		t.Errorf("events before the error %+v", evs)
	}
}

func TestStreamTruncated(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		messageStart(10, 0, 0),
		ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`),
	}})
	c := newClient(t, f)
	if _, err := collect(t, c.Stream(t.Context(), userReq("x"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		kind   error
		retry  time.Duration
	}{
		{"authentication", 401, nil, errorBody("authentication_error", "invalid x-api-key"), llm.ErrAuthentication, 0},
		{"permission", 403, nil, errorBody("permission_error", "Your API key does not have permission to use the specified resource."), llm.ErrAuthentication, 0},
		{"prompt too long", 400, nil, errorBody("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"), llm.ErrContextTooLong, 0},
		{"request too large", 413, nil, errorBody("request_too_large", "Request exceeds the maximum allowed number of bytes."), llm.ErrContextTooLong, 0},
		{"invalid request", 400, nil, errorBody("invalid_request_error", "messages: roles must alternate between \"user\" and \"assistant\""), llm.ErrBadRequest, 0},
		{"not found", 404, nil, errorBody("not_found_error", "model: claude-9"), llm.ErrBadRequest, 0},
		{"rate limit", 429, map[string]string{"retry-after": "17", "anthropic-ratelimit-requests-remaining": "0"}, errorBody("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"), llm.ErrRateLimited, 17 * time.Second},
		{"api error", 500, nil, errorBody("api_error", "Internal server error"), llm.ErrServer, 0},
		{"overloaded", 529, nil, errorBody("overloaded_error", "Overloaded"), llm.ErrServer, 0},
		{"html gateway", 502, nil, "<html><body>502 Bad Gateway</body></html>", llm.ErrServer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				f := newServer(t, reply{status: tc.status, header: tc.header, body: tc.body})
				c := newClient(t, f, anthropic.WithMaxRetries(0))
				var err error
				if stream {
					_, err = collect(t, c.Stream(t.Context(), userReq("x")))
				} else {
					_, err = c.Generate(t.Context(), userReq("x"))
				}
				if !errors.Is(err, tc.kind) {
					t.Fatalf("stream=%v: err = %v, want %v", stream, err, tc.kind)
				}
				var ae *llm.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("err %v is not an *llm.APIError", err)
				}
				if ae.StatusCode != tc.status || ae.Provider != "anthropic" || ae.Message == "" || ae.RetryAfter != tc.retry {
					t.Errorf("stream=%v: APIError %+v", stream, ae)
				}
				if d, ok := llm.RetryAfter(err); ok != (tc.kind == llm.ErrRateLimited) || d != tc.retry {
					t.Errorf("llm.RetryAfter = %v, %v", d, ok)
				}
			}
		})
	}
}

func TestRetryAfterThenSuccess(t *testing.T) {
	for name, header := range map[string]map[string]string{
		"seconds":   {"retry-after": "0"},
		"ms":        {"retry-after-ms": "1"},
		"http-date": {"retry-after": time.Now().Add(-time.Second).UTC().Format(http.TimeFormat)},
	} {
		t.Run(name, func(t *testing.T) {
			f := newServer(t,
				reply{status: 429, header: header, body: errorBody("rate_limit_error", "Number of requests has exceeded your per-minute rate limit")},
				reply{body: messageBody(`[{"type":"text","text":"ok"}]`, "end_turn", 1, 0, 0, 1)},
			)
			// A one-hour backoff cap: only the server's tiny retry-after
			// keeps this test fast.
			c := newClient(t, f, anthropic.WithMaxRetryDelay(time.Hour))
			res, err := c.Generate(t.Context(), userReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Message.Content() != "ok" {
				t.Errorf("content %q", res.Message.Content())
			}
			if n := len(f.requests()); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
		})
	}
}

func TestOverloadedThenSuccess(t *testing.T) {
	f := newServer(t,
		reply{status: 529, body: errorBody("overloaded_error", "Overloaded")},
		reply{status: 500, body: errorBody("api_error", "Internal server error")},
		reply{sse: []string{
			messageStart(1, 0, 0),
			ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}`),
			blockStop(0), messageDelta("end_turn", 1), messageStop,
		}},
	)
	// No retry-after: the backoff applies, capped tiny.
	c := newClient(t, f, anthropic.WithMaxRetryDelay(time.Millisecond))
	evs, err := collect(t, c.Stream(t.Context(), userReq("x")))
	if err != nil {
		t.Fatal(err)
	}
	if evs[len(evs)-1].Response.Message.Content() != "ok" {
		t.Errorf("events %+v", evs)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	for _, retries := range []int{0, 1, 3} {
		f := newServer(t, reply{status: 529, body: errorBody("overloaded_error", "Overloaded")})
		c := newClient(t, f, anthropic.WithMaxRetries(retries), anthropic.WithMaxRetryDelay(time.Millisecond))
		_, err := c.Generate(t.Context(), userReq("x"))
		var ae *llm.APIError
		if !errors.Is(err, llm.ErrServer) || !errors.As(err, &ae) || ae.StatusCode != 529 {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.requests()); n != retries+1 {
			t.Errorf("retries %d: %d requests, want %d", retries, n, retries+1)
		}
	}
	f := newServer(t, reply{status: 429, header: map[string]string{"retry-after": "0"}, body: errorBody("rate_limit_error", "slow down")})
	c := newClient(t, f)
	_, err := c.Generate(t.Context(), userReq("x"))
	if !errors.Is(err, llm.ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != anthropic.DefaultMaxRetries+1 {
		t.Errorf("%d requests, want %d", n, anthropic.DefaultMaxRetries+1)
	}
}

func TestRetryAfterBeyondMaxDelay(t *testing.T) {
	f := newServer(t, reply{status: 429, header: map[string]string{"retry-after": "30"}, body: errorBody("rate_limit_error", "slow down")})
	c := newClient(t, f, anthropic.WithMaxRetryDelay(time.Second))
	_, err := c.Generate(t.Context(), userReq("x"))
	if d, ok := llm.RetryAfter(err); !ok || d != 30*time.Second {
		t.Fatalf("RetryAfter = %v, %v (err %v)", d, ok, err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNoRetryAfterContextDone(t *testing.T) {
	f := newServer(t, reply{status: 529, header: map[string]string{"retry-after": "60"}, body: errorBody("overloaded_error", "Overloaded")})
	c := newClient(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Generate(ctx, userReq("x"))
		done <- err
	}()
	for len(f.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Generate kept waiting after its context was cancelled")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestStreamCancelMidStream(t *testing.T) {
	base := runtimeGoroutines()
	func() {
		f := newServer(t, reply{hold: true, sse: []string{
			messageStart(1, 0, 0),
			ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`),
		}})
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c := newClient(t, f, anthropic.WithHTTPClient(&http.Client{Transport: tr}))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var got []llm.Event
		var err error
		for e, er := range c.Stream(ctx, userReq("x")) {
			if er != nil {
				err = er
				break
			}
			got = append(got, e)
			cancel()
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if len(got) != 1 || got[0].Text != "Hel" {
			t.Errorf("events %+v", got)
		}
		select {
		case <-f.gone:
		case <-time.After(30 * time.Second):
			t.Fatal("the server never saw the client go away")
		}
		f.srv.Close()
	}()
	waitGoroutines(t, base)
}

func TestStreamBreakEarlyClosesConnection(t *testing.T) {
	f := newServer(t, reply{hold: true, sse: []string{
		messageStart(1, 0, 0),
		ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`),
	}})
	c := newClient(t, f)
	for range c.Stream(t.Context(), userReq("x")) {
		break
	}
	select {
	case <-f.gone:
	case <-time.After(30 * time.Second):
		t.Fatal("breaking out of the loop did not close the request")
	}
}

func TestEnvironment(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"a"}]`, "end_turn", 1, 0, 0, 1)})
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-env")
	t.Setenv("ANTHROPIC_BASE_URL", f.url())
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Leak: yes")

	c, err := anthropic.New(anthropic.WithBaseURL(f.url()), anthropic.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), userReq("x")); err != nil {
		t.Fatal(err)
	}
	if h := f.last().header; h.Get("X-Api-Key") != "" || h.Get("X-Leak") != "" {
		t.Errorf("environment leaked into the request: %v", h)
	}
	c, err = anthropic.New(anthropic.FromEnv(), anthropic.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), userReq("x")); err != nil {
		t.Fatal(err)
	}
	if h := f.last().header.Get("X-Api-Key"); h != "sk-ant-env" {
		t.Errorf("x-api-key %q", h)
	}
	c, err = anthropic.New(anthropic.WithAPIKey("sk-ant-explicit"), anthropic.FromEnv(), anthropic.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), userReq("x")); err != nil {
		t.Fatal(err)
	}
	if h := f.last().header.Get("X-Api-Key"); h != "sk-ant-explicit" {
		t.Errorf("x-api-key %q", h)
	}
}

func TestNewValidates(t *testing.T) {
	for name, opts := range map[string][]anthropic.Option{
		"relative url":    {anthropic.WithBaseURL("api.anthropic.com")},
		"negative retry":  {anthropic.WithMaxRetries(-1)},
		"negative delay":  {anthropic.WithMaxRetryDelay(-time.Second)},
		"zero max tokens": {anthropic.WithMaxTokens(0)},
		"small thinking":  {anthropic.WithThinking(100)},
	} {
		if c, err := anthropic.New(opts...); err == nil || c != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, c, err)
		}
	}
}

func TestRetryAfterHTTPDateInError(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	f := newServer(t, reply{status: 429, header: map[string]string{"retry-after": when}, body: errorBody("rate_limit_error", "slow down")})
	c := newClient(t, f, anthropic.WithMaxRetryDelay(time.Second))
	_, err := c.Generate(t.Context(), userReq("x"))
	// The date has a one-second resolution and the clock moves on: only
	// check the wait is about a minute and a half, not its exact value.
	if d, ok := llm.RetryAfter(err); !ok || d < 30*time.Second || d > 91*time.Second {
		t.Fatalf("RetryAfter = %v, %v (err %v)", d, ok, err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestRequestBodyIsWhatGenerateSends: RequestBody is byte for byte the
// body the server receives from Generate.
func TestRequestBodyIsWhatGenerateSends(t *testing.T) {
	f := newServer(t, reply{body: messageBody(`[{"type":"text","text":"Hi."}]`, "end_turn", 5, 0, 0, 2)})
	c := newClient(t, f, anthropic.WithThinking(2048))
	req := llm.Request{
		Messages: []message.Message{
			message.NewSystemMessage("Be brief."),
			message.NewUserMessage("Weather?"),
			message.NewMessage(message.RoleAssistant,
				message.Reasoning{Text: "Use the tool.", Signature: "sig"},
				message.ToolCall{ID: "toolu_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}),
			message.NewToolResultMessage(message.ToolResult{CallID: "toolu_1", Name: "weather", Content: "4°C"}),
		},
		Tools: []llm.ToolSpec{{Name: "weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
	}
	if _, err := c.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	body, err := c.RequestBody(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.last().raw; string(got) != string(body) {
		t.Errorf("Generate sent\n%s\nRequestBody returned\n%s", got, body)
	}
	if _, err := c.RequestBody(llm.Request{Messages: []message.Message{{Role: "bogus"}}}); !errors.Is(err, llm.ErrBadRequest) {
		t.Errorf("untranslatable request: %v, want llm.ErrBadRequest", err)
	}
}
