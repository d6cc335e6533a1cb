package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// HandoffPrefix starts the name of the tool that hands the conversation to
// another agent (see WithHandoffs): "transfer_to_" followed by the agent's
// name, as in the OpenAI Agents SDK.
const HandoffPrefix = "transfer_to_"

// HandoffKey is the key of the tool result's Metadata (a JSON object) that
// records a hand-off: {"convo.handoff": "<agent name>"}. The metadata is
// stored but not sent to the model.
const HandoffKey = "convo.handoff"

// WithName names the agent. The name is how other agents hand the
// conversation to it (WithHandoffs) and how a stored hand-off finds it
// again: a letter, digit, '_' or '-' name of at most 52 characters.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithDescription describes the agent to the models of agents that can hand
// the conversation to it (it is the description of its transfer tool).
func WithDescription(d string) Option { return func(o *options) { o.description = d } }

// WithHandoffs lets the model hand the conversation to the agents given,
// each named (WithName), through a tool named HandoffPrefix + name with no
// arguments. When the model calls it, the agent records the call and a
// result naming the target (Metadata {HandoffKey: name}), and the turn
// goes on with the target agent: its system prompt, tools, model, client
// and hand-offs, on this agent's session (the target's own session, store
// and turn settings are not used; the turn's limits are this agent's).
// Later turns of this agent, in this process or another one whose agents
// were built with the same names, start with the agent of the latest
// stored hand-off, found among the agents reachable from this one through
// hand-offs (this one included). The hand-off is also recorded in the
// session's metadata under HandoffKey, on stores with session.Describer
// (SQLite, PostgreSQL, memory), for when it has left the messages the agent
// reads (the WithHistory window, or before a compaction summary); on
// other stores such a turn starts with this agent.
func WithHandoffs(agents ...*Agent) Option {
	return func(o *options) { o.handoffs = append(o.handoffs, agents...) }
}

// toolName is the tool-name rule of package tool.
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// WithHandoffNames lets the model hand the conversation to the agents
// named, as WithHandoffs does, when they are reachable through WithHandoffs
// from the agent a turn was started on (that one included). It is how a
// hand-off goes back: an agent cannot take, when it is built, an agent
// built after it. A name that no agent of the turn has is not offered.
func WithHandoffNames(names ...string) Option {
	return func(o *options) { o.handoffNames = append(o.handoffNames, names...) }
}

// handoffSpec returns the transfer tool's spec for h.
func handoffSpec(h *Agent) llm.ToolSpec {
	desc := "Hand the conversation over to the agent " + h.opts.name + ", which then answers the user."
	if h.opts.description != "" {
		desc += " " + h.opts.description
	}
	return llm.ToolSpec{
		Name:        HandoffPrefix + h.opts.name,
		Description: desc,
		Parameters:  json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
	}
}

// setupHandoffs adds the transfer tools of a's hand-offs, or returns the
// definition error.
func (a *Agent) setupHandoffs() error {
	if len(a.opts.handoffs) == 0 {
		return nil
	}
	a.handoffs = make(map[string]*Agent, len(a.opts.handoffs))
	for i, h := range a.opts.handoffs {
		if h == nil {
			return fmt.Errorf("agent: hand-off %d is nil", i)
		}
		if h.opts.name == "" {
			return fmt.Errorf("agent: hand-off %d has no name (WithName)", i)
		}
		s := handoffSpec(h)
		if _, dup := a.tools[s.Name]; dup || a.handoffs[s.Name] != nil {
			return fmt.Errorf("agent: hand-off tool %q is defined twice", s.Name)
		}
		if !toolName.MatchString(s.Name) {
			return fmt.Errorf("agent: hand-off %q: the name must be letters, digits, '_' or '-', at most %d", h.opts.name, 64-len(HandoffPrefix))
		}
		a.handoffs[s.Name] = h
		a.specs = append(a.specs, s)
	}
	return nil
}

// reachable returns the agents reachable from a through hand-offs, by name
// (a itself included when named; the first agent found wins a name).
func (a *Agent) reachable() map[string]*Agent {
	out := map[string]*Agent{}
	queue := []*Agent{a}
	seen := map[*Agent]bool{a: true}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if x.opts.name != "" && out[x.opts.name] == nil {
			out[x.opts.name] = x
		}
		for _, h := range x.opts.handoffs {
			if h != nil && !seen[h] {
				seen[h] = true
				queue = append(queue, h)
			}
		}
	}
	return out
}

// handoffTarget returns the agent named in r's hand-off metadata, or "".
func handoffTarget(r message.ToolResult) string {
	var md map[string]any
	if len(r.Metadata) == 0 || json.Unmarshal(r.Metadata, &md) != nil {
		return ""
	}
	name, _ := md[HandoffKey].(string)
	return name
}

// resumeActive sets the turn's active agent from the latest hand-off in
// hist or, when hist holds none, from the session's metadata (on a store
// with session.Describer), when it names an agent reachable from the
// turn's agent.
func (t *turnState) resumeActive(hist []message.Message) {
	if len(t.a.opts.handoffs) == 0 {
		return
	}
	name := ""
	for i := len(hist) - 1; i >= 0 && name == ""; i-- {
		rs := hist[i].ToolResults()
		for j := len(rs) - 1; j >= 0 && name == ""; j-- {
			name = handoffTarget(rs[j])
		}
	}
	if name == "" {
		if d, ok := t.a.opts.store.(session.Describer); ok {
			// An unreadable info leaves the turn with its own agent.
			if in, err := d.Info(t.ctx, t.a.opts.id); err == nil {
				name = in.Metadata[HandoffKey]
			}
		}
	}
	if x := t.a.reachable()[name]; name != "" && x != nil {
		t.active = x
	}
}

// recordActive records the agent name answering from now on in the
// session's metadata under HandoffKey (on a store with session.Describer),
// so that a later turn finds it when the hand-off has left the messages it
// reads. A failure is reported as a NoticeHandoffNotRecorded.
func (t *turnState) recordActive(name string) {
	d, ok := t.a.opts.store.(session.Describer)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), t.a.opts.writeTimeout)
	defer cancel()
	err := func() error {
		in, err := d.Info(ctx, t.a.opts.id)
		if err != nil {
			return err
		}
		if in.Metadata[HandoffKey] == name {
			return nil
		}
		md := maps.Clone(in.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		md[HandoffKey] = name
		return d.UpdateInfo(ctx, t.a.opts.id, session.InfoUpdate{Metadata: md})
	}()
	if err != nil {
		t.notice(Notice{Kind: NoticeHandoffNotRecorded, Err: fmt.Errorf("agent: session %q: record the hand-off to %q: %w", t.a.opts.id, name, err)})
	}
}

// cur returns the agent answering now: the turn's agent, or the one the
// conversation was handed to.
func (t *turnState) cur() *Agent {
	if t.active != nil {
		return t.active
	}
	return t.a
}

// handoff returns the index of the first call among calls to a hand-off
// tool of the answering agent, and sets t.next to its target; -1 if none.
// Further hand-off calls of the same response run as unknown tools (an
// is-error result).
func (t *turnState) handoff(calls []message.ToolCall) int {
	targets := t.targets()
	i := slices.IndexFunc(calls, func(c message.ToolCall) bool { return targets[c.Name] != nil })
	if i >= 0 {
		t.next = targets[calls[i].Name]
	}
	return i
}

// targets returns the answering agent's hand-off targets by transfer tool
// name: its WithHandoffs agents and the agents of the turn named by its
// WithHandoffNames.
func (t *turnState) targets() map[string]*Agent {
	cur := t.cur()
	if len(cur.opts.handoffNames) == 0 {
		return cur.handoffs
	}
	out := maps.Clone(cur.handoffs)
	if out == nil {
		out = map[string]*Agent{}
	}
	reach := t.a.reachable()
	for _, n := range cur.opts.handoffNames {
		if x := reach[n]; x != nil && x != cur && out[HandoffPrefix+n] == nil && cur.tools[HandoffPrefix+n] == nil {
			out[HandoffPrefix+n] = x
		}
	}
	return out
}

// namedSpecs returns the transfer tools of the answering agent's
// WithHandoffNames, in the order named.
func (t *turnState) namedSpecs() []llm.ToolSpec {
	cur := t.cur()
	if len(cur.opts.handoffNames) == 0 {
		return nil
	}
	targets := t.targets()
	var specs []llm.ToolSpec
	for _, n := range cur.opts.handoffNames {
		if x := targets[HandoffPrefix+n]; x != nil && cur.handoffs[HandoffPrefix+n] == nil &&
			!slices.ContainsFunc(specs, func(s llm.ToolSpec) bool { return s.Name == HandoffPrefix+n }) {
			specs = append(specs, handoffSpec(x))
		}
	}
	return specs
}

// handoffResult is the result of the hand-off call c to target: the SDK's
// transfer message, with the target recorded in its Metadata.
func handoffResult(c message.ToolCall, target *Agent) message.ToolResult {
	md, _ := json.Marshal(map[string]string{HandoffKey: target.opts.name})
	return message.ToolResult{CallID: c.ID, Name: c.Name, Metadata: md,
		Content: fmt.Sprintf(`{"assistant":%q}`, target.opts.name)}
}

// switchAgent, once a hand-off's result is stored, makes its target the
// answering agent and records it in the session's metadata.
func (t *turnState) switchAgent() {
	if t.next == nil {
		return
	}
	t.active, t.next = t.next, nil
	t.recordActive(t.active.opts.name)
}
