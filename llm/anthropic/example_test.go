package anthropic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/message"
)

func Example() {
	// A stand-in for api.anthropic.com: it asks for a tool call.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
			"content":[{"type":"text","text":"Let me look."},
			           {"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Oslo"}}],
			"stop_reason":"tool_use","stop_sequence":null,
			"usage":{"input_tokens":350,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":40}}`)
	}))
	defer srv.Close()

	client, err := anthropic.New(
		anthropic.WithBaseURL(srv.URL),
		anthropic.WithAPIKey("sk-ant-example"),
		anthropic.WithModel("claude-sonnet-4-5"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := client.Generate(context.Background(), llm.Request{
		Messages: []message.Message{message.NewUserMessage("What's the weather in Oslo?")},
		Tools: []llm.ToolSpec{{
			Name:       "weather",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.FinishReason, res.Message.Content())
	for _, call := range res.Message.ToolCalls() {
		fmt.Println(call.ID, call.Name, string(call.Input))
	}
	// Output:
	// tool_calls Let me look.
	// toolu_1 weather {"city":"Oslo"}
}
