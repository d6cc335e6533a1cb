package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// turnState is one turn in progress.
type turnState struct {
	a    *Agent
	ctx  context.Context
	emit func(Event) // nil when not streaming
	resp *Response
	iter int
	// user is the turn's user message, as stored: the task, which every
	// request of the turn carries (see request).
	user message.Message
	// format is the structured output asked of every model call (see
	// SendTyped), or nil.
	format *llm.ResponseFormat
	// active is the agent the conversation was handed to (WithHandoffs),
	// or nil for a.
	active *Agent
	// next is the agent a hand-off call just run hands the conversation
	// to, once its result is stored (switchAgent), or nil.
	next *Agent
}

func (t *turnState) event(ev Event) {
	if t.emit != nil {
		ev.Iteration = t.iter
		t.emit(ev)
	}
}

func (t *turnState) notice(n Notice) {
	n.SessionID = t.a.opts.id
	t.resp.Notices = append(t.resp.Notices, n)
	if t.a.opts.onNotice != nil {
		t.a.opts.onNotice(n)
	}
	t.event(Event{Type: EventNotice, Notice: &n})
}

// turn runs one turn for the user message msg.
func (a *Agent) turn(ctx context.Context, msg message.Message, emit func(Event)) (*Response, error) {
	return a.turnWith(ctx, msg, emit, nil)
}

// turnWith runs one turn for the user message msg, asking every model call
// for format when it is not nil.
func (a *Agent) turnWith(ctx context.Context, msg message.Message, emit func(Event), format *llm.ResponseFormat) (*Response, error) {
	if a.trc != nil {
		return a.traceTurn(ctx, func(ctx context.Context) (*Response, error) { return a.runTurn(ctx, msg, emit, format) })
	}
	return a.runTurn(ctx, msg, emit, format)
}

// runTurn runs one turn for the user message msg.
func (a *Agent) runTurn(ctx context.Context, msg message.Message, emit func(Event), format *llm.ResponseFormat) (*Response, error) {
	if a.defErr != nil {
		return nil, a.defErr
	}
	if msg.Role == "" {
		msg.Role = message.RoleUser
	}
	if msg.Role != message.RoleUser {
		return nil, fmt.Errorf("agent: send to %q: message role is %q, not user", a.opts.id, msg.Role)
	}
	msg.Parts = slices.Clone(dropBlankText(msg.Parts))
	if !userContent(msg.Parts) {
		return nil, fmt.Errorf("%w: session %q: no text but whitespace, no image, no file", ErrEmptyMessage, a.opts.id)
	}
	if msg.ID == "" {
		msg.ID = message.NewID()
	}
	if msg.CreatedAt == 0 {
		msg.CreatedAt = time.Now().UnixNano()
	}
	if err := msg.Validate(); err != nil {
		return nil, fmt.Errorf("agent: send to %q: %w", a.opts.id, err)
	}
	if err := a.checkRequests(msg, format); err != nil {
		return nil, err
	}
	if err := a.lock(ctx); err != nil {
		return nil, err
	}
	defer a.unlock()

	t := &turnState{a: a, ctx: ctx, emit: emit, resp: &Response{}, user: msg, format: format}
	if err := a.open(ctx); err != nil {
		return nil, err
	}
	if a.ver == nil {
		// No optimistic concurrency: serialise the turns of every agent
		// of this process on the session, and read it afresh, since other
		// agents may have written since.
		release, err := lockSession(ctx, a.opts.store, a.opts.id, a.opts.policy)
		if err != nil {
			return nil, err
		}
		defer release()
		a.cacheValid = false
	}
	if err := t.claim(msg); err != nil {
		if len(t.resp.Messages) == 0 {
			return nil, err
		}
		return t.resp, err
	}
	t.resumeActive(a.cache)
	release := t.holdLease()
	err := t.loop()
	release()
	t.resp.Agent = t.cur().opts.name
	return t.resp, err
}

// lock takes the agent's turn lock according to the policy.
func (a *Agent) lock(ctx context.Context) error {
	if a.opts.policy == FailIfBusy {
		select {
		case a.turnLock <- struct{}{}:
			return nil
		default:
			return fmt.Errorf("%w: session %q: this agent is running a turn", ErrBusy, a.opts.id)
		}
	}
	select {
	case a.turnLock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: session %q: waiting for the running turn: %w", a.opts.id, ctx.Err())
	}
}

func (a *Agent) unlock() { <-a.turnLock }

// open loads or creates the session on first use.
func (a *Agent) open(ctx context.Context) error {
	if a.sess != nil {
		return nil
	}
	var s session.Session
	var err error
	if a.trc != nil {
		var end func(error)
		ctx, end = a.startStore(ctx, "LoadOrCreate")
		defer func() { end(err) }()
	}
	if a.opts.info != nil {
		s, err = openWithInfo(ctx, a.opts.store, a.opts.id, *a.opts.info)
	} else {
		s, err = session.LoadOrCreate(ctx, a.opts.store, a.opts.id)
	}
	if err != nil {
		return fmt.Errorf("agent: open session %q: %w", a.opts.id, err)
	}
	a.sess = s
	a.ver, _ = s.(session.Versioned)
	a.cacheValid = false
	return nil
}

// openWithInfo loads the session id, or creates it with info, race-free
// (as session.LoadOrCreate). An existing session is left as it is, unless
// it belongs to another owner than info.Owner: then it fails with
// ErrOwnerMismatch.
func openWithInfo(ctx context.Context, store session.Store, id string, info session.CreateOptions) (session.Session, error) {
	d, ok := store.(session.Describer)
	if !ok {
		return nil, fmt.Errorf("the store (%T) cannot record a session's owner, title and metadata (WithSessionInfo): %w", store, session.ErrNotSupported)
	}
	var err error
	for range 8 {
		var s session.Session
		s, err = store.Load(ctx, id)
		if err == nil {
			if info.Owner != "" {
				in, err := d.Info(ctx, id)
				if err != nil {
					return nil, err
				}
				if in.Owner != "" && in.Owner != info.Owner {
					return nil, fmt.Errorf("%w: the session belongs to %q, not %q", ErrOwnerMismatch, in.Owner, info.Owner)
				}
			}
			return s, nil
		}
		if !errors.Is(err, session.ErrNotFound) {
			return nil, err
		}
		s, err = d.CreateWith(ctx, id, info)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, session.ErrExists) {
			return nil, err
		}
	}
	return nil, err
}

// snapshot reads the newest messages (all when limit is nil) and, with
// optimistic concurrency, the version.
func (a *Agent) snapshot(ctx context.Context, limit *int) (msgs []message.Message, ver int64, err error) {
	if a.trc != nil {
		var end func(error)
		ctx, end = a.startStore(ctx, storeOp(a.ver != nil, "Snapshot", "GetMessages"))
		defer func() { end(err) }()
	}
	if a.ver != nil {
		return a.ver.Snapshot(ctx, limit)
	}
	msgs, err = a.sess.GetMessages(ctx, limit)
	return msgs, 0, err
}

// appendAt appends msgs if the session is at version prev (with optimistic
// concurrency; without, it appends them) and returns the new version.
func (a *Agent) appendAt(ctx context.Context, prev int64, msgs []message.Message) (ver int64, err error) {
	if a.trc != nil {
		var end func(error)
		ctx, end = a.startStore(ctx, storeOp(a.ver != nil, "AddMessagesAt", "AddMessages"))
		defer func() { end(err) }()
	}
	if a.ver != nil {
		return a.ver.AddMessagesAt(ctx, prev, msgs)
	}
	if err := a.sess.AddMessages(ctx, msgs); err != nil {
		return prev, err
	}
	return prev + 1, nil
}

// window is how many of the newest messages a turn reads; -1 for all.
func (a *Agent) window() int {
	w := a.opts.history.Window()
	if w < 0 {
		return -1
	}
	if c := a.opts.compaction; c != nil {
		w = max(w, c.afterMessages()+2)
	}
	return max(w, 2)
}

// reload reads the session's newest messages and version into the cache.
func (a *Agent) reload(ctx context.Context) error {
	w := a.window()
	var limit *int
	if w >= 0 {
		limit = session.Limit(w)
	}
	msgs, ver, err := a.snapshot(ctx, limit)
	if err != nil {
		return fmt.Errorf("agent: read session %q: %w", a.opts.id, err)
	}
	// With compaction on, a full window without a summary may hide the
	// latest summary further back: read everything once to find it.
	if w >= 0 && len(msgs) == w && a.opts.compaction != nil && lastSummary(msgs) < 0 {
		all, v2, err := a.snapshot(ctx, nil)
		if err != nil {
			return fmt.Errorf("agent: read session %q: %w", a.opts.id, err)
		}
		if s := lastSummary(all); s >= 0 {
			msgs, ver = all[s:], v2
		} else {
			msgs, ver = all[max(0, len(all)-w):], v2
		}
	}
	a.cache, a.cacheVer, a.cacheValid = msgs, ver, true
	return nil
}

// stored records msgs, just written at version ver, in the cache.
func (a *Agent) stored(msgs []message.Message, prev, ver int64) {
	if !a.cacheValid || ver == prev {
		// ver == prev: every message was already stored (a retried ID), so
		// the cache cannot tell where they are: read again next time.
		a.cacheValid = false
		return
	}
	a.cache = append(a.cache, msgs...)
	a.cacheVer = ver
	w := a.window()
	if w < 0 || len(a.cache) <= 2*w {
		return
	}
	keep := len(a.cache) - w
	if s := lastSummary(a.cache); s >= 0 && s < keep && len(a.cache)-s <= 4*w {
		keep = s
	}
	a.cache = slices.Clone(a.cache[keep:])
}

// idle reports whether msgs (the newest messages) end a finished turn.
func idle(msgs []message.Message) bool {
	if len(msgs) == 0 {
		return true
	}
	last := msgs[len(msgs)-1]
	switch last.Role {
	case message.RoleAssistant:
		return len(last.ToolCalls()) == 0
	case message.RoleSummary, message.RoleSystem:
		return true
	}
	return false
}

// wait sleeps before polling a busy session again.
func (a *Agent) wait(ctx context.Context, attempt int) error {
	d := a.opts.pollMin << min(attempt, 10)
	if d > a.opts.pollMax || d <= 0 {
		d = a.opts.pollMax
	}
	d = d/2 + rand.N(d/2+1)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("agent: session %q: waiting for another turn to end: %w", a.opts.id, ctx.Err())
	case <-tm.C:
		return nil
	}
}

// claim writes the user message (with any repair and summary before it)
// once the session is idle, following the concurrency policy.
func (t *turnState) claim(user message.Message) error {
	a := t.a
	ctx := t.ctx
	for attempt := 0; ; attempt++ {
		fresh := false
		if !a.cacheValid {
			if err := a.reload(ctx); err != nil {
				return err
			}
			fresh = true
		}
		hist := a.cache
		var toWrite []message.Message
		var notices []Notice
		if !idle(hist) {
			if !fresh {
				a.cacheValid = false // decide on what the store holds now
				continue
			}
			if p := pendingApprovals(hist); len(p) > 0 {
				return fmt.Errorf("%w: session %q: %d tool calls wait for a decision (see Agent.Resume)", ErrAwaitingApproval, a.opts.id, len(p))
			}
			stale, err := a.stale(ctx, hist)
			if err != nil {
				return err
			}
			if !stale {
				a.cacheValid = false
				if a.opts.policy == FailIfBusy {
					return fmt.Errorf("%w: session %q: another turn is in progress", ErrBusy, a.opts.id)
				}
				if err := a.wait(ctx, attempt); err != nil {
					return err
				}
				continue
			}
			notices = append(notices, Notice{Kind: NoticeTookOver})
			clean := hist
			if len(hist) > 0 && hist[0].Role == message.RoleTool {
				clean = cleanSuffix(hist, 0) // the window may start inside a run
			}
			if probs := session.Check(clean); probs != nil {
				if suffix, ok := session.RepairSuffix(clean); ok {
					toWrite = append(toWrite, suffix...)
					notices = append(notices, Notice{Kind: NoticeRepairedStored, Problems: probs})
				}
			}
		}
		if c := a.opts.compaction; c != nil {
			all := append(slices.Clip(hist), toWrite...)
			since := all
			if s := lastSummary(all); s >= 0 {
				since = all[s+1:]
			}
			if c.due(since) {
				sum, err := t.summarize(all)
				if err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("agent: session %q: compaction: %w", a.opts.id, ctx.Err())
					}
					notices = append(notices, Notice{Kind: NoticeCompactionFailed, Err: err})
				} else {
					toWrite = append(toWrite, sum)
				}
			}
		}
		toWrite = append(toWrite, user)
		prev := a.cacheVer
		ver, err := a.appendAt(ctx, prev, toWrite)
		if errors.Is(err, session.ErrConflict) {
			a.cacheValid = false
			if !fresh {
				continue // our cached view was old: read and decide again
			}
			if a.opts.policy == FailIfBusy {
				return fmt.Errorf("%w: session %q: %w", ErrBusy, a.opts.id, err)
			}
			if err := a.wait(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			a.cacheValid = false
			return fmt.Errorf("agent: session %q: store user message: %w", a.opts.id, err)
		}
		for _, n := range notices {
			t.notice(n)
		}
		a.stored(toWrite, prev, ver)
		t.resp.Messages = append(t.resp.Messages, toWrite...)
		t.event(Event{Type: EventStored, Messages: toWrite})
		return nil
	}
}

// summarize asks the model for a summary of hist (everything from the
// latest summary on). The history is sent as a transcript in one user
// message (see transcript): a request with the history's tool blocks would
// need the tools defined (Anthropic refuses tool blocks otherwise) and
// would be held to every rule of a continued tool-use turn.
func (t *turnState) summarize(hist []message.Message) (message.Message, error) {
	a := t.a
	if s := lastSummary(hist); s >= 0 {
		hist = hist[s:]
	}
	text := transcript(dropRefused(dropSuperseded(hist)))
	if blank(text) {
		return message.Message{}, errors.New("agent: summary request: nothing to summarise")
	}
	resp, err := a.client.Generate(t.ctx, a.summaryRequest(text))
	if err != nil {
		return message.Message{}, fmt.Errorf("agent: summary request: %w", err)
	}
	t.resp.Usage = t.resp.Usage.Add(resp.Usage)
	switch resp.FinishReason {
	case llm.FinishLength:
		return message.Message{}, fmt.Errorf("agent: summary request: %w: the summary was cut off by the output limit", llm.ErrOutputTruncated)
	case llm.FinishContentFilter:
		return message.Message{}, fmt.Errorf("agent: summary request: %w", llm.ErrContentFiltered)
	case llm.FinishRefusal:
		return message.Message{}, fmt.Errorf("agent: summary request: %w", llm.ErrRefused)
	}
	text = resp.Message.Text()
	if blank(text) {
		return message.Message{}, errors.New("agent: summary request: the model returned no text")
	}
	sum := message.NewSummaryMessage(text)
	sum.Model = resp.Message.Model
	return sum, nil
}

// summaryRequest returns the request for a summary of the transcript text.
func (a *Agent) summaryRequest(text string) llm.Request {
	c := a.opts.compaction
	prompt := c.Prompt
	if blank(prompt) {
		prompt = DefaultSummaryPrompt
	}
	msgs := []message.Message{
		message.NewSystemMessage(prompt),
		message.NewUserMessage(summaryTranscript + text),
		message.NewUserMessage(summaryRequest),
	}
	model := c.Model
	if model == "" {
		model = a.opts.model
	}
	return llm.Request{Model: model, Messages: msgs, MaxOutputTokens: c.MaxOutputTokens}
}

// settings returns a request with the agent's settings for msgs.
func (a *Agent) settings(msgs []message.Message) llm.Request {
	return llm.Request{
		Model:           a.opts.model,
		Messages:        msgs,
		Tools:           a.specs,
		Temperature:     a.opts.temperature,
		MaxOutputTokens: a.opts.maxOutput,
	}
}

// checkRequests asks a client that can tell (llm.RequestChecker) whether it
// would refuse the turn's first request, for the user message user, or a
// compaction request, so that a turn every request of which would fail
// (settings that conflict with the client's, such as a temperature with
// Anthropic's extended thinking) stores nothing.
func (a *Agent) checkRequests(user message.Message, format *llm.ResponseFormat) error {
	rc, ok := a.client.(llm.RequestChecker)
	if !ok {
		return nil
	}
	var msgs []message.Message
	if a.system != nil {
		msgs = append(msgs, *a.system)
	}
	req := a.settings(append(msgs, user))
	req.ResponseFormat = format
	if err := rc.CheckRequest(req); err != nil {
		return fmt.Errorf("agent: session %q: the model client refuses the agent's requests (nothing stored): %w", a.opts.id, err)
	}
	if a.opts.compaction != nil {
		if err := rc.CheckRequest(a.summaryRequest(transcript([]message.Message{user}))); err != nil {
			return fmt.Errorf("agent: session %q: the model client refuses the compaction requests (nothing stored): %w", a.opts.id, err)
		}
	}
	return nil
}

// request builds the request for the next model call.
func (t *turnState) request() llm.Request {
	a := t.a
	hist := a.cache
	var head []message.Message
	if s := lastSummary(hist); s >= 0 {
		head, hist = hist[s:s+1], hist[s+1:]
	}
	sel := a.opts.history.Select(hist)
	msgs := make([]message.Message, 0, len(sel)+3)
	if sys := t.cur().system; sys != nil {
		msgs = append(msgs, *sys)
	}
	msgs = append(msgs, head...)
	if t.user.Role == message.RoleUser && !slices.ContainsFunc(sel, isUser) {
		// The turn's tool rounds fill the whole window: send its user
		// message ahead of them, or the model would go on without the
		// task (and some providers refuse a history that starts with an
		// assistant turn). The selection starts at a clean cut, so the
		// pairing of calls and results stays valid.
		msgs = append(msgs, t.user)
	}
	msgs = append(msgs, sel...)
	msgs = startWithUser(forModel(dropRefused(dropSuperseded(msgs))))
	if probs := session.Check(msgs); probs != nil {
		msgs, _ = session.Repair(msgs)
		t.notice(Notice{Kind: NoticeRepairedRequest, Problems: probs})
	}
	req := t.cur().settings(msgs)
	req.ResponseFormat = t.format
	if named := t.namedSpecs(); len(named) > 0 {
		req.Tools = append(slices.Clip(req.Tools), named...)
	}
	return req
}

// call makes one model call, streaming when the turn streams.
func (t *turnState) call(ctx context.Context, req llm.Request) (*llm.Response, error) {
	client := t.cur().client
	if t.emit == nil {
		return client.Generate(ctx, req)
	}
	for ev, err := range client.Stream(ctx, req) {
		if err != nil {
			return nil, err
		}
		switch ev.Type {
		case llm.EventTextDelta:
			t.event(Event{Type: EventTextDelta, Text: ev.Text})
		case llm.EventReasoningDelta:
			t.event(Event{Type: EventReasoningDelta, Text: ev.Text})
		case llm.EventToolCallDelta:
			t.event(Event{Type: EventToolCallDelta, ToolCallDelta: ev.ToolCall})
		case llm.EventDone:
			if ev.Response == nil {
				return nil, ErrNoResponse
			}
			return ev.Response, nil
		}
	}
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrNoResponse
}

// write appends msgs after the turn has started, with a context that the
// caller's cancellation does not cut short.
func (t *turnState) write(msgs []message.Message) error {
	a := t.a
	wctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), a.opts.writeTimeout)
	defer cancel()
	prev := a.cacheVer
	ver, err := a.appendAt(wctx, prev, msgs)
	if err != nil {
		a.cacheValid = false
		if errors.Is(err, session.ErrConflict) {
			return fmt.Errorf("%w: session %q: %w", ErrTurnTakenOver, a.opts.id, err)
		}
		return fmt.Errorf("agent: session %q: store turn: %w", a.opts.id, err)
	}
	a.stored(msgs, prev, ver)
	t.resp.Messages = append(t.resp.Messages, msgs...)
	t.event(Event{Type: EventStored, Messages: msgs})
	return nil
}

// interrupt closes the turn after a failure: it stores pending (an
// assistant message and its results, if any) and an assistant message
// saying why the turn ended, so the session is valid and idle again, and
// returns cause.
func (t *turnState) interrupt(pending []message.Message, reason string, cause error) error {
	marker := message.NewAssistantMessage(InterruptedPrefix + reason + "]")
	if err := t.write(append(pending, marker)); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// refuse closes a turn the model refused: it stores a refusal marker
// (RefusedPrefix) holding the refusal's text, if any, returns that text in
// Response.Text, and returns cause.
func (t *turnState) refuse(text string, cause error) error {
	reason := "the model declined to answer"
	if text != "" {
		reason += ": " + text
	}
	marker := message.NewAssistantMessage(RefusedPrefix + reason + "]")
	if err := t.write([]message.Message{marker}); err != nil {
		return errors.Join(cause, err)
	}
	t.resp.Text = text
	return cause
}

// loop runs model calls and tools until the model answers without tools.
func (t *turnState) loop() error {
	a := t.a
	for t.iter = 1; ; t.iter++ {
		t.resp.Iterations = t.iter
		t.resp.Agent = t.cur().opts.name
		req := t.request()
		llmResp, err := t.model(req)
		if err != nil {
			if errors.Is(err, ErrStopped) {
				return t.interrupt(nil, stoppedReason, err)
			}
			if cerr := t.ctx.Err(); cerr != nil {
				return t.interrupt(nil, "cancelled", fmt.Errorf("agent: session %q: model call: %w", a.opts.id, cerr))
			}
			return t.interrupt(nil, "the model request failed", fmt.Errorf("agent: session %q: model call %d: %w", a.opts.id, t.iter, err))
		}
		t.resp.Usage = t.resp.Usage.Add(llmResp.Usage)
		t.resp.FinishReason = llmResp.FinishReason
		asst := llmResp.Message
		asst.Role = message.RoleAssistant
		asst.Parts = slices.Clone(asst.Parts)
		if asst.ID == "" {
			asst.ID = message.NewID()
		}
		if asst.CreatedAt == 0 {
			asst.CreatedAt = time.Now().UnixNano()
		}
		if asst.Model == "" {
			asst.Model = t.cur().opts.model
		}
		if asst.Usage == nil && !llmResp.Usage.IsZero() {
			u := llmResp.Usage
			asst.Usage = &u
		}
		// Blank text is never stored: a provider refuses it when it is
		// sent back (see forModel).
		asst.Parts = dropBlankText(asst.Parts)
		calls := asst.ToolCalls()
		switch llmResp.FinishReason {
		case llm.FinishLength:
			if len(calls) > 0 {
				// The last call's input may be cut anywhere: running it
				// or storing it as made would be wrong.
				return t.interrupt(nil, "the model's output reached its length limit in the middle of a tool call",
					fmt.Errorf("%w: session %q: model call %d: the output limit cut off a tool call", llm.ErrOutputTruncated, a.opts.id, t.iter))
			}
			if !hasText(asst) {
				return t.interrupt(nil, "the model's output reached its length limit before it answered",
					fmt.Errorf("%w: session %q: model call %d: the output limit was reached before any answer", llm.ErrOutputTruncated, a.opts.id, t.iter))
			}
		case llm.FinishRefusal:
			// Anthropic: a refused turn must be reset, and continuing
			// without resetting "will result in continued refusals"
			// (https://platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals).
			// The turn is closed with a refusal marker, which keeps the
			// record; requests leave the whole refused turn out (see
			// dropRefused). Tool calls are not run.
			text := ""
			if hasText(asst) {
				text = asst.Text()
			}
			return t.refuse(text, fmt.Errorf("%w: session %q: model call %d: %q", llm.ErrRefused, a.opts.id, t.iter, text))
		case llm.FinishContentFilter:
			cause := fmt.Errorf("%w: session %q: model call %d", llm.ErrContentFiltered, a.opts.id, t.iter)
			asst.Parts = slices.DeleteFunc(asst.Parts, isCall) // not run: the answer is withheld
			if !hasText(asst) {
				return t.interrupt(nil, "the provider's content filter withheld the answer", cause)
			}
			if err := t.write([]message.Message{asst}); err != nil {
				return errors.Join(cause, err)
			}
			t.resp.Message, t.resp.Text = asst, asst.Text()
			return cause
		}
		if len(calls) == 0 {
			if !hasText(asst) {
				return t.interrupt(nil, "the model's answer was empty",
					fmt.Errorf("%w: session %q: model call %d", ErrEmptyAnswer, a.opts.id, t.iter))
			}
			if err := t.write([]message.Message{asst}); err != nil {
				return err
			}
			t.resp.Message, t.resp.Text = asst, asst.Text()
			return nil
		}
		if t.iter >= a.opts.maxIter {
			results := make([]message.ToolResult, len(calls))
			for i, c := range calls {
				results[i] = tool.Interrupted(c, ErrMaxIterations)
				results[i].Content = fmt.Sprintf("error: not run: the turn reached its limit of %d model calls", a.opts.maxIter)
			}
			pending := []message.Message{asst, message.NewToolResultMessage(results...)}
			return t.interrupt(pending, "iteration limit reached", fmt.Errorf("%w: session %q: %d model calls", ErrMaxIterations, a.opts.id, a.opts.maxIter))
		}
		if a.opts.approval != nil && slices.ContainsFunc(calls, a.opts.approval) {
			return t.pause(asst, calls)
		}
		results, stop := t.runTools(calls)
		pending := []message.Message{asst, message.NewToolResultMessage(results...)}
		if stop != nil {
			return t.interrupt(pending, stoppedReason, stop)
		}
		if cerr := t.ctx.Err(); cerr != nil {
			return t.interrupt(pending, "cancelled", fmt.Errorf("agent: session %q: running tools: %w", a.opts.id, cerr))
		}
		if err := t.write(pending); err != nil {
			return err
		}
		t.switchAgent()
	}
}

// runTools runs calls in parallel (bounded) and returns their results in
// call order, and the first error (in call order) of a hook that stopped the
// turn. A streaming turn gets each result as its tool finishes.
func (t *turnState) runTools(calls []message.ToolCall) ([]message.ToolResult, error) {
	a := t.a
	for i := range calls {
		t.event(Event{Type: EventToolCall, ToolCall: &calls[i]})
	}
	results := make([]message.ToolResult, len(calls))
	h := t.handoff(calls)
	var stops []error
	if len(a.opts.hooks) > 0 || a.trc != nil {
		stops = make([]error, len(calls))
	}
	finished := make(chan int, len(calls))
	sem := make(chan struct{}, a.opts.maxParallel)
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			defer func() { finished <- i }()
			select {
			case sem <- struct{}{}:
			case <-t.ctx.Done():
				results[i] = tool.Interrupted(c, t.ctx.Err())
				return
			}
			defer func() { <-sem }()
			if i == h {
				results[i] = handoffResult(c, t.next)
				return
			}
			if stops == nil {
				results[i] = tool.Call(t.ctx, t.cur().tools[c.Name], c, a.opts.toolTimeout)
				return
			}
			results[i], stops[i] = t.callTool(t.ctx, c)
		})
	}
	// Events are emitted on the turn's goroutine, as each call finishes.
	for range calls {
		i := <-finished
		t.event(Event{Type: EventToolResult, ToolResult: &results[i]})
	}
	wg.Wait()
	for _, err := range stops {
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

func isUser(m message.Message) bool { return m.Role == message.RoleUser }
