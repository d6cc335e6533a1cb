package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/session"
)

func TestChatStreamEvents(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)),
			llmtest.Text("It is sunny in Oslo."),
		)
		a := agent.New(client, agent.WithSession("st", store), agent.WithTools(weatherTool()))
		var text strings.Builder
		var types []agent.EventType
		var done *agent.Response
		for ev, err := range a.ChatStream(t.Context(), "weather?") {
			if err != nil {
				t.Fatal(err)
			}
			if len(types) == 0 || types[len(types)-1] != ev.Type {
				types = append(types, ev.Type)
			}
			switch ev.Type {
			case agent.EventTextDelta:
				text.WriteString(ev.Text)
			case agent.EventToolResult:
				if ev.ToolResult.Content != "sunny in Oslo" {
					t.Errorf("tool result %+v", ev.ToolResult)
				}
			case agent.EventDone:
				done = ev.Response
			}
		}
		if text.String() != "It is sunny in Oslo." || done == nil || done.Text != "It is sunny in Oslo." {
			t.Fatalf("text %q, done %+v", text.String(), done)
		}
		want := []agent.EventType{agent.EventStored, agent.EventToolCallDelta, agent.EventToolCall, agent.EventToolResult,
			agent.EventStored, agent.EventTextDelta, agent.EventStored, agent.EventDone}
		if len(types) != len(want) {
			t.Fatalf("event types %v, want %v", types, want)
		}
		for i := range want {
			if types[i] != want[i] {
				t.Fatalf("event types %v, want %v", types, want)
			}
		}
		if got := shape(stored(t, store, "st")); got != "uAta" {
			t.Fatalf("stored %s", got)
		}
	})
}

func TestChatStreamBreakLeavesValidSession(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.Text("a long answer that will be cut short").WithChunkSize(2))
		a := agent.New(client, agent.WithSession("br", store), agent.WithConcurrencyPolicy(agent.FailIfBusy))
		n := 0
		for ev, err := range a.ChatStream(t.Context(), "talk") {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == agent.EventTextDelta {
				n++
				if n == 3 {
					break
				}
			}
		}
		msgs := stored(t, store, "br")
		if shape(msgs) != "ua" || !strings.HasPrefix(msgs[1].Content(), agent.InterruptedPrefix) || session.Check(msgs) != nil {
			t.Fatalf("stored %s", dump(msgs))
		}
		client.Push(llmtest.Text("again"))
		if _, err := a.Chat(t.Context(), "next"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestChatStreamError(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		boom := errors.New("dropped")
		client := p.client(t, llmtest.Text("abcdef").WithChunkSize(1).FailStreamAfter(2, boom))
		a := agent.New(client)
		var gotErr error
		var text string
		for ev, err := range a.ChatStream(t.Context(), "x") {
			if err != nil {
				gotErr = err
				break
			}
			text += ev.Text
		}
		if !errors.Is(gotErr, boom) || text != "ab" {
			t.Fatalf("err %v text %q", gotErr, text)
		}
	})
}
