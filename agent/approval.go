package agent

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// Errors of tool approval. Test with errors.Is.
var (
	// ErrAwaitingApproval: the turn paused because the model called a tool
	// that needs a person's approval (WithApproval); the calls are in
	// Response.Pending and the session waits for Resume. A call that finds
	// its session waiting so, whatever its ConcurrencyPolicy, returns it at
	// once and stores nothing.
	ErrAwaitingApproval = errors.New("agent: tool calls wait for approval")
	// ErrNoPendingApproval: Resume found no tool call waiting for approval
	// at the end of the session (none was made, or another process
	// resumed the turn first). Nothing was stored and no tool ran.
	ErrNoPendingApproval = errors.New("agent: no tool call waits for approval")
	// ErrInvalidDecision: the decisions given to Resume do not match the
	// calls waiting (one missing, one for a call that is not waiting, two
	// for one call). Nothing was stored and no tool ran.
	ErrInvalidDecision = errors.New("agent: decisions do not match the calls waiting for approval")
)

// The states of the placeholder results (session.PendingResult) of a turn
// paused for approval.
const (
	// stateAwaiting: the call waits for a person's decision.
	stateAwaiting = "awaiting_approval"
	// stateDeferred: the call needs no approval, and waits with the turn.
	stateDeferred = "deferred"
	// stateResuming: a process recorded the decisions and is running the
	// calls; if it dies, the placeholder stays as the call's result.
	stateResuming = "resuming"
)

// WithApproval makes calls to the named tools wait for a person's approval
// (see Agent.Resume and "Tool approval" in the package documentation).
func WithApproval(tools ...string) Option {
	names := slices.Clone(tools)
	return WithApprovalFunc(func(c message.ToolCall) bool { return slices.Contains(names, c.Name) })
}

// WithApprovalFunc makes the tool calls for which needs returns true wait
// for a person's approval: needs sees each call (its tool's name and the
// model's input) before it runs, on the turn's goroutine.
func WithApprovalFunc(needs func(call message.ToolCall) bool) Option {
	return func(o *options) {
		if prev := o.approval; prev != nil && needs != nil {
			o.approval = func(c message.ToolCall) bool { return prev(c) || needs(c) }
			return
		}
		o.approval = needs
	}
}

// PendingCall is a tool call waiting for a person's decision.
type PendingCall struct {
	// Call is the call as the model made it.
	Call message.ToolCall
	// MessageID is the ID of the stored assistant message holding it.
	MessageID string
	// CreatedAt is when that message was made, in Unix nanoseconds.
	CreatedAt int64
}

// Decision is a person's answer to a tool call waiting for approval.
type Decision struct {
	// CallID is the call's ID (PendingCall.Call.ID).
	CallID string
	// Approved runs the call; otherwise the model gets an is-error result
	// saying it was denied, with Reason.
	Approved bool
	// Reason, for a denial, is told to the model.
	Reason string
}

// Approve returns the decision that runs the call callID.
func Approve(callID string) Decision { return Decision{CallID: callID, Approved: true} }

// Deny returns the decision that refuses the call callID; the model reads
// reason in the call's is-error result.
func Deny(callID, reason string) Decision { return Decision{CallID: callID, Reason: reason} }

// pausedRun is the tool-call run that ends a session paused for approval.
type pausedRun struct {
	asst    int                // index of its assistant message
	calls   []message.ToolCall // every call of that message
	states  []string           // each call's placeholder state, "" for a real result
	pending []PendingCall      // the calls awaiting approval
}

// paused returns the run that ends msgs when it holds calls awaiting
// approval (their latest results are placeholders in stateAwaiting).
func paused(msgs []message.Message) (pausedRun, bool) {
	k := len(msgs)
	for k > 0 && msgs[k-1].Role == message.RoleTool {
		k--
	}
	if k == len(msgs) || k == 0 || msgs[k-1].Role != message.RoleAssistant {
		return pausedRun{}, false
	}
	r := pausedRun{asst: k - 1, calls: msgs[k-1].ToolCalls()}
	r.states = make([]string, len(r.calls))
	latest := make(map[string]string, len(r.calls))
	for _, m := range msgs[k:] {
		for _, res := range m.ToolResults() {
			st, _ := session.PendingState(res)
			latest[res.CallID] = st
		}
	}
	for i, c := range r.calls {
		r.states[i] = latest[c.ID]
		if r.states[i] == stateAwaiting {
			r.pending = append(r.pending, PendingCall{Call: c, MessageID: msgs[k-1].ID, CreatedAt: msgs[k-1].CreatedAt})
		}
	}
	return r, len(r.pending) > 0
}

// pendingApprovals returns the calls awaiting approval at the end of msgs.
func pendingApprovals(msgs []message.Message) []PendingCall {
	r, _ := paused(msgs)
	return r.pending
}

// PendingApprovals returns the tool calls awaiting a person's decision at
// the end of msgs (a session's messages, oldest first), or nil. It is what
// Agent.Pending reports, for a program that reads sessions without an
// Agent.
func PendingApprovals(msgs []message.Message) []PendingCall { return pendingApprovals(msgs) }

// Pending returns the tool calls of the agent's session that wait for a
// person's decision (see Resume), or nil. It reads the session, from the
// store, as another process may have paused it.
func (a *Agent) Pending(ctx context.Context) ([]PendingCall, error) {
	if err := a.enter(ctx); err != nil {
		return nil, err
	}
	defer a.unlock()
	msgs, err := a.tail(ctx)
	if err != nil {
		return nil, err
	}
	return pendingApprovals(msgs), nil
}

// enter takes the agent's turn lock, following the policy, and opens the
// session; after a nil error the caller releases the lock with a.unlock.
func (a *Agent) enter(ctx context.Context) error {
	if a.defErr != nil {
		return a.defErr
	}
	if err := a.lock(ctx); err != nil {
		return err
	}
	if err := a.open(ctx); err != nil {
		a.unlock()
		return err
	}
	return nil
}

// tail reads the session's newest messages, enough to hold the last run.
func (a *Agent) tail(ctx context.Context) ([]message.Message, error) {
	if err := a.reload(ctx); err != nil {
		return nil, err
	}
	msgs := a.cache
	if len(msgs) > 0 && msgs[0].Role == message.RoleTool {
		// The window starts inside a run: read it all.
		all, ver, err := a.snapshot(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("agent: read session %q: %w", a.opts.id, err)
		}
		a.cache, a.cacheVer = all, ver
		msgs = all
	}
	return msgs, nil
}

// pause stores the model's answer asst, whose calls include some that need
// approval, with a placeholder result for each call, and ends the turn with
// ErrAwaitingApproval. The session is valid while it waits, and not idle.
func (t *turnState) pause(asst message.Message, calls []message.ToolCall) error {
	a := t.a
	results := make([]message.ToolResult, len(calls))
	for i, c := range calls {
		if a.opts.approval(c) {
			results[i] = session.PendingResult(c, stateAwaiting,
				"error: not run: the call was waiting for a person's approval when this result was recorded")
		} else {
			results[i] = session.PendingResult(c, stateDeferred,
				"error: not run: the turn was waiting for a person's approval of another call when this result was recorded")
		}
	}
	if err := t.write([]message.Message{asst, message.NewToolResultMessage(results...)}); err != nil {
		return err
	}
	r, _ := paused(t.resp.Messages[len(t.resp.Messages)-2:])
	t.resp.Pending = r.pending
	t.event(Event{Type: EventAwaitingApproval, Pending: r.pending})
	return fmt.Errorf("%w: session %q: %d tool calls", ErrAwaitingApproval, a.opts.id, len(r.pending))
}

// Resume continues the session's turn that paused for approval, with a
// decision for every call waiting (see Pending). It may run in any process:
// it reads the session from the store. It first records that the turn is
// resumed, with a write conditional on the session's version, so that of
// two resumers of one turn one runs the calls and the other gets
// ErrNoPendingApproval. That holds across processes only on a store whose
// sessions have optimistic concurrency (session.Versioned, as the SQLite,
// PostgreSQL and memory stores do); on any other store it holds only for
// Agents of one process sharing the store value (the process's turn lock,
// see "Two writers on one session" in the package documentation), and two
// processes resuming at once may both run the calls. Then it runs the
// approved calls, and the calls of
// the same model answer that needed no approval, gives each denied call an
// is-error result holding the reason, stores the results, and goes on with
// the turn as Send does.
//
// Resume returns ErrNoPendingApproval or ErrInvalidDecision (nothing stored,
// nothing run), or what Send returns.
func (a *Agent) Resume(ctx context.Context, decisions ...Decision) (*Response, error) {
	return a.resume(ctx, decisions, nil, nil)
}

// ResumeStream is Resume with streaming, as ChatStream is to Chat.
func (a *Agent) ResumeStream(ctx context.Context, decisions ...Decision) iter.Seq2[Event, error] {
	return a.stream(ctx, func(ctx context.Context, emit func(Event)) (*Response, error) {
		return a.resume(ctx, decisions, emit, nil)
	})
}

// resume is Resume, streaming to emit when it is not nil, asking the rest
// of the turn's model calls for format when it is not nil (ResumeTyped).
func (a *Agent) resume(ctx context.Context, decisions []Decision, emit func(Event), format *llm.ResponseFormat) (*Response, error) {
	if a.trc != nil {
		return a.traceTurn(ctx, func(ctx context.Context) (*Response, error) { return a.resumeTurn(ctx, decisions, emit, format) })
	}
	return a.resumeTurn(ctx, decisions, emit, format)
}

// resumeTurn is resume without tracing.
func (a *Agent) resumeTurn(ctx context.Context, decisions []Decision, emit func(Event), format *llm.ResponseFormat) (*Response, error) {
	if err := a.enter(ctx); err != nil {
		return nil, err
	}
	defer a.unlock()
	if a.ver == nil {
		release, err := lockSession(ctx, a.opts.store, a.opts.id, a.opts.policy)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	hist, err := a.tail(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := paused(hist)
	if !ok {
		return nil, fmt.Errorf("%w: session %q", ErrNoPendingApproval, a.opts.id)
	}
	byCall, err := match(r, decisions)
	if err != nil {
		return nil, fmt.Errorf("%w: session %q: %w", ErrInvalidDecision, a.opts.id, err)
	}
	t := &turnState{a: a, ctx: ctx, emit: emit, resp: &Response{}, format: format}
	t.resumeActive(hist[:r.asst])
	if u := lastUser(hist[:r.asst]); u >= 0 {
		t.user = hist[u]
	} else if all, _, err := a.snapshot(ctx, nil); err == nil {
		if u := lastUser(all); u >= 0 {
			t.user = all[u]
		}
	}

	// Claim the turn: placeholders saying it is resumed supersede the
	// waiting ones, stored only if nobody wrote since the read.
	claim := make([]message.ToolResult, len(r.calls))
	for i, c := range r.calls {
		claim[i] = session.PendingResult(c, stateResuming,
			"error: the program stopped after this call was approved or denied, before its result was recorded")
	}
	msgs := []message.Message{message.NewToolResultMessage(claim...)}
	prev := a.cacheVer
	ver, err := a.appendAt(ctx, prev, msgs)
	if err != nil {
		a.cacheValid = false
		if errors.Is(err, session.ErrConflict) {
			return nil, fmt.Errorf("%w: session %q: the session changed before the decisions were recorded (resumed elsewhere?): %w", ErrNoPendingApproval, a.opts.id, err)
		}
		return nil, fmt.Errorf("agent: session %q: record the decisions: %w", a.opts.id, err)
	}
	a.stored(msgs, prev, ver)
	t.resp.Messages = append(t.resp.Messages, msgs...)
	t.event(Event{Type: EventStored, Messages: msgs})

	// The lease covers the approved tools' runs too.
	release := t.holdLease()
	err = t.decided(r, byCall)
	release()
	return t.resp, err
}

// decided runs the calls of the resumed run r by the decisions, stores
// their results and goes on with the turn.
func (t *turnState) decided(r pausedRun, byCall map[string]Decision) error {
	a, ctx := t.a, t.ctx
	results := make([]message.ToolResult, len(r.calls))
	var run []message.ToolCall
	var at []int
	for i, c := range r.calls {
		d, decided := byCall[c.ID]
		if decided && !d.Approved {
			content := "error: not run: a person denied this tool call"
			if !blank(d.Reason) {
				content += ": " + d.Reason
			}
			results[i] = message.ToolResult{CallID: c.ID, Name: c.Name, Content: content, IsError: true}
			continue
		}
		run, at = append(run, c), append(at, i)
	}
	var stop error
	if len(run) > 0 {
		var ran []message.ToolResult
		ran, stop = t.runTools(run)
		for j, i := range at {
			results[i] = ran[j]
		}
	}
	pending := []message.Message{message.NewToolResultMessage(results...)}
	if stop != nil {
		return t.interrupt(pending, stoppedReason, stop)
	}
	if cerr := ctx.Err(); cerr != nil {
		return t.interrupt(pending, "cancelled", fmt.Errorf("agent: session %q: running approved tools: %w", a.opts.id, cerr))
	}
	if err := t.write(pending); err != nil {
		return err
	}
	t.switchAgent()
	return t.loop()
}

// match pairs the decisions with the calls awaiting approval in r.
func match(r pausedRun, decisions []Decision) (map[string]Decision, error) {
	byCall := make(map[string]Decision, len(decisions))
	for _, d := range decisions {
		if _, dup := byCall[d.CallID]; dup {
			return nil, fmt.Errorf("two decisions for call %q", d.CallID)
		}
		byCall[d.CallID] = d
	}
	waiting := 0
	for _, p := range r.pending {
		if _, ok := byCall[p.Call.ID]; !ok {
			return nil, fmt.Errorf("no decision for call %q (%s)", p.Call.ID, p.Call.Name)
		}
		waiting++
	}
	if len(byCall) != waiting {
		for id := range byCall {
			if !slices.ContainsFunc(r.pending, func(p PendingCall) bool { return p.Call.ID == id }) {
				return nil, fmt.Errorf("call %q does not wait for approval", id)
			}
		}
	}
	return byCall, nil
}

// lastUser returns the index of the last user message of msgs, or -1.
func lastUser(msgs []message.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == message.RoleUser {
			return i
		}
	}
	return -1
}

// dropSuperseded returns msgs without superseded placeholder results (see
// session.Superseded); msgs itself, at the cost of one scan, when it holds
// no placeholder.
func dropSuperseded(msgs []message.Message) []message.Message {
	for _, m := range msgs {
		if m.Role != message.RoleTool {
			continue
		}
		for _, p := range m.Parts {
			if r, ok := p.(message.ToolResult); ok && r.Synthesized && len(r.Metadata) > 0 {
				return session.Superseded(msgs)
			}
		}
	}
	return msgs
}
