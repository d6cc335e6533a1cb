package session_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func pending(id, state string) message.Message {
	return message.Message{Role: message.RoleTool, Parts: []message.Part{
		session.PendingResult(call(id), state, "error: not run yet")}}
}

// A placeholder answers its call, so a session waiting on it is valid; a
// later result for the call supersedes it (not a duplicate); a result after
// a real result still is one, and so is a placeholder after a real result.
func TestPendingResultSuperseded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		msgs  []message.Message
		want  []session.Problem
		shape string // of Superseded(msgs)
	}{
		{"waiting", list(user("q"), asst("c1", "c2"), pending("c1", "awaiting"), tool("c2")), nil, "U A(c1,c2) T(c1!) T(c2)"},
		{"resolved", list(user("q"), asst("c1"), pending("c1", "awaiting"), tool("c1")), nil, "U A(c1) T(c1)"},
		{"chain", list(user("q"), asst("c1"), pending("c1", "awaiting"), pending("c1", "running"), tool("c1")), nil, "U A(c1) T(c1)"},
		{"real then pending", list(user("q"), asst("c1"), tool("c1"), pending("c1", "awaiting")),
			[]session.Problem{prob(session.DuplicateResult, 3, "c1")}, "U A(c1) T(c1) T(c1!)"},
		{"real twice after pending", list(user("q"), asst("c1"), pending("c1", "awaiting"), tool("c1"), tool("c1")),
			[]session.Problem{prob(session.DuplicateResult, 4, "c1")}, "U A(c1) T(c1) T(c1)"},
		{"next turn", list(user("q"), asst("c1"), pending("c1", "awaiting"), user("again"), tool("c1")),
			[]session.Problem{prob(session.OrphanResult, 4, "c1")}, "U A(c1) T(c1!) U T(c1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, session.Check(tc.msgs)); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
			got := session.Superseded(tc.msgs)
			if s := shape(got); s != tc.shape {
				t.Errorf("Superseded: %s, want %s", s, tc.shape)
			}
			if tc.want == nil && session.Check(got) != nil {
				t.Errorf("Superseded made a valid list invalid: %v", session.Check(got))
			}
			if _, ok := session.RepairSuffix(tc.msgs); !ok && tc.want == nil {
				t.Error("RepairSuffix: a valid list cannot be repaired by appending")
			}
		})
	}
}

func TestPendingState(t *testing.T) {
	r := session.PendingResult(call("c1"), "awaiting_approval", "waiting")
	if st, ok := session.PendingState(r); !ok || st != "awaiting_approval" {
		t.Fatalf("PendingState = %q, %v", st, ok)
	}
	if !r.IsError || !r.Synthesized || r.CallID != "c1" || r.Content != "waiting" {
		t.Fatalf("PendingResult = %+v", r)
	}
	// Survives the JSON encoding the stores use.
	b, err := message.MarshalParts([]message.Part{r})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := message.UnmarshalParts(b)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := session.PendingState(parts[0].(message.ToolResult)); !ok || st != "awaiting_approval" {
		t.Fatalf("after a JSON round trip: %q, %v (%s)", st, ok, b)
	}
	for _, r := range []message.ToolResult{
		res("c1"), // not synthesized
		session.InterruptedResult(call("c1")),
		{CallID: "c1", Synthesized: true, Metadata: json.RawMessage(`{"convo_pending":3}`)},
		{CallID: "c1", Metadata: json.RawMessage(`{"convo_pending":"x"}`)}, // an application's own metadata, not synthesized
	} {
		if st, ok := session.PendingState(r); ok {
			t.Errorf("PendingState(%+v) = %q, true", r, st)
		}
	}
}
