package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// conv builds a message list from a shape string (see shape); each A has one
// call answered by the following t.
func conv(s string) []message.Message {
	var out []message.Message
	n := 0
	for _, r := range s {
		n++
		id := fmt.Sprintf("c%d", n)
		switch r {
		case 'u':
			out = append(out, message.NewUserMessage(fmt.Sprint("u", n)))
		case 'a':
			out = append(out, message.NewAssistantMessage(fmt.Sprint("a", n)))
		case 'A':
			out = append(out, message.NewMessage(message.RoleAssistant, message.ToolCall{ID: id, Name: "f", Input: []byte("{}")}))
		case 't':
			prev := out[len(out)-1].ToolCalls()
			out = append(out, message.NewToolResultMessage(message.ToolResult{CallID: prev[0].ID, Name: "f", Content: "r"}))
		case 's':
			out = append(out, message.NewSummaryMessage("sum"))
		}
	}
	return out
}

func TestLastNCuts(t *testing.T) {
	for _, tc := range []struct {
		hist string
		n    int
		want string
	}{
		{"uaua", 10, "uaua"},
		{"uaua", 2, "ua"},
		{"uaua", 3, "ua"},      // starts at a user message
		{"uAtAta", 2, "a"},     // last 2 are "ta": cut after the tool message
		{"uAtAtAta", 3, "Ata"}, // no user in the window: first non-tool
		{"uAt", 1, "At"},       // last message alone is a tool result: back to its call
		{"uAtAtua", 4, "ua"},
	} {
		got := shape(agent.LastN(tc.n).Select(conv(tc.hist)))
		if got != tc.want {
			t.Errorf("LastN(%d) of %s = %s, want %s", tc.n, tc.hist, got, tc.want)
		}
	}
}

func TestSelectionsAreAlwaysValid(t *testing.T) {
	hists := []string{"uAtAtuaAta", "uaAtAtAtAtuAta", "uAtAtAtAtAtAtAtAt"}
	for _, h := range hists {
		msgs := conv(h)
		for n := 1; n <= len(msgs)+1; n++ {
			for _, strat := range []agent.History{agent.LastN(n), agent.TokenBudget(n * 6)} {
				sel := strat.Select(msgs)
				if len(sel) == 0 {
					t.Fatalf("%s: empty selection", h)
				}
				if sel[0].Role == message.RoleTool || session.Check(sel) != nil {
					t.Fatalf("%s n=%d: invalid selection %s", h, n, shape(sel))
				}
			}
		}
	}
}

func TestTokenBudget(t *testing.T) {
	long := strings.Repeat("x", 400) // 100 tokens + 4
	msgs := []message.Message{
		message.NewUserMessage(long), message.NewAssistantMessage(long),
		message.NewUserMessage("short"), message.NewAssistantMessage("short"),
	}
	if got := shape(agent.TokenBudget(30).Select(msgs)); got != "ua" {
		t.Errorf("budget 30: %s", got)
	}
	if got := shape(agent.TokenBudget(1000).Select(msgs)); got != "uaua" {
		t.Errorf("budget 1000: %s", got)
	}
	if got := agent.EstimateTokens(message.NewUserMessage("abcdefgh")); got != 6 {
		t.Errorf("estimate = %d, want 6", got)
	}
	if got := agent.EstimateTokens(message.NewMessage(message.RoleUser, message.ImageURL{URL: "https://x"})); got != 769 {
		t.Errorf("image estimate = %d", got)
	}
}

func TestAgentSendsWindowOnly(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		seed(t, store, "h", conv("uauauauauaua")...)
		client := p.client(t, llmtest.Text("ok"))
		a := agent.New(client, agent.WithSession("h", store), agent.WithHistory(agent.LastN(3)), agent.WithSystemPrompt("sys"))
		if _, err := a.Chat(t.Context(), "new"); err != nil {
			t.Fatal(err)
		}
		req, _ := client.LastRequest()
		if shape(req.Messages) != "yuau" || req.Messages[3].Content() != "new" {
			t.Fatalf("request %s", dump(req.Messages))
		}
		if len(stored(t, store, "h")) != 14 {
			t.Fatal("store lost messages")
		}
	})
}

func TestCompaction(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t)
		var summaryReqs []llm.Request
		client.SetDefault(llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
			text := "answer"
			if isSummaryRequest(req) {
				summaryReqs = append(summaryReqs, req)
				text = fmt.Sprintf("summary %d", len(summaryReqs))
			}
			return &llm.Response{Message: message.NewAssistantMessage(text), FinishReason: llm.FinishStop,
				Usage: message.Usage{InputTokens: 1}}, nil
		}))
		a := agent.New(client, agent.WithSession("c", store), agent.WithSystemPrompt("sys"),
			agent.WithCompaction(agent.Compaction{AfterMessages: 6}))
		for i := range 8 {
			if _, err := a.Chat(t.Context(), fmt.Sprint("q", i)); err != nil {
				t.Fatal(err)
			}
		}
		msgs := stored(t, store, "c")
		// Turns 1-3 fill 6 messages; turn 4 finds 6 (not more); turn 5 finds 8
		// and stores a summary before its user message; turns 6-8 follow it.
		if got := shape(msgs); got != "uauauauasuauauaua" {
			t.Fatalf("stored %s", got)
		}
		if len(summaryReqs) != 1 {
			t.Fatalf("%d summary requests", len(summaryReqs))
		}
		// The system prompt is not summarised; the eight messages before the
		// fifth turn go as a transcript.
		if s := shape(summaryReqs[0].Messages); s != "yuu" || strings.Contains(summaryReqs[0].Messages[1].Text(), "sys") ||
			!strings.Contains(summaryReqs[0].Messages[1].Text(), "User: q0\n\nAssistant: answer") ||
			!strings.Contains(summaryReqs[0].Messages[1].Text(), "User: q3\n\nAssistant: answer") {
			t.Fatalf("summary request %s", dump(summaryReqs[0].Messages))
		}
		req, _ := client.LastRequest()
		if shape(req.Messages) != "ysuauauau" || req.Messages[1].Content() != "summary 1" {
			t.Fatalf("request after compaction %s", dump(req.Messages))
		}
		// A new agent on the same session (a restart) starts from the summary.
		client2 := p.client(t, llmtest.Text("hi"))
		b := agent.New(client2, agent.WithSession("c", store), agent.WithHistory(agent.LastN(100)),
			agent.WithCompaction(agent.Compaction{AfterMessages: 100}))
		if _, err := b.Chat(t.Context(), "after restart"); err != nil {
			t.Fatal(err)
		}
		req, _ = client2.LastRequest()
		if shape(req.Messages) != "suauauauau" {
			t.Fatalf("request after restart %s", shape(req.Messages))
		}
	})
}

func TestCompactionFailureDoesNotFailTurn(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		seed(t, store, "cf", conv("uauaua")...)
		client := p.client(t, llmtest.Error(errors.New("summary down")), llmtest.Text("fine"))
		a := agent.New(client, agent.WithSession("cf", store), agent.WithCompaction(agent.Compaction{AfterMessages: 2}))
		resp, err := a.Chat(t.Context(), "q")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Notices) != 1 || resp.Notices[0].Kind != agent.NoticeCompactionFailed {
			t.Fatalf("notices %v", resp.Notices)
		}
		if got := shape(stored(t, store, "cf")); got != "uauauaua" {
			t.Fatalf("stored %s", got)
		}
	})
}

// TestLongToolLoopKeepsTheTask runs a turn whose tool rounds outgrow the
// history window: every request must still carry the turn's user message,
// right after the system prompt and once, and be a valid history; the store
// holds the user message once.
func TestLongToolLoopKeepsTheTask(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		seed(t, store, "loop", conv("uaua")...)
		const rounds = 12
		var replies []llmtest.Reply
		for i := range rounds {
			replies = append(replies, llmtest.ToolCalls(llmtest.Call(fmt.Sprint("call", i), "weather", `{"city":"Oslo"}`)))
		}
		replies = append(replies, llmtest.Text("done"))
		client := p.client(t, replies...)
		a := agent.New(client, agent.WithSession("loop", store), agent.WithTools(weatherTool()),
			agent.WithHistory(agent.LastN(6)), agent.WithSystemPrompt("sys"), agent.WithMaxIterations(rounds+2))
		if _, err := a.Chat(t.Context(), "the task"); err != nil {
			t.Fatal(err)
		}
		reqs := client.Requests()
		if len(reqs) != rounds+1 {
			t.Fatalf("%d requests, want %d", len(reqs), rounds+1)
		}
		for i, req := range reqs {
			msgs := req.Messages
			tasks := 0
			for _, m := range msgs {
				if m.Content() == "the task" {
					tasks++
				}
			}
			if tasks != 1 {
				t.Fatalf("request %d carries the task %d times, want once: %s", i, tasks, dump(msgs))
			}
			if probs := session.Check(msgs); probs != nil {
				t.Fatalf("request %d is not a valid history (%v): %s", i, probs, dump(msgs))
			}
			// From the third round on, the last 6 messages are all tool rounds
			// of this turn: the task goes right after the system prompt, and
			// nothing older than the window is sent.
			if i >= 3 {
				if msgs[0].Role != message.RoleSystem || msgs[1].Content() != "the task" {
					t.Fatalf("request %d does not start with the system prompt and the task: %s", i, dump(msgs))
				}
				if len(msgs) != 2+6 {
					t.Fatalf("request %d sends %d messages, want the system prompt, the task and the 6 of the window: %s", i, len(msgs), dump(msgs))
				}
			}
		}
		stored := stored(t, store, "loop")
		tasks := 0
		for _, m := range stored {
			if m.Content() == "the task" {
				tasks++
			}
		}
		if tasks != 1 || len(stored) != 4+1+2*rounds+1 {
			t.Fatalf("stored %d messages with the task %d times, want %d and once", len(stored), tasks, 4+1+2*rounds+1)
		}
	})
}
