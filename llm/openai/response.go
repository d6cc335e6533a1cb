package openai

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/respjson"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// reasoningFields are the non-standard fields compatible servers put their
// reasoning in: "reasoning_content" (DeepSeek, vLLM, llama.cpp server,
// LM Studio) and "reasoning" (Ollama, OpenRouter, Groq).
var reasoningFields = []string{"reasoning_content", "reasoning"}

// reasoningText returns the reasoning a compatible server put in one of
// reasoningFields, or "".
func reasoningText(extra map[string]respjson.Field) string {
	for _, k := range reasoningFields {
		f, ok := extra[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal([]byte(f.Raw()), &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

func finishReason(s string) llm.FinishReason {
	switch s {
	case "stop":
		return llm.FinishStop
	case "length":
		return llm.FinishLength
	case "tool_calls", "function_call":
		return llm.FinishToolCalls
	case "content_filter":
		return llm.FinishContentFilter
	}
	return llm.FinishOther
}

func usage(u sdk.CompletionUsage) message.Usage {
	return message.Usage{
		InputTokens:      u.PromptTokens,
		OutputTokens:     u.CompletionTokens,
		CacheReadTokens:  u.PromptTokensDetails.CachedTokens,
		CacheWriteTokens: u.PromptTokensDetails.CacheWriteTokens,
		ReasoningTokens:  u.CompletionTokensDetails.ReasoningTokens,
	}
}

// assemble builds the response both Generate and Stream return, so the two
// agree part for part: reasoning first, then text, then tool calls. A
// refusal is the text when there is no content, and makes the finish
// reason llm.FinishRefusal.
func assemble(model, reasoning, text, refusal string, calls []message.ToolCall, finish string, u message.Usage) *llm.Response {
	if text == "" {
		text = refusal
	}
	var parts []message.Part
	if reasoning != "" {
		parts = append(parts, message.Reasoning{Text: reasoning})
	}
	if text != "" {
		parts = append(parts, message.Text{Text: text})
	}
	for _, c := range calls {
		if c.ID == "" {
			// Some compatible servers send calls without ids; results
			// must name the call they answer.
			c.ID = "call_" + message.NewID()
		}
		parts = append(parts, c)
	}
	m := message.NewMessage(message.RoleAssistant, parts...)
	m.Model = model
	uu := u
	m.Usage = &uu
	fr := finishReason(finish)
	if finish == "" && len(calls) > 0 {
		fr = llm.FinishToolCalls
	}
	if refusal != "" {
		// OpenAI answers a refusal with finish_reason "stop" and the
		// refusal field set
		// (platform.openai.com/docs/guides/structured-outputs, refusals).
		fr = llm.FinishRefusal
	}
	return &llm.Response{Message: m, FinishReason: fr, Usage: u}
}

func fromCompletion(res *sdk.ChatCompletion, model string) (*llm.Response, error) {
	if res == nil || len(res.Choices) == 0 {
		return nil, &llm.APIError{Provider: "openai", Kind: llm.ErrServer, Message: "response has no choices"}
	}
	if res.Model != "" {
		model = res.Model
	}
	ch := res.Choices[0]
	text := ch.Message.Content
	var calls []message.ToolCall
	for _, tc := range ch.Message.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue
		}
		calls = append(calls, message.ToolCall{ID: tc.ID, Name: tc.Function.Name, Input: json.RawMessage(tc.Function.Arguments)})
	}
	return assemble(model, reasoningText(ch.Message.JSON.ExtraFields), text, ch.Message.Refusal, calls, ch.FinishReason, usage(res.Usage)), nil
}

// accumulator assembles a streamed response from its chunks.
type accumulator struct {
	model     string
	reasoning strings.Builder
	text      strings.Builder
	refusal   strings.Builder
	calls     []*callBuilder
	byIndex   map[int64]*callBuilder
	finish    string
	finished  bool
	usage     message.Usage
}

type callBuilder struct {
	pos  int
	id   string
	name string
	args strings.Builder
}

func newAccumulator(model string) *accumulator {
	return &accumulator{model: model, byIndex: map[int64]*callBuilder{}}
}

// add folds one chunk in and returns the events it produces.
func (a *accumulator) add(ch sdk.ChatCompletionChunk) []llm.Event {
	if ch.Model != "" {
		a.model = ch.Model
	}
	if ch.JSON.Usage.Valid() {
		a.usage = usage(ch.Usage)
	}
	var evs []llm.Event
	for _, c := range ch.Choices {
		if c.Index != 0 {
			continue
		}
		d := c.Delta
		if r := reasoningText(d.JSON.ExtraFields); r != "" {
			a.reasoning.WriteString(r)
			evs = append(evs, llm.Event{Type: llm.EventReasoningDelta, Text: r})
		}
		if d.Content != "" {
			a.text.WriteString(d.Content)
			evs = append(evs, llm.Event{Type: llm.EventTextDelta, Text: d.Content})
		}
		if d.Refusal != "" {
			a.refusal.WriteString(d.Refusal)
			evs = append(evs, llm.Event{Type: llm.EventTextDelta, Text: d.Refusal})
		}
		for _, tc := range d.ToolCalls {
			b := a.byIndex[tc.Index]
			// A new id at a known index starts a new call: some servers
			// send every call whole with index 0.
			if b == nil || (tc.ID != "" && b.id != "" && tc.ID != b.id) {
				b = &callBuilder{pos: len(a.calls)}
				a.calls = append(a.calls, b)
				a.byIndex[tc.Index] = b
			}
			delta := &llm.ToolCallDelta{Index: b.pos, InputDelta: tc.Function.Arguments}
			if b.id == "" && tc.ID != "" {
				b.id, delta.ID = tc.ID, tc.ID
			}
			if b.name == "" && tc.Function.Name != "" {
				b.name, delta.Name = tc.Function.Name, tc.Function.Name
			}
			b.args.WriteString(tc.Function.Arguments)
			evs = append(evs, llm.Event{Type: llm.EventToolCallDelta, ToolCall: delta})
		}
		if c.FinishReason != "" {
			a.finish = c.FinishReason
			a.finished = true
		}
	}
	return evs
}

// response assembles the answer of a stream that ended; done says whether
// the stream ended with [DONE].
func (a *accumulator) response(done bool) (*llm.Response, error) {
	if !a.finished {
		return nil, fmt.Errorf("stream ended without a finish reason: %w (%w)", llm.ErrIncomplete, io.ErrUnexpectedEOF)
	}
	if !done {
		// The finish chunk came, but not what follows it (the usage
		// chunk stream_options.include_usage asks for, and [DONE]): the
		// connection was cut, and the usage is unknown.
		return nil, fmt.Errorf("stream ended after its finish reason but before [DONE]: %w (%w)", llm.ErrIncomplete, io.ErrUnexpectedEOF)
	}
	calls := make([]message.ToolCall, len(a.calls))
	for i, b := range a.calls {
		calls[i] = message.ToolCall{ID: b.id, Name: b.name, Input: json.RawMessage(b.args.String())}
	}
	return assemble(a.model, a.reasoning.String(), a.text.String(), a.refusal.String(), calls, a.finish, a.usage), nil
}
