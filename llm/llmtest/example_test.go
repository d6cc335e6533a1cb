package llmtest_test

import (
	"context"
	"fmt"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
)

func Example() {
	ctx := context.Background()
	client := llmtest.New(
		llmtest.ToolCalls(llmtest.Call("call_1", "weather", `{"city":"Oslo"}`)),
		llmtest.Text("It is 4°C in Oslo."),
	)

	req := llm.Request{Messages: []message.Message{message.NewUserMessage("Weather in Oslo?")}}
	resp, _ := client.Generate(ctx, req)
	for _, c := range resp.Message.ToolCalls() {
		fmt.Println("call:", c.Name, string(c.Input), resp.FinishReason)
	}

	for ev, err := range client.Stream(ctx, req) {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		if ev.Type == llm.EventDone {
			fmt.Println("text:", ev.Response.Message.Content())
		}
	}

	_, err := client.Generate(ctx, req)
	fmt.Println("requests:", len(client.Requests()), "exhausted:", err != nil)
	// Output:
	// call: weather {"city":"Oslo"} tool_calls
	// text: It is 4°C in Oslo.
	// requests: 3 exhausted: true
}
