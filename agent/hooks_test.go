package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// lastResults returns the tool results of the last tool message of req.
func lastResults(t *testing.T, req llm.Request) []message.ToolResult {
	t.Helper()
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == message.RoleTool {
			return req.Messages[i].ToolResults()
		}
	}
	t.Fatalf("no tool message in the request")
	return nil
}

// A BeforeTool hook rewrites a call's arguments: the tool runs with them,
// and the stored call is what the model said.
func TestHookModifiesToolArgs(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Olso"}`)), llmtest.Text("Sunny."))
		fix := agent.Hooks{BeforeTool: func(ctx context.Context, c *message.ToolCall) (*message.ToolResult, error) {
			c.Input = json.RawMessage(strings.ReplaceAll(string(c.Input), "Olso", "Oslo"))
			return nil, nil
		}}
		a := agent.New(client, agent.WithSession("s", store), agent.WithTools(weatherTool()), agent.WithHooks(fix))
		if _, err := a.Chat(t.Context(), "Weather?"); err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "s")
		if got := msgs[2].ToolResults()[0].Content; got != "sunny in Oslo" {
			t.Fatalf("tool ran with %q", got)
		}
		if in := string(msgs[1].ToolCalls()[0].Input); in != `{"city":"Olso"}` {
			t.Fatalf("stored call input %s, want the model's", in)
		}
	})
}

// A BeforeTool hook blocks a call: the tool does not run, the model gets
// the hook's is-error result, and the turn goes on.
func TestHookBlocksTool(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		var runs atomic.Int32
		rm := tool.Func("rm", "Deletes a file", func(ctx context.Context, a struct {
			Path string `json:"path"`
		}) (string, error) {
			runs.Add(1)
			return "deleted", nil
		})
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c1", "rm", `{"path":"/etc"}`), llmtest.Call("c2", "weather", `{"city":"Oslo"}`)),
			llmtest.Text("I may not delete that."))
		block := agent.Hooks{BeforeTool: func(ctx context.Context, c *message.ToolCall) (*message.ToolResult, error) {
			if c.Name == "rm" {
				return &message.ToolResult{IsError: true, Content: "error: blocked by policy"}, nil
			}
			return nil, nil
		}}
		a := agent.New(client, agent.WithSession("s", store), agent.WithTools(rm, weatherTool()), agent.WithHooks(block))
		resp, err := a.Chat(t.Context(), "Clean up")
		if err != nil {
			t.Fatal(err)
		}
		if runs.Load() != 0 {
			t.Fatal("the blocked tool ran")
		}
		req, _ := client.LastRequest()
		res := lastResults(t, req)
		if len(res) != 2 || !res[0].IsError || res[0].Content != "error: blocked by policy" || res[0].CallID != "c1" || res[1].Content != "sunny in Oslo" {
			t.Fatalf("model got %+v", res)
		}
		if resp.Text != "I may not delete that." {
			t.Fatalf("answer %q", resp.Text)
		}
	})
}

// A BeforeModel hook stops the turn: no request reaches the model, the
// turn is closed with an interruption marker (a valid, idle session), and
// the error matches ErrStopped and the hook's own error.
func TestHookStopsModelCall(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.Text("never sent"), llmtest.Text("Hello again."))
		errBudget := errors.New("over budget")
		stop := true
		h := agent.Hooks{BeforeModel: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			if stop {
				return nil, errBudget
			}
			return nil, nil
		}}
		a := agent.New(client, agent.WithSession("s", store), agent.WithHooks(h))
		resp, err := a.Chat(t.Context(), "Hi")
		if !errors.Is(err, agent.ErrStopped) || !errors.Is(err, errBudget) {
			t.Fatalf("err = %v", err)
		}
		if client.Calls() != 0 {
			t.Fatalf("%d requests reached the model", client.Calls())
		}
		msgs := stored(t, store, "s")
		if shape(msgs) != "ua" || !strings.HasPrefix(msgs[1].Text(), agent.InterruptedPrefix) || len(resp.Messages) != 2 {
			t.Fatalf("stored:\n%s", dump(msgs))
		}
		// The session is idle again: the next turn runs (and its request,
		// which carries the stopped turn, passes the provider's rules).
		stop = false
		if resp, err := a.Chat(t.Context(), "Hi again"); err != nil || resp.Text != "never sent" {
			t.Fatalf("next turn: %v, %+v", err, resp)
		}
	})
}

// A BeforeTool hook that returns an error stops the turn after the calls of
// the response: every call has a result, the turn is closed, and the model
// is not called again.
func TestHookStopsToolCall(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`), llmtest.Call("c2", "weather", `{"city":"Rome"}`)))
		errNo := errors.New("no Rome")
		h := agent.Hooks{BeforeTool: func(ctx context.Context, c *message.ToolCall) (*message.ToolResult, error) {
			if strings.Contains(string(c.Input), "Rome") {
				return nil, errNo
			}
			return nil, nil
		}}
		a := agent.New(client, agent.WithSession("s", store), agent.WithTools(weatherTool()), agent.WithHooks(h))
		_, err := a.Chat(t.Context(), "Weather?")
		if !errors.Is(err, agent.ErrStopped) || !errors.Is(err, errNo) {
			t.Fatalf("err = %v", err)
		}
		msgs := stored(t, store, "s")
		if shape(msgs) != "uAta" || session.Check(msgs) != nil || client.Calls() != 1 {
			t.Fatalf("%d calls; stored:\n%s", client.Calls(), dump(msgs))
		}
		res := msgs[2].ToolResults()
		if res[0].Content != "sunny in Oslo" || !res[1].IsError {
			t.Fatalf("results %+v", res)
		}
	})
}

// AfterModel and AfterTool change what the agent acts on: the model's
// answer and a tool's result; BeforeModel sees and changes the request.
func TestHooksChangeResponseAndResult(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)), llmtest.Text("It is sunny."))
		var models []string
		h := agent.Hooks{
			BeforeModel: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
				req.Model = "hooked-model"
				return nil, nil
			},
			AfterModel: func(ctx context.Context, req llm.Request, resp *llm.Response) error {
				models = append(models, req.Model)
				if resp.FinishReason == llm.FinishStop {
					resp.Message.Parts = []message.Part{message.Text{Text: "[redacted]"}}
				}
				return nil
			},
			AfterTool: func(ctx context.Context, c message.ToolCall, res *message.ToolResult) error {
				res.Content = strings.ToUpper(res.Content)
				return nil
			},
		}
		a := agent.New(client, agent.WithSession("s", store), agent.WithTools(weatherTool()), agent.WithHooks(h))
		resp, err := a.Chat(t.Context(), "Weather?")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "[redacted]" || strings.Join(models, ",") != "hooked-model,hooked-model" {
			t.Fatalf("text %q, models %v", resp.Text, models)
		}
		for _, r := range client.Requests() {
			if r.Model != "hooked-model" {
				t.Fatalf("request model %q", r.Model)
			}
		}
		msgs := stored(t, store, "s")
		if got := msgs[2].ToolResults()[0].Content; got != "SUNNY IN OSLO" {
			t.Fatalf("stored result %q", got)
		}
	})
}
