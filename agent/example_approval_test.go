package agent_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// A turn pauses before a tool that needs a person's approval, and is
// resumed (here by a second agent, as another process would) with the
// decision.
func ExampleWithApproval() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	type payArgs struct {
		To     string `json:"to"`
		Amount int    `json:"amount"`
	}
	pay := tool.Func("pay", "Pays someone", func(ctx context.Context, a payArgs) (string, error) {
		return fmt.Sprintf("paid %d to %s", a.Amount, a.To), nil
	})
	client := llmtest.New(
		llmtest.ToolCalls(llmtest.Call("call_1", "pay", `{"to":"Bob","amount":20}`)),
		llmtest.Text("Bob has been paid."),
	)
	opts := []agent.Option{agent.WithSession("user-123", store), agent.WithTools(pay), agent.WithApproval("pay")}

	a := agent.New(client, opts...)
	resp, err := a.Chat(ctx, "Pay Bob 20")
	if errors.Is(err, agent.ErrAwaitingApproval) {
		for _, p := range resp.Pending {
			fmt.Println("waiting:", p.Call.Name, string(p.Call.Input))
		}
	}

	// Later, anywhere: list what waits and decide.
	b := agent.New(client, opts...)
	pending, _ := b.Pending(ctx)
	resp, err = b.Resume(ctx, agent.Approve(pending[0].Call.ID))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(resp.Text)

	s, _ := store.Load(ctx, "user-123")
	msgs, _ := s.GetMessages(ctx, nil)
	fmt.Println("valid:", session.Check(msgs) == nil)
	for _, m := range msgs {
		if m.Role == message.RoleTool {
			r := m.ToolResults()[0]
			state, placeholder := session.PendingState(r)
			fmt.Printf("tool %q placeholder=%v %s\n", r.Content[:min(len(r.Content), 24)], placeholder, state)
		}
	}
	// Output:
	// waiting: pay {"to":"Bob","amount":20}
	// Bob has been paid.
	// valid: true
	// tool "error: not run: the call" placeholder=true awaiting_approval
	// tool "error: the program stopp" placeholder=true resuming
	// tool "paid 20 to Bob" placeholder=false
}
