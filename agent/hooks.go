package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/tool"
)

// ErrStopped is matched by the error of a turn that a hook stopped (a hook
// returned an error). The turn was closed with an interruption marker, and
// the hook's error is wrapped too.
var ErrStopped = errors.New("agent: turn stopped by a hook")

// Hooks are called around the model calls and tool calls of every turn;
// each can observe, change or stop what it wraps. Nil fields are skipped.
// WithHooks may be given several times: the hooks run in the order given,
// each seeing what the ones before it changed.
//
// A hook that returns an error stops the turn: the agent closes it as for
// any failure (an interruption marker, results for the calls of the
// current model response, a valid session) and returns an error matching
// ErrStopped and wrapping the hook's error.
//
// The tool hooks of the calls of one model response run concurrently (the
// calls run in parallel, see WithMaxParallelTools); the model hooks run on
// the turn's goroutine.
type Hooks struct {
	// BeforeModel is called before each model call (not the compaction
	// request) with the request, which it may change. A non-nil Response
	// is used as the model's answer without calling the model (a cache, a
	// canned reply).
	BeforeModel func(ctx context.Context, req *llm.Request) (*llm.Response, error)
	// AfterModel is called with each model response, which it may change
	// (its Message, FinishReason and Usage), before the agent acts on it.
	AfterModel func(ctx context.Context, req llm.Request, resp *llm.Response) error
	// BeforeTool is called before each tool call runs; it may change the
	// call's Input, which the tool then runs with (the stored call keeps
	// what the model said). A non-nil result is used instead of running
	// the tool: return one with IsError set to block the call and tell the
	// model why.
	BeforeTool func(ctx context.Context, call *message.ToolCall) (*message.ToolResult, error)
	// AfterTool is called with each tool result (from the tool, or from
	// BeforeTool), which it may change or replace. The result's CallID and
	// Name are kept as the call's.
	AfterTool func(ctx context.Context, call message.ToolCall, res *message.ToolResult) error
}

// WithHooks adds hooks around the model and tool calls (see Hooks).
func WithHooks(h Hooks) Option {
	return func(o *options) { o.hooks = append(o.hooks, h) }
}

// stopped returns the error of a turn a hook stopped.
func (t *turnState) stopped(where string, err error) error {
	return fmt.Errorf("%w: session %q: %s: %w", ErrStopped, t.a.opts.id, where, err)
}

// beforeModel runs the BeforeModel hooks on req; a non-nil response
// replaces the model call.
func (t *turnState) beforeModel(req *llm.Request) (*llm.Response, error) {
	for _, h := range t.a.opts.hooks {
		if h.BeforeModel == nil {
			continue
		}
		resp, err := h.BeforeModel(t.ctx, req)
		if err != nil {
			return nil, t.stopped(fmt.Sprintf("before model call %d", t.iter), err)
		}
		if resp != nil {
			return resp, nil
		}
	}
	return nil, nil
}

// afterModel runs the AfterModel hooks on resp.
func (t *turnState) afterModel(req llm.Request, resp *llm.Response) error {
	for _, h := range t.a.opts.hooks {
		if h.AfterModel == nil {
			continue
		}
		if err := h.AfterModel(t.ctx, req, resp); err != nil {
			return t.stopped(fmt.Sprintf("after model call %d", t.iter), err)
		}
	}
	return nil
}

// callTool runs one tool call with the tool hooks around it. A hook's error
// is returned (wrapped in ErrStopped) beside an is-error result for the
// call, which the turn records before it stops.
func (t *turnState) callTool(ctx context.Context, c message.ToolCall) (res message.ToolResult, err error) {
	ctx, end := t.startTool(ctx, c)
	if end != nil {
		defer func() { end(res, err) }()
	}
	return t.hookedTool(ctx, c)
}

// hookedTool runs one tool call with the tool hooks around it.
func (t *turnState) hookedTool(ctx context.Context, c message.ToolCall) (message.ToolResult, error) {
	a := t.a
	run := c
	var res *message.ToolResult
	for _, h := range a.opts.hooks {
		if h.BeforeTool == nil {
			continue
		}
		r, err := h.BeforeTool(ctx, &run)
		if err != nil {
			return hookStopResult(c), t.stopped(fmt.Sprintf("before tool call %s (%s)", c.ID, c.Name), err)
		}
		if r != nil {
			res = r
			break
		}
	}
	var out message.ToolResult
	if res != nil {
		out = *res
	} else {
		out = tool.Call(ctx, t.cur().tools[run.Name], run, a.opts.toolTimeout)
	}
	out.CallID, out.Name = c.ID, c.Name
	for _, h := range a.opts.hooks {
		if h.AfterTool == nil {
			continue
		}
		if err := h.AfterTool(ctx, c, &out); err != nil {
			return hookStopResult(c), t.stopped(fmt.Sprintf("after tool call %s (%s)", c.ID, c.Name), err)
		}
		out.CallID, out.Name = c.ID, c.Name
	}
	return out, nil
}

// hookStopResult is the result recorded for a call whose hook stopped the
// turn.
func hookStopResult(c message.ToolCall) message.ToolResult {
	return message.ToolResult{CallID: c.ID, Name: c.Name, IsError: true, Synthesized: true,
		Content: "error: not run: the application stopped the turn"}
}

// stoppedReason is the reason an interruption marker gives for a turn a
// hook stopped.
const stoppedReason = "stopped by the application"

// model makes one model call with the model hooks around it.
func (t *turnState) model(req llm.Request) (*llm.Response, error) {
	if len(t.a.opts.hooks) == 0 {
		return t.traceModel(req)
	}
	return t.hookedModel(req)
}

// hookedModel is model with hooks (apart, so that a turn without hooks does
// not move its request to the heap).
func (t *turnState) hookedModel(req llm.Request) (*llm.Response, error) {
	resp, err := t.beforeModel(&req)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		if resp, err = t.traceModel(req); err != nil {
			return nil, err
		}
	}
	if err := t.afterModel(req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}
