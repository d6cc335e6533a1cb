package openai_test

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
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/message"
)

func newClient(t testing.TB, f *fakeServer, opts ...openai.Option) *openai.Client {
	t.Helper()
	all := append([]openai.Option{
		openai.WithBaseURL(f.url()),
		openai.WithAPIKey("sk-test"),
		openai.WithModel("gpt-4.1"),
		openai.WithHTTPClient(&http.Client{Transport: &http.Transport{}}),
	}, opts...)
	c, err := openai.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ignoreIdentity ignores the fields that differ between any two calls.
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

func TestGenerateTextAndRequestMapping(t *testing.T) {
	f := newServer(t, reply{body: completion(`{"role":"assistant","content":"It is sunny in Oslo.","refusal":null,"annotations":[]}`, "stop", 120, 8, 64, 0)})
	c := newClient(t, f, openai.WithHeader("HTTP-Referer", "https://convo.dev"), openai.WithHeader("X-Title", "convo"))

	temp := 0.2
	req := llm.Request{
		Messages: []message.Message{
			message.NewSystemMessage("You are terse."),
			message.NewSummaryMessage("The user lives in Oslo."),
			message.NewUserMessage("Weather?"),
			message.NewMessage(message.RoleAssistant,
				message.Reasoning{Text: "need the tool", Signature: "sig"},
				message.Text{Text: "Checking."},
				message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
				message.ToolCall{ID: "call_2", Name: "time", Input: nil},
			),
			message.NewToolResultMessage(
				message.ToolResult{CallID: "call_1", Name: "weather", Content: "sunny", Metadata: json.RawMessage(`{"secret":1}`)},
				message.ToolResult{CallID: "call_2", Name: "time", Content: "boom", IsError: true},
			),
		},
		Temperature:     &temp,
		MaxOutputTokens: 256,
	}
	res, err := c.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}

	got := f.last()
	if got.path != "/v1/chat/completions" {
		t.Errorf("path %q", got.path)
	}
	if h := got.header.Get("Authorization"); h != "Bearer sk-test" {
		t.Errorf("Authorization %q", h)
	}
	if h := got.header.Get("HTTP-Referer"); h != "https://convo.dev" {
		t.Errorf("HTTP-Referer %q", h)
	}
	if h := got.header.Get("X-Title"); h != "convo" {
		t.Errorf("X-Title %q", h)
	}
	jsonEq(t, "model", got.body["model"], `"gpt-4.1"`)
	jsonEq(t, "temperature", got.body["temperature"], `0.2`)
	jsonEq(t, "max_completion_tokens", got.body["max_completion_tokens"], `256`)
	for _, k := range []string{"stream", "stream_options", "tools", "tool_choice", "response_format", "max_tokens"} {
		if v, ok := got.body[k]; ok {
			t.Errorf("unexpected %q: %v", k, v)
		}
	}
	jsonEq(t, "messages", got.body["messages"], `[
		{"role":"system","content":"You are terse."},
		{"role":"system","content":"Summary of the earlier conversation:\nThe user lives in Oslo."},
		{"role":"user","content":"Weather?"},
		{"role":"assistant","content":"Checking.","tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}},
			{"id":"call_2","type":"function","function":{"name":"time","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"sunny"},
		{"role":"tool","tool_call_id":"call_2","content":"boom"}
	]`)

	wantUsage := message.Usage{InputTokens: 120, OutputTokens: 8, CacheReadTokens: 64}
	want := &llm.Response{
		Message: message.Message{
			Role:  message.RoleAssistant,
			Parts: []message.Part{message.Text{Text: "It is sunny in Oslo."}},
			Model: "gpt-4.1-2025-04-14",
			Usage: &wantUsage,
		},
		FinishReason: llm.FinishStop,
		Usage:        wantUsage,
	}
	if diff := cmp.Diff(want, res, ignoreIdentity); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if res.Message.ID == "" || res.Message.CreatedAt == 0 {
		t.Errorf("message has no ID or CreatedAt: %+v", res.Message)
	}
}

func TestGenerateParallelToolCalls(t *testing.T) {
	f := newServer(t, reply{body: completion(`{"role":"assistant","content":null,"refusal":null,"annotations":[],
		"tool_calls":[
			{"id":"call_abc","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}},
			{"id":"call_def","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Bergen\"}"}}]}`,
		"tool_calls", 80, 40, 0, 0)})
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), llm.Request{
		Model:    "gpt-4.1-mini",
		Messages: []message.Message{message.NewUserMessage("Weather in Oslo and Bergen?")},
		Tools: []llm.ToolSpec{
			{Name: "weather", Description: "Current weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
			{Name: "noop"},
		},
		ToolChoice:     llm.ToolChoice{Mode: llm.ToolChoiceRequired},
		ResponseFormat: &llm.ResponseFormat{Name: "answer", Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`), Strict: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.last().body
	jsonEq(t, "model", got["model"], `"gpt-4.1-mini"`)
	jsonEq(t, "tools", got["tools"], `[
		{"type":"function","function":{"name":"weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
		{"type":"function","function":{"name":"noop","parameters":{"type":"object","properties":{}}}}]`)
	jsonEq(t, "tool_choice", got["tool_choice"], `"required"`)
	jsonEq(t, "response_format", got["response_format"], `{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}}`)

	wantParts := []message.Part{
		message.ToolCall{ID: "call_abc", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		message.ToolCall{ID: "call_def", Name: "weather", Input: json.RawMessage(`{"city":"Bergen"}`)},
	}
	if diff := cmp.Diff(wantParts, res.Message.Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	if res.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish %q", res.FinishReason)
	}
}

func TestToolChoiceMapping(t *testing.T) {
	for _, tc := range []struct {
		choice llm.ToolChoice
		want   string
	}{
		{llm.ToolChoice{Mode: llm.ToolChoiceNone}, `"none"`},
		{llm.ToolChoice{Mode: llm.ToolChoiceRequired}, `"required"`},
		{llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "weather"}, `{"type":"function","function":{"name":"weather"}}`},
	} {
		f := newServer(t, reply{body: completion(`{"role":"assistant","content":"ok"}`, "stop", 1, 1, 0, 0)})
		c := newClient(t, f)
		_, err := c.Generate(t.Context(), llm.Request{
			Messages:   []message.Message{message.NewUserMessage("hi")},
			Tools:      []llm.ToolSpec{{Name: "weather"}},
			ToolChoice: tc.choice,
		})
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, string(tc.choice.Mode), f.last().body["tool_choice"], tc.want)
	}
}

func TestImages(t *testing.T) {
	f := newServer(t, reply{body: completion(`{"role":"assistant","content":"A cat."}`, "stop", 900, 3, 0, 0)})
	c := newClient(t, f)
	png := []byte{0x89, 'P', 'N', 'G', 0, 1, 2}
	_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{
		message.NewMessage(message.RoleUser,
			message.Text{Text: "What is in these?"},
			message.ImageURL{URL: "https://example.com/cat.jpg", Detail: "high"},
			message.Binary{MIMEType: "image/png", Data: png, Name: "cat.png"},
			message.Binary{MIMEType: "application/pdf", Data: []byte("%PDF-1.7"), Name: "cat.pdf"},
		),
	}})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "messages", f.last().body["messages"], `[{"role":"user","content":[
		{"type":"text","text":"What is in these?"},
		{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"high"}},
		{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORwABAg=="}},
		{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0xLjc=","filename":"cat.pdf"}}
	]}]`)
}

func TestUntranslatableRequestFailsBeforeIO(t *testing.T) {
	f := newServer(t)
	c := newClient(t, f)
	for name, req := range map[string]llm.Request{
		"audio": {Messages: []message.Message{message.NewMessage(message.RoleUser, message.Binary{MIMEType: "audio/wav", Data: []byte{1}})}},
		"role":  {Messages: []message.Message{message.NewMessage("critic", message.Text{Text: "x"})}},
		"tool":  {Messages: []message.Message{message.NewUserMessage("x")}, Tools: []llm.ToolSpec{{Name: "t", Parameters: json.RawMessage(`[1]`)}}},
		"model": {Model: "", Messages: []message.Message{message.NewUserMessage("x")}},
	} {
		cl := c
		if name == "model" {
			var err error
			cl, err = openai.New(openai.WithBaseURL(f.url()))
			if err != nil {
				t.Fatal(err)
			}
		}
		_, err := cl.Generate(t.Context(), req)
		if !errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%s: err = %v, want ErrBadRequest", name, err)
		}
		for _, err := range cl.Stream(t.Context(), req) {
			if !errors.Is(err, llm.ErrBadRequest) {
				t.Errorf("%s: stream err = %v, want ErrBadRequest", name, err)
			}
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestStreamTextMatchesGenerate(t *testing.T) {
	sse := []string{
		chunk(`{"role":"assistant","content":"","refusal":null}`, ""),
		chunk(`{"content":"It is "}`, ""),
		chunk(`{"content":"sunny."}`, ""),
		chunk(`{}`, "stop"),
		usageChunk(120, 8, 64, 5),
		"[DONE]",
	}
	f := newServer(t,
		reply{sse: sse},
		reply{body: completion(`{"role":"assistant","content":"It is sunny.","refusal":null}`, "stop", 120, 8, 64, 5)},
	)
	c := newClient(t, f)
	req := llm.Request{Messages: []message.Message{message.NewUserMessage("Weather?")}}
	evs, err := collect(t, c.Stream(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	body := f.last().body
	jsonEq(t, "stream", body["stream"], `true`)
	jsonEq(t, "stream_options", body["stream_options"], `{"include_usage":true}`)

	var text string
	for _, ev := range evs[:len(evs)-1] {
		if ev.Type != llm.EventTextDelta {
			t.Errorf("unexpected event %+v", ev)
		}
		text += ev.Text
	}
	if text != "It is sunny." {
		t.Errorf("deltas joined = %q", text)
	}
	done := evs[len(evs)-1]
	if done.Type != llm.EventDone || done.Response == nil {
		t.Fatalf("last event %+v", done)
	}
	gen, err := c.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gen, done.Response, ignoreIdentity); diff != "" {
		t.Errorf("stream and generate differ (-generate +stream):\n%s", diff)
	}
	want := message.Usage{InputTokens: 120, OutputTokens: 8, CacheReadTokens: 64, ReasoningTokens: 5}
	if done.Response.Usage != want || *done.Response.Message.Usage != want {
		t.Errorf("usage %+v / %+v, want %+v", done.Response.Usage, *done.Response.Message.Usage, want)
	}
}

func TestStreamFragmentedParallelToolCalls(t *testing.T) {
	tc := func(s string) string { return `{"tool_calls":[` + s + `]}` }
	sse := []string{
		chunk(`{"role":"assistant","content":null,"refusal":null}`, ""),
		chunk(tc(`{"index":0,"id":"call_abc","type":"function","function":{"name":"weather","arguments":""}}`), ""),
		chunk(tc(`{"index":0,"function":{"arguments":"{\"ci"}}`), ""),
		chunk(tc(`{"index":1,"id":"call_def","type":"function","function":{"name":"time","arguments":"{\"tz\":"}}`), ""),
		chunk(tc(`{"index":0,"function":{"arguments":"ty\":\"Os"}}`), ""),
		chunk(tc(`{"index":1,"function":{"arguments":"\"Europe/Oslo\"}"}}`), ""),
		chunk(tc(`{"index":0,"function":{"arguments":"lo\"}"}}`), ""),
		chunk(`{}`, "tool_calls"),
		usageChunk(50, 30, 0, 0),
		"[DONE]",
	}
	f := newServer(t, reply{sse: sse})
	c := newClient(t, f)
	evs, err := collect(t, c.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("?")}}))
	if err != nil {
		t.Fatal(err)
	}
	var deltas []llm.ToolCallDelta
	for _, ev := range evs {
		if ev.Type == llm.EventToolCallDelta {
			deltas = append(deltas, *ev.ToolCall)
		}
	}
	wantDeltas := []llm.ToolCallDelta{
		{Index: 0, ID: "call_abc", Name: "weather"},
		{Index: 0, InputDelta: `{"ci`},
		{Index: 1, ID: "call_def", Name: "time", InputDelta: `{"tz":`},
		{Index: 0, InputDelta: `ty":"Os`},
		{Index: 1, InputDelta: `"Europe/Oslo"}`},
		{Index: 0, InputDelta: `lo"}`},
	}
	if diff := cmp.Diff(wantDeltas, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	res := evs[len(evs)-1].Response
	wantParts := []message.Part{
		message.ToolCall{ID: "call_abc", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		message.ToolCall{ID: "call_def", Name: "time", Input: json.RawMessage(`{"tz":"Europe/Oslo"}`)},
	}
	if diff := cmp.Diff(wantParts, res.Message.Parts); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	if res.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish %q", res.FinishReason)
	}
}

// Some compatible servers send each call whole, every one with index 0.
func TestStreamWholeCallsAtIndexZero(t *testing.T) {
	sse := []string{
		chunk(`{"role":"assistant","content":"","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"a","arguments":"{}"}}]}`, ""),
		chunk(`{"role":"assistant","content":"","tool_calls":[{"index":0,"id":"call_2","type":"function","function":{"name":"b","arguments":"{\"x\":1}"}}]}`, ""),
		chunk(`{"role":"assistant","content":""}`, "tool_calls"),
		"[DONE]",
	}
	f := newServer(t, reply{sse: sse})
	c := newClient(t, f)
	evs, err := collect(t, c.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("?")}}))
	if err != nil {
		t.Fatal(err)
	}
	got := evs[len(evs)-1].Response.Message.ToolCalls()
	want := []message.ToolCall{{ID: "call_1", Name: "a", Input: json.RawMessage(`{}`)}, {ID: "call_2", Name: "b", Input: json.RawMessage(`{"x":1}`)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// Compatible servers (vLLM, DeepSeek, llama.cpp) stream reasoning in
// "reasoning_content"; Ollama and OpenRouter in "reasoning".
func TestReasoningFromCompatibleServers(t *testing.T) {
	f := newServer(t,
		reply{sse: []string{
			chunk(`{"role":"assistant","content":null,"reasoning_content":"Think"}`, ""),
			chunk(`{"content":null,"reasoning_content":"ing."}`, ""),
			chunk(`{"content":"Hi"}`, ""),
			chunk(`{}`, "stop"),
			"[DONE]",
		}},
		reply{body: completion(`{"role":"assistant","content":"Hi","reasoning":"Thinking."}`, "stop", 1, 1, 0, 0)},
	)
	c := newClient(t, f)
	req := llm.Request{Messages: []message.Message{message.NewUserMessage("hi")}}
	evs, err := collect(t, c.Stream(t.Context(), req))
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Type != llm.EventReasoningDelta || evs[0].Text != "Think" {
		t.Errorf("first event %+v", evs[0])
	}
	want := []message.Part{message.Reasoning{Text: "Thinking."}, message.Text{Text: "Hi"}}
	if diff := cmp.Diff(want, evs[len(evs)-1].Response.Message.Parts); diff != "" {
		t.Errorf("stream parts (-want +got):\n%s", diff)
	}
	res, err := c.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, res.Message.Parts); diff != "" {
		t.Errorf("generate parts (-want +got):\n%s", diff)
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
		{"unauthorized", 401, nil, errorBody("Incorrect API key provided: sk-bad. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key"), llm.ErrAuthentication, 0},
		{"forbidden", 403, nil, errorBody("Project does not have access to model gpt-5", "invalid_request_error", "", "model_not_found"), llm.ErrAuthentication, 0},
		{"context code", 400, nil, errorBody("This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.", "invalid_request_error", "messages", "context_length_exceeded"), llm.ErrContextTooLong, 0},
		{"context message (vLLM)", 400, nil, `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens. Please reduce the length of the input messages.","type":"BadRequestError","param":null,"code":400}`, llm.ErrContextTooLong, 0},
		{"context (llama.cpp)", 400, nil, `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}`, llm.ErrContextTooLong, 0},
		{"bad request", 400, nil, errorBody("Invalid value for 'temperature': must be <= 2.", "invalid_request_error", "temperature", "invalid_value"), llm.ErrBadRequest, 0},
		{"content filter (Azure)", 400, nil, errorBody("The response was filtered due to the prompt triggering Azure OpenAI's content management policy.", "", "prompt", "content_filter"), llm.ErrContentFiltered, 0},
		{"not found", 404, nil, errorBody("The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error", "", "model_not_found"), llm.ErrBadRequest, 0},
		{"rate limited", 429, map[string]string{"Retry-After": "20"}, errorBody("Rate limit reached for gpt-4.1 in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s.", "tokens", "", "rate_limit_exceeded"), llm.ErrRateLimited, 20 * time.Second},
		{"rate limited ms", 429, map[string]string{"Retry-After-Ms": "1500"}, errorBody("Rate limit reached", "requests", "", "rate_limit_exceeded"), llm.ErrRateLimited, 1500 * time.Millisecond},
		{"ollama not found", 404, nil, `{"error":"model \"llama9\" not found, try pulling it first"}`, llm.ErrBadRequest, 0},
		{"html gateway", 502, nil, "<html><body><h1>502 Bad Gateway</h1></body></html>", llm.ErrServer, 0},
		{"server", 500, nil, errorBody("The server had an error while processing your request. Sorry about that!", "server_error", "", ""), llm.ErrServer, 0},
		{"overloaded", 503, nil, errorBody("The engine is currently overloaded, please try again later", "server_error", "", ""), llm.ErrServer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServer(t, reply{status: tc.status, header: tc.header, body: tc.body})
			c := newClient(t, f, openai.WithMaxRetries(0))
			_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			var ae *llm.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v is not an *llm.APIError", err)
			}
			if ae.StatusCode != tc.status || ae.Provider != "openai" || ae.Message == "" || ae.RetryAfter != tc.retry {
				t.Errorf("APIError %+v", ae)
			}
			if d, ok := llm.RetryAfter(err); ok != (tc.kind == llm.ErrRateLimited) || d != tc.retry {
				t.Errorf("llm.RetryAfter = %v, %v", d, ok)
			}
			// The same error comes out of a stream.
			f2 := newServer(t, reply{status: tc.status, header: tc.header, body: tc.body})
			c2 := newClient(t, f2, openai.WithMaxRetries(0))
			_, err = collect(t, c2.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}))
			if !errors.Is(err, tc.kind) || !errors.As(err, &ae) || ae.StatusCode != tc.status {
				t.Errorf("stream err = %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestStreamErrorEvent(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		chunk(`{"role":"assistant","content":"Hel"}`, ""),
		`{"error":{"message":"upstream provider failed","code":502}}`,
	}})
	c := newClient(t, f)
	evs, err := collect(t, c.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}))
	if !errors.Is(err, llm.ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
	var ae *llm.APIError
	if !errors.As(err, &ae) || ae.Message != "upstream provider failed" {
		t.Errorf("APIError %+v", ae)
	}
	if len(evs) != 1 || evs[0].Text != "Hel" {
		t.Errorf("events before the error: %+v", evs)
	}
}

func TestStreamTruncated(t *testing.T) {
	f := newServer(t, reply{sse: []string{chunk(`{"role":"assistant","content":"Hel"}`, "")}})
	c := newClient(t, f)
	_, err := collect(t, c.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestRetryAfterThenSuccess(t *testing.T) {
	for name, header := range map[string]map[string]string{
		"seconds":   {"Retry-After": "0"},
		"ms":        {"Retry-After-Ms": "1"},
		"http-date": {"Retry-After": time.Now().Add(-time.Second).UTC().Format(http.TimeFormat)},
	} {
		t.Run(name, func(t *testing.T) {
			f := newServer(t,
				reply{status: 429, header: header, body: errorBody("Rate limit reached", "requests", "", "rate_limit_exceeded")},
				reply{body: completion(`{"role":"assistant","content":"ok"}`, "stop", 1, 1, 0, 0)},
			)
			// A one-hour backoff cap: only the server's tiny Retry-After
			// keeps this test fast.
			c := newClient(t, f, openai.WithMaxRetryDelay(time.Hour))
			res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
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

func TestServerErrorThenSuccess(t *testing.T) {
	f := newServer(t,
		reply{status: 500, body: errorBody("The server had an error while processing your request. Sorry about that!", "server_error", "", "")},
		reply{sse: []string{chunk(`{"content":"ok"}`, "stop"), "[DONE]"}},
	)
	// No Retry-After: the exponential backoff applies, capped tiny.
	c := newClient(t, f, openai.WithMaxRetryDelay(time.Millisecond))
	evs, err := collect(t, c.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}))
	if err != nil {
		t.Fatal(err)
	}
	if evs[len(evs)-1].Response.Message.Content() != "ok" {
		t.Errorf("events %+v", evs)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRetriesExhausted(t *testing.T) {
	for _, retries := range []int{0, 1, 3} {
		f := newServer(t, reply{status: 429, header: map[string]string{"Retry-After": "0"}, body: errorBody("Rate limit reached", "requests", "", "rate_limit_exceeded")})
		c := newClient(t, f, openai.WithMaxRetries(retries))
		_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
		if !errors.Is(err, llm.ErrRateLimited) {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.requests()); n != retries+1 {
			t.Errorf("retries %d: %d requests, want %d", retries, n, retries+1)
		}
	}
	f := newServer(t, reply{status: 502, header: map[string]string{"Retry-After": "0"}, body: "<html>Bad Gateway</html>"})
	c := newClient(t, f)
	_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
	if !errors.Is(err, llm.ErrServer) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.requests()); n != openai.DefaultMaxRetries+1 {
		t.Errorf("%d requests, want %d", n, openai.DefaultMaxRetries+1)
	}
}

// A server asking for a longer wait than WithMaxRetryDelay allows is not
// retried; the caller gets the wait in the error.
func TestRetryAfterBeyondMaxDelay(t *testing.T) {
	f := newServer(t, reply{status: 429, header: map[string]string{"Retry-After": "30"}, body: errorBody("Rate limit reached", "requests", "", "rate_limit_exceeded")})
	c := newClient(t, f, openai.WithMaxRetryDelay(time.Second))
	_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
	if d, ok := llm.RetryAfter(err); !ok || d != 30*time.Second {
		t.Fatalf("RetryAfter = %v, %v (err %v)", d, ok, err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNoRetryAfterContextDone(t *testing.T) {
	f := newServer(t, reply{status: 503, header: map[string]string{"Retry-After": "3600"}, body: errorBody("overloaded", "server_error", "", "")})
	c := newClient(t, f, openai.WithMaxRetryDelay(2*time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Generate(ctx, llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
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
		f := newServer(t, reply{hold: true, sse: []string{chunk(`{"role":"assistant","content":"Hel"}`, "")}})
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c := newClient(t, f, openai.WithHTTPClient(&http.Client{Transport: tr}))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var got []llm.Event
		var err error
		for ev, e := range c.Stream(ctx, llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}) {
			if e != nil {
				err = e
				break
			}
			got = append(got, ev)
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
	f := newServer(t, reply{hold: true, sse: []string{chunk(`{"role":"assistant","content":"Hel"}`, "")}})
	c := newClient(t, f)
	for range c.Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}) {
		break
	}
	select {
	case <-f.gone:
	case <-time.After(30 * time.Second):
		t.Fatal("breaking out of the loop did not close the request")
	}
}

func TestEnvironment(t *testing.T) {
	f := newServer(t,
		reply{body: completion(`{"role":"assistant","content":"a"}`, "stop", 1, 1, 0, 0)},
	)
	t.Setenv("OPENAI_API_KEY", "sk-env")
	t.Setenv("OPENAI_BASE_URL", f.url())
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Leak: yes")

	// Without FromEnv nothing is read from the environment.
	c, err := openai.New(openai.WithBaseURL(f.url()), openai.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if h := f.last().header; h.Get("Authorization") != "" || h.Get("X-Leak") != "" {
		t.Errorf("environment leaked into the request: %v", h)
	}

	// With FromEnv the key and base URL come from the environment...
	c, err = openai.New(openai.FromEnv(), openai.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if h := f.last().header.Get("Authorization"); h != "Bearer sk-env" {
		t.Errorf("Authorization %q", h)
	}
	// ...unless given explicitly, in any order.
	c, err = openai.New(openai.WithAPIKey("sk-explicit"), openai.FromEnv(), openai.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}); err != nil {
		t.Fatal(err)
	}
	if h := f.last().header.Get("Authorization"); h != "Bearer sk-explicit" {
		t.Errorf("Authorization %q", h)
	}
}

func TestNewValidates(t *testing.T) {
	for name, opts := range map[string][]openai.Option{
		"relative url":   {openai.WithBaseURL("localhost:8080/v1")},
		"bad scheme":     {openai.WithBaseURL("ftp://example.com")},
		"negative retry": {openai.WithMaxRetries(-1)},
		"negative delay": {openai.WithMaxRetryDelay(-time.Second)},
	} {
		if c, err := openai.New(opts...); err == nil || c != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, c, err)
		}
	}
}

func TestLegacyMaxTokens(t *testing.T) {
	f := newServer(t, reply{body: completion(`{"role":"assistant","content":"a"}`, "length", 1, 1, 0, 0)})
	c := newClient(t, f, openai.WithLegacyMaxTokens())
	res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}, MaxOutputTokens: 5})
	if err != nil {
		t.Fatal(err)
	}
	body := f.last().body
	jsonEq(t, "max_tokens", body["max_tokens"], `5`)
	if _, ok := body["max_completion_tokens"]; ok {
		t.Error("max_completion_tokens sent with WithLegacyMaxTokens")
	}
	if res.FinishReason != llm.FinishLength {
		t.Errorf("finish %q", res.FinishReason)
	}
}

func TestCallWithoutIDGetsOne(t *testing.T) {
	f := newServer(t,
		reply{body: completion(`{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"a","arguments":"{}"}}]}`, "tool_calls", 1, 1, 0, 0)},
		reply{body: `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[]}`},
	)
	c := newClient(t, f)
	res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if calls := res.Message.ToolCalls(); len(calls) != 1 || calls[0].ID == "" || calls[0].Name != "a" {
		t.Errorf("calls %+v", calls)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}}); !errors.Is(err, llm.ErrServer) {
		t.Errorf("no choices: err = %v, want ErrServer", err)
	}
}

func TestRetryAfterHTTPDateInError(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	f := newServer(t, reply{status: 429, header: map[string]string{"Retry-After": when}, body: errorBody("Rate limit reached", "requests", "", "rate_limit_exceeded")})
	c := newClient(t, f, openai.WithMaxRetryDelay(time.Second))
	_, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("x")}})
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
	f := newServer(t, reply{body: completion(`{"role":"assistant","content":"Hi."}`, "stop", 5, 2, 0, 0)})
	c := newClient(t, f, openai.WithLegacyMaxTokens())
	temp := 0.3
	req := llm.Request{
		Messages: []message.Message{
			message.NewSystemMessage("Be brief."),
			message.NewUserMessage("Weather?"),
			message.NewMessage(message.RoleAssistant, message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}),
			message.NewToolResultMessage(message.ToolResult{CallID: "call_1", Name: "weather", Content: "4°C"}),
		},
		Tools:           []llm.ToolSpec{{Name: "weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
		Temperature:     &temp,
		MaxOutputTokens: 100,
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
