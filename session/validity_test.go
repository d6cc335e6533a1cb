package session_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The helpers below build message lists tersely. Messages get IDs "m0",
// "m1", ... and CreatedAt 1000, 2000, ... from list; a call "c1" has the
// tool name "n_c1" and a result for it the content "result of c1".

func call(id string) message.ToolCall {
	return message.ToolCall{ID: id, Name: "n_" + id, Input: json.RawMessage(`{"q":"` + id + `"}`)}
}

func res(id string) message.ToolResult {
	return message.ToolResult{CallID: id, Name: "n_" + id, Content: "result of " + id}
}

func user(text string) message.Message {
	return message.Message{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: text}}}
}

func asst(calls ...string) message.Message {
	m := message.Message{Role: message.RoleAssistant, Model: "m-1", Parts: []message.Part{message.Text{Text: "ok"}}}
	for _, c := range calls {
		m.Parts = append(m.Parts, call(c))
	}
	return m
}

func tool(results ...string) message.Message {
	m := message.Message{Role: message.RoleTool}
	for _, r := range results {
		m.Parts = append(m.Parts, res(r))
	}
	return m
}

func withRole(m message.Message, r message.Role) message.Message { m.Role = r; return m }

func list(msgs ...message.Message) []message.Message {
	for i := range msgs {
		msgs[i].ID = fmt.Sprintf("m%d", i)
		msgs[i].CreatedAt = int64(i+1) * 1000
	}
	return msgs
}

func prob(kind session.ProblemKind, index int, callID string) session.Problem {
	return session.Problem{Kind: kind, Index: index, MessageID: fmt.Sprintf("m%d", index), CallID: callID, ToolName: "n_" + callID}
}

// shape renders msgs compactly: one token per message, "U", "A", "T", "S"
// (system) or "Z" (summary), with its tool calls or results in parentheses.
// A synthesized call is marked "*", a synthesized result "!"; other parts
// are "_".
func shape(msgs []message.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(map[message.Role]string{message.RoleUser: "U", message.RoleAssistant: "A", message.RoleTool: "T", message.RoleSystem: "S", message.RoleSummary: "Z"}[m.Role])
		var ps []string
		for _, p := range m.Parts {
			switch v := p.(type) {
			case message.ToolCall:
				s := v.ID
				if v.Synthesized {
					s += "*"
				}
				ps = append(ps, s)
			case message.ToolResult:
				s := v.CallID
				if v.Synthesized {
					s += "!"
				}
				ps = append(ps, s)
			default:
				if m.Role == message.RoleTool {
					ps = append(ps, "_")
				}
			}
		}
		if len(ps) > 0 {
			b.WriteString("(" + strings.Join(ps, ",") + ")")
		}
	}
	return b.String()
}

// deepCopy copies msgs down to the bytes of every part, so that a later
// comparison detects any modification of the original.
func deepCopy(msgs []message.Message) []message.Message {
	if msgs == nil {
		return nil
	}
	out := make([]message.Message, len(msgs))
	for i, m := range msgs {
		if m.Parts != nil {
			parts := make([]message.Part, len(m.Parts))
			for j, p := range m.Parts {
				switch v := p.(type) {
				case message.ToolCall:
					v.Input = slices.Clone(v.Input)
					p = v
				case message.ToolResult:
					v.Metadata = slices.Clone(v.Metadata)
					p = v
				}
				parts[j] = p
			}
			m.Parts = parts
		}
		if m.Usage != nil {
			u := *m.Usage
			m.Usage = &u
		}
		out[i] = m
	}
	return out
}

type validityCase struct {
	name     string
	msgs     []message.Message
	problems []session.Problem
	repaired string // shape of Repair's result
	suffix   bool   // RepairSuffix succeeds
}

func validityCases() []validityCase {
	return []validityCase{
		{name: "empty", msgs: nil, repaired: "", suffix: true},
		{name: "no tools", msgs: list(user("hi"), asst(), user("bye"), asst()), repaired: "U A U A", suffix: true},
		{name: "system and summary", msgs: list(withRole(user("be brief"), message.RoleSystem), withRole(user("earlier"), message.RoleSummary), user("hi"), asst()), repaired: "S Z U A", suffix: true},
		{name: "one call and result", msgs: list(user("hi"), asst("c1"), tool("c1"), asst()), repaired: "U A(c1) T(c1) A", suffix: true},
		{name: "parallel calls, results split over two tool messages", msgs: list(user("hi"), asst("c1", "c2", "c3"), tool("c2"), tool("c3", "c1"), asst()), repaired: "U A(c1,c2,c3) T(c2) T(c3,c1) A", suffix: true},
		{name: "several turns reusing ids", msgs: list(user("a"), asst("c1"), tool("c1"), asst("c1", "c2"), tool("c1", "c2"), asst(), user("b"), asst("c3"), tool("c3"), asst()), repaired: "U A(c1) T(c1) A(c1,c2) T(c1,c2) A U A(c3) T(c3) A", suffix: true},
		{name: "empty call id", msgs: list(asst(""), tool("")), repaired: "A() T()", suffix: true},
		{name: "tool parts outside assistant and tool messages are ignored", msgs: list(message.Message{Role: message.RoleUser, Parts: []message.Part{res("x"), call("y")}}, asst()), repaired: "U(x,y) A", suffix: true},

		{name: "missing result at the end", msgs: list(user("hi"), asst("c1", "c2")),
			problems: []session.Problem{prob(session.MissingResult, 1, "c1"), prob(session.MissingResult, 1, "c2")},
			repaired: "U A(c1,c2) T(c1!,c2!)", suffix: true},
		{name: "missing one of two results at the end", msgs: list(user("hi"), asst("c1", "c2"), tool("c1")),
			problems: []session.Problem{prob(session.MissingResult, 1, "c2")},
			repaired: "U A(c1,c2) T(c1) T(c2!)", suffix: true},
		{name: "missing result in the middle", msgs: list(user("hi"), asst("c1"), user("again"), asst()),
			problems: []session.Problem{prob(session.MissingResult, 1, "c1")},
			repaired: "U A(c1) T(c1!) U A"},
		{name: "orphan result after a user message", msgs: list(user("hi"), tool("x"), asst()),
			problems: []session.Problem{prob(session.OrphanResult, 1, "x")},
			repaired: "U A(x*) T(x) A"},
		{name: "orphan result at the start", msgs: list(tool("x"), user("hi")),
			problems: []session.Problem{prob(session.OrphanResult, 0, "x")},
			repaired: "A(x*) T(x) U"},
		{name: "orphan result after an assistant message without calls", msgs: list(asst(), tool("x")),
			problems: []session.Problem{prob(session.OrphanResult, 1, "x")},
			repaired: "A A(x*) T(x)"},
		{name: "orphan beside a valid result", msgs: list(asst("c1"), tool("c1", "x"), user("hi")),
			problems: []session.Problem{prob(session.OrphanResult, 1, "x")},
			repaired: "A(c1) T(c1) A(x*) T(x) U"},
		{name: "orphan in a tool message that keeps other parts", msgs: list(asst(), message.Message{Role: message.RoleTool, Parts: []message.Part{message.Text{Text: "note"}, res("x")}}),
			problems: []session.Problem{prob(session.OrphanResult, 1, "x")},
			repaired: "A T(_) A(x*) T(x)"},
		{name: "two orphans with one id", msgs: list(user("hi"), tool("x"), tool("x")),
			problems: []session.Problem{prob(session.OrphanResult, 1, "x"), prob(session.OrphanResult, 2, "x")},
			repaired: "U A(x*,x#dup1*) T(x,x#dup1)"},
		{name: "duplicate result", msgs: list(asst("c1"), tool("c1"), tool("c1")),
			problems: []session.Problem{prob(session.DuplicateResult, 2, "c1")},
			repaired: "A(c1) T(c1) A(c1#dup1*) T(c1#dup1)"},
		{name: "duplicate call", msgs: list(asst("c1", "c1"), tool("c1")),
			problems: []session.Problem{prob(session.DuplicateCall, 0, "c1")},
			repaired: "A(c1,c1#dup1) T(c1) T(c1#dup1!)"},
		{name: "duplicate call whose renamed id is taken", msgs: list(asst("c1", "c1", "c1#dup1"), tool("c1", "c1#dup1")),
			problems: []session.Problem{prob(session.DuplicateCall, 0, "c1")},
			repaired: "A(c1,c1#dup2,c1#dup1) T(c1,c1#dup1) T(c1#dup2!)"},
		{name: "result after a user message is missing and orphan", msgs: list(asst("c1"), user("wait"), tool("c1")),
			problems: []session.Problem{prob(session.MissingResult, 0, "c1"), prob(session.OrphanResult, 2, "c1")},
			repaired: "A(c1) T(c1!) U A(c1*) T(c1)"},
		{name: "result after a summary is missing and orphan", msgs: list(asst("c1"), withRole(user("so far"), message.RoleSummary), tool("c1")),
			problems: []session.Problem{prob(session.MissingResult, 0, "c1"), prob(session.OrphanResult, 2, "c1")},
			repaired: "A(c1) T(c1!) Z A(c1*) T(c1)"},
		{name: "every kind at once", msgs: list(user("hi"), asst("c1", "c1", "c2"), tool("c1", "c1", "x"), tool("x"), user("bye"), asst("c3")),
			problems: []session.Problem{
				prob(session.DuplicateCall, 1, "c1"), prob(session.MissingResult, 1, "c2"),
				prob(session.DuplicateResult, 2, "c1"), prob(session.OrphanResult, 2, "x"),
				prob(session.OrphanResult, 3, "x"),
				prob(session.MissingResult, 5, "c3"),
			},
			repaired: "U A(c1,c1#dup1,c2) T(c1) T(c1#dup1!,c2!) A(c1#dup2*,x*,x#dup1*) T(c1#dup2,x,x#dup1) U A(c3) T(c3!)"},
		{name: "orphan in the last run cannot be appended away", msgs: list(asst("c1"), tool("c1", "x")),
			problems: []session.Problem{prob(session.OrphanResult, 1, "x")},
			repaired: "A(c1) T(c1) A(x*) T(x)"},
		{name: "missing in the last run and an earlier problem", msgs: list(asst("c1"), user("hi"), asst("c2")),
			problems: []session.Problem{prob(session.MissingResult, 0, "c1"), prob(session.MissingResult, 2, "c2")},
			repaired: "A(c1) T(c1!) U A(c2) T(c2!)"},
	}
}

func TestCheckAndRepair(t *testing.T) {
	for _, tc := range validityCases() {
		t.Run(tc.name, func(t *testing.T) {
			orig := deepCopy(tc.msgs)

			got := session.Check(tc.msgs)
			if diff := diff(tc.problems, got); diff != "" {
				t.Errorf("Check problems (-want +got):\n%s", diff)
			}
			if tc.problems == nil && got != nil {
				t.Errorf("Check of a valid list = %v, want nil", got)
			}

			repaired, fixed := session.Repair(tc.msgs)
			if diff := diff(got, fixed); diff != "" {
				t.Errorf("Repair problems differ from Check's (-check +repair):\n%s", diff)
			}
			if s := shape(repaired); s != tc.repaired {
				t.Errorf("Repair =\n\t%s\nwant\n\t%s", s, tc.repaired)
			}
			checkRepaired(t, tc.msgs, repaired)

			suffix, ok := session.RepairSuffix(tc.msgs)
			if ok != tc.suffix {
				t.Fatalf("RepairSuffix ok = %v, want %v", ok, tc.suffix)
			}
			if !ok && suffix != nil {
				t.Errorf("RepairSuffix = %v, false; want nil", suffix)
			}
			if ok {
				if len(tc.problems) == 0 && suffix != nil {
					t.Errorf("RepairSuffix of a valid list = %v, want nil", suffix)
				}
				appended := append(slices.Clone(tc.msgs), suffix...)
				if diff := diff(withoutNewIDs(tc.msgs, repaired), withoutNewIDs(tc.msgs, appended), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("msgs + RepairSuffix differs from Repair (-repair +suffix):\n%s", diff)
				}
			}

			if diff := diff(orig, tc.msgs); diff != "" {
				t.Errorf("input was modified (-before +after):\n%s", diff)
			}
		})
	}
}

// checkRepaired checks what must hold of every repair of msgs.
func checkRepaired(t *testing.T, msgs, repaired []message.Message) {
	t.Helper()
	if p := session.Check(repaired); p != nil {
		t.Fatalf("Check(Repair(x)) = %v, want nil; repaired: %s", p, shape(repaired))
	}
	again, p := session.Repair(repaired)
	if p != nil {
		t.Errorf("Repair(Repair(x)) fixed %v, want nothing", p)
	}
	if diff := diff(repaired, again); diff != "" {
		t.Errorf("Repair is not idempotent (-once +twice):\n%s", diff)
	}
	if suffix, ok := session.RepairSuffix(repaired); !ok || suffix != nil {
		t.Errorf("RepairSuffix(Repair(x)) = %v, %v; want nil, true", suffix, ok)
	}

	// Nothing is lost: the original messages come back in order with their
	// IDs, but for tool messages that held only moved results; every call
	// and result is there; anything new is synthesized.
	orig := map[string]message.Message{}
	for _, m := range msgs {
		orig[m.ID] = m
	}
	var kept []string
	seen := map[string]bool{}
	for i, m := range repaired {
		o, ok := orig[m.ID]
		if !ok || seen[m.ID] {
			// A synthesized message.
			if _, err := uuid.Parse(m.ID); err != nil {
				t.Errorf("synthesized message %d has ID %q, not a UUID: %v", i, m.ID, err)
			}
			if m.Role != message.RoleTool && m.Role != message.RoleAssistant {
				t.Errorf("synthesized message %d has role %q", i, m.Role)
			}
			if i > 0 && m.CreatedAt != repaired[i-1].CreatedAt+1 {
				t.Errorf("synthesized message %d has CreatedAt %d, want %d", i, m.CreatedAt, repaired[i-1].CreatedAt+1)
			}
			for _, p := range m.Parts {
				if c, ok := p.(message.ToolCall); ok && (!c.Synthesized || string(c.Input) != "{}") {
					t.Errorf("synthesized message %d holds call %+v, want Synthesized with input {}", i, c)
				}
			}
			continue
		}
		seen[m.ID] = true
		kept = append(kept, m.ID)
		if m.Role != o.Role || m.Model != o.Model || m.CreatedAt != o.CreatedAt || m.Usage != o.Usage {
			t.Errorf("message %s changed: %+v, was %+v", m.ID, m, o)
		}
		if m.Role != message.RoleTool && m.Role != message.RoleAssistant {
			if diff := diff(o, m); diff != "" {
				t.Errorf("message %s changed (-was +now):\n%s", m.ID, diff)
			}
		}
	}
	var wantKept []string
	for _, m := range msgs {
		onlyResults := len(m.Parts) > 0 && !slices.ContainsFunc(m.Parts, func(p message.Part) bool {
			_, ok := p.(message.ToolResult)
			return !ok
		})
		if m.Role == message.RoleTool && onlyResults && !slices.ContainsFunc(repaired, func(r message.Message) bool { return r.ID == m.ID }) {
			continue // every part moved out by the repair, so dropped
		}
		wantKept = append(wantKept, m.ID)
	}
	if diff := diff(wantKept, kept); diff != "" {
		t.Errorf("original messages kept (-want +got):\n%s", diff)
	}

	count := func(msgs []message.Message) (calls, results map[string]int) {
		calls, results = map[string]int{}, map[string]int{}
		for _, m := range msgs {
			for _, p := range m.Parts {
				switch v := p.(type) {
				case message.ToolCall:
					if !v.Synthesized {
						calls[v.Name+" "+string(v.Input)]++
					}
				case message.ToolResult:
					if !v.Synthesized {
						results[v.Name+" "+v.Content]++
					}
				default:
					results[fmt.Sprintf("%T %v", p, p)]++
				}
			}
		}
		return calls, results
	}
	wc, wr := count(msgs)
	gc, gr := count(repaired)
	if diff := diff(wc, gc); diff != "" {
		t.Errorf("calls lost or added (-want +got):\n%s", diff)
	}
	if diff := diff(wr, gr); diff != "" {
		t.Errorf("results or other parts lost or added (-want +got):\n%s", diff)
	}
}

// diff is cmp.Diff with a fast path: most comparisons in these tests are
// equal, and reflect.DeepEqual is much cheaper than cmp under the race
// detector.
func diff(x, y any, opts ...cmp.Option) string {
	if reflect.DeepEqual(x, y) {
		return ""
	}
	return cmp.Diff(x, y, opts...)
}

// withoutNewIDs returns a copy of msgs with the IDs of messages that are
// not in orig blanked: synthesized messages get fresh IDs every time.
func withoutNewIDs(orig, msgs []message.Message) []message.Message {
	ids := map[string]bool{}
	for _, m := range orig {
		ids[m.ID] = true
	}
	out := slices.Clone(msgs)
	for i := range out {
		if !ids[out[i].ID] {
			out[i].ID = ""
		}
	}
	return out
}

func TestRepairSynthesizedResult(t *testing.T) {
	msgs := list(user("weather?"), asst("c1", "c2"), tool("c1"))
	repaired, _ := session.Repair(msgs)
	if len(repaired) != 4 {
		t.Fatalf("Repair gave %d messages (%s), want 4", len(repaired), shape(repaired))
	}
	last := repaired[3]
	if last.Role != message.RoleTool || last.CreatedAt != msgs[2].CreatedAt+1 || last.Model != "" || last.Usage != nil {
		t.Errorf("synthesized message = %+v, want a tool message at CreatedAt %d", last, msgs[2].CreatedAt+1)
	}
	id, err := uuid.Parse(last.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("synthesized message ID %q is not a UUIDv7 (%v)", last.ID, err)
	}
	want := []message.Part{message.ToolResult{
		CallID:      "c2",
		Name:        "n_c2",
		Content:     "interrupted: no result was recorded for this tool call (the program stopped before the tool finished)",
		IsError:     true,
		Synthesized: true,
	}}
	if diff := diff(want, last.Parts); diff != "" {
		t.Errorf("synthesized parts (-want +got):\n%s", diff)
	}
	if diff := diff(want[0], session.InterruptedResult(call("c2"))); diff != "" {
		t.Errorf("InterruptedResult (-want +got):\n%s", diff)
	}

	suffix, ok := session.RepairSuffix(msgs)
	if !ok || len(suffix) != 1 {
		t.Fatalf("RepairSuffix = %v, %v; want one message", suffix, ok)
	}
	if suffix[0].ID == last.ID {
		t.Errorf("RepairSuffix and Repair gave the same new ID %q; want a fresh one each", last.ID)
	}
}

func TestRepairMovedResult(t *testing.T) {
	orphan := message.ToolResult{CallID: "x", Name: "search", Content: "found", Metadata: json.RawMessage(`{"ms":3}`), IsError: true}
	msgs := list(user("hi"), message.Message{Role: message.RoleTool, Parts: []message.Part{orphan}}, user("bye"))
	msgs[1].CreatedAt = 1500
	repaired, problems := session.Repair(msgs)
	want := []session.Problem{{Kind: session.OrphanResult, Index: 1, MessageID: "m1", CallID: "x", ToolName: "search"}}
	if diff := diff(want, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if s := shape(repaired); s != "U A(x*) T(x) U" {
		t.Fatalf("Repair = %s", s)
	}
	a, tm := repaired[1], repaired[2]
	wantCall := []message.Part{message.ToolCall{ID: "x", Name: "search", Input: json.RawMessage(`{}`), Synthesized: true}}
	if diff := diff(wantCall, a.Parts); diff != "" {
		t.Errorf("synthesized call (-want +got):\n%s", diff)
	}
	if diff := diff([]message.Part{orphan}, tm.Parts); diff != "" {
		t.Errorf("moved result (-want +got):\n%s", diff)
	}
	if a.CreatedAt != 1001 || tm.CreatedAt != 1002 {
		t.Errorf("CreatedAt = %d, %d; want 1001, 1002 (just after the message before)", a.CreatedAt, tm.CreatedAt)
	}
	if a.ID == tm.ID || a.ID == "m1" || tm.ID == "m1" || a.ID >= tm.ID {
		t.Errorf("synthesized IDs %q, %q: want fresh, distinct and increasing", a.ID, tm.ID)
	}

	// A duplicate result keeps its content under a renamed id.
	msgs = list(asst("c1"), tool("c1"), message.Message{Role: message.RoleTool, Parts: []message.Part{message.ToolResult{CallID: "c1", Name: "n_c1", Content: "second"}}})
	repaired, _ = session.Repair(msgs)
	if s := shape(repaired); s != "A(c1) T(c1) A(c1#dup1*) T(c1#dup1)" {
		t.Fatalf("Repair = %s", s)
	}
	if got := repaired[3].ToolResults()[0]; got.Content != "second" || got.Synthesized {
		t.Errorf("moved duplicate = %+v, want the original content, not synthesized", got)
	}

	// An orphan that opens the list is placed after its dropped message.
	msgs = list(tool("x"))
	repaired, _ = session.Repair(msgs)
	if len(repaired) != 2 || repaired[0].CreatedAt != 1001 || repaired[1].CreatedAt != 1002 {
		t.Errorf("Repair of a lone orphan = %s at %d, %d; want CreatedAt 1001, 1002", shape(repaired), repaired[0].CreatedAt, repaired[1].CreatedAt)
	}
}

func TestRepairDoesNotAliasInput(t *testing.T) {
	msgs := list(asst("c1", "c1"), tool("c1"), user("hi"))
	orig := deepCopy(msgs)
	repaired, _ := session.Repair(msgs)
	for i := range repaired {
		for j := range repaired[i].Parts {
			repaired[i].Parts[j] = message.Text{Text: "overwritten"}
		}
	}
	if diff := diff(orig, msgs); diff != "" {
		t.Errorf("writing to Repair's result changed the input (-before +after):\n%s", diff)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    session.Problem
		want string
	}{
		{session.Problem{Kind: session.MissingResult, Index: 3, MessageID: "m3", CallID: "call_1", ToolName: "weather"},
			"message 3 (id m3): tool call call_1 (weather) has no result"},
		{session.Problem{Kind: session.OrphanResult, Index: 4, MessageID: "m4", CallID: "call_1", ToolName: "weather"},
			"message 4 (id m4): tool result for call call_1 (weather) has no matching call in the assistant message before it"},
		{session.Problem{Kind: session.DuplicateResult, Index: 5, MessageID: "m5", CallID: "call_1", ToolName: "weather"},
			"message 5 (id m5): tool call call_1 (weather) has more than one result"},
		{session.Problem{Kind: session.DuplicateCall, Index: 2, MessageID: "m2", CallID: "call_1", ToolName: "weather"},
			"message 2 (id m2): tool call id call_1 (weather) is used more than once in the message"},
		{session.Problem{Kind: "other", Index: 0, MessageID: "m0", CallID: "c", ToolName: "t"},
			"message 0 (id m0): other: tool call c (t)"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// randomList builds a random message list from rng: user, system, summary,
// assistant (with 0 to 3 calls) and tool (with 0 to 3 results, sometimes a
// text part) messages over a small alphabet of call ids, so that every kind
// of problem and many of their combinations occur. Every call input and
// result content is unique, so that losses can be counted.
func randomList(rng *rand.Rand) []message.Message {
	ids := []string{"a", "b", "c", "a#dup1", ""}
	n := rng.IntN(12)
	msgs := make([]message.Message, n)
	uniq := 0
	next := func() string { uniq++; return fmt.Sprint(uniq) }
	for i := range msgs {
		var m message.Message
		switch k := rng.IntN(10); {
		case k < 2:
			m = user("u" + next())
		case k == 2:
			m = withRole(user("s"+next()), []message.Role{message.RoleSystem, message.RoleSummary}[rng.IntN(2)])
		case k < 6:
			m = message.Message{Role: message.RoleAssistant, Model: "m"}
			for range rng.IntN(4) {
				id := ids[rng.IntN(len(ids))]
				m.Parts = append(m.Parts, message.ToolCall{ID: id, Name: "n_" + id, Input: json.RawMessage(`{"n":` + next() + `}`)})
			}
		default:
			m = message.Message{Role: message.RoleTool}
			for range rng.IntN(4) {
				id := ids[rng.IntN(len(ids))]
				m.Parts = append(m.Parts, message.ToolResult{CallID: id, Name: "n_" + id, Content: "r" + next(), Synthesized: rng.IntN(8) == 0})
			}
			if rng.IntN(6) == 0 {
				m.Parts = append(m.Parts, message.Text{Text: "t" + next()})
			}
		}
		msgs[i] = m
	}
	if rng.IntN(3) == 0 {
		// End like an interrupted turn: calls whose results are (partly)
		// missing.
		msgs = append(msgs, message.Message{Role: message.RoleAssistant, Parts: []message.Part{call("z1"), call("z2")}})
		if rng.IntN(2) == 0 {
			msgs = append(msgs, message.Message{Role: message.RoleTool, Parts: []message.Part{res("z2")}})
		}
	}
	for i := range msgs {
		msgs[i].ID = fmt.Sprintf("m%d", i)
		msgs[i].CreatedAt = int64(i+1) * 1000
	}
	return msgs
}

func TestRepairRandomLists(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := map[session.ProblemKind]int{}
	appendable := 0
	for i := range 3000 {
		msgs := randomList(rng)
		orig := deepCopy(msgs)
		func() {
			problems := session.Check(msgs)
			for _, p := range problems {
				kinds[p.Kind]++
			}
			repaired, fixed := session.Repair(msgs)
			if diff := diff(problems, fixed); diff != "" {
				t.Errorf("Repair problems differ from Check's (-check +repair):\n%s", diff)
			}
			checkRepaired(t, msgs, repaired)
			if suffix, ok := session.RepairSuffix(msgs); ok {
				if len(problems) > 0 {
					appendable++
				}
				appended := append(slices.Clone(msgs), suffix...)
				if diff := diff(withoutNewIDs(msgs, repaired), withoutNewIDs(msgs, appended), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("msgs + RepairSuffix differs from Repair (-repair +suffix):\n%s", diff)
				}
			} else if len(problems) == 0 {
				t.Errorf("RepairSuffix of a valid list failed")
			} else if onlyMissingAtEnd(msgs, problems) {
				t.Errorf("RepairSuffix failed though only the last run misses results: %v", problems)
			}
			if diff := diff(orig, msgs); diff != "" {
				t.Errorf("input was modified (-before +after):\n%s", diff)
			}
		}()
		if t.Failed() {
			t.Fatalf("list %d: %s", i, shape(orig))
		}
	}
	// The generator must exercise every kind of problem, else the test
	// proves little.
	for _, k := range []session.ProblemKind{session.MissingResult, session.OrphanResult, session.DuplicateResult, session.DuplicateCall} {
		if kinds[k] < 50 {
			t.Errorf("random lists produced %d %s problems; the generator needs tuning", kinds[k], k)
		}
	}
	t.Logf("problems found: %v; lists repairable by appending: %d", kinds, appendable)
	if appendable < 50 {
		t.Errorf("only %d random lists were repairable by appending", appendable)
	}
}

// onlyMissingAtEnd reports whether every problem is a missing result of the
// last assistant message, with nothing but tool messages after it.
func onlyMissingAtEnd(msgs []message.Message, problems []session.Problem) bool {
	last := len(msgs) - 1
	for last >= 0 && msgs[last].Role == message.RoleTool {
		last--
	}
	for _, p := range problems {
		if p.Kind != session.MissingResult || p.Index != last {
			return false
		}
	}
	return true
}

// listFromBytes builds a message list from arbitrary bytes, two bits of
// each byte choosing what to add and the rest choosing a call id, so that the
// fuzzer's mutations map onto list structure.
func listFromBytes(data []byte) []message.Message {
	ids := []string{"a", "b", "c", "a#dup1", ""}
	var msgs []message.Message
	for i, b := range data {
		id := ids[int(b>>2)%len(ids)]
		first := int(b>>2)%(len(ids)+1) < len(ids)
		uniq := fmt.Sprint(i)
		switch b & 3 {
		case 0:
			role := []message.Role{message.RoleUser, message.RoleSystem, message.RoleSummary}[int(b>>2)%3]
			msgs = append(msgs, withRole(user("u"+uniq), role))
		case 1:
			m := message.Message{Role: message.RoleAssistant}
			if first {
				m.Parts = append(m.Parts, message.ToolCall{ID: id, Name: "n_" + id, Input: json.RawMessage(`{"n":` + uniq + `}`)})
			}
			msgs = append(msgs, m)
		case 2:
			m := message.Message{Role: message.RoleTool}
			if first {
				m.Parts = append(m.Parts, message.ToolResult{CallID: id, Name: "n_" + id, Content: "r" + uniq})
			} else {
				m.Parts = append(m.Parts, message.Text{Text: "t" + uniq})
			}
			msgs = append(msgs, m)
		case 3:
			if len(msgs) == 0 {
				continue
			}
			m := &msgs[len(msgs)-1]
			switch m.Role {
			case message.RoleAssistant:
				m.Parts = append(m.Parts, message.ToolCall{ID: id, Name: "n_" + id, Input: json.RawMessage(`{"n":` + uniq + `}`)})
			case message.RoleTool:
				m.Parts = append(m.Parts, message.ToolResult{CallID: id, Name: "n_" + id, Content: "r" + uniq})
			}
		}
	}
	for i := range msgs {
		msgs[i].ID = fmt.Sprintf("m%d", i)
		msgs[i].CreatedAt = int64(i+1) * 1000
	}
	return msgs
}

// FuzzRepair checks on lists built from arbitrary bytes that Repair makes
// them valid, loses nothing, is idempotent and leaves the input alone, and
// that RepairSuffix agrees with Repair.
func FuzzRepair(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 0})                   // U A(a) T(a) U
	f.Add([]byte{1, 3, 2})                      // A(a,a) T(a)
	f.Add([]byte{1, 7, 2, 0, 6, 10, 14})        // missing, orphans
	f.Add([]byte{2, 1, 5, 9, 2, 6, 2, 3, 0x10}) // every kind
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := listFromBytes(data)
		orig := deepCopy(msgs)
		repaired, fixed := session.Repair(msgs)
		if diff := diff(session.Check(msgs), fixed); diff != "" {
			t.Errorf("Repair problems differ from Check's (-check +repair):\n%s", diff)
		}
		checkRepaired(t, msgs, repaired)
		if suffix, ok := session.RepairSuffix(msgs); ok {
			appended := append(slices.Clone(msgs), suffix...)
			if diff := diff(withoutNewIDs(msgs, repaired), withoutNewIDs(msgs, appended), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("msgs + RepairSuffix differs from Repair (-repair +suffix):\n%s", diff)
			}
		} else if onlyMissingAtEnd(msgs, fixed) {
			t.Errorf("RepairSuffix failed though only the last run misses results: %v", fixed)
		}
		if diff := diff(orig, msgs); diff != "" {
			t.Errorf("input was modified (-before +after):\n%s", diff)
		}
	})
}
