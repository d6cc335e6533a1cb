package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/llm/llmtest/providerrules"
	"github.com/convo-dev/convo/message"
)

func newClient(t testing.TB, f *fakeServer, opts ...gemini.Option) *gemini.Client {
	t.Helper()
	c, err := gemini.New(append([]gemini.Option{
		gemini.WithBaseURL(f.url()), gemini.WithAPIKey("test-key"), gemini.WithModel("gemini-3-pro-preview"),
		gemini.WithMaxRetryDelay(time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var weather = []llm.ToolSpec{{
	Name: "get_weather", Description: "Weather in a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}}

func TestGenerateTextAndRequestMapping(t *testing.T) {
	// A text answer whose signature is on its last part, as the thought
	// signatures page documents for Gemini 3 answers without function
	// calls.
	f := newServer(t, reply{body: response(`[{"text":"Four.","thoughtSignature":"c2lnLTE="}]`, "STOP", 21, 2, 30)})
	c := newClient(t, f, gemini.WithThinkingLevel("low"))
	temp := 0.5
	png := []byte{0x89, 'P', 'N', 'G'}
	res, err := c.Generate(t.Context(), llm.Request{
		Messages: []message.Message{
			message.NewSystemMessage("Be brief."),
			message.NewSummaryMessage("The user likes maths."),
			message.NewMessage(message.RoleUser,
				message.Text{Text: "What is 2+2? "}, message.Text{Text: "  "},
				message.ImageURL{URL: "data:image/png;base64,iVBORw0KGgo="},
				message.Binary{MIMEType: "image/png", Data: png},
				message.ImageURL{URL: "https://example.com/cat.webp?size=2"}),
		},
		Temperature:     &temp,
		MaxOutputTokens: 256,
		ResponseFormat:  &llm.ResponseFormat{Name: "answer", Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.last()
	if r.path != "/v1beta/models/gemini-3-pro-preview:generateContent" {
		t.Errorf("path %q", r.path)
	}
	if got := r.header.Get("x-goog-api-key"); got != "test-key" {
		t.Errorf("x-goog-api-key %q", got)
	}
	jsonEq(t, "contents", r.body["contents"], `[{"role":"user","parts":[
		{"text":"What is 2+2? "},
		{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
		{"inlineData":{"mimeType":"image/png","data":"iVBORw=="}},
		{"fileData":{"fileUri":"https://example.com/cat.webp?size=2","mimeType":"image/webp"}}]}]`)
	jsonEq(t, "systemInstruction", r.body["systemInstruction"], `{"role":"user","parts":[{"text":"Be brief."},{"text":"Summary of the earlier conversation:\nThe user likes maths."}]}`)
	jsonEq(t, "generationConfig", r.body["generationConfig"], `{"temperature":0.5,"maxOutputTokens":256,
		"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"n":{"type":"integer"}}},
		"thinkingConfig":{"thinkingLevel":"LOW"}}`)

	if res.FinishReason != llm.FinishStop {
		t.Errorf("finish %q", res.FinishReason)
	}
	want := []message.Part{message.Reasoning{Signature: "c2lnLTE="}, message.Text{Text: "Four."}}
	if !reflect.DeepEqual(res.Message.Parts, want) {
		t.Errorf("parts %#v, want %#v", res.Message.Parts, want)
	}
	// Output counts the thoughts too (candidatesTokenCount excludes them).
	wantUsage := message.Usage{InputTokens: 21, OutputTokens: 32, ReasoningTokens: 30}
	if res.Usage != wantUsage || res.Message.Usage == nil || *res.Message.Usage != wantUsage {
		t.Errorf("usage %+v / %+v, want %+v", res.Usage, res.Message.Usage, wantUsage)
	}
	if res.Message.Model != "gemini-3-pro-preview" || res.Message.ID == "" || res.Message.Role != message.RoleAssistant {
		t.Errorf("message %+v", res.Message)
	}
}

// The loop Gemini 3 validates: a parallel call whose first functionCall
// carries the signature (the second has none, as the thought signatures
// page says), stored, then sent back with the results. The signature must
// come back exactly, on the same part, and the client's own call IDs must
// not be sent.
func TestParallelCallsKeepSignatureOnTheCall(t *testing.T) {
	f := newServer(t,
		reply{body: response(`[
			{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="},
			{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}]`, "STOP", 50, 12, 80)},
		reply{body: response(`[{"text":"Sunny and rainy."}]`, "STOP", 90, 5, 0)},
	)
	c := newClient(t, f)
	user := message.NewUserMessage("Weather in Paris and Oslo?")
	res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user}, Tools: weather})
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish %q, want tool_calls", res.FinishReason)
	}
	calls := res.Message.ToolCalls()
	if len(calls) != 2 || res.Message.Parts[0] != (message.Reasoning{Signature: "c2lnLTE="}) {
		t.Fatalf("parts %#v", res.Message.Parts)
	}
	if calls[0].ID == calls[1].ID || !strings.HasPrefix(calls[0].ID, gemini.LocalCallIDPrefix) {
		t.Errorf("call IDs %q %q: want two distinct local IDs", calls[0].ID, calls[1].ID)
	}
	if string(calls[0].Input) != `{"city":"Paris"}` || string(calls[1].Input) != `{"city":"Oslo"}` {
		t.Errorf("inputs %s %s", calls[0].Input, calls[1].Input)
	}
	// The message as a store keeps it: the signature survives the JSON
	// encoding.
	raw, err := message.MarshalParts(res.Message.Parts)
	if err != nil {
		t.Fatal(err)
	}
	stored := res.Message
	if stored.Parts, err = message.UnmarshalParts(raw); err != nil {
		t.Fatal(err)
	}
	results := message.NewToolResultMessage(
		message.ToolResult{CallID: calls[0].ID, Name: "get_weather", Content: "sunny"},
		message.ToolResult{CallID: calls[1].ID, Content: "rain", IsError: true}, // Name found from the call
	)
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user, stored, results}, Tools: weather}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "contents", f.last().body["contents"], `[
		{"role":"user","parts":[{"text":"Weather in Paris and Oslo?"}]},
		{"role":"model","parts":[
			{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="},
			{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}]},
		{"role":"user","parts":[
			{"functionResponse":{"name":"get_weather","response":{"output":"sunny"}}},
			{"functionResponse":{"name":"get_weather","response":{"error":"rain"}}}]}]`)
	jsonEq(t, "tools", f.last().body["tools"], `[{"functionDeclarations":[{"name":"get_weather","description":"Weather in a city",
		"parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}]`)
}

// Function call IDs the API gives are kept and sent back on the call and
// its response.
func TestFunctionCallIDsAreKept(t *testing.T) {
	f := newServer(t,
		reply{body: response(`[{"functionCall":{"id":"fc_7","name":"get_weather","args":{"city":"Rome"}},"thoughtSignature":"c2lnLTE="}]`, "STOP", 10, 5, 0)},
		reply{body: response(`[{"text":"Hot."}]`, "STOP", 20, 2, 0)},
	)
	c := newClient(t, f)
	user := message.NewUserMessage("Rome?")
	res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user}, Tools: weather})
	if err != nil {
		t.Fatal(err)
	}
	if calls := res.Message.ToolCalls(); len(calls) != 1 || calls[0].ID != "fc_7" {
		t.Fatalf("calls %+v", calls)
	}
	results := message.NewToolResultMessage(message.ToolResult{CallID: "fc_7", Name: "get_weather", Content: "30"})
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user, res.Message, results}, Tools: weather}); err != nil {
		t.Fatal(err)
	}
	contents := f.last().body["contents"].([]any)
	jsonEq(t, "call", contents[1], `{"role":"model","parts":[{"functionCall":{"id":"fc_7","name":"get_weather","args":{"city":"Rome"}},"thoughtSignature":"c2lnLTE="}]}`)
	jsonEq(t, "response", contents[2], `{"role":"user","parts":[{"functionResponse":{"id":"fc_7","name":"get_weather","response":{"output":"30"}}}]}`)
}

func TestToolChoiceMapping(t *testing.T) {
	cases := []struct {
		choice llm.ToolChoice
		want   string
	}{
		{llm.ToolChoice{Mode: llm.ToolChoiceNone}, `{"functionCallingConfig":{"mode":"NONE"}}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceRequired}, `{"functionCallingConfig":{"mode":"ANY"}}`},
		{llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "get_weather"}, `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}`},
	}
	c, err := gemini.New(gemini.WithAPIKey("k"), gemini.WithModel("gemini-3-pro-preview"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		body, err := c.RequestBody(llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}, Tools: weather, ToolChoice: tc.choice})
		if err != nil {
			t.Fatal(err)
		}
		var b map[string]any
		_ = json.Unmarshal(body, &b)
		jsonEq(t, string(tc.choice.Mode), b["toolConfig"], tc.want)
	}
}

// Thought summaries (WithThoughts) come back as Reasoning parts with text;
// a thought part's own signature stays on it.
func TestThoughtsRoundTrip(t *testing.T) {
	f := newServer(t,
		reply{body: response(`[{"text":"**Checking** the weather tool.","thought":true},
			{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"c2lnLTE="}]`, "STOP", 10, 5, 40)},
		reply{body: response(`[{"text":"Cold.","thoughtSignature":"c2lnLTI="}]`, "STOP", 30, 2, 0)},
	)
	c := newClient(t, f, gemini.WithThoughts())
	user := message.NewUserMessage("Oslo?")
	res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user}, Tools: weather})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.last().body["generationConfig"]; got == nil {
		t.Fatal("no generationConfig")
	} else {
		jsonEq(t, "thinkingConfig", got.(map[string]any)["thinkingConfig"], `{"includeThoughts":true}`)
	}
	want := []message.Part{
		message.Reasoning{Text: "**Checking** the weather tool."},
		message.Reasoning{Signature: "c2lnLTE="},
		message.ToolCall{ID: res.Message.ToolCalls()[0].ID, Name: "get_weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
	}
	if len(res.Message.Parts) != 3 || res.Message.Parts[0] != want[0] || res.Message.Parts[1] != want[1] {
		t.Fatalf("parts %#v", res.Message.Parts)
	}
	results := message.NewToolResultMessage(message.ToolResult{CallID: want[2].(message.ToolCall).ID, Name: "get_weather", Content: "-3"})
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user, res.Message, results}, Tools: weather}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "model turn", f.last().body["contents"].([]any)[1], `{"role":"model","parts":[
		{"text":"**Checking** the weather tool.","thought":true},
		{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"c2lnLTE="}]}`)
}

// Reasoning from another provider never reaches Gemini as a signature it
// could not verify: reasoning in a message another model wrote is dropped,
// as are redacted reasoning and a signature that is not base64 (so not one
// this client stored). Reasoning from a Gemini model, from the request's
// own model (a proxy's alias) or from a message with no model is kept.
func TestForeignReasoningIsNotSentAsASignature(t *testing.T) {
	c, err := gemini.New(gemini.WithAPIKey("k"), gemini.WithModel("my-alias"))
	if err != nil {
		t.Fatal(err)
	}
	turn := func(model string, parts ...message.Part) message.Message {
		m := message.NewMessage(message.RoleAssistant, parts...)
		m.Model = model
		return m
	}
	body, err := c.RequestBody(llm.Request{Messages: []message.Message{
		message.NewUserMessage("Hi"),
		turn("", message.Reasoning{Signature: "EqQBCkgIARABGAIiQL", Redacted: true},
			message.Reasoning{Signature: "not base64!"}, message.Text{Text: "Hello."}),
		message.NewUserMessage("Again"),
		turn("claude-sonnet-4-5-20250929", message.Reasoning{Text: "Think.", Signature: "c2lnLTA="}, message.Text{Text: "Claude."}),
		message.NewUserMessage("Again"),
		turn("gemini-3-pro-preview", message.Reasoning{Signature: "c2lnLTE="}, message.Text{Text: "Gemini."}),
		message.NewUserMessage("Again"),
		turn("my-alias", message.Reasoning{Signature: "c2lnLTI="}, message.Text{Text: "Alias."}),
		message.NewUserMessage("Again"),
		turn("", message.Reasoning{Signature: "c2lnLTM="}, message.Text{Text: "Unknown."}),
		message.NewUserMessage("Bye"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	_ = json.Unmarshal(body, &b)
	contents := b["contents"].([]any)
	for i, want := range []string{
		`{"role":"model","parts":[{"text":"Hello."}]}`,
		`{"role":"model","parts":[{"text":"Claude."}]}`,
		`{"role":"model","parts":[{"text":"Gemini.","thoughtSignature":"c2lnLTE="}]}`,
		`{"role":"model","parts":[{"text":"Alias.","thoughtSignature":"c2lnLTI="}]}`,
		`{"role":"model","parts":[{"text":"Unknown.","thoughtSignature":"c2lnLTM="}]}`,
	} {
		jsonEq(t, fmt.Sprintf("model turn %d", i), contents[2*i+1], want)
	}
}

func TestUntranslatableRequestFailsBeforeIO(t *testing.T) {
	f := newServer(t)
	c := newClient(t, f)
	cases := map[string]llm.Request{
		"tool result in an assistant message": {Messages: []message.Message{message.NewMessage(message.RoleAssistant, message.ToolResult{CallID: "x"})}},
		"unknown role":                        {Messages: []message.Message{{Role: "bogus", Parts: []message.Part{message.Text{Text: "x"}}}}},
		"tool parameters not an object":       {Messages: []message.Message{message.NewUserMessage("Hi")}, Tools: []llm.ToolSpec{{Name: "t", Parameters: json.RawMessage(`[1]`)}}},
		"tool choice without a name":          {Messages: []message.Message{message.NewUserMessage("Hi")}, ToolChoice: llm.ToolChoice{Mode: llm.ToolChoiceTool}},
		"only a system prompt":                {Messages: []message.Message{message.NewSystemMessage("Be brief."), message.NewUserMessage(" ")}},
	}
	for name, req := range cases {
		if _, err := c.Generate(t.Context(), req); !errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%s: Generate: %v, want llm.ErrBadRequest", name, err)
		}
		if err := c.CheckRequest(req); !errors.Is(err, llm.ErrBadRequest) {
			t.Errorf("%s: CheckRequest: %v, want llm.ErrBadRequest", name, err)
		}
		for _, err := range c.Stream(t.Context(), req) {
			if !errors.Is(err, llm.ErrBadRequest) {
				t.Errorf("%s: Stream: %v, want llm.ErrBadRequest", name, err)
			}
		}
	}
	noModel, err := gemini.New(gemini.WithAPIKey("k"), gemini.WithBaseURL(f.url()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noModel.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}); !errors.Is(err, llm.ErrBadRequest) {
		t.Errorf("no model: %v", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestFinishReasons(t *testing.T) {
	cases := []struct {
		body string
		want llm.FinishReason
	}{
		{response(`[{"text":"Cut"}]`, "MAX_TOKENS", 1, 1, 0), llm.FinishLength},
		{response(`[]`, "SAFETY", 1, 0, 0), llm.FinishContentFilter},
		{response(`[{"text":"..."}]`, "RECITATION", 1, 1, 0), llm.FinishContentFilter},
		{response(`[]`, "MALFORMED_FUNCTION_CALL", 1, 0, 0), llm.FinishOther},
		// A blocked prompt has no candidate at all, only promptFeedback.
		{`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-3-pro-preview"}`, llm.FinishContentFilter},
	}
	for _, tc := range cases {
		f := newServer(t, reply{body: tc.body})
		res, err := newClient(t, f).Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if res.FinishReason != tc.want {
			t.Errorf("%s: finish %q, want %q", tc.body, res.FinishReason, tc.want)
		}
	}
}

// The stream of a text answer from go-genai's chats_test.go
// (TestChatsStreamCuratedHistory, "TrailingThoughtSignatureChunk"): the
// text, then the signature alone in an empty text part with the finish
// reason. Stream yields the text and ends with the Response Generate gives
// for the same answer in one piece.
func TestStreamTextMatchesGenerate(t *testing.T) {
	f := newServer(t,
		reply{sse: []string{
			chunk(`[{"text":"Hel"}]`, ""),
			chunk(`[{"text":"lo"}]`, ""),
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"","thoughtSignature":"c2lnLTI="}]},"finishReason":"STOP"}],` +
				`"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1,"thoughtsTokenCount":9,"totalTokenCount":14},"modelVersion":"gemini-3-pro-preview"}`,
		}},
		reply{body: response(`[{"text":"Hello","thoughtSignature":"c2lnLTI="}]`, "STOP", 4, 1, 9)},
	)
	c := newClient(t, f)
	req := llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}
	var text string
	var done *llm.Response
	for ev, err := range c.Stream(t.Context(), req) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case llm.EventTextDelta:
			text += ev.Text
		case llm.EventDone:
			done = ev.Response
		}
	}
	r := f.last()
	if r.path != "/v1beta/models/gemini-3-pro-preview:streamGenerateContent" || r.query != "alt=sse" {
		t.Errorf("stream request %s?%s", r.path, r.query)
	}
	gen, err := c.Generate(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Hello" || done == nil {
		t.Fatalf("text %q, done %v", text, done)
	}
	if !reflect.DeepEqual(done.Message.Parts, gen.Message.Parts) || done.Usage != gen.Usage || done.FinishReason != gen.FinishReason {
		t.Errorf("stream: %#v %+v %s\ngenerate: %#v %+v %s", done.Message.Parts, done.Usage, done.FinishReason,
			gen.Message.Parts, gen.Usage, gen.FinishReason)
	}
}

// The function-call stream of go-genai's chats_test.go
// (TestChatsStreamTrailingEmptyChunk): the call with its signature, then an
// empty text part with STOP. The call comes as one delta, and the signature
// is kept on the stored message and sent back on the call.
func TestStreamFunctionCallWithTrailingEmptyChunk(t *testing.T) {
	f := newServer(t,
		reply{sse: []string{
			`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="}]}}]}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP"}]}`,
		}},
		reply{sse: []string{`{"candidates":[{"content":{"role":"model","parts":[{"text":"It is sunny."}]},"finishReason":"STOP"}]}`}},
	)
	c := newClient(t, f)
	user := message.NewUserMessage("Weather in Paris?")
	var deltas []llm.ToolCallDelta
	var done *llm.Response
	for ev, err := range c.Stream(t.Context(), llm.Request{Messages: []message.Message{user}, Tools: weather}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == llm.EventToolCallDelta {
			deltas = append(deltas, *ev.ToolCall)
		}
		if ev.Type == llm.EventDone {
			done = ev.Response
		}
	}
	if done == nil || done.FinishReason != llm.FinishToolCalls {
		t.Fatalf("done %+v", done)
	}
	calls := done.Message.ToolCalls()
	if len(deltas) != 1 || len(calls) != 1 || deltas[0].ID != calls[0].ID || deltas[0].Name != "get_weather" || deltas[0].InputDelta != `{"city":"Paris"}` {
		t.Fatalf("deltas %+v, calls %+v", deltas, calls)
	}
	if !reflect.DeepEqual(done.Message.Parts, []message.Part{message.Reasoning{Signature: "c2lnLTE="}, calls[0]}) {
		t.Errorf("parts %#v", done.Message.Parts)
	}
	results := message.NewToolResultMessage(message.ToolResult{CallID: calls[0].ID, Name: "get_weather", Content: "sunny"})
	for _, err := range c.Stream(t.Context(), llm.Request{Messages: []message.Message{user, done.Message, results}, Tools: weather}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	jsonEq(t, "model turn", f.last().body["contents"].([]any)[1],
		`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="}]}`)
}

func TestStreamThoughts(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		chunk(`[{"text":"**Plan**","thought":true}]`, ""),
		chunk(`[{"text":" the answer.","thought":true}]`, ""),
		chunk(`[{"text":"42"}]`, "STOP"),
	}})
	var reasoning string
	var done *llm.Response
	for ev, err := range newClient(t, f, gemini.WithThoughts()).Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("?")}}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == llm.EventReasoningDelta {
			reasoning += ev.Text
		}
		if ev.Type == llm.EventDone {
			done = ev.Response
		}
	}
	want := []message.Part{message.Reasoning{Text: "**Plan** the answer."}, message.Text{Text: "42"}}
	if reasoning != "**Plan** the answer." || done == nil || !reflect.DeepEqual(done.Message.Parts, want) {
		t.Errorf("reasoning %q, done %+v", reasoning, done)
	}
}

// A stream that ends before any chunk carried a finish reason is
// incomplete, whatever it delivered.
func TestStreamWithoutFinishReasonIsIncomplete(t *testing.T) {
	f := newServer(t, reply{sse: []string{chunk(`[{"text":"Hello"}]`, "")}})
	var got error
	for _, err := range newClient(t, f).Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}) {
		if err != nil {
			got = err
		}
	}
	if !errors.Is(got, llm.ErrIncomplete) || !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Errorf("error %v, want llm.ErrIncomplete", got)
	}
}

// An error inside a stream that began with 200 OK: the API sends a
// google.rpc.Status as an event's data.
func TestStreamErrorEvent(t *testing.T) {
	f := newServer(t, reply{sse: []string{
		chunk(`[{"text":"Hel"}]`, ""),
		errorBody(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
	}})
	var got error
	for _, err := range newClient(t, f).Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}) {
		if err != nil {
			got = err
		}
	}
	var apiErr *llm.APIError
	if !errors.Is(got, llm.ErrServer) || !errors.As(got, &apiErr) || apiErr.Provider != "gemini" {
		t.Errorf("error %v, want llm.ErrServer", got)
	}
}

func TestStreamBreakEarlyClosesConnection(t *testing.T) {
	f := newServer(t, reply{sse: []string{chunk(`[{"text":"Hel"}]`, "")}, hold: true})
	for ev, err := range newClient(t, f).Stream(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == llm.EventTextDelta {
			break
		}
	}
	select {
	case <-f.gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection stayed open after the loop ended")
	}
}

func TestErrorKinds(t *testing.T) {
	retryInfo := `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"42s"}`
	cases := []struct {
		name       string
		status     int
		body       string
		kind       error
		retryAfter time.Duration
	}{
		{"invalid argument", 400, errorBody(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), llm.ErrBadRequest, 0},
		// The answer to an unknown key (a 400, not a 401).
		{"bad key", 400, errorBody(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
			`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}`), llm.ErrAuthentication, 0},
		{"permission", 403, errorBody(403, "PERMISSION_DENIED", "The caller does not have permission"), llm.ErrAuthentication, 0},
		{"model not found", 404, errorBody(404, "NOT_FOUND", "models/gemini-0 is not found for API version v1beta"), llm.ErrBadRequest, 0},
		// github.com/google-gemini/gemini-cli/issues/4231.
		{"too long", 400, errorBody(400, "INVALID_ARGUMENT", "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576)."), llm.ErrContextTooLong, 0},
		{"rate limited", 429, errorBody(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
			`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}`,
			retryInfo), llm.ErrRateLimited, 42 * time.Second},
		{"daily quota", 429, errorBody(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.",
			`{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}`,
			retryInfo), llm.ErrQuotaExceeded, 0},
		{"internal", 500, errorBody(500, "INTERNAL", "An internal error has occurred."), llm.ErrServer, 0},
		{"overloaded", 503, errorBody(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), llm.ErrServer, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newServer(t, reply{status: tc.status, body: tc.body})
			_, err := newClient(t, f, gemini.WithMaxRetries(0)).Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want %v", err, tc.kind)
			}
			var apiErr *llm.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Provider != "gemini" || apiErr.Message == "" {
				t.Errorf("APIError %+v", apiErr)
			}
			if d, ok := llm.RetryAfter(err); d != tc.retryAfter || ok != (tc.kind == llm.ErrRateLimited) {
				t.Errorf("RetryAfter %s %v, want %s", d, ok, tc.retryAfter)
			}
		})
	}
}

func TestRetryThenSuccess(t *testing.T) {
	f := newServer(t,
		reply{status: 503, body: errorBody(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")},
		reply{status: 429, body: errorBody(429, "RESOURCE_EXHAUSTED", "Resource exhausted.", `{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"0.001s"}`)},
		reply{body: response(`[{"text":"ok"}]`, "STOP", 1, 1, 0)},
	)
	res, err := newClient(t, f).Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if res.Message.Text() != "ok" || len(reqs) != 3 {
		t.Fatalf("text %q after %d requests", res.Message.Text(), len(reqs))
	}
	if string(reqs[2].raw) != string(reqs[0].raw) {
		t.Errorf("the retry sent another body:\n%s\n%s", reqs[0].raw, reqs[2].raw)
	}
}

func TestRetriesExhausted(t *testing.T) {
	f := newServer(t, reply{status: 500, body: errorBody(500, "INTERNAL", "An internal error has occurred.")})
	_, err := newClient(t, f, gemini.WithMaxRetries(2)).Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
	if !errors.Is(err, llm.ErrServer) || len(f.requests()) != 3 {
		t.Errorf("error %v after %d requests, want llm.ErrServer after 3", err, len(f.requests()))
	}
}

// A server asking for a longer wait than the client allows gets no retry:
// the caller has the error, and the wait, at once.
func TestRetryInfoBeyondMaxDelay(t *testing.T) {
	f := newServer(t, reply{status: 429, body: errorBody(429, "RESOURCE_EXHAUSTED", "Resource exhausted.",
		`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34.074824224s"}`)})
	_, err := newClient(t, f).Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
	d, ok := llm.RetryAfter(err)
	if !ok || d != 34074824224*time.Nanosecond || len(f.requests()) != 1 {
		t.Errorf("error %v, RetryAfter %s, %d requests", err, d, len(f.requests()))
	}
}

func TestDailyQuotaIsNotRetried(t *testing.T) {
	f := newServer(t, reply{status: 429, body: errorBody(429, "RESOURCE_EXHAUSTED", "Quota exceeded.",
		`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com","metadata":{"quota_limit":"GenerateRequestsPerDayPerProjectPerModel"}}`)})
	_, err := newClient(t, f, gemini.WithMaxRetries(3)).Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
	if !errors.Is(err, llm.ErrQuotaExceeded) || len(f.requests()) != 1 {
		t.Errorf("error %v after %d requests", err, len(f.requests()))
	}
}

func TestNoRetryAfterContextDone(t *testing.T) {
	f := newServer(t, reply{status: 503, body: errorBody(503, "UNAVAILABLE", "overloaded")})
	c, err := gemini.New(gemini.WithBaseURL(f.url()), gemini.WithAPIKey("k"), gemini.WithModel("m"),
		gemini.WithMaxRetries(5), gemini.WithMaxRetryDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for len(f.requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err = c.Generate(ctx, llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}})
	if !errors.Is(err, context.Canceled) || len(f.requests()) != 1 {
		t.Errorf("error %v after %d requests, want context.Canceled after 1", err, len(f.requests()))
	}
}

func TestNewValidates(t *testing.T) {
	bad := map[string][]gemini.Option{
		"no key":           {},
		"relative URL":     {gemini.WithAPIKey("k"), gemini.WithBaseURL("localhost:8080")},
		"negative retries": {gemini.WithAPIKey("k"), gemini.WithMaxRetries(-1)},
		"negative delay":   {gemini.WithAPIKey("k"), gemini.WithMaxRetryDelay(-time.Second)},
		"unknown level":    {gemini.WithAPIKey("k"), gemini.WithThinkingLevel("extreme")},
		"level and budget": {gemini.WithAPIKey("k"), gemini.WithThinkingLevel("low"), gemini.WithThinkingBudget(1024)},
		"budget below -1":  {gemini.WithAPIKey("k"), gemini.WithThinkingBudget(-2)},
	}
	for name, opts := range bad {
		if _, err := gemini.New(opts...); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := gemini.New(gemini.WithAPIKey("k"), gemini.WithThinkingBudget(-1)); err != nil {
		t.Errorf("budget -1 (dynamic thinking): %v", err)
	}
}

// The client reads the environment only with FromEnv.
func TestEnvironment(t *testing.T) {
	f := newServer(t, reply{body: response(`[{"text":"ok"}]`, "STOP", 1, 1, 0)})
	t.Setenv("GOOGLE_API_KEY", "")
	t.Setenv("GEMINI_API_KEY", "env-key")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", f.url())
	if _, err := gemini.New(gemini.WithModel("m")); err == nil {
		t.Error("New without FromEnv took the key from the environment")
	}
	c, err := gemini.New(gemini.FromEnv(), gemini.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}); err != nil {
		t.Fatal(err)
	}
	if got := f.last().header.Get("x-goog-api-key"); got != "env-key" {
		t.Errorf("key %q", got)
	}
	t.Setenv("GOOGLE_API_KEY", "google-key")
	c, err = gemini.New(gemini.FromEnv(), gemini.WithModel("m"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}); err != nil {
		t.Fatal(err)
	}
	if got := f.last().header.Get("x-goog-api-key"); got != "google-key" {
		t.Errorf("key %q, want GOOGLE_API_KEY's (the SDK's order)", got)
	}
}

func TestRequestBodyIsWhatGenerateSends(t *testing.T) {
	f := newServer(t, reply{body: response(`[{"text":"ok"}]`, "STOP", 1, 1, 0)})
	c := newClient(t, f, gemini.WithHeader("X-Extra", "1"))
	req := llm.Request{
		Messages: []message.Message{message.NewSystemMessage("Be brief."), message.NewUserMessage("Hi")},
		Tools:    weather,
	}
	body, err := c.RequestBody(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Generate(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	r := f.last()
	if string(r.raw) != string(body) {
		t.Errorf("RequestBody:\n%s\nGenerate sent:\n%s", body, r.raw)
	}
	if r.header.Get("X-Extra") != "1" {
		t.Errorf("WithHeader not sent: %v", r.header)
	}
	if err := providerrules.CheckGemini(body, providerrules.Gemini3()); err != nil {
		t.Error(err)
	}
}

// An image a model generates comes back as inlineData
// (https://ai.google.dev/gemini-api/docs/image-generation): it is kept as a
// Binary part and sent back inline, with the signature that came on it.
func TestInlineDataAnswerRoundTrip(t *testing.T) {
	f := newServer(t,
		reply{body: response(`[{"text":"Here it is."},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="},"thoughtSignature":"c2lnLTE="}]`, "STOP", 5, 1290, 0)},
		reply{body: response(`[{"text":"Done."}]`, "STOP", 5, 1, 0)},
	)
	c := newClient(t, f)
	user := message.NewUserMessage("Draw a dot.")
	res, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user}})
	if err != nil {
		t.Fatal(err)
	}
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}
	want := []message.Part{message.Text{Text: "Here it is."}, message.Reasoning{Signature: "c2lnLTE="}, message.Binary{MIMEType: "image/png", Data: png}}
	if !reflect.DeepEqual(res.Message.Parts, want) {
		t.Fatalf("parts %#v", res.Message.Parts)
	}
	if _, err := c.Generate(t.Context(), llm.Request{Messages: []message.Message{user, res.Message, message.NewUserMessage("Thanks")}}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "model turn", f.last().body["contents"].([]any)[1], `{"role":"model","parts":[{"text":"Here it is."},
		{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="},"thoughtSignature":"c2lnLTE="}]}`)
}

func TestStreamCancelMidStream(t *testing.T) {
	f := newServer(t, reply{sse: []string{chunk(`[{"text":"Hel"}]`, "")}, hold: true})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got error
	for ev, err := range newClient(t, f).Stream(ctx, llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}) {
		if err != nil {
			got = err
			break
		}
		if ev.Type == llm.EventTextDelta {
			cancel()
		}
	}
	if !errors.Is(got, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", got)
	}
	select {
	case <-f.gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection stayed open after the context was cancelled")
	}
}

// One client serves many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	f := newServer(t, reply{body: response(`[{"text":"ok"}]`, "STOP", 1, 1, 0)})
	c := newClient(t, f, gemini.WithHeader("X-Extra", "1"))
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			req := llm.Request{Messages: []message.Message{message.NewUserMessage("Hi")}}
			if i%2 == 0 {
				_, err := c.Generate(t.Context(), req)
				errs <- err
				return
			}
			_, err := c.RequestBody(req)
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(f.requests()); n != 8 {
		t.Errorf("%d requests, want 8", n)
	}
}
