package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/tool"
)

type forecast struct {
	City    string   `json:"city"`
	Sky     string   `json:"sky" jsonschema:"enum=sunny,enum=cloudy,enum=rainy"`
	TempC   int      `json:"temp_c"`
	Sources []string `json:"sources"`
}

// A typed turn sends the output schema on every model call (here one with
// a tool call first), each request passing the provider's rules (the
// strict-schema rules included), and decodes the final answer. Gemini
// before Gemini 3 cannot combine function calling with a JSON response
// (rule gemini/json-with-tools): that family gets no tools here (see
// TestRunTypedGemini2Tools).
func TestRunTyped(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		answer := llmtest.Text(`{"city":"Oslo","sky":"sunny","temp_c":4,"sources":["weather"]}`)
		replies := []llmtest.Reply{llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)), answer}
		opts := []agent.Option{agent.WithSession("typed", store), agent.WithTools(weatherTool())}
		wantShape, wantIter := "uAta", 2
		if p.name == "gemini" {
			replies, opts, wantShape, wantIter = replies[1:], opts[:1], "ua", 1
		}
		client := p.client(t, replies...)
		a := agent.New(client, opts...)
		got, resp, err := agent.RunTyped[forecast](t.Context(), a, "Weather in Oslo?")
		if err != nil {
			t.Fatal(err)
		}
		want := forecast{City: "Oslo", Sky: "sunny", TempC: 4, Sources: []string{"weather"}}
		if got.City != want.City || got.Sky != want.Sky || got.TempC != want.TempC || len(got.Sources) != 1 {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		if resp.Iterations != wantIter {
			t.Errorf("iterations %d", resp.Iterations)
		}
		reqs := client.Requests()
		for i, r := range reqs {
			rf := r.ResponseFormat
			if rf == nil || rf.Name != "forecast" || !rf.Strict {
				t.Fatalf("request %d: response format %+v", i, rf)
			}
			var schema struct {
				Required []string `json:"required"`
			}
			if err := json.Unmarshal(rf.Schema, &schema); err != nil || len(schema.Required) != 4 {
				t.Fatalf("request %d: schema %s (%v)", i, rf.Schema, err)
			}
		}
		if got := shape(stored(t, store, "typed")); got != wantShape {
			t.Fatalf("stored %s", got)
		}
		// An ordinary turn afterwards asks for no format.
		client.Push(llmtest.Text("Bye."))
		if _, err := a.Chat(t.Context(), "Thanks"); err != nil {
			t.Fatal(err)
		}
		if rs := client.Requests(); rs[len(rs)-1].ResponseFormat != nil {
			t.Error("a plain turn after a typed one sent a response format")
		}
	})
}

// An answer that is not the schema's object is reported as an
// *OutputError matching ErrOutputInvalid, holding the raw text; the answer
// is stored as a plain assistant message, so the session stays valid.
func TestRunTypedInvalidOutput(t *testing.T) {
	cases := map[string]string{
		"not JSON":         `Sunny, 4 degrees.`,
		"missing field":    `{"city":"Oslo","sky":"sunny","temp_c":4}`,
		"null field":       `{"city":"Oslo","sky":"sunny","temp_c":4,"sources":null}`,
		"enum":             `{"city":"Oslo","sky":"foggy","temp_c":4,"sources":[]}`,
		"wrong type":       `{"city":"Oslo","sky":"sunny","temp_c":"4","sources":[]}`,
		"unknown field":    `{"city":"Oslo","sky":"sunny","temp_c":4,"sources":[],"wind":3}`,
		"array not object": `[{"city":"Oslo"}]`,
	}
	eachProvider(t, func(t *testing.T, p provider) {
		for name, text := range cases {
			t.Run(name, func(t *testing.T) {
				store := newStore(t)
				a := agent.New(p.client(t, llmtest.Text(text)), agent.WithSession("bad", store))
				got, resp, err := agent.RunTyped[forecast](t.Context(), a, "Weather?")
				if !errors.Is(err, agent.ErrOutputInvalid) || !errors.Is(err, tool.ErrSchemaMismatch) {
					t.Fatalf("err = %v", err)
				}
				var oe *agent.OutputError
				if !errors.As(err, &oe) || oe.Raw != text || oe.SessionID != "bad" {
					t.Fatalf("OutputError %+v", oe)
				}
				if got.City != "" || resp == nil || resp.Text != text {
					t.Fatalf("value %+v, response %+v", got, resp)
				}
				if s := shape(stored(t, store, "bad")); s != "ua" {
					t.Fatalf("stored %s", s)
				}
			})
		}
	})
}

type optionalField struct {
	A string `json:"a"`
	B string `json:"b,omitempty"`
}

type withMap struct {
	M map[string]string `json:"m"`
}

// A type whose schema strict mode would refuse is refused before anything
// is sent or stored.
func TestRunTypedRefusesNonStrictSchema(t *testing.T) {
	store := newStore(t)
	client := llmtest.New()
	a := agent.New(client, agent.WithSession("s", store))
	if _, _, err := agent.RunTyped[optionalField](t.Context(), a, "x"); !errors.Is(err, agent.ErrOutputSchema) || !strings.Contains(err.Error(), "$.b") {
		t.Errorf("optional field: %v", err)
	}
	if _, _, err := agent.RunTyped[withMap](t.Context(), a, "x"); !errors.Is(err, agent.ErrOutputSchema) {
		t.Errorf("map: %v", err)
	}
	if _, _, err := agent.RunTyped[string](t.Context(), a, "x"); !errors.Is(err, agent.ErrOutputSchema) || !errors.Is(err, tool.ErrInvalidTool) {
		t.Errorf("string: %v", err)
	}
	if n := len(client.Requests()); n != 0 || store.Writes() != 0 {
		t.Errorf("%d requests, %d writes", n, store.Writes())
	}
}

// The wire bodies: the real clients send the output schema as each
// provider documents it.
func TestRunTypedWire(t *testing.T) {
	client := llmtest.New(llmtest.Text(`{"city":"Oslo","sky":"rainy","temp_c":1,"sources":[]}`))
	a := agent.New(client)
	if _, _, err := agent.RunTyped[forecast](t.Context(), a, "Weather?"); err != nil {
		t.Fatal(err)
	}
	req := client.Requests()[0]
	oc, _ := openai.New(openai.WithAPIKey("k"), openai.WithModel("m"))
	ac, _ := anthropic.New(anthropic.WithAPIKey("k"), anthropic.WithModel("m"))
	gc, _ := gemini.New(gemini.WithAPIKey("k"), gemini.WithModel("m"))
	for name, c := range map[string]interface {
		RequestBody(llm.Request) ([]byte, error)
	}{"openai": oc, "anthropic": ac, "gemini": gc} {
		body, err := c.RequestBody(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		var schema any
		switch name {
		case "openai":
			// https://platform.openai.com/docs/guides/structured-outputs
			rf, _ := b["response_format"].(map[string]any)
			js, _ := rf["json_schema"].(map[string]any)
			if rf["type"] != "json_schema" || js["name"] != "forecast" || js["strict"] != true {
				t.Fatalf("openai response_format %v", rf)
			}
			schema = js["schema"]
		case "anthropic":
			// https://platform.claude.com/docs/en/build-with-claude/structured-outputs
			oc, _ := b["output_config"].(map[string]any)
			f, _ := oc["format"].(map[string]any)
			if f["type"] != "json_schema" {
				t.Fatalf("anthropic output_config %v", oc)
			}
			schema = f["schema"]
		case "gemini":
			// https://ai.google.dev/gemini-api/docs/structured-output
			gcfg, _ := b["generationConfig"].(map[string]any)
			if gcfg["responseMimeType"] != "application/json" {
				t.Fatalf("gemini generationConfig %v", gcfg)
			}
			schema = gcfg["responseJsonSchema"]
		}
		props, _ := schema.(map[string]any)["properties"].(map[string]any)
		sky, _ := props["sky"].(map[string]any)
		if enum, _ := sky["enum"].([]any); len(enum) != 3 {
			t.Errorf("%s: schema %v", name, schema)
		}
	}
}

// With the model thinking, a typed turn still passes each provider's
// rules: the output format is not a forced tool call, which Anthropic
// refuses with extended thinking (rule anthropic/thinking-tool-choice).
func TestRunTypedThinking(t *testing.T) {
	for _, p := range thinkingProviders(t) {
		t.Run(p.name, func(t *testing.T) {
			store := newStore(t)
			client := p.client(t,
				llmtest.Parts(p.reasoning("Look it up."), llmtest.Call("c1", "weather", `{"city":"Oslo"}`)).WithModel(p.model),
				llmtest.Parts(p.reasoning("Answer."), message.Text{Text: `{"city":"Oslo","sky":"cloudy","temp_c":2,"sources":[]}`}).WithModel(p.model),
			)
			a := agent.New(client, agent.WithSession("think", store), agent.WithTools(weatherTool()))
			got, _, err := agent.RunTyped[forecast](t.Context(), a, "Weather?")
			if err != nil || got.Sky != "cloudy" {
				t.Fatalf("%+v %v", got, err)
			}
			if n := len(client.Requests()); n != 2 {
				t.Fatalf("%d requests", n)
			}
		})
	}
}

// A Gemini 2.x client refuses a typed turn with tools before anything is
// sent or stored (the API would answer 400, rule gemini/json-with-tools).
func TestRunTypedGemini2Tools(t *testing.T) {
	gc, err := gemini.New(gemini.WithAPIKey("k"), gemini.WithModel("gemini-2.5-flash"))
	if err != nil {
		t.Fatal(err)
	}
	store := newStore(t)
	a := agent.New(gc, agent.WithSession("g2", store), agent.WithTools(weatherTool()))
	if _, _, err := agent.RunTyped[forecast](t.Context(), a, "Weather?"); !errors.Is(err, llm.ErrBadRequest) {
		t.Fatalf("err = %v", err)
	}
	if store.Writes() != 0 {
		t.Errorf("%d writes", store.Writes())
	}
}

type payment struct {
	Paid   bool   `json:"paid"`
	Detail string `json:"detail"`
}

// A typed turn that pauses for approval is resumed with ResumeTyped: the
// rest of the turn asks for the schema again and the answer is decoded.
// It runs on the thinking families, whose Gemini is Gemini 3 (tools with a
// JSON response need it, rule gemini/json-with-tools).
func TestResumeTyped(t *testing.T) {
	for _, p := range thinkingProviders(t) {
		t.Run(p.name, func(t *testing.T) {
			store := newStore(t)
			pay := tool.Func("pay", "Pays", func(ctx context.Context, a cityArgs) (string, error) { return "paid", nil })
			client := p.client(t,
				llmtest.Parts(p.reasoning("Pay."), llmtest.Call("c1", "pay", `{"city":"Oslo"}`)).WithModel(p.model),
				llmtest.Parts(p.reasoning("Done."), message.Text{Text: `{"paid":true,"detail":"paid in Oslo"}`}).WithModel(p.model),
			)
			opts := []agent.Option{agent.WithSession("pay", store), agent.WithTools(pay), agent.WithApproval("pay")}
			_, resp, err := agent.RunTyped[payment](t.Context(), agent.New(client, opts...), "Pay")
			if !errors.Is(err, agent.ErrAwaitingApproval) || len(resp.Pending) != 1 {
				t.Fatalf("err %v", err)
			}
			got, _, err := agent.ResumeTyped[payment](t.Context(), agent.New(client, opts...), agent.Approve("c1"))
			if err != nil || !got.Paid || got.Detail != "paid in Oslo" {
				t.Fatalf("%+v %v", got, err)
			}
			for i, r := range client.Requests() {
				if r.ResponseFormat == nil || r.ResponseFormat.Name != "payment" {
					t.Fatalf("request %d: format %+v", i, r.ResponseFormat)
				}
			}
		})
	}
}
