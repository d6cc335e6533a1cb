package agent_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

func Example() {
	ctx := context.Background()
	store := session.NewMemoryStore()

	type weatherArgs struct {
		City string `json:"city" jsonschema:"description=City name"`
	}
	weather := tool.Func("weather", "Current weather in a city",
		func(ctx context.Context, a weatherArgs) (string, error) {
			return "4°C and clear in " + a.City, nil
		})

	// A scripted model: first it calls the tool, then it answers.
	client := llmtest.New(
		llmtest.ToolCalls(llmtest.Call("call_1", "weather", `{"city":"Oslo"}`)),
		llmtest.Text("It is 4°C and clear in Oslo."),
	)

	a := agent.New(client,
		agent.WithSession("user-123", store),
		agent.WithSystemPrompt("You are a concise assistant."),
		agent.WithTools(weather),
	)
	resp, err := a.Chat(ctx, "What's the weather in Oslo?")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(resp.Text)
	fmt.Println("model calls:", resp.Iterations)

	s, _ := store.Load(ctx, "user-123")
	msgs, _ := s.GetMessages(ctx, nil)
	for _, m := range msgs {
		fmt.Printf("%-9s %q\n", m.Role, summary(m.Text(), m.ToolCalls(), m.ToolResults()))
	}
	// Output:
	// It is 4°C and clear in Oslo.
	// model calls: 2
	// user      "What's the weather in Oslo?"
	// assistant "call weather {\"city\":\"Oslo\"}"
	// tool      "result 4°C and clear in Oslo"
	// assistant "It is 4°C and clear in Oslo."
}

func summary(text string, calls []message.ToolCall, results []message.ToolResult) string {
	switch {
	case len(calls) > 0:
		return "call " + calls[0].Name + " " + string(calls[0].Input)
	case len(results) > 0:
		return "result " + results[0].Content
	}
	return text
}

func ExampleAgent_ChatStream() {
	ctx := context.Background()
	client := llmtest.New(llmtest.Text("Hello there!").WithChunkSize(6))
	a := agent.New(client)
	for ev, err := range a.ChatStream(ctx, "Hi") {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Type {
		case agent.EventTextDelta:
			fmt.Printf("%q\n", ev.Text)
		case agent.EventDone:
			fmt.Println("done:", ev.Response.Text)
		}
	}
	// Output:
	// "Hello "
	// "there!"
	// done: Hello there!
}

func ExampleWithConcurrencyPolicy() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	started, release := make(chan struct{}), make(chan struct{})
	slow := llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
		close(started)
		<-release
		return &llm.Response{Message: message.NewAssistantMessage("first answer"), FinishReason: llm.FinishStop}, nil
	})
	first := agent.New(llmtest.New(slow), agent.WithSession("shared", store))
	second := agent.New(llmtest.New(llmtest.Text("second answer")),
		agent.WithSession("shared", store),
		agent.WithConcurrencyPolicy(agent.FailIfBusy))

	done := make(chan struct{})
	go func() { first.Chat(ctx, "one"); close(done) }()
	<-started
	_, err := second.Chat(ctx, "two")
	fmt.Println("busy:", errors.Is(err, agent.ErrBusy))
	close(release)
	<-done
	resp, _ := second.Chat(ctx, "two")
	fmt.Println(resp.Text)
	// Output:
	// busy: true
	// second answer
}

// A session the agent creates can carry its owner, title and metadata, so
// that listings and erasure by owner find it.
func ExampleWithSessionInfo() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	a := agent.New(llmtest.New(llmtest.Text("Hello!")),
		agent.WithSession("alice-1", store),
		agent.WithSessionInfo(session.CreateOptions{Owner: "alice", Title: "First chat"}),
	)
	if _, err := a.Chat(ctx, "Hi"); err != nil {
		fmt.Println(err)
		return
	}
	page, _ := session.List(ctx, store, session.ListQuery{Owner: "alice"})
	for _, s := range page.Sessions {
		fmt.Println(s.ID, s.Owner, s.Title, s.MessageCount)
	}
	// Output:
	// alice-1 alice First chat 2
}

// A model that gives no usable answer is never stored as an empty message:
// the turn is closed and the error says why.
func Example_truncatedAnswer() {
	ctx := context.Background()
	// A reasoning model that spent its whole output budget thinking.
	client := llmtest.New(llmtest.Parts().WithFinishReason(llm.FinishLength))
	a := agent.New(client)
	_, err := a.Chat(ctx, "Prove the Riemann hypothesis.")
	fmt.Println(errors.Is(err, llm.ErrOutputTruncated))
	// Output:
	// true
}

// Retry a turn for another answer, and edit and resend a message, in forks
// of the conversation: the original stays as it was.
func Example_fork() {
	ctx := context.Background()
	store := session.NewMemoryStore() // any store that implements session.Forker

	client := llmtest.New(llmtest.Text("Oslo."))
	a := agent.New(client, agent.WithSession("chat", store))
	resp, err := a.Chat(ctx, "Name a Norwegian city.")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	question := resp.Messages[0] // the turn's user message, as stored

	// Retry: fork before the question, send it again in the fork.
	_, again, err := session.ForkBefore(ctx, store, "chat", question.ID, "chat-retry", session.CreateOptions{})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	client.Push(llmtest.Text("Bergen."))
	retry, err := agent.New(client, agent.WithSession("chat-retry", store)).Send(ctx, again)
	if err != nil {
		fmt.Println("error:", err)
		return
	}

	// Edit and resend: fork before the question, send an edited one.
	if _, _, err := session.ForkBefore(ctx, store, "chat", question.ID, "chat-edit", session.CreateOptions{}); err != nil {
		fmt.Println("error:", err)
		return
	}
	client.Push(llmtest.Text("Trondheim."))
	edited, err := agent.New(client, agent.WithSession("chat-edit", store)).Chat(ctx, "Name a Norwegian city in the north.")
	if err != nil {
		fmt.Println("error:", err)
		return
	}

	fmt.Println("original:", resp.Text)
	fmt.Println("retry:   ", retry.Text)
	fmt.Println("edited:  ", edited.Text)
	info, _ := store.Info(ctx, "chat-edit")
	fmt.Printf("chat-edit is a fork of %q\n", info.ParentID)
	// Output:
	// original: Oslo.
	// retry:    Bergen.
	// edited:   Trondheim.
	// chat-edit is a fork of "chat"
}
