package llmtest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// ErrScriptExhausted is returned (wrapped) by Generate and Stream when every
// scripted reply has been used and no default reply is set.
var ErrScriptExhausted = errors.New("llmtest: script exhausted: no reply queued for this request")

// Reply is one scripted answer. Build it with Text, ToolCalls, Error or Func,
// and refine it with its With methods (each returns a modified copy).
type Reply struct {
	parts        []message.Part
	usage        message.Usage
	model        string
	finish       llm.FinishReason
	err          error
	fn           func(ctx context.Context, req llm.Request) (*llm.Response, error)
	delay        time.Duration
	block        bool
	chunkSize    int
	failAfter    int
	failAfterErr error
}

// Text returns a reply whose assistant message holds text.
func Text(text string) Reply {
	return Reply{parts: []message.Part{message.Text{Text: text}}}
}

// ToolCalls returns a reply whose assistant message asks for the given tool
// calls. A call without an ID is given one ("call_1", "call_2", ... within the
// reply).
func ToolCalls(calls ...message.ToolCall) Reply {
	parts := make([]message.Part, len(calls))
	for i, c := range calls {
		if c.ID == "" {
			c.ID = fmt.Sprintf("call_%d", i+1)
		}
		parts[i] = c
	}
	return Reply{parts: parts}
}

// Call is a shorthand for a message.ToolCall with the given name and JSON
// input.
func Call(id, name, input string) message.ToolCall {
	return message.ToolCall{ID: id, Name: name, Input: []byte(input)}
}

// Parts returns a reply whose assistant message holds exactly parts (text,
// reasoning, tool calls, ...).
func Parts(parts ...message.Part) Reply { return Reply{parts: slices.Clone(parts)} }

// Error returns a reply that fails the request with err. Use the llm
// sentinels (wrapped in an *llm.APIError, or bare) to simulate provider
// errors.
func Error(err error) Reply { return Reply{err: err} }

// Func returns a reply computed by fn from the request. fn's response is
// used as it is (Stream splits it into deltas); its error fails the request.
func Func(fn func(ctx context.Context, req llm.Request) (*llm.Response, error)) Reply {
	return Reply{fn: fn}
}

// WithUsage returns r reporting token usage u.
func (r Reply) WithUsage(u message.Usage) Reply { r.usage = u; return r }

// WithModel returns r naming model as the producing model (default: the
// request's model, or "llmtest").
func (r Reply) WithModel(model string) Reply { r.model = model; return r }

// WithFinishReason returns r with finish reason f (default: tool_calls when
// the message has tool calls, else stop).
func (r Reply) WithFinishReason(f llm.FinishReason) Reply { r.finish = f; return r }

// WithDelay returns r answering only after d, or failing with the context's
// error if the request's context ends first.
func (r Reply) WithDelay(d time.Duration) Reply { r.delay = d; return r }

// Blocking returns r that never answers: it waits for the request's context
// to end and fails with its error. Use it to test cancellation.
func (r Reply) Blocking() Reply { r.block = true; return r }

// WithChunkSize returns r streaming its text in pieces of n runes (default
// 4). It does not change Generate.
func (r Reply) WithChunkSize(n int) Reply { r.chunkSize = n; return r }

// FailStreamAfter returns r whose stream yields n delta events and then err,
// as a connection dropped mid-stream would. Generate fails with err at once.
func (r Reply) FailStreamAfter(n int, err error) Reply {
	r.failAfter, r.failAfterErr = n, err
	return r
}

// Client is a scripted llm.Client. The zero value is not usable; call New.
type Client struct {
	mu         sync.Mutex
	script     []Reply
	def        *Reply
	requests   []llm.Request
	calls      int
	checks     []func(llm.Request) error
	violations []error
}

var _ llm.Client = (*Client)(nil)

// New returns a Client that answers requests with replies, in order.
func New(replies ...Reply) *Client {
	return &Client{script: slices.Clone(replies)}
}

// WithRequestCheck makes c check every request it receives with check
// before answering it, and returns c, so that it chains with New:
//
//	client := llmtest.New(replies...).WithRequestCheck(providerrules.OpenAI(oc))
//
// A request that check refuses is failed as a provider refuses a request it
// cannot accept: with an *llm.APIError of kind llm.ErrBadRequest (HTTP 400)
// whose message names the request and the rule, wrapping check's error. No
// scripted reply is used for it. The refusal is also recorded (see
// Violations), so that a test can assert that none happened even where the
// code under test handles the error. Calling WithRequestCheck again adds a
// check; the first that fails decides. Call it before the client is used.
func (c *Client) WithRequestCheck(check func(llm.Request) error) *Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if check != nil {
		c.checks = append(c.checks, check)
	}
	return c
}

// Violations returns the errors of the requests refused by the checks of
// WithRequestCheck, in order; nil when every request passed.
func (c *Client) Violations() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.violations)
}

// Push queues more replies after those already queued.
func (c *Client) Push(replies ...Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.script = append(c.script, replies...)
}

// SetDefault makes r the answer to every request that finds the script
// empty, instead of ErrScriptExhausted. Each answer gets a fresh message ID.
func (c *Client) SetDefault(r Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.def = &r
}

// Requests returns a copy of every request received so far, in order. The
// copies share message parts with the originals.
func (c *Client) Requests() []llm.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// LastRequest returns the most recent request, and false if there was none.
func (c *Client) LastRequest() (llm.Request, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.requests) == 0 {
		return llm.Request{}, false
	}
	return c.requests[len(c.requests)-1], true
}

// ResetRequests forgets the recorded requests (a long benchmark calls it to
// bound memory).
func (c *Client) ResetRequests() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = nil
}

// Calls returns how many requests the client has received.
func (c *Client) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// Remaining returns how many queued replies have not been used.
func (c *Client) Remaining() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.script)
}

// next records req and takes the next reply.
func (c *Client) next(req llm.Request) (Reply, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req.Messages = slices.Clone(req.Messages)
	req.Tools = slices.Clone(req.Tools)
	c.requests = append(c.requests, req)
	c.calls++
	n := c.calls
	for _, check := range c.checks {
		if err := check(req); err != nil {
			v := &llm.APIError{
				Provider:   "llmtest",
				StatusCode: 400,
				Kind:       llm.ErrBadRequest,
				Message:    fmt.Sprintf("request %d breaks a provider rule: %v", n, err),
				Err:        err,
			}
			c.violations = append(c.violations, v)
			return Reply{}, n, v
		}
	}
	if len(c.script) == 0 {
		if c.def != nil {
			return *c.def, n, nil
		}
		return Reply{}, n, fmt.Errorf("request %d: %w", n, ErrScriptExhausted)
	}
	r := c.script[0]
	c.script = c.script[1:]
	return r, n, nil
}

// wait applies the reply's delay or blocking.
func (r Reply) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// response builds the response for req from r.
func (r Reply) response(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if err := r.wait(ctx); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.fn != nil {
		resp, err := r.fn(ctx, req)
		if err != nil {
			return nil, err
		}
		if resp == nil {
			return nil, errors.New("llmtest: Func reply returned a nil response")
		}
		return resp, nil
	}
	msg := message.NewMessage(message.RoleAssistant, slices.Clone(r.parts)...)
	msg.Model = r.model
	if msg.Model == "" {
		msg.Model = req.Model
	}
	if msg.Model == "" {
		msg.Model = "llmtest"
	}
	if !r.usage.IsZero() {
		u := r.usage
		msg.Usage = &u
	}
	finish := r.finish
	if finish == "" {
		finish = llm.FinishStop
		if len(msg.ToolCalls()) > 0 {
			finish = llm.FinishToolCalls
		}
	}
	return &llm.Response{Message: msg, FinishReason: finish, Usage: r.usage}, nil
}

// Generate answers req with the next scripted reply.
func (c *Client) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	r, n, err := c.next(req)
	if err != nil {
		return nil, err
	}
	if r.failAfterErr != nil {
		if err := r.wait(ctx); err != nil {
			return nil, err
		}
		return nil, r.failAfterErr
	}
	resp, err := r.response(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("llmtest: request %d: %w", n, err)
	}
	return resp, nil
}

// Stream answers req with the next scripted reply, split into deltas: text
// and reasoning in chunks (see WithChunkSize), each tool call as one delta
// with its ID and name followed by one with its input, then EventDone with
// the whole response. Breaking out of the loop early is allowed.
func (c *Client) Stream(ctx context.Context, req llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		r, n, err := c.next(req)
		if err != nil {
			yield(llm.Event{}, err)
			return
		}
		resp, err := r.response(ctx, req)
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("llmtest: request %d: %w", n, err))
			return
		}
		events := deltas(resp.Message, r.chunkSize)
		for i, ev := range events {
			if r.failAfterErr != nil && i >= r.failAfter {
				yield(llm.Event{}, fmt.Errorf("llmtest: request %d: %w", n, r.failAfterErr))
				return
			}
			if err := ctx.Err(); err != nil {
				yield(llm.Event{}, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
		if r.failAfterErr != nil {
			yield(llm.Event{}, fmt.Errorf("llmtest: request %d: %w", n, r.failAfterErr))
			return
		}
		yield(llm.Event{Type: llm.EventDone, Response: resp}, nil)
	}
}

// deltas splits msg into the delta events a provider would stream.
func deltas(msg message.Message, chunk int) []llm.Event {
	if chunk <= 0 {
		chunk = 4
	}
	var evs []llm.Event
	calls := 0
	for _, p := range msg.Parts {
		switch v := p.(type) {
		case message.Text:
			for _, s := range split(v.Text, chunk) {
				evs = append(evs, llm.Event{Type: llm.EventTextDelta, Text: s})
			}
		case message.Reasoning:
			for _, s := range split(v.Text, chunk) {
				evs = append(evs, llm.Event{Type: llm.EventReasoningDelta, Text: s})
			}
		case message.ToolCall:
			evs = append(evs,
				llm.Event{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: calls, ID: v.ID, Name: v.Name}},
				llm.Event{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: calls, InputDelta: string(v.Input)}})
			calls++
		}
	}
	return evs
}

// split cuts s into pieces of at most n runes.
func split(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		i, runes := 0, 0
		for i < len(s) && runes < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			runes++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}
