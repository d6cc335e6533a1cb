package agent_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
	"github.com/convo-dev/convo/tool"
)

type refundArgs struct {
	Order string `json:"order"`
}

func refundTool() tool.Tool {
	return tool.Func("refund", "Refund an order", func(ctx context.Context, a refundArgs) (string, error) {
		return "refunded " + a.Order, nil
	})
}

type llmToolSpec = llm.ToolSpec

func containsText(s, sub string) bool { return strings.Contains(s, sub) }

// The triage agent's model hands the conversation to billing mid-turn;
// billing (its own client, system prompt and tools) answers within the
// same Run, its requests carrying the transfer call and its result, each
// request valid under the provider's rules; the hand-off is stored.
func TestHandoff(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		billingClient := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c2", "refund", `{"order":"A1"}`)),
			llmtest.Text("Order A1 is refunded."),
		)
		billing := agent.New(billingClient, agent.WithName("billing"), agent.WithDescription("Refunds and invoices."),
			agent.WithSystemPrompt("You are billing."), agent.WithTools(refundTool()))
		triageClient := p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`)))
		triage := agent.New(triageClient, agent.WithName("triage"), agent.WithSession("h", store),
			agent.WithSystemPrompt("You route."), agent.WithTools(weatherTool()), agent.WithHandoffs(billing))

		resp, err := triage.Chat(t.Context(), "Refund order A1")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "Order A1 is refunded." || resp.Agent != "billing" {
			t.Fatalf("text %q agent %q", resp.Text, resp.Agent)
		}
		msgs := stored(t, store, "h")
		if got := shape(msgs); got != "uAtAta" {
			t.Fatalf("stored %s", dump(msgs))
		}
		r := msgs[2].ToolResults()[0]
		var md map[string]string
		if err := json.Unmarshal(r.Metadata, &md); err != nil || md[agent.HandoffKey] != "billing" || r.IsError || r.Name != "transfer_to_billing" {
			t.Fatalf("hand-off result %+v", r)
		}
		// Triage offered the transfer tool, with billing's description.
		treq := triageClient.Requests()[0]
		i := slices.IndexFunc(treq.Tools, func(s llmToolSpec) bool { return s.Name == "transfer_to_billing" })
		if i < 0 || !containsText(treq.Tools[i].Description, "Refunds and invoices.") {
			t.Fatalf("triage tools %+v", treq.Tools)
		}
		// Billing's first request: its system prompt and tools, and the
		// transfer call with its result.
		breq := billingClient.Requests()[0]
		if breq.Messages[0].Role != message.RoleSystem || breq.Messages[0].Text() != "You are billing." {
			t.Fatalf("billing request starts with %+v", breq.Messages[0])
		}
		if len(breq.Tools) != 1 || breq.Tools[0].Name != "refund" {
			t.Fatalf("billing tools %+v", breq.Tools)
		}
		if got := shape(breq.Messages); got != "yuAt" {
			t.Fatalf("billing request %s", got)
		}
	})
}

// A resumed session (new agents, same names, same store) continues with
// the agent of the latest stored hand-off.
func TestHandoffResumed(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		build := func(triageReplies, billingReplies []llmtest.Reply) (*agent.Agent, *llmtest.Client, *llmtest.Client) {
			bc := p.client(t, billingReplies...)
			tc := p.client(t, triageReplies...)
			billing := agent.New(bc, agent.WithName("billing"), agent.WithSystemPrompt("You are billing."))
			triage := agent.New(tc, agent.WithName("triage"), agent.WithSession("r", store), agent.WithHandoffs(billing))
			return triage, tc, bc
		}
		triage, _, _ := build(
			[]llmtest.Reply{llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`))},
			[]llmtest.Reply{llmtest.Text("Billing here.")})
		if _, err := triage.Chat(t.Context(), "Invoice?"); err != nil {
			t.Fatal(err)
		}
		// "A new process": agents rebuilt; the triage client has no reply,
		// so a call to it would fail the turn.
		triage2, tc2, bc2 := build(nil, []llmtest.Reply{llmtest.Text("Still billing.")})
		resp, err := triage2.Chat(t.Context(), "And the due date?")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Agent != "billing" || resp.Text != "Still billing." || tc2.Calls() != 0 || bc2.Calls() != 1 {
			t.Fatalf("agent %q text %q, triage calls %d, billing calls %d", resp.Agent, resp.Text, tc2.Calls(), bc2.Calls())
		}
		if got := shape(stored(t, store, "r")); got != "uAtaua" {
			t.Fatalf("stored %s", got)
		}
	})
}

// A hand-off beside an ordinary tool call in one response: both are
// answered, in call order, and the target answers next.
func TestHandoffWithOtherCall(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		billing := agent.New(p.client(t, llmtest.Text("Done.")), agent.WithName("billing"))
		triage := agent.New(p.client(t, llmtest.ToolCalls(
			llmtest.Call("c1", "weather", `{"city":"Oslo"}`),
			llmtest.Call("c2", "transfer_to_billing", `{}`),
		)), agent.WithName("triage"), agent.WithSession("w", store), agent.WithTools(weatherTool()), agent.WithHandoffs(billing))
		resp, err := triage.Chat(t.Context(), "Weather, then billing")
		if err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "w")
		rs := msgs[2].ToolResults()
		if resp.Agent != "billing" || len(rs) != 2 || rs[0].CallID != "c1" || rs[0].Content != "sunny in Oslo" || rs[1].CallID != "c2" {
			t.Fatalf("agent %q results %+v", resp.Agent, rs)
		}
	})
}

// Bad hand-off definitions fail the first call, before anything is stored.
func TestHandoffDefinitionErrors(t *testing.T) {
	unnamed := agent.New(llmtest.New())
	for name, opts := range map[string][]agent.Option{
		"unnamed": {agent.WithHandoffs(unnamed)},
		"nil":     {agent.WithHandoffs(nil)},
		"clash": {agent.WithHandoffs(agent.New(llmtest.New(), agent.WithName("x"))),
			agent.WithTools(tool.Func("transfer_to_x", "", func(context.Context, struct{}) (string, error) { return "", nil }))},
	} {
		store := newStore(t)
		a := agent.New(llmtest.New(), append(opts, agent.WithSession("d", store))...)
		if _, err := a.Chat(t.Context(), "hi"); err == nil || store.Writes() != 0 {
			t.Errorf("%s: err %v, %d writes", name, err, store.Writes())
		}
	}
}

// A streamed turn streams the target's answer after the hand-off.
func TestHandoffStream(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		billing := agent.New(p.client(t, llmtest.Text("Billing here.")), agent.WithName("billing"))
		triage := agent.New(p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`))),
			agent.WithName("triage"), agent.WithSession("st", newStore(t)), agent.WithHandoffs(billing))
		var text string
		var done *agent.Response
		for ev, err := range triage.ChatStream(t.Context(), "Invoice?") {
			if err != nil {
				t.Fatal(err)
			}
			switch ev.Type {
			case agent.EventTextDelta:
				text += ev.Text
			case agent.EventDone:
				done = ev.Response
			}
		}
		if text != "Billing here." || done == nil || done.Agent != "billing" {
			t.Fatalf("streamed %q, done %+v", text, done)
		}
	})
}

// A hand-off that has left the messages the agent reads (a window of 2)
// is found in the session's metadata, which records it.
func TestHandoffOutsideWindow(t *testing.T) {
	store := newStore(t)
	p := providers()[0]
	build := func(triageReplies, billingReplies []llmtest.Reply) *agent.Agent {
		billing := agent.New(p.client(t, billingReplies...), agent.WithName("billing"))
		return agent.New(p.client(t, triageReplies...), agent.WithName("triage"), agent.WithSession("win", store),
			agent.WithHistory(agent.LastN(2)), agent.WithHandoffs(billing))
	}
	a := build([]llmtest.Reply{llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`))},
		[]llmtest.Reply{llmtest.Text("one"), llmtest.Text("two"), llmtest.Text("three")})
	for _, q := range []string{"q1", "q2", "q3"} {
		if _, err := a.Chat(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	in, err := store.Info(t.Context(), "win")
	if err != nil || in.Metadata[agent.HandoffKey] != "billing" {
		t.Fatalf("metadata %v (%v)", in.Metadata, err)
	}
	resp, err := build(nil, []llmtest.Reply{llmtest.Text("four")}).Chat(t.Context(), "q4")
	if err != nil || resp.Agent != "billing" || resp.Text != "four" {
		t.Fatalf("agent %q text %q err %v", resp.Agent, resp.Text, err)
	}
}

// A SQLite file reopened by a new store (as a new process would) with the
// agents rebuilt under the same names continues with billing, whether the
// hand-off is in the window read (the history marker) or not (the
// session's metadata).
func TestHandoffResumedSQLite(t *testing.T) {
	for _, window := range []int{100, 2} {
		t.Run(fmt.Sprint("window ", window), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "handoff.db")
			open := func() session.Store {
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				store, err := sqlite.SessionStore(t.Context(), db)
				if err != nil {
					t.Fatal(err)
				}
				return store
			}
			p := providers()[0]
			build := func(store session.Store, triageReplies, billingReplies []llmtest.Reply) *agent.Agent {
				billing := agent.New(p.client(t, billingReplies...), agent.WithName("billing"))
				return agent.New(p.client(t, triageReplies...), agent.WithName("triage"), agent.WithSession("s", store),
					agent.WithHistory(agent.LastN(window)), agent.WithHandoffs(billing))
			}
			a := build(open(), []llmtest.Reply{llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`))},
				[]llmtest.Reply{llmtest.Text("one"), llmtest.Text("two")})
			for _, q := range []string{"q1", "q2"} {
				if _, err := a.Chat(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := build(open(), nil, []llmtest.Reply{llmtest.Text("three")}).Chat(t.Context(), "q3")
			if err != nil || resp.Agent != "billing" {
				t.Fatalf("agent %q err %v", resp.Agent, err)
			}
		})
	}
}

// A hand-off that waits for approval (WithApproval on its tool) is done
// when a person approves it: the resumed turn goes on with the target.
func TestHandoffApproved(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		billingClient := p.client(t, llmtest.Text("Billing here."))
		billing := agent.New(billingClient, agent.WithName("billing"))
		opts := []agent.Option{agent.WithName("triage"), agent.WithSession("ap", store),
			agent.WithHandoffs(billing), agent.WithApproval("transfer_to_billing")}
		triage := agent.New(p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`))), opts...)
		if _, err := triage.Chat(t.Context(), "Invoice?"); !errors.Is(err, agent.ErrAwaitingApproval) {
			t.Fatalf("err %v", err)
		}
		if billingClient.Calls() != 0 {
			t.Fatal("billing answered before the approval")
		}
		resp, err := agent.New(p.client(t), opts...).Resume(t.Context(), agent.Approve("c1"))
		if err != nil || resp.Agent != "billing" || resp.Text != "Billing here." {
			t.Fatalf("agent %q text %q err %v", resp.Agent, resp.Text, err)
		}
		in, _ := store.Info(t.Context(), "ap")
		if in.Metadata[agent.HandoffKey] != "billing" {
			t.Errorf("metadata %v", in.Metadata)
		}
	})
}

// WithHandoffNames lets billing hand back to triage (built after it): the
// round trip happens within one turn, each request valid, and the next
// turn starts with triage again.
func TestHandoffBack(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		billingClient := p.client(t, llmtest.ToolCalls(llmtest.Call("c2", "transfer_to_triage", `{}`)))
		billing := agent.New(billingClient, agent.WithName("billing"), agent.WithHandoffNames("triage", "nobody"))
		triageClient := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`)),
			llmtest.Text("Back at triage."),
			llmtest.Text("Triage again."),
		)
		triage := agent.New(triageClient, agent.WithName("triage"), agent.WithDescription("Routes questions."),
			agent.WithSession("back", store), agent.WithHandoffs(billing))
		resp, err := triage.Chat(t.Context(), "Not a billing question after all")
		if err != nil || resp.Agent != "triage" || resp.Text != "Back at triage." {
			t.Fatalf("agent %q text %q err %v", resp.Agent, resp.Text, err)
		}
		breq := billingClient.Requests()[0]
		if len(breq.Tools) != 1 || breq.Tools[0].Name != "transfer_to_triage" || !strings.Contains(breq.Tools[0].Description, "Routes questions.") {
			t.Fatalf("billing tools %+v", breq.Tools)
		}
		if got := shape(stored(t, store, "back")); got != "uAtAta" {
			t.Fatalf("stored %s", got)
		}
		resp, err = triage.Chat(t.Context(), "Hello?")
		if err != nil || resp.Agent != "triage" || resp.Text != "Triage again." {
			t.Fatalf("next turn: agent %q text %q err %v", resp.Agent, resp.Text, err)
		}
	})
}
