package gemini_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/message"
)

func Example() {
	// A stand-in for generativelanguage.googleapis.com: Gemini 3 asks for a
	// tool call, with the thought signature it wants back on that call.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"candidates":[{"content":{"role":"model","parts":[
			{"functionCall":{"name":"weather","args":{"city":"Oslo"}},"thoughtSignature":"c2lnLTE="}]},
			"finishReason":"STOP","index":0}],
			"usageMetadata":{"promptTokenCount":40,"candidatesTokenCount":8,"thoughtsTokenCount":60,"totalTokenCount":108},
			"modelVersion":"gemini-3-pro-preview"}`)
	}))
	defer srv.Close()

	client, err := gemini.New(
		gemini.WithBaseURL(srv.URL),
		gemini.WithAPIKey("example-key"),
		gemini.WithModel("gemini-3-pro-preview"),
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
	fmt.Println(res.FinishReason, res.Usage.OutputTokens, "output tokens")
	for _, p := range res.Message.Parts {
		switch p := p.(type) {
		case message.Reasoning:
			fmt.Println("signature", p.Signature) // sent back on the call below it
		case message.ToolCall:
			fmt.Println(p.Name, string(p.Input))
		}
	}
	// Output:
	// tool_calls 68 output tokens
	// signature c2lnLTE=
	// weather {"city":"Oslo"}
}
