package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/convo-dev/convo/message"
)

// ProblemKind names a way a message list breaks tool-call pairing.
type ProblemKind string

// The kinds of Problem that Check reports.
const (
	// MissingResult: a tool call with no result in the tool messages right
	// after its assistant message. Problem.Index is the assistant message.
	MissingResult ProblemKind = "missing_result"
	// OrphanResult: a tool result whose call is not in the assistant
	// message right before its run of tool messages (or that has no
	// assistant message before it at all). Problem.Index is the tool
	// message holding the result.
	OrphanResult ProblemKind = "orphan_result"
	// DuplicateResult: a second (third, ...) result for one call within a
	// run. Problem.Index is the tool message holding the extra result.
	DuplicateResult ProblemKind = "duplicate_result"
	// DuplicateCall: a tool-call id used more than once in one assistant
	// message; reported for every use after the first. Problem.Index is the
	// assistant message.
	DuplicateCall ProblemKind = "duplicate_call"
)

// InterruptedContent is the content of a result that Repair (and
// RepairSuffix) synthesize for a tool call that has none.
const InterruptedContent = "interrupted: no result was recorded for this tool call (the program stopped before the tool finished)"

// InterruptedResult returns the synthesized result Repair gives a tool call
// that has no result: an error result holding InterruptedContent, marked
// Synthesized. Writers that stop a turn between a call and its result (a
// cancelled context, a crash being recovered) can store it themselves.
func InterruptedResult(call message.ToolCall) message.ToolResult {
	return message.ToolResult{
		CallID:      call.ID,
		Name:        call.Name,
		Content:     InterruptedContent,
		IsError:     true,
		Synthesized: true,
	}
}

// pendingKey is the key of the Metadata object that marks a placeholder
// result (see PendingResult).
const pendingKey = "convo_pending"

// PendingResult returns a placeholder result for call, stored while its real
// result is still to come: an error result holding content, marked
// Synthesized, whose Metadata ({"convo_pending": state}) records state (for
// example the agent's "awaiting_approval"). A placeholder answers its call
// like any result, so a session that ends with it is valid (see Check) and a
// request that carries it tells the model the truth in content; a later
// result for the same call in the same run supersedes it (a writer can thus
// record a turn that waits, then its outcome, through an append-only
// store). Readers that send a history to a model leave superseded
// placeholders out (see Superseded).
func PendingResult(call message.ToolCall, state, content string) message.ToolResult {
	meta, _ := json.Marshal(map[string]string{pendingKey: state}) // a map of strings always encodes
	return message.ToolResult{
		CallID:      call.ID,
		Name:        call.Name,
		Content:     content,
		Metadata:    meta,
		IsError:     true,
		Synthesized: true,
	}
}

// PendingState returns the state recorded in the placeholder r (see
// PendingResult), and whether r is a placeholder at all.
func PendingState(r message.ToolResult) (string, bool) {
	if !r.Synthesized || !bytes.Contains(r.Metadata, []byte(pendingKey)) {
		return "", false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Metadata, &m) != nil {
		return "", false
	}
	var state string
	if raw, ok := m[pendingKey]; !ok || json.Unmarshal(raw, &state) != nil {
		return "", false
	}
	return state, true
}

// Superseded returns msgs without the placeholder results (PendingResult)
// that a later result for the same call in the same run supersedes, and
// without the tool messages left empty by that: the history as a model
// must be sent it, with exactly one result per call. It returns msgs itself
// when nothing is left out, and never changes msgs.
func Superseded(msgs []message.Message) []message.Message {
	type at struct{ msg, part int }
	var drop map[at]bool
	for i := 0; i < len(msgs); {
		r := scanRun(msgs, i)
		i = r.end
		if r.assistant < 0 || r.end-r.assistant < 3 {
			continue // no second tool message: nothing can be superseded
		}
		last := map[string]at{}
		for k := r.assistant + 1; k < r.end; k++ {
			for pi, p := range msgs[k].Parts {
				res, ok := p.(message.ToolResult)
				if !ok {
					continue
				}
				if prev, ok := last[res.CallID]; ok {
					if _, pending := PendingState(msgs[prev.msg].Parts[prev.part].(message.ToolResult)); pending {
						if drop == nil {
							drop = map[at]bool{}
						}
						drop[prev] = true
					}
				}
				last[res.CallID] = at{k, pi}
			}
		}
	}
	if drop == nil {
		return msgs
	}
	out := make([]message.Message, 0, len(msgs))
	for k, m := range msgs {
		if m.Role != message.RoleTool {
			out = append(out, m)
			continue
		}
		var kept []message.Part
		n := 0
		for pi, p := range m.Parts {
			if drop[at{k, pi}] {
				n++
				continue
			}
			kept = append(kept, p)
		}
		if n == 0 {
			out = append(out, m)
			continue
		}
		if len(kept) > 0 {
			m.Parts = kept
			out = append(out, m)
		}
	}
	return out
}

// Problem is one place where a message list breaks tool-call pairing.
type Problem struct {
	// Kind says what is wrong.
	Kind ProblemKind
	// Index is the index, in the list given to Check or Repair, of the
	// offending message: the assistant message for MissingResult and
	// DuplicateCall, the tool message for OrphanResult and DuplicateResult.
	Index int
	// MessageID is the ID of that message.
	MessageID string
	// CallID is the tool-call id concerned.
	CallID string
	// ToolName is the tool's name as the call or result gives it.
	ToolName string
}

// String describes p for people, for example
// "message 3 (id 0193…): tool call call_1 (weather) has no result".
func (p Problem) String() string {
	var what string
	switch p.Kind {
	case MissingResult:
		what = fmt.Sprintf("tool call %s (%s) has no result", p.CallID, p.ToolName)
	case OrphanResult:
		what = fmt.Sprintf("tool result for call %s (%s) has no matching call in the assistant message before it", p.CallID, p.ToolName)
	case DuplicateResult:
		what = fmt.Sprintf("tool call %s (%s) has more than one result", p.CallID, p.ToolName)
	case DuplicateCall:
		what = fmt.Sprintf("tool call id %s (%s) is used more than once in the message", p.CallID, p.ToolName)
	default:
		what = fmt.Sprintf("%s: tool call %s (%s)", p.Kind, p.CallID, p.ToolName)
	}
	return fmt.Sprintf("message %d (id %s): %s", p.Index, p.MessageID, what)
}

// Check reports every place where msgs breaks tool-call pairing, or nil
// when msgs is valid. It does not modify msgs.
//
// Providers accept a history only when the results of an assistant
// message's tool calls come in the tool messages immediately after it, so
// Check reads msgs as a sequence of runs. A run is an assistant message and
// the contiguous tool messages (message.RoleTool) that follow it, or, when
// tool messages follow anything other than an assistant message (a user,
// system or summary message, or nothing at the start of the list), those
// tool messages alone. In each run, every tool call of the assistant message
// must be answered by exactly one tool result in the run's tool messages,
// every result there must answer one of those calls, and no call id may be
// used twice in the assistant message. Call ids are scoped to their run, so
// two turns may use the same id. A result that comes after a user message
// thus counts twice: its call has no result (MissingResult) and it has no
// call (OrphanResult).
//
// A placeholder result (see PendingResult) answers its call until a later
// result for the same call in the run supersedes it; that later result is
// not a duplicate. A result after a result that is not a placeholder is.
//
// Only tool-call parts of assistant messages and tool-result parts of tool
// messages take part in the pairing. Such parts under other roles, and every
// other part (text, reasoning, unknown parts), are left alone.
//
// Problems come in message order; within a run, those of the assistant
// message first, in the order of its calls, then those of the tool
// messages, in the order of their results.
func Check(msgs []message.Message) []Problem {
	var problems []Problem
	for i := 0; i < len(msgs); {
		r := scanRun(msgs, i)
		problems = append(problems, r.problems...)
		i = r.end
	}
	return problems
}

// Repair returns a valid copy of msgs (Check of it returns nil) and the
// problems it fixed, which are those Check(msgs) reports (see Check for
// what valid means). It never modifies
// msgs, and it loses nothing: every message, call and result of msgs is in
// the copy. The copy has its own slice of messages and its own Parts slices;
// the bytes inside parts (Binary.Data, ToolCall.Input, ToolResult.Metadata)
// and Usage are shared with msgs. A valid msgs comes back as an equal copy
// with no problems, so Repair(Repair(x)) changes nothing.
//
// The rules, applied to each run (an assistant message and the tool messages
// right after it):
//
//   - A tool call without a result gets a synthesized one (see
//     InterruptedResult). The synthesized results of a run, in the order of
//     their calls, go in one new tool message placed right after the run's
//     existing tool messages.
//   - A second use of a call id in one assistant message (DuplicateCall) is
//     renamed id+"#dup<N>", with N the smallest number from 1 up that gives
//     an id not used elsewhere in the run, and gets a synthesized result as
//     above. Results with the original id answer the first call.
//   - An orphan result is moved out of its tool message and re-emitted after
//     the run: a new assistant message holds a synthesized call for it
//     (message.ToolCall{ID: result.CallID, Name: result.Name, Input: {},
//     Synthesized: true}), and the tool message after it holds the result
//     itself, unchanged. All the moved results of a run share one such pair
//     of messages, in their original order.
//   - A duplicate result is moved out the same way, with its call id (in the
//     synthesized call and in the moved result) rewritten to
//     callID+"#dup<N>" as for duplicate calls, so its content is kept. An
//     orphan whose id another moved result already has is renamed so too.
//   - A tool message left with no parts by these moves is dropped; one that
//     keeps other parts stays, without the moved results.
//
// Messages from msgs keep their IDs and every other field; only the
// synthesized messages are new. Each synthesized message has a fresh ID
// (message.NewID), no model, and a CreatedAt one nanosecond after the
// message before it in the copy (or after the first message of the run,
// when the run opens the list and was dropped), so stores that order by
// time keep the order.
func Repair(msgs []message.Message) ([]message.Message, []Problem) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := make([]message.Message, 0, len(msgs)+2)
	var problems []Problem
	for i := 0; i < len(msgs); {
		r := scanRun(msgs, i)
		problems = append(problems, r.problems...)
		out = r.repair(msgs, out)
		i = r.end
	}
	return out, problems
}

// RepairSuffix reports whether msgs can be made valid by appending messages
// alone, and if so returns exactly the messages to append. That is the case
// when every problem in msgs is a MissingResult of the last run: typically
// the program stopped after storing an assistant message with tool calls
// and before storing (all of) their results. The returned messages are the
// ones Repair would add: append(msgs, suffix...) equals Repair(msgs) but for
// the synthesized messages' IDs. A valid msgs gives nil, true; a list whose
// repair needs to change or move existing messages gives nil, false.
//
// A writer can thus fix a session through its append-only interface, as in
//
//	if suffix, ok := session.RepairSuffix(msgs); ok && len(suffix) > 0 {
//		err = sess.AddMessages(ctx, suffix)
//	}
func RepairSuffix(msgs []message.Message) ([]message.Message, bool) {
	var last run
	for i := 0; i < len(msgs); {
		last = scanRun(msgs, i)
		if last.end < len(msgs) && len(last.problems) > 0 {
			return nil, false
		}
		i = last.end
	}
	if len(last.problems) == 0 {
		return nil, true
	}
	for _, p := range last.problems {
		if p.Kind != MissingResult {
			return nil, false
		}
	}
	suffix := last.synthesizedResults(msgs[len(msgs)-1].CreatedAt)
	return suffix, true
}

// run is one run of msgs, as scanned by scanRun, with what Repair must do.
type run struct {
	start, end int // msgs[start:end] is the run
	assistant  int // index of the assistant message, or -1
	calls      []callFix
	moved      map[[2]int]string // {message, part} of a result to move out -> its call id after the move
	movedOrder [][2]int
	problems   []Problem
}

type callFix struct {
	part     int    // index of the ToolCall in the assistant message's parts
	orig     string // the call id in msgs
	id       string // the call id after repair
	name     string
	renamed  bool // a duplicate call, renamed to id
	answered bool // answered by a result of the run
	pending  bool // the latest answer is a placeholder (PendingResult)
}

// scanRun reads the run starting at msgs[i]. A message that is neither an
// assistant nor a tool message is a run of its own, with nothing to check.
func scanRun(msgs []message.Message, i int) run {
	r := run{start: i, end: i + 1, assistant: -1}
	switch msgs[i].Role {
	case message.RoleAssistant:
		r.assistant = i
	case message.RoleTool:
		r.end = i
	default:
		return r
	}
	for r.end < len(msgs) && msgs[r.end].Role == message.RoleTool {
		r.end++
	}
	firstTool := i
	if r.assistant >= 0 {
		firstTool = i + 1
	}

	if r.end == firstTool && !hasCall(msgs[i].Parts) {
		return r // an assistant message without tool calls or results
	}

	// fresh returns a new id for a renamed call or result, unused in the
	// run. The set of used ids is built the first time it is needed.
	var used map[string]bool
	fresh := func(id string) string {
		if used == nil {
			used = map[string]bool{}
			for k := i; k < r.end; k++ {
				for _, p := range msgs[k].Parts {
					switch v := p.(type) {
					case message.ToolCall:
						used[v.ID] = true
					case message.ToolResult:
						used[v.CallID] = true
					}
				}
			}
		}
		for n := 1; ; n++ {
			s := id + "#dup" + strconv.Itoa(n)
			if !used[s] {
				used[s] = true
				return s
			}
		}
	}

	byID := map[string]int{} // call id -> index in r.calls of its first use
	if r.assistant >= 0 {
		for pi, p := range msgs[r.assistant].Parts {
			c, ok := p.(message.ToolCall)
			if !ok {
				continue
			}
			if _, dup := byID[c.ID]; dup {
				r.calls = append(r.calls, callFix{part: pi, orig: c.ID, id: fresh(c.ID), name: c.Name, renamed: true})
				continue
			}
			byID[c.ID] = len(r.calls)
			r.calls = append(r.calls, callFix{part: pi, orig: c.ID, id: c.ID, name: c.Name})
		}
	}

	var resultProblems []Problem
	movedIDs := map[string]bool{}
	for k := firstTool; k < r.end; k++ {
		for pi, p := range msgs[k].Parts {
			res, ok := p.(message.ToolResult)
			if !ok {
				continue
			}
			newID := res.CallID
			ci, known := byID[res.CallID]
			switch {
			case known && !r.calls[ci].answered:
				r.calls[ci].answered = true
				_, r.calls[ci].pending = PendingState(res)
				continue
			case known && r.calls[ci].pending:
				_, r.calls[ci].pending = PendingState(res) // supersedes the placeholder
				continue
			case known:
				resultProblems = append(resultProblems, Problem{Kind: DuplicateResult, Index: k, MessageID: msgs[k].ID, CallID: res.CallID, ToolName: res.Name})
				newID = fresh(res.CallID)
			default:
				resultProblems = append(resultProblems, Problem{Kind: OrphanResult, Index: k, MessageID: msgs[k].ID, CallID: res.CallID, ToolName: res.Name})
				if movedIDs[res.CallID] {
					newID = fresh(res.CallID)
				}
			}
			movedIDs[newID] = true
			if r.moved == nil {
				r.moved = map[[2]int]string{}
			}
			r.moved[[2]int{k, pi}] = newID
			r.movedOrder = append(r.movedOrder, [2]int{k, pi})
		}
	}

	// Problems of the assistant message come first, in call order.
	for _, c := range r.calls {
		p := Problem{Index: r.assistant, MessageID: msgs[r.assistant].ID, CallID: c.orig, ToolName: c.name}
		switch {
		case c.renamed:
			p.Kind = DuplicateCall
		case !c.answered:
			p.Kind = MissingResult
		default:
			continue
		}
		r.problems = append(r.problems, p)
	}
	r.problems = append(r.problems, resultProblems...)
	return r
}

// synthesizedResults returns the tool message holding the synthesized
// results of the run's unanswered calls, or nil when every call has a
// result. after is the CreatedAt of the message it follows.
func (r *run) synthesizedResults(after int64) []message.Message {
	var parts []message.Part
	for _, c := range r.calls {
		if c.renamed || !c.answered {
			parts = append(parts, InterruptedResult(message.ToolCall{ID: c.id, Name: c.name}))
		}
	}
	if parts == nil {
		return nil
	}
	return []message.Message{{ID: message.NewID(), Role: message.RoleTool, Parts: parts, CreatedAt: after + 1}}
}

// repair appends the repaired run to out.
func (r *run) repair(msgs []message.Message, out []message.Message) []message.Message {
	for k := r.start; k < r.end; k++ {
		m := msgs[k]
		m.Parts = clone(m.Parts)
		if k == r.assistant {
			for _, c := range r.calls {
				if c.renamed {
					tc := m.Parts[c.part].(message.ToolCall)
					tc.ID = c.id
					m.Parts[c.part] = tc
				}
			}
		} else if r.moved != nil {
			kept := m.Parts[:0]
			n := 0
			for pi, p := range m.Parts {
				if _, ok := r.moved[[2]int{k, pi}]; ok {
					n++
					continue
				}
				kept = append(kept, p)
			}
			if n > 0 && len(kept) == 0 {
				continue // a tool message emptied by the moves
			}
			m.Parts = kept
		}
		out = append(out, m)
	}
	after := msgs[r.start].CreatedAt
	if len(out) > 0 {
		after = out[len(out)-1].CreatedAt
	}
	if s := r.synthesizedResults(after); s != nil {
		out = append(out, s...)
		after = s[0].CreatedAt
	}
	if len(r.movedOrder) == 0 {
		return out
	}
	calls := make([]message.Part, len(r.movedOrder))
	results := make([]message.Part, len(r.movedOrder))
	for j, at := range r.movedOrder {
		res := msgs[at[0]].Parts[at[1]].(message.ToolResult)
		res.CallID = r.moved[at]
		calls[j] = message.ToolCall{ID: res.CallID, Name: res.Name, Input: json.RawMessage(`{}`), Synthesized: true}
		results[j] = res
	}
	return append(out,
		message.Message{ID: message.NewID(), Role: message.RoleAssistant, Parts: calls, CreatedAt: after + 1},
		message.Message{ID: message.NewID(), Role: message.RoleTool, Parts: results, CreatedAt: after + 2},
	)
}

func hasCall(parts []message.Part) bool {
	for _, p := range parts {
		if _, ok := p.(message.ToolCall); ok {
			return true
		}
	}
	return false
}

func clone(parts []message.Part) []message.Part {
	if parts == nil {
		return nil
	}
	return append(make([]message.Part, 0, len(parts)), parts...)
}
