package agent

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// Errors the agent returns. Test with errors.Is.
var (
	// ErrBusy: another turn is in progress on the session and the policy
	// is FailIfBusy. When the busy state was detected by a failed
	// optimistic write, the error also matches session.ErrConflict.
	ErrBusy = errors.New("agent: session is busy with another turn")
	// ErrMaxIterations: the model still asked for tools on the last model
	// call the iteration limit allowed.
	ErrMaxIterations = errors.New("agent: iteration limit reached")
	// ErrTurnTakenOver: another writer appended to the session while this
	// turn was in progress (it found the turn's lease run out, see
	// WithTurnLease, or it does not follow the agent's protocol). The turn
	// stops; what it stored stays valid. The error also matches
	// session.ErrConflict.
	ErrTurnTakenOver = errors.New("agent: session changed by another writer during the turn")
	// ErrNoResponse: a streaming model call ended without an error and
	// without its final response.
	ErrNoResponse = errors.New("agent: model stream ended without a response")
	// ErrEmptyMessage: the user message has nothing for the model to read
	// (no text but whitespace, no image, no file). Nothing was stored.
	ErrEmptyMessage = errors.New("agent: user message is empty")
	// ErrEmptyAnswer: the model ended its answer normally but said
	// nothing (no text but whitespace, no tool call). The turn was closed
	// with an interruption marker.
	ErrEmptyAnswer = errors.New("agent: the model's answer was empty")
	// ErrOwnerMismatch: WithSessionInfo names an owner, and the session
	// exists with another one. Nothing was read or stored.
	ErrOwnerMismatch = errors.New("agent: the session belongs to another owner")
)

// ConcurrencyPolicy says what a call does when it finds another turn in
// progress on its session (in this process or another).
type ConcurrencyPolicy int

const (
	// WaitForTurn polls, with backoff and jitter, until the other turn
	// ends (or its lease runs out, see WithTurnLease), then runs on the new
	// history. The wait is bounded only by the call's context.
	WaitForTurn ConcurrencyPolicy = iota
	// FailIfBusy returns ErrBusy at once.
	FailIfBusy
)

// InterruptedPrefix starts the text of the assistant message the agent
// stores to close a turn that ended without an answer (a model error, a
// cancelled context, the iteration limit), so that the session is idle
// again and later turns, and readers of the history, see what happened.
const InterruptedPrefix = "[turn interrupted: "

// RefusedPrefix starts the text of the assistant message the agent stores
// to close a turn the model refused (llm.FinishRefusal): "[turn refused:
// the model declined to answer: " followed by the refusal's text, if any,
// and "]". It keeps the record; the refused turn, from its user message to
// this marker, is left out of every later request (see "Valid also means
// accepted" in the package documentation).
const RefusedPrefix = "[turn refused: "

// Response is the outcome of one turn.
type Response struct {
	// Text is the final answer's text (all its text parts), the refusal's
	// text for a refused turn (llm.ErrRefused), or "".
	Text string
	// Message is the final assistant message; the zero Message when the
	// turn ended without one.
	Message message.Message
	// Messages are every message the turn stored, in order: any repair of
	// an unfinished turn left by a writer that died, a compaction summary, the user
	// message, then assistant and tool messages.
	Messages []message.Message
	// Usage is the token usage summed over every model call of the turn,
	// including a compaction request.
	Usage message.Usage
	// Iterations counts the turn's model calls (not counting compaction).
	Iterations int
	// FinishReason is the last model call's finish reason.
	FinishReason llm.FinishReason
	// Notices are the repairs and skipped steps of the turn.
	Notices []Notice
	// Agent is the name (WithName) of the agent that answered last: the
	// turn's agent, or the one the conversation was handed to (see
	// WithHandoffs).
	Agent string
	// Pending are the tool calls waiting for a person's decision when the
	// turn paused for approval (the error matches ErrAwaitingApproval); see
	// WithApproval and Agent.Resume.
	Pending []PendingCall
}

// NoticeKind says what a Notice reports.
type NoticeKind string

// Notice kinds.
const (
	// NoticeRepairedStored: the session ended with tool calls that have no
	// results (a writer crashed mid-turn); the agent appended synthesized
	// results, visible in the stored history.
	NoticeRepairedStored NoticeKind = "repaired_stored"
	// NoticeRepairedRequest: the history read breaks tool-call pairing in a
	// way appending cannot fix (damage inside the history); the request
	// sent a repaired copy (session.Repair). The store is unchanged: its
	// interface cannot rewrite history.
	NoticeRepairedRequest NoticeKind = "repaired_request"
	// NoticeTookOver: the session's last turn was unfinished and its
	// writer gone (its turn lease ran out, see WithTurnLease, or on a
	// store without the lease, its last message was older than
	// WithStaleTurnAfter), so the agent took the session over.
	NoticeTookOver NoticeKind = "took_over"
	// NoticeLeaseNotRenewed: renewing the turn lease failed at least once
	// during the turn (Err holds the last cause); another agent may have
	// taken the session over, which the turn's next write would have
	// reported as ErrTurnTakenOver.
	NoticeLeaseNotRenewed NoticeKind = "lease_not_renewed"
	// NoticeCompactionFailed: the summary request failed; the turn went on
	// without compaction. Err holds the cause.
	NoticeCompactionFailed NoticeKind = "compaction_failed"
	// NoticeHandoffNotRecorded: the hand-off was stored in the history but
	// recording it in the session's metadata (HandoffKey) failed; Err holds
	// the cause. See WithHandoffs.
	NoticeHandoffNotRecorded NoticeKind = "handoff_not_recorded"
)

// Notice reports something the agent repaired or skipped without failing.
type Notice struct {
	// Kind says what happened.
	Kind NoticeKind
	// SessionID is the session concerned.
	SessionID string
	// Problems are the pairing problems found, for repairs.
	Problems []session.Problem
	// Err is the cause, for a failed compaction.
	Err error
}

// String describes n for logs.
func (n Notice) String() string {
	s := fmt.Sprintf("agent: session %q: %s", n.SessionID, n.Kind)
	if len(n.Problems) > 0 {
		s += fmt.Sprintf(" (%d problems, first: %s)", len(n.Problems), n.Problems[0])
	}
	if n.Err != nil {
		s += ": " + n.Err.Error()
	}
	return s
}

// Agent runs conversations: it sends the history to the model, runs the
// tools the model calls, and stores every message so the stored session is
// valid after every write. An Agent is safe for concurrent use; its calls
// run one turn at a time (the concurrency policy decides whether a second
// call waits or fails).
type Agent struct {
	client   llm.Client
	opts     options
	tools    map[string]tool.Tool
	specs    []llm.ToolSpec
	system   *message.Message
	defErr   error
	turnLock chan struct{}
	trc      *tracing          // nil: not traced
	handoffs map[string]*Agent // by transfer tool name

	// Guarded by turnLock.
	sess       session.Session
	ver        session.Versioned // sess, when it has optimistic concurrency; else nil
	cache      []message.Message // the newest stored messages, as of cacheVer
	cacheVer   int64
	cacheValid bool
}

// New returns an agent that talks to client. It does no I/O. Invalid
// options (a bad tool definition, a nil client) are reported by the first
// call.
func New(client llm.Client, opts ...Option) *Agent {
	a := &Agent{client: client, turnLock: make(chan struct{}, 1)}
	o := options{
		maxIter:      DefaultMaxIterations,
		maxParallel:  DefaultMaxParallelTools,
		staleAfter:   DefaultStaleTurnAfter,
		lease:        DefaultTurnLease,
		writeTimeout: DefaultWriteTimeout,
		pollMin:      10 * time.Millisecond,
		pollMax:      500 * time.Millisecond,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.history == nil {
		o.history = LastN(DefaultHistoryMessages)
	}
	if o.maxIter < 1 {
		o.maxIter = 1
	}
	if o.maxParallel < 1 {
		o.maxParallel = 1
	}
	if o.lease < minTurnLease {
		o.lease = minTurnLease
	}
	if o.writeTimeout <= 0 {
		o.writeTimeout = DefaultWriteTimeout
	}
	if o.pollMin <= 0 {
		o.pollMin = 10 * time.Millisecond
	}
	if o.pollMax < o.pollMin {
		o.pollMax = o.pollMin
	}
	if o.store == nil && o.id == "" {
		o.store, o.id = session.NewMemoryStore(), "agent-"+message.NewID()
	}
	a.opts = o
	a.trc = newTracing(client, o)
	switch {
	case client == nil:
		a.defErr = errors.New("agent: nil llm.Client")
	case o.store == nil:
		a.defErr = fmt.Errorf("agent: session %q: nil store", o.id)
	}
	if err := tool.Validate(o.tools...); err != nil && a.defErr == nil {
		a.defErr = fmt.Errorf("agent: %w", err)
	}
	a.tools = make(map[string]tool.Tool, len(o.tools))
	for _, t := range o.tools {
		if t != nil {
			s := t.Spec()
			a.tools[s.Name] = t
			a.specs = append(a.specs, s)
		}
	}
	if err := a.setupHandoffs(); err != nil && a.defErr == nil {
		a.defErr = err
	}
	if o.system != "" {
		m := message.NewSystemMessage(o.system)
		a.system = &m
	}
	return a
}

// SessionID returns the id of the agent's session.
func (a *Agent) SessionID() string { return a.opts.id }

// Chat sends text as a user message and runs the turn to its end: model
// calls, tool runs, and persistence (see the package documentation). See
// Send for the errors.
func (a *Agent) Chat(ctx context.Context, text string) (*Response, error) {
	return a.Send(ctx, message.NewUserMessage(text))
}

// Send is Chat with a user message built by the caller, for example one
// holding images (message.ImageURL or message.Binary parts). A message with
// an empty role is sent as a user message; any other role than user is
// refused. An empty ID or zero CreatedAt is filled in.
//
// Send returns ErrEmptyMessage (nothing stored), ErrOwnerMismatch, ErrBusy
// (FailIfBusy policy), ErrMaxIterations, ErrTurnTakenOver, an error matching
// llm.ErrOutputTruncated, llm.ErrContentFiltered, llm.ErrRefused or
// ErrEmptyAnswer when the model gave no usable answer (or, for a refusal or
// a filtered answer with text, to tell it from an ordinary one: see "Valid
// also means accepted" in the package documentation), the model's error
// (wrapped: test with errors.Is for the llm sentinels), the context's error,
// or a store error. Whenever the turn stored anything, the Response is
// returned with the error too, listing what was stored.
func (a *Agent) Send(ctx context.Context, msg message.Message) (*Response, error) {
	return a.turn(ctx, msg, nil)
}

// ChatStream is Chat with streaming: the sequence yields the model's deltas
// as they arrive, each tool call before it runs and each result as its tool
// finishes, the messages as they are stored, and notices; the last event of
// a successful turn has Type EventDone and carries the Response. An error ends the
// sequence: it is yielded once, with a zero Event. Breaking out of the loop
// cancels the turn; the agent still records its outcome (a valid session)
// before the loop statement returns.
func (a *Agent) ChatStream(ctx context.Context, text string) iter.Seq2[Event, error] {
	return a.SendStream(ctx, message.NewUserMessage(text))
}

// SendStream is ChatStream with a user message built by the caller.
func (a *Agent) SendStream(ctx context.Context, msg message.Message) iter.Seq2[Event, error] {
	return a.stream(ctx, func(ctx context.Context, emit func(Event)) (*Response, error) { return a.turn(ctx, msg, emit) })
}

// stream runs turn as a sequence of events (see ChatStream).
func (a *Agent) stream(ctx context.Context, turn func(context.Context, func(Event)) (*Response, error)) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stopped := false
		emit := func(ev Event) {
			if stopped {
				return
			}
			if !yield(ev, nil) {
				stopped = true
				cancel()
			}
		}
		resp, err := turn(tctx, emit)
		if stopped {
			return
		}
		if err != nil {
			yield(Event{}, err)
			return
		}
		yield(Event{Type: EventDone, Response: resp}, nil)
	}
}

// EventType says what a streaming Event carries.
type EventType string

// Event types.
const (
	// EventTextDelta: a piece of the answer's text, in Text.
	EventTextDelta EventType = "text_delta"
	// EventReasoningDelta: a piece of the model's reasoning, in Text.
	EventReasoningDelta EventType = "reasoning_delta"
	// EventToolCallDelta: a piece of a tool call as the model streams it,
	// in ToolCallDelta.
	EventToolCallDelta EventType = "tool_call_delta"
	// EventToolCall: a complete tool call about to run, in ToolCall.
	EventToolCall EventType = "tool_call"
	// EventToolResult: a tool call's result, in ToolResult, as soon as
	// the tool finishes (the calls of one response run in parallel, so
	// results may come in another order than the calls; they are stored
	// in call order).
	EventToolResult EventType = "tool_result"
	// EventStored: messages just stored in one atomic write, in Messages.
	EventStored EventType = "stored"
	// EventNotice: a repair or skipped step, in Notice.
	EventNotice EventType = "notice"
	// EventAwaitingApproval: the turn paused for approval (WithApproval);
	// the calls waiting are in Pending. The sequence then ends with
	// ErrAwaitingApproval.
	EventAwaitingApproval EventType = "awaiting_approval"
	// EventDone: the turn ended; Response holds its outcome.
	EventDone EventType = "done"
)

// Event is one update of a streaming turn.
type Event struct {
	// Type says which of the fields below the event carries.
	Type EventType
	// Iteration is the model call the event belongs to (from 1).
	Iteration int
	// Text is the piece of answer or reasoning text of an EventTextDelta
	// or EventReasoningDelta.
	Text string
	// ToolCallDelta is the piece of a streamed tool call of an
	// EventToolCallDelta.
	ToolCallDelta *llm.ToolCallDelta
	// ToolCall is the complete tool call of an EventToolCall.
	ToolCall *message.ToolCall
	// ToolResult is the result of an EventToolResult.
	ToolResult *message.ToolResult
	// Messages are the messages an EventStored stored, oldest first.
	Messages []message.Message
	// Notice is the repair or skipped step of an EventNotice.
	Notice *Notice
	// Response is the turn's outcome, in EventDone.
	Response *Response
	// Pending are the calls waiting for approval, in
	// EventAwaitingApproval.
	Pending []PendingCall
}
