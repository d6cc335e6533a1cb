package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

func TestUsageSummedOverTurn(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("1", "weather", `{"city":"A"}`)).WithUsage(message.Usage{InputTokens: 10, OutputTokens: 3}),
			llmtest.ToolCalls(llmtest.Call("1", "weather", `{"city":"B"}`)).WithUsage(message.Usage{InputTokens: 20, OutputTokens: 4}),
			llmtest.Text("done").WithUsage(message.Usage{InputTokens: 30, OutputTokens: 5, CacheReadTokens: 7}),
		)
		a := agent.New(client, agent.WithTools(weatherTool()))
		resp, err := a.Chat(t.Context(), "go")
		if err != nil {
			t.Fatal(err)
		}
		want := message.Usage{InputTokens: 60, OutputTokens: 12, CacheReadTokens: 7}
		if resp.Usage != want || resp.Iterations != 3 || resp.FinishReason != "stop" {
			t.Fatalf("usage %+v iterations %d finish %q", resp.Usage, resp.Iterations, resp.FinishReason)
		}
		// Tool-call ids may repeat across turns' runs; the stored session is valid.
		if shape(resp.Messages) != "uAtAta" || session.Check(resp.Messages) != nil {
			t.Fatalf("messages %s", dump(resp.Messages))
		}
	})
}

func TestToolTimeoutDoesNotAbortTurn(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		release := make(chan struct{})
		defer close(release)
		stuck := tool.Func("stuck", "", func(ctx context.Context, _ struct{}) (string, error) {
			<-release // ignores its context
			return "late", nil
		})
		client := p.client(t, llmtest.ToolCalls(llmtest.Call("1", "stuck", "")), llmtest.Text("gave up on it"))
		a := agent.New(client, agent.WithSession("to", store), agent.WithTools(stuck), agent.WithToolTimeout(20*time.Millisecond))
		resp, err := a.Chat(t.Context(), "go")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "gave up on it" {
			t.Fatalf("text %q", resp.Text)
		}
		r := stored(t, store, "to")[2].ToolResults()[0]
		if !r.IsError || !r.Synthesized || !strings.Contains(r.Content, "did not finish") {
			t.Fatalf("result %+v", r)
		}
	})
}

func TestWaitForTurnHonoursContext(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := session.NewMemoryStore()
		seed(t, store, "busy", message.NewUserMessage("someone else's turn"))
		a := agent.New(p.client(t, llmtest.Text("x")), agent.WithSession("busy", store),
			agent.WithBusyPolling(time.Millisecond, 5*time.Millisecond))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		defer cancel()
		_, err := a.Chat(ctx, "me")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want DeadlineExceeded, got %v", err)
		}
		if got := shape(stored(t, store, "busy")); got != "u" {
			t.Fatalf("stored %s", got)
		}
	})
}

func TestStalePartialResultsRepaired(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := session.NewMemoryStore()
		calls := message.NewMessage(message.RoleAssistant,
			message.ToolCall{ID: "a", Name: "weather", Input: []byte(`{}`)},
			message.ToolCall{ID: "b", Name: "weather", Input: []byte(`{}`)})
		seed(t, store, "p",
			aged(message.NewUserMessage("q"), time.Hour),
			aged(calls, time.Hour),
			aged(message.NewToolResultMessage(message.ToolResult{CallID: "a", Name: "weather", Content: "ok"}), time.Hour))
		client := p.client(t, llmtest.Text("resumed"))
		a := agent.New(client, agent.WithSession("p", store))
		if _, err := a.Chat(t.Context(), "next"); err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "p")
		if shape(msgs) != "uAttua" || session.Check(msgs) != nil {
			t.Fatalf("stored %s", dump(msgs))
		}
		if r := msgs[3].ToolResults()[0]; r.CallID != "b" || !r.Synthesized {
			t.Fatalf("repair %+v", r)
		}
	})
}
