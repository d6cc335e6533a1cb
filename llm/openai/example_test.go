package openai_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/message"
)

func Example() {
	// A stand-in for api.openai.com or any compatible server, streaming
	// one answer the way they do.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, d := range []string{
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":", world"},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`,
			`[DONE]`,
		} {
			fmt.Fprintf(w, "data: %s\n\n", d)
		}
	}))
	defer srv.Close()

	client, err := openai.New(
		openai.WithBaseURL(srv.URL+"/v1"),
		openai.WithAPIKey("sk-example"),
		openai.WithModel("gpt-4.1"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := llm.Request{Messages: []message.Message{
		message.NewSystemMessage("You are friendly."),
		message.NewUserMessage("Say hello."),
	}}
	for ev, err := range client.Stream(context.Background(), req) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch ev.Type {
		case llm.EventTextDelta:
			fmt.Printf("delta %q\n", ev.Text)
		case llm.EventDone:
			res := ev.Response
			fmt.Println(res.Message.Content(), "|", res.FinishReason, "|", res.Usage.InputTokens, "in,", res.Usage.OutputTokens, "out")
		}
	}
	// Output:
	// delta "Hello"
	// delta ", world"
	// Hello, world | stop | 9 in, 3 out
}
