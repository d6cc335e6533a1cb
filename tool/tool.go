package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// Tool is something a model can call. Implementations are safe for
// concurrent use: an agent runs the calls of one model response in parallel.
type Tool interface {
	// Spec describes the tool to the model.
	Spec() llm.ToolSpec
	// Run runs the tool with the model's input (normally a JSON object). An
	// error is shown to the model as an is-error result; it does not abort
	// the turn. Run should return promptly when ctx ends.
	Run(ctx context.Context, input json.RawMessage) (Result, error)
}

// Result is what a tool returns to the model.
type Result struct {
	// Content is the result as the model sees it.
	Content string
	// Metadata is optional JSON for the application; it is stored with the
	// result but not sent to the model.
	Metadata json.RawMessage
	// IsError reports that the tool failed and Content describes why.
	IsError bool
}

// Timeouter is a Tool with its own per-call timeout, which overrides the
// agent's default. Func tools built WithTimeout implement it.
type Timeouter interface {
	// Timeout is the tool's per-call timeout; zero or less leaves the
	// agent's default.
	Timeout() time.Duration
}

// ErrInvalidTool is matched by the errors Validate returns.
var ErrInvalidTool = errors.New("invalid tool")

// namePattern is the tool-name rule OpenAI and Anthropic both accept.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// definitionError is implemented by tools (such as Func tools) that can
// carry a definition error.
type definitionError interface{ Err() error }

// Validate reports whether tools can be offered to a model together: each
// has a name of 1 to 64 letters, digits, '_' or '-', names are unique, each
// schema is a JSON object, and no Func tool carries a definition error.
// Errors match ErrInvalidTool.
func Validate(tools ...Tool) error {
	seen := make(map[string]bool, len(tools))
	for i, t := range tools {
		if t == nil {
			return fmt.Errorf("tool: %w: tool %d is nil", ErrInvalidTool, i)
		}
		if d, ok := t.(definitionError); ok && d.Err() != nil {
			return d.Err()
		}
		spec := t.Spec()
		if !namePattern.MatchString(spec.Name) {
			return fmt.Errorf("tool: %w: name %q must be 1-64 letters, digits, '_' or '-'", ErrInvalidTool, spec.Name)
		}
		if seen[spec.Name] {
			return fmt.Errorf("tool: %w: name %q is used twice", ErrInvalidTool, spec.Name)
		}
		seen[spec.Name] = true
		var obj map[string]json.RawMessage
		if len(spec.Parameters) > 0 {
			if err := json.Unmarshal(spec.Parameters, &obj); err != nil {
				return fmt.Errorf("tool: %w: %q: parameters are not a JSON object: %v", ErrInvalidTool, spec.Name, err)
			}
		}
	}
	return nil
}

// Call runs t for the model's call and returns the result to send back. It
// never fails: an error from Run, a panic, or running past timeout (when
// timeout > 0; a Timeouter tool's own timeout takes precedence) gives an
// is-error result. When ctx ends before the tool returns, Call returns at
// once with an is-error, Synthesized result saying the call was interrupted;
// a tool that ignores its context keeps running in the background and its
// eventual result is discarded. A nil t gives an "unknown tool" result.
func Call(ctx context.Context, t Tool, call message.ToolCall, timeout time.Duration) message.ToolResult {
	res := message.ToolResult{CallID: call.ID, Name: call.Name}
	if t == nil {
		res.IsError = true
		res.Content = fmt.Sprintf("error: there is no tool named %q", call.Name)
		return res
	}
	if to, ok := t.(Timeouter); ok && to.Timeout() > 0 {
		timeout = to.Timeout()
	}
	if err := ctx.Err(); err != nil {
		return Interrupted(call, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var timer <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		timer = tm.C
	}
	type outcome struct {
		r   Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if p := recover(); p != nil {
				o = outcome{err: fmt.Errorf("tool panicked: %v", p)}
			}
			done <- o
		}()
		o.r, o.err = t.Run(runCtx, call.Input)
	}()
	finished := func(o outcome) message.ToolResult {
		if o.err != nil && ctx.Err() != nil {
			return Interrupted(call, ctx.Err()) // failed because the caller gave up
		}
		if o.err != nil {
			res.IsError = true
			res.Content = "error: " + o.err.Error()
			return res
		}
		res.Content, res.Metadata, res.IsError = o.r.Content, o.r.Metadata, o.r.IsError
		return res
	}
	select {
	case o := <-done:
		cancel()
		return finished(o)
	case <-timer:
		cancel()
		select {
		case o := <-done: // finished just in time: keep its result
			return finished(o)
		default:
		}
		res.IsError, res.Synthesized = true, true
		res.Content = fmt.Sprintf("error: the tool did not finish within %s and was stopped", timeout)
		return res
	case <-ctx.Done():
		cancel()
		select {
		case o := <-done:
			return finished(o)
		default:
		}
		return Interrupted(call, ctx.Err())
	}
}

// Interrupted returns the synthesized is-error result recorded for a call
// that was interrupted (or never run) because of cause.
func Interrupted(call message.ToolCall, cause error) message.ToolResult {
	return message.ToolResult{
		CallID:      call.ID,
		Name:        call.Name,
		Content:     fmt.Sprintf("error: the tool call was interrupted before it finished (%v)", cause),
		IsError:     true,
		Synthesized: true,
	}
}
