package agent_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/session"
)

// Forecast is the typed answer of ExampleRunTyped.
type Forecast struct {
	City  string `json:"city"`
	Sky   string `json:"sky" jsonschema:"enum=sunny,enum=cloudy,enum=rainy"`
	TempC int    `json:"temp_c"`
}

func ExampleRunTyped() {
	ctx := context.Background()
	client := llmtest.New(
		llmtest.Text(`{"city":"Oslo","sky":"sunny","temp_c":4}`),
		llmtest.Text(`{"city":"Oslo","sky":"foggy","temp_c":4}`),
	)
	a := agent.New(client)

	f, _, err := agent.RunTyped[Forecast](ctx, a, "Weather in Oslo?")
	fmt.Println(f, err)
	req, _ := client.LastRequest()
	fmt.Println("format:", req.ResponseFormat.Name, "strict:", req.ResponseFormat.Strict)

	// An answer outside the schema is a typed error holding the raw text.
	_, _, err = agent.RunTyped[Forecast](ctx, a, "And tomorrow?")
	var oe *agent.OutputError
	fmt.Println(errors.Is(err, agent.ErrOutputInvalid), errors.As(err, &oe) && oe.Raw != "")
	// Output:
	// {Oslo sunny 4} <nil>
	// format: Forecast strict: true
	// true true
}

func ExampleWithHandoffs() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	billing := agent.New(llmtest.New(llmtest.Text("Billing here: order A1 is refunded.")),
		agent.WithName("billing"), agent.WithDescription("Refunds and invoices."),
		agent.WithSystemPrompt("You handle billing."))
	triage := agent.New(llmtest.New(llmtest.ToolCalls(llmtest.Call("c1", "transfer_to_billing", `{}`))),
		agent.WithName("triage"), agent.WithSession("support-42", store), agent.WithHandoffs(billing))

	resp, err := triage.Chat(ctx, "Please refund order A1.")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Agent+":", resp.Text)
	for _, m := range resp.Messages {
		for _, r := range m.ToolResults() {
			fmt.Println("stored:", r.Name, r.Content, string(r.Metadata))
		}
	}
	// Output:
	// billing: Billing here: order A1 is refunded.
	// stored: transfer_to_billing {"assistant":"billing"} {"convo.handoff":"billing"}
}
