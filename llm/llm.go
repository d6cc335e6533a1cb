// Package llm is convo's provider-neutral interface to large language
// models: a Client takes a Request (messages, tools, options) and returns a
// Response (the assistant message, finish reason, token usage), either at
// once (Generate) or as a stream of Events (Stream).
//
// Providers live in sub-packages (llm/openai, llm/anthropic, llm/gemini);
// llm/llmtest has a scripted Client for tests.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/convo-dev/convo/message"
)

// Client is a connection to a model provider. Implementations are safe for
// concurrent use.
type Client interface {
	// Generate sends req and waits for the whole response.
	Generate(ctx context.Context, req Request) (*Response, error)
	// Stream sends req and yields events as they arrive. The last event of
	// a successful stream has Type EventDone and carries the whole Response,
	// assembled exactly as Generate would return it. An error ends the
	// sequence: it is yielded once, with a zero Event. Breaking out of the
	// loop early cancels the request.
	Stream(ctx context.Context, req Request) iter.Seq2[Event, error]
}

// RequestChecker is implemented by a Client that can tell, without any I/O,
// that it would refuse a request: settings that conflict with each other or
// with the client's configuration (for example a temperature other than 1,
// or an output limit not above the thinking budget, on an Anthropic client
// with extended thinking on). CheckRequest returns nil when req can be sent,
// or the error, matching ErrBadRequest, that Generate and Stream would
// return for it before any I/O. A caller that must not act on a request the
// client will refuse (the agent stores nothing for a turn whose request
// fails the check) tests for this interface with a type assertion.
type RequestChecker interface {
	// CheckRequest returns nil when req can be sent, else an error
	// matching ErrBadRequest.
	CheckRequest(req Request) error
}

// Request is one call to a model.
type Request struct {
	// Model overrides the client's default model when non-empty.
	Model string
	// Messages is the conversation, oldest first. System messages are sent
	// as the provider's system prompt; summary messages as context the
	// provider can read (each provider documents how).
	Messages []message.Message
	// Tools the model may call.
	Tools []ToolSpec
	// ToolChoice constrains tool use; the zero value lets the model choose.
	ToolChoice ToolChoice
	// Temperature, when non-nil, sets the sampling temperature.
	Temperature *float64
	// MaxOutputTokens caps the response length; 0 uses the provider's
	// default (providers that require a value document theirs).
	MaxOutputTokens int
	// ResponseFormat, when non-nil, asks for structured JSON output.
	ResponseFormat *ResponseFormat
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	// Name is the name the model calls the tool by.
	Name string
	// Description tells the model what the tool does and when to use it.
	Description string
	// Parameters is the JSON schema of the tool's input object.
	Parameters json.RawMessage
}

// ToolChoiceMode says whether and how the model must use tools.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolChoiceAuto     ToolChoiceMode = "" // the model decides
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required" // some tool must be called
	ToolChoiceTool     ToolChoiceMode = "tool"     // the tool named in Name must be called
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	// Mode says whether and how the model must use tools.
	Mode ToolChoiceMode
	// Name is the tool to call when Mode is ToolChoiceTool.
	Name string
}

// ResponseFormat asks for output that is JSON matching Schema.
type ResponseFormat struct {
	// Name names the format, for providers that ask for one.
	Name string
	// Schema is the JSON schema the output must match.
	Schema json.RawMessage
	// Strict asks the provider to enforce the schema where it can.
	Strict bool
}

// FinishReason says why the model stopped.
type FinishReason string

// Finish reasons, normalised across providers.
const (
	FinishStop          FinishReason = "stop"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishLength        FinishReason = "length"
	FinishContentFilter FinishReason = "content_filter"
	// FinishRefusal: the model declined to answer (OpenAI's "refusal"
	// field, Anthropic's stop_reason "refusal"). The refusal's text, when
	// the provider gives one, is the message's text.
	FinishRefusal FinishReason = "refusal"
	FinishOther   FinishReason = "other"
)

// Response is a model's complete answer, reported as the provider gave it:
// clients do not turn finish reasons into errors, the caller decides. With
// FinishLength the answer was cut by the output limit: a tool call's Input
// may then be incomplete (not valid JSON, or empty), and the Message may
// have no parts at all (a reasoning model that spent its budget). With
// FinishContentFilter the Message may have no parts; with FinishRefusal its
// text, when there is any, is the refusal.
type Response struct {
	// Message is the assistant message with all its parts (text,
	// reasoning with signatures, tool calls), its Model and Usage set.
	Message message.Message
	// FinishReason says why the model stopped.
	FinishReason FinishReason
	// Usage is the token usage of this call.
	Usage message.Usage
}

// EventType says what a streaming Event carries.
type EventType string

// Event types.
const (
	// EventTextDelta carries a piece of the answer's text in Text.
	EventTextDelta EventType = "text_delta"
	// EventReasoningDelta carries a piece of the model's reasoning in Text.
	EventReasoningDelta EventType = "reasoning_delta"
	// EventToolCallDelta carries a piece of a tool call in ToolCall.
	EventToolCallDelta EventType = "tool_call_delta"
	// EventDone ends a successful stream; Response holds the whole answer.
	EventDone EventType = "done"
)

// Event is one streaming update.
type Event struct {
	// Type says which of the fields below the event carries.
	Type EventType
	// Text is the piece of text of an EventTextDelta or
	// EventReasoningDelta.
	Text string
	// ToolCall is the piece of a tool call of an EventToolCallDelta.
	ToolCall *ToolCallDelta
	// Response is the whole answer, in EventDone.
	Response *Response
}

// ToolCallDelta is a piece of a streamed tool call. The first delta of a
// call carries its ID and Name; later ones append to its input.
type ToolCallDelta struct {
	// Index is the call's position among the response's tool calls.
	Index int
	// ID and Name are the call's id and tool name, on its first delta.
	ID   string
	Name string
	// InputDelta is the next piece of the call's JSON input.
	InputDelta string
}

// Typed errors. Provider errors wrap one of these sentinels (test with
// errors.Is) inside an *APIError (errors.As) carrying the details.
var (
	ErrRateLimited     = errors.New("rate limited")
	ErrContextTooLong  = errors.New("context too long")
	ErrAuthentication  = errors.New("authentication failed")
	ErrBadRequest      = errors.New("bad request")
	ErrServer          = errors.New("provider server error")
	ErrContentFiltered = errors.New("content filtered")
	// ErrQuotaExceeded: the account is out of credit or over a hard quota
	// (OpenAI's 429 "insufficient_quota", Anthropic's "credit balance is
	// too low"). Unlike ErrRateLimited, waiting does not help, so it is
	// never retried.
	ErrQuotaExceeded = errors.New("quota exceeded")
	// ErrIncomplete: the response ended before the provider said it was
	// complete (a stream cut before its end event).
	ErrIncomplete = errors.New("incomplete response")
	// ErrOutputTruncated: the output limit was reached before the model
	// produced a usable answer (no text at all, or a tool call cut off in
	// the middle of its input).
	ErrOutputTruncated = errors.New("output truncated")
	// ErrRefused: the model declined to answer.
	ErrRefused = errors.New("model refused")
)

// APIError is an error response from a provider.
type APIError struct {
	// Provider names the provider, such as "openai" or "anthropic".
	Provider string
	// StatusCode is the HTTP status, or 0.
	StatusCode int
	// Kind is the sentinel the error matches: ErrRateLimited, ...
	Kind error
	// Message is the provider's error message.
	Message string
	// RetryAfter is how long the provider asked the caller to wait, or 0.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

// Error describes the error: provider, kind, status, message and wait.
func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: %v", e.Provider, e.Kind)
	if e.StatusCode != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Unwrap returns the kind and the underlying error.
func (e *APIError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// RetryAfter returns how long err asks the caller to wait before retrying,
// and whether it is a rate-limit error at all.
func RetryAfter(err error) (time.Duration, bool) {
	var e *APIError
	if errors.As(err, &e) && errors.Is(e.Kind, ErrRateLimited) {
		return e.RetryAfter, true
	}
	return 0, errors.Is(err, ErrRateLimited)
}
