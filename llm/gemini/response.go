package gemini

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"google.golang.org/genai"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// item is one part of the answer being assembled: a run of text or thought
// parts (a stream splits them over chunks), a function call or inline data.
type item struct {
	kind      string // "text", "thought", "call", "data"
	text      strings.Builder
	signature []byte
	call      *genai.FunctionCall
	blob      *genai.Blob
	callPos   int
}

// accumulator assembles a response from one GenerateContentResponse
// (Generate) or from the chunks of a stream, so that both paths return the
// same message for the same answer.
type accumulator struct {
	model   string
	items   []*item
	calls   int
	finish  genai.FinishReason
	blocked bool
	usage   *genai.GenerateContentResponseUsageMetadata
}

func newAccumulator(model string) *accumulator { return &accumulator{model: model} }

// add folds one response (or stream chunk) in and returns the events it
// produces.
func (a *accumulator) add(res *genai.GenerateContentResponse) []llm.Event {
	if res == nil {
		return nil
	}
	if res.ModelVersion != "" {
		a.model = res.ModelVersion
	}
	if res.UsageMetadata != nil {
		// Each chunk's usage counts the whole response so far.
		a.usage = res.UsageMetadata
	}
	if pf := res.PromptFeedback; pf != nil && pf.BlockReason != "" {
		a.blocked = true
	}
	if len(res.Candidates) == 0 {
		return nil
	}
	cand := res.Candidates[0]
	if cand.FinishReason != "" && cand.FinishReason != genai.FinishReasonUnspecified {
		a.finish = cand.FinishReason
	}
	if cand.Content == nil {
		return nil
	}
	var evs []llm.Event
	for _, p := range cand.Content.Parts {
		if p == nil {
			continue
		}
		switch {
		case p.FunctionCall != nil:
			it := &item{kind: "call", call: p.FunctionCall, signature: p.ThoughtSignature, callPos: a.calls}
			a.calls++
			a.items = append(a.items, it)
			evs = append(evs, llm.Event{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{
				Index: it.callPos, ID: a.callID(it), Name: p.FunctionCall.Name, InputDelta: string(callInput(p.FunctionCall)),
			}})
		case p.InlineData != nil:
			a.items = append(a.items, &item{kind: "data", blob: p.InlineData, signature: p.ThoughtSignature})
		case p.Thought:
			it := a.run("thought", p.ThoughtSignature)
			it.text.WriteString(p.Text)
			if p.Text != "" {
				evs = append(evs, llm.Event{Type: llm.EventReasoningDelta, Text: p.Text})
			}
		case p.Text != "" || p.ThoughtSignature != nil:
			if p.Text == "" && !a.lastIs("text") {
				// A signature alone (a stream's last chunk can carry
				// one in an empty text part) belongs to the part before
				// it when that has none.
				if n := len(a.items); n > 0 && a.items[n-1].signature == nil {
					a.items[n-1].signature = p.ThoughtSignature
					continue
				}
			}
			it := a.run("text", p.ThoughtSignature)
			it.text.WriteString(p.Text)
			if p.Text != "" {
				evs = append(evs, llm.Event{Type: llm.EventTextDelta, Text: p.Text})
			}
		}
		// Other parts (executable code, results of server-side tools) are
		// not kept.
	}
	return evs
}

func (a *accumulator) lastIs(kind string) bool {
	n := len(a.items)
	return n > 0 && a.items[n-1].kind == kind
}

// run returns the text or thought run a part continues, or a new one. A
// run holds at most one signature: a second one starts a new run, so no
// signature is lost or moved to other text.
func (a *accumulator) run(kind string, sig []byte) *item {
	if n := len(a.items); n > 0 {
		last := a.items[n-1]
		if last.kind == kind && (sig == nil || last.signature == nil) {
			if sig != nil {
				last.signature = sig
			}
			return last
		}
	}
	it := &item{kind: kind, signature: sig}
	a.items = append(a.items, it)
	return it
}

// callID returns the call's ID, or a local one (LocalCallIDPrefix) when the
// API gave none, made once per call.
func (a *accumulator) callID(it *item) string {
	if it.call.ID == "" {
		it.call.ID = LocalCallIDPrefix + message.NewID()
	}
	return it.call.ID
}

// callInput is a call's arguments as JSON: the object the API sent,
// re-encoded (the SDK decodes it), or {} when it sent none.
func callInput(fc *genai.FunctionCall) json.RawMessage {
	if len(fc.Args) == 0 {
		return json.RawMessage(`{}`)
	}
	b, err := json.Marshal(fc.Args)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

func encodeSignature(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// response returns the assembled answer, or an error wrapping
// llm.ErrIncomplete when no finish reason arrived.
func (a *accumulator) response() (*llm.Response, error) {
	if a.finish == "" && !a.blocked {
		return nil, fmt.Errorf("response ended without a finish reason: %w (%w)", llm.ErrIncomplete, io.ErrUnexpectedEOF)
	}
	var parts []message.Part
	for _, it := range a.items {
		sig := ""
		if it.signature != nil {
			sig = encodeSignature(it.signature)
		}
		if it.kind == "thought" {
			parts = append(parts, message.Reasoning{Text: it.text.String(), Signature: sig})
			continue
		}
		if sig != "" {
			// The signature of the part that follows (see the package
			// doc), kept where the other clients keep signatures.
			parts = append(parts, message.Reasoning{Signature: sig})
		}
		switch it.kind {
		case "text":
			if it.text.Len() > 0 {
				parts = append(parts, message.Text{Text: it.text.String()})
			}
		case "call":
			parts = append(parts, message.ToolCall{ID: a.callID(it), Name: it.call.Name, Input: callInput(it.call)})
		case "data":
			parts = append(parts, message.Binary{MIMEType: it.blob.MIMEType, Data: it.blob.Data})
		}
	}
	m := message.NewMessage(message.RoleAssistant, parts...)
	m.Model = a.model
	u := usageOf(a.usage)
	uu := u
	m.Usage = &uu
	return &llm.Response{Message: m, FinishReason: a.finishReason(), Usage: u}, nil
}

func (a *accumulator) finishReason() llm.FinishReason {
	if a.blocked && a.finish == "" {
		return llm.FinishContentFilter // the prompt was blocked
	}
	switch a.finish {
	case genai.FinishReasonStop:
		if a.calls > 0 {
			return llm.FinishToolCalls
		}
		return llm.FinishStop
	case genai.FinishReasonMaxTokens:
		return llm.FinishLength
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII, genai.FinishReasonImageSafety,
		genai.FinishReasonImageProhibitedContent, genai.FinishReasonImageRecitation:
		return llm.FinishContentFilter
	}
	return llm.FinishOther
}

// usageOf normalises Gemini's counts to count as OpenAI does: the output
// is the answer and the thoughts (candidatesTokenCount excludes thoughts),
// the input the whole prompt, cached tokens included.
func usageOf(u *genai.GenerateContentResponseUsageMetadata) message.Usage {
	if u == nil {
		return message.Usage{}
	}
	return message.Usage{
		InputTokens:     int64(u.PromptTokenCount) + int64(u.ToolUsePromptTokenCount),
		OutputTokens:    int64(u.CandidatesTokenCount) + int64(u.ThoughtsTokenCount),
		CacheReadTokens: int64(u.CachedContentTokenCount),
		ReasoningTokens: int64(u.ThoughtsTokenCount),
	}
}
