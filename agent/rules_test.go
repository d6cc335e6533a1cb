package agent_test

import (
	"encoding/base64"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/llm/llmtest/providerrules"
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/message"
)

// providers are the provider families whose documented request rules the
// agent's tests enforce: each request is encoded exactly as the real client
// would send it (its RequestBody) and checked against the rules of package
// providerrules, which cites the source of each.
func providers() []provider {
	ac, err := anthropic.New(anthropic.WithAPIKey("test"), anthropic.WithModel("claude-test"))
	if err != nil {
		panic(err)
	}
	oc, err := openai.New(openai.WithAPIKey("test"), openai.WithModel("gpt-test"))
	if err != nil {
		panic(err)
	}
	gc, err := gemini.New(gemini.WithAPIKey("test"), gemini.WithModel("gemini-test"))
	if err != nil {
		panic(err)
	}
	return []provider{
		{name: "anthropic", check: providerrules.Anthropic(ac)},
		{name: "openai", check: providerrules.OpenAI(oc)},
		{name: "gemini", check: providerrules.Gemini(gc)},
	}
}

// thinkingProvider is a provider family with the model thinking, the
// reasoning its model returns, and the model name its answers carry.
type thinkingProvider struct {
	provider
	reasoning func(text string) message.Reasoning
	model     string
}

// thinkingProviders are the families with the model thinking: Anthropic with
// extended thinking on (a continued tool-use turn must start with its signed
// thinking block), a DeepSeek-style OpenAI-compatible server (unsigned
// reasoning_content must come back on the tool-use turn) and Gemini 3 (the
// thought signature that came on a function call must go back on it; the
// gemini client stores it as a Reasoning part without text before the
// call).
func thinkingProviders(t *testing.T) []thinkingProvider {
	t.Helper()
	ac, err := anthropic.New(anthropic.WithAPIKey("test"), anthropic.WithModel("claude-test"),
		anthropic.WithMaxTokens(8192), anthropic.WithThinking(2048))
	if err != nil {
		t.Fatal(err)
	}
	oc, err := openai.New(openai.WithAPIKey("test"), openai.WithModel("deepseek-test"))
	if err != nil {
		t.Fatal(err)
	}
	gc, err := gemini.New(gemini.WithAPIKey("test"), gemini.WithModel("gemini-3-test"))
	if err != nil {
		t.Fatal(err)
	}
	signed := func(text string) message.Reasoning { return message.Reasoning{Text: text, Signature: "c2lnbmF0dXJl"} }
	unsigned := func(text string) message.Reasoning { return message.Reasoning{Text: text} }
	signatureOnly := func(text string) message.Reasoning {
		return message.Reasoning{Signature: base64.StdEncoding.EncodeToString([]byte("sig:" + text))}
	}
	return []thinkingProvider{
		{provider{name: "anthropic-thinking", check: providerrules.Anthropic(ac)}, signed, "claude-test"},
		{provider{name: "openai-thinking-server", check: providerrules.OpenAI(oc, providerrules.ThinkingServer())}, unsigned, "deepseek-test"},
		// The gemini client sends reasoning back only from answers of a
		// Gemini model (or of the request's model).
		{provider{name: "gemini-3", check: providerrules.Gemini(gc, providerrules.Gemini3())}, signatureOnly, "gemini-3-test"},
	}
}

// A thinking model's reasoning is stored with the answer, blank text beside
// it dropped, and sent back on the next call of the tool loop and in later
// turns, as each provider requires.
func TestThinkingToolLoop(t *testing.T) {
	for _, p := range thinkingProviders(t) {
		t.Run(p.name, func(t *testing.T) {
			store := newStore(t)
			thought := p.reasoning("I should look it up.")
			client := p.client(t,
				llmtest.Parts(thought, message.Text{Text: "\n"}, llmtest.Call("c1", "weather", `{"city":"Oslo"}`)).WithModel(p.model),
				llmtest.Parts(p.reasoning("Now answer."), message.Text{Text: "Sunny in Oslo."}).WithModel(p.model),
				llmtest.Parts(p.reasoning("Again."), llmtest.Call("c2", "weather", `{"city":"Bergen"}`)).WithModel(p.model),
				llmtest.Parts(p.reasoning("Done."), message.Text{Text: "Rainy in Bergen."}).WithModel(p.model),
			)
			a := agent.New(client, agent.WithSession("think", store), agent.WithTools(weatherTool()))
			for _, q := range []string{"Oslo?", "Bergen?"} {
				if _, err := a.Chat(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
			msgs := stored(t, store, "think")
			if got := shape(msgs); got != "uAtauAta" {
				t.Fatalf("stored %s", dump(msgs))
			}
			if r := msgs[1].ReasoningContent(); r != thought || len(msgs[1].Parts) != 2 {
				t.Fatalf("stored tool-use turn %+v", msgs[1].Parts)
			}
		})
	}
}
