package anthropic

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

func finishReason(s string) llm.FinishReason {
	switch s {
	case "end_turn", "stop_sequence":
		return llm.FinishStop
	case "max_tokens", "model_context_window_exceeded":
		return llm.FinishLength
	case "tool_use":
		return llm.FinishToolCalls
	case "refusal":
		return llm.FinishRefusal
	}
	return llm.FinishOther
}

// usageOf normalises Anthropic's counts: InputTokens is the whole prompt,
// cache reads and writes included, as other providers count it.
func usageOf(input, cacheRead, cacheWrite, output, thinking int64) message.Usage {
	return message.Usage{
		InputTokens:      input + cacheRead + cacheWrite,
		OutputTokens:     output,
		CacheReadTokens:  cacheRead,
		CacheWriteTokens: cacheWrite,
		ReasoningTokens:  thinking,
	}
}

// block is one content block of a response, as both paths see it.
type block struct {
	typ       string // text, thinking, redacted_thinking, tool_use, or other
	text      strings.Builder
	signature string
	id, name  string
	input     strings.Builder
	// startInput is the input content_block_start carried, used when no
	// input_json_delta follows (the API sends {} there and the input in
	// deltas; some gateways send the whole input at the start).
	startInput string
	callPos    int
}

// assemble builds the response both Generate and Stream return. refusal is
// stop_details.explanation, the refusal's text when the API gives one.
func assemble(model string, blocks []*block, stop, refusal string, u message.Usage) *llm.Response {
	var parts []message.Part
	for i, b := range blocks {
		switch b.typ {
		case "text":
			if b.text.Len() > 0 {
				parts = append(parts, message.Text{Text: b.text.String()})
			}
		case "thinking":
			parts = append(parts, message.Reasoning{Text: b.text.String(), Signature: b.signature})
		case "redacted_thinking":
			parts = append(parts, message.Reasoning{Signature: b.signature, Redacted: true})
		case "tool_use":
			in := b.input.String()
			if stop == "max_tokens" && i == len(blocks)-1 {
				// The output limit cut this call off: its input is what
				// arrived, possibly incomplete or empty, never the {}
				// placeholder content_block_start carries.
				parts = append(parts, message.ToolCall{ID: b.id, Name: b.name, Input: json.RawMessage(in)})
				continue
			}
			if in == "" {
				in = b.startInput
			}
			if in == "" {
				in = "{}"
			}
			parts = append(parts, message.ToolCall{ID: b.id, Name: b.name, Input: json.RawMessage(in)})
		}
	}
	if stop == "refusal" && refusal != "" {
		// The explanation is the refusal's text, as OpenAI's refusal
		// field is; the partial output before it is not kept (the API asks
		// callers to reset the refused turn).
		parts = []message.Part{message.Text{Text: refusal}}
	}
	m := message.NewMessage(message.RoleAssistant, parts...)
	m.Model = model
	uu := u
	m.Usage = &uu
	return &llm.Response{Message: m, FinishReason: finishReason(stop), Usage: u}
}

func fromMessage(res *sdk.Message, model string) *llm.Response {
	if res.Model != "" {
		model = string(res.Model)
	}
	var blocks []*block
	for _, cb := range res.Content {
		b := &block{typ: cb.Type}
		switch cb.Type {
		case "text":
			b.text.WriteString(cb.Text)
		case "thinking":
			b.text.WriteString(cb.Thinking)
			b.signature = cb.Signature
		case "redacted_thinking":
			b.signature = cb.Data
		case "tool_use":
			b.id, b.name = cb.ID, cb.Name
			b.input.Write(cb.Input)
		}
		blocks = append(blocks, b)
	}
	u := res.Usage
	return assemble(model, blocks, string(res.StopReason), res.StopDetails.Explanation,
		usageOf(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens, u.OutputTokensDetails.ThinkingTokens))
}

// accumulator assembles a streamed response from its events.
type accumulator struct {
	model                                          string
	blocks                                         map[int64]*block
	order                                          []*block
	calls                                          int
	stop                                           string
	refusal                                        string
	started                                        bool
	done                                           bool
	input, cacheRead, cacheWrite, output, thinking int64
}

func newAccumulator(model string) *accumulator {
	return &accumulator{model: model, blocks: map[int64]*block{}}
}

// add folds one event in and returns the events it produces.
func (a *accumulator) add(ev sdk.MessageStreamEventUnion) ([]llm.Event, error) {
	switch ev.Type {
	case "message_start":
		a.started = true
		if ev.Message.Model != "" {
			a.model = string(ev.Message.Model)
		}
		u := ev.Message.Usage
		a.input, a.cacheRead, a.cacheWrite = u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens
		a.output, a.thinking = u.OutputTokens, u.OutputTokensDetails.ThinkingTokens
	case "content_block_start":
		cb := ev.ContentBlock
		b := &block{typ: cb.Type}
		a.blocks[ev.Index] = b
		a.order = append(a.order, b)
		switch cb.Type {
		case "text":
			if cb.Text != "" {
				b.text.WriteString(cb.Text)
				return []llm.Event{{Type: llm.EventTextDelta, Text: cb.Text}}, nil
			}
		case "thinking":
			b.text.WriteString(cb.Thinking)
			b.signature = cb.Signature
		case "redacted_thinking":
			b.signature = cb.Data
		case "tool_use":
			b.id, b.name, b.callPos = cb.ID, cb.Name, a.calls
			a.calls++
			if cb.Input != nil {
				if in, err := json.Marshal(cb.Input); err == nil {
					b.startInput = string(in)
				}
			}
			return []llm.Event{{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: b.callPos, ID: cb.ID, Name: cb.Name}}}, nil
		}
	case "content_block_delta":
		b := a.blocks[ev.Index]
		if b == nil {
			return nil, fmt.Errorf("delta for content block %d, which never started", ev.Index)
		}
		d := ev.Delta
		switch d.Type {
		case "text_delta":
			b.text.WriteString(d.Text)
			return []llm.Event{{Type: llm.EventTextDelta, Text: d.Text}}, nil
		case "thinking_delta":
			b.text.WriteString(d.Thinking)
			return []llm.Event{{Type: llm.EventReasoningDelta, Text: d.Thinking}}, nil
		case "signature_delta":
			b.signature += d.Signature
		case "input_json_delta":
			b.input.WriteString(d.PartialJSON)
			if d.PartialJSON != "" {
				return []llm.Event{{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: b.callPos, InputDelta: d.PartialJSON}}}, nil
			}
		}
	case "message_delta":
		if d := ev.Delta.StopReason; d != "" {
			a.stop = string(d)
		}
		if e := ev.Delta.StopDetails.Explanation; e != "" {
			a.refusal = e
		}
		u := ev.Usage
		// message_delta counts are cumulative; the input counts appear
		// only in some responses.
		if u.OutputTokens != 0 {
			a.output = u.OutputTokens
		}
		if u.InputTokens != 0 {
			a.input = u.InputTokens
		}
		if u.CacheReadInputTokens != 0 {
			a.cacheRead = u.CacheReadInputTokens
		}
		if u.CacheCreationInputTokens != 0 {
			a.cacheWrite = u.CacheCreationInputTokens
		}
		if u.OutputTokensDetails.ThinkingTokens != 0 {
			a.thinking = u.OutputTokensDetails.ThinkingTokens
		}
	case "message_stop":
		a.done = true
	}
	return nil, nil
}

func (a *accumulator) response() (*llm.Response, error) {
	if !a.started || !a.done {
		return nil, fmt.Errorf("stream ended before message_stop: %w (%w)", llm.ErrIncomplete, io.ErrUnexpectedEOF)
	}
	return assemble(a.model, a.order, a.stop, a.refusal, usageOf(a.input, a.cacheRead, a.cacheWrite, a.output, a.thinking)), nil
}
