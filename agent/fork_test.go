package agent_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// requestTexts is the role and text of each message of req, tool blocks
// named, for comparing what the model was sent.
func requestTexts(req llm.Request) []string {
	var out []string
	for _, m := range req.Messages {
		s := string(m.Role) + ": " + m.Text()
		for _, c := range m.ToolCalls() {
			s += " call " + c.Name
		}
		for _, r := range m.ToolResults() {
			s += " result " + r.Content
		}
		out = append(out, s)
	}
	return out
}

// TestForkRetryAndEditAndResend continues forks of a stored conversation
// with the agent, under each provider's documented request rules: "retry"
// forks before a turn's user message and sends that message again, for
// another answer; "edit and resend" forks before it and sends an edited
// message. Each fork's requests carry exactly the history before the turn
// and the (re)sent message, the stored fork is valid and linked to its
// parent, and the parent keeps its own answers.
func TestForkRetryAndEditAndResend(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		ctx := t.Context()
		store := newStore(t)
		a := agent.New(p.client(t,
			llmtest.ToolCalls(llmtest.Call("call_1", "weather", `{"city":"Oslo"}`)),
			llmtest.Text("It is 4°C and clear in Oslo."),
			llmtest.Text("Bergen: rain, as always."),
		), agent.WithSession("chat", store), agent.WithTools(weatherTool()))
		first, err := a.Chat(ctx, "What's the weather in Oslo?")
		if err != nil {
			t.Fatal(err)
		}
		second, err := a.Chat(ctx, "And in Bergen?")
		if err != nil {
			t.Fatal(err)
		}
		parent := stored(t, store, "chat")
		if len(parent) != 6 {
			t.Fatalf("parent holds %d messages, want 6:\n%s", len(parent), dump(parent))
		}

		// Retry the second turn: fork before its user message, send it again.
		_, user, err := session.ForkBefore(ctx, store, "chat", second.Messages[0].ID, "chat-retry", session.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		retryClient := p.client(t, llmtest.Text("Bergen: sunny today, for once."))
		retry := agent.New(retryClient, agent.WithSession("chat-retry", store), agent.WithTools(weatherTool()))
		resp, err := retry.Send(ctx, user)
		if err != nil {
			t.Fatalf("retry in the fork: %v", err)
		}
		if resp.Text != "Bergen: sunny today, for once." {
			t.Errorf("retry answered %q", resp.Text)
		}
		want := []string{
			"user: What's the weather in Oslo?",
			"assistant:  call weather",
			"tool:  result sunny in Oslo",
			"assistant: It is 4°C and clear in Oslo.",
			"user: And in Bergen?",
		}
		req, _ := retryClient.LastRequest()
		if got := requestTexts(req); !slices.Equal(got, want) {
			t.Errorf("the retry's request carried\n%q\nwant\n%q", got, want)
		}
		fork := stored(t, store, "chat-retry")
		if len(fork) != 6 || fork[4].ID != parent[4].ID || fork[5].Text() != "Bergen: sunny today, for once." {
			t.Errorf("the retried fork holds:\n%s", dump(fork))
		}
		if probs := session.Check(fork); probs != nil {
			t.Errorf("the retried fork is not valid: %v", probs)
		}

		// Edit and resend the first message: fork before it (an empty fork
		// linked to the parent), send the edited message.
		_, orig, err := session.ForkBefore(ctx, store, "chat", first.Messages[0].ID, "chat-edit", session.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edited := message.NewUserMessage(orig.Text() + " In Fahrenheit, please.")
		editClient := p.client(t,
			llmtest.ToolCalls(llmtest.Call("call_9", "weather", `{"city":"Oslo"}`)),
			llmtest.Text("It is 39°F and clear in Oslo."),
		)
		edit := agent.New(editClient, agent.WithSession("chat-edit", store), agent.WithTools(weatherTool()))
		if resp, err = edit.Send(ctx, edited); err != nil {
			t.Fatalf("edit and resend in the fork: %v", err)
		}
		reqs := editClient.Requests()
		if got := requestTexts(reqs[0]); !slices.Equal(got, []string{"user: What's the weather in Oslo? In Fahrenheit, please."}) {
			t.Errorf("the edited turn's first request carried %q", got)
		}
		fork = stored(t, store, "chat-edit")
		if len(fork) != 4 || fork[3].Text() != "It is 39°F and clear in Oslo." {
			t.Errorf("the edited fork holds:\n%s", dump(fork))
		}
		in, err := store.Info(ctx, "chat-edit")
		if err != nil || in.ParentID != "chat" || in.ForkMessageID != "" {
			t.Errorf("Info of the edited fork: %+v, %v; want parent chat before its first message", in, err)
		}

		// The parent keeps its own history, and goes on independently.
		if got := stored(t, store, "chat"); fmt.Sprint(roleTexts(got)) != fmt.Sprint(roleTexts(parent)) {
			t.Errorf("the parent changed:\n%s", dump(got))
		}
	})
}

func roleTexts(msgs []message.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Role) + ": " + m.Text()
	}
	return out
}
