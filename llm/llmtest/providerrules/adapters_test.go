package providerrules_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/llm/llmtest/providerrules"
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/message"
)

// toolTurn is a user question, an assistant tool call and its result.
func toolTurn(reasoning message.Part) []message.Message {
	parts := []message.Part{message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)}}
	if reasoning != nil {
		parts = append([]message.Part{reasoning}, parts...)
	}
	return []message.Message{
		message.NewUserMessage("Weather in Oslo?"),
		message.NewMessage(message.RoleAssistant, parts...),
		message.NewToolResultMessage(message.ToolResult{CallID: "call_1", Name: "weather", Content: "4°C"}),
	}
}

var weatherSpec = []llm.ToolSpec{{Name: "weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}

func TestAnthropicAdapter(t *testing.T) {
	c, err := anthropic.New(anthropic.WithModel("claude-sonnet-4-5"), anthropic.WithMaxTokens(4096), anthropic.WithThinking(2048))
	if err != nil {
		t.Fatal(err)
	}
	check := providerrules.Anthropic(c)
	ok := llm.Request{Messages: toolTurn(message.Reasoning{Text: "Call the tool.", Signature: "sig"}), Tools: weatherSpec}
	if err := check(ok); err != nil {
		t.Errorf("a thinking tool loop: %v", err)
	}
	// The thinking block was not kept: the API would refuse the request.
	bad := llm.Request{Messages: toolTurn(nil), Tools: weatherSpec}
	if r := providerrules.Rules(check(bad)); !slices.Contains(r, "anthropic/thinking-first") {
		t.Errorf("rules %v, want anthropic/thinking-first", r)
	}
	// A tool call with no result.
	unanswered := llm.Request{Messages: toolTurn(message.Reasoning{Text: "x", Signature: "sig"})[:2], Tools: weatherSpec}
	unanswered.Messages = append(unanswered.Messages, message.NewUserMessage("never mind"))
	if r := providerrules.Rules(check(unanswered)); !slices.Contains(r, "anthropic/tool-use-answered") {
		t.Errorf("rules %v, want anthropic/tool-use-answered", r)
	}
	// A request the client itself refuses fails with the client's error.
	if err := check(llm.Request{Model: "", Messages: []message.Message{{Role: "bogus"}}}); !errors.Is(err, llm.ErrBadRequest) {
		t.Errorf("untranslatable request: %v, want llm.ErrBadRequest", err)
	}
}

func TestOpenAIAdapter(t *testing.T) {
	c, err := openai.New(openai.WithModel("deepseek-v4-pro"))
	if err != nil {
		t.Fatal(err)
	}
	plain := providerrules.OpenAI(c)
	req := llm.Request{Messages: toolTurn(nil), Tools: weatherSpec}
	if err := plain(req); err != nil {
		t.Errorf("a tool loop: %v", err)
	}
	unanswered := llm.Request{Messages: append(toolTurn(nil)[:2:2], message.NewUserMessage("never mind")), Tools: weatherSpec}
	if r := providerrules.Rules(plain(unanswered)); !slices.Contains(r, "openai/tool-call-answered") {
		t.Errorf("rules %v, want openai/tool-call-answered", r)
	}
	empty := llm.Request{Messages: []message.Message{message.NewUserMessage("Hi"), message.NewMessage(message.RoleAssistant), message.NewUserMessage("Hello?")}}
	// The client does not send an empty stored answer, which the API
	// would refuse (openai/assistant-content).
	if err := plain(empty); err != nil {
		t.Errorf("a history with an empty answer: %v", err)
	}
	if err := plain(llm.Request{Messages: []message.Message{{Role: "bogus"}}}); !errors.Is(err, llm.ErrBadRequest) {
		t.Errorf("untranslatable request: %v, want llm.ErrBadRequest", err)
	}
}

// TestOpenAIAdapterThinkingServer: the openai client sends a compatible
// server's reasoning back on the tool-call turn, as DeepSeek's thinking
// mode requires.
func TestOpenAIAdapterThinkingServer(t *testing.T) {
	c, err := openai.New(openai.WithModel("deepseek-v4-pro"))
	if err != nil {
		t.Fatal(err)
	}
	check := providerrules.OpenAI(c, providerrules.ThinkingServer())
	if err := check(llm.Request{Messages: toolTurn(message.Reasoning{Text: "I need the weather tool."}), Tools: weatherSpec}); err != nil {
		t.Errorf("a thinking tool loop: %v", err)
	}
	if r := providerrules.Rules(check(llm.Request{Messages: toolTurn(nil), Tools: weatherSpec})); !slices.Contains(r, "openai/reasoning-content") {
		t.Errorf("rules %v, want openai/reasoning-content (the history has no reasoning to send)", r)
	}
}

// TestGeminiAdapter: the gemini client sends a function call's thought
// signature back on the call, as Gemini 3 requires.
func TestGeminiAdapter(t *testing.T) {
	c, err := gemini.New(gemini.WithAPIKey("test"), gemini.WithModel("gemini-3-pro-preview"))
	if err != nil {
		t.Fatal(err)
	}
	check := providerrules.Gemini(c, providerrules.Gemini3())
	// The signature as the client stores it: a Reasoning part without text
	// before the call it belongs to.
	signed := llm.Request{Messages: toolTurn(message.Reasoning{Signature: "c2lnLTE="}), Tools: weatherSpec}
	if err := check(signed); err != nil {
		t.Errorf("a signed tool loop: %v", err)
	}
	if r := providerrules.Rules(check(llm.Request{Messages: toolTurn(nil), Tools: weatherSpec})); !slices.Contains(r, "gemini/thought-signature") {
		t.Errorf("rules %v, want gemini/thought-signature (the history lost the signature)", r)
	}
	unanswered := llm.Request{Messages: append(toolTurn(message.Reasoning{Signature: "c2lnLTE="})[:2:2], message.NewUserMessage("never mind")), Tools: weatherSpec}
	if r := providerrules.Rules(check(unanswered)); !slices.Contains(r, "gemini/function-response-count") {
		t.Errorf("rules %v, want gemini/function-response-count", r)
	}
	if err := check(llm.Request{Messages: []message.Message{{Role: "bogus"}}}); !errors.Is(err, llm.ErrBadRequest) {
		t.Errorf("untranslatable request: %v, want llm.ErrBadRequest", err)
	}
}
