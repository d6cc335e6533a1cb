package agent_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

type cityArgs struct {
	City string `json:"city"`
}

func weatherTool() tool.Tool {
	return tool.Func("weather", "Weather in a city", func(ctx context.Context, a cityArgs) (string, error) {
		return "sunny in " + a.City, nil
	})
}

func TestChatStoresTurnAndSendsSystemPrompt(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.Text("Hello!").WithUsage(message.Usage{InputTokens: 10, OutputTokens: 2}))
		a := agent.New(client, agent.WithSession("s1", store), agent.WithSystemPrompt("Be brief."), agent.WithModel("m1"))
		resp, err := a.Chat(t.Context(), "Hi")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "Hello!" || resp.Iterations != 1 || resp.Usage.InputTokens != 10 || len(resp.Messages) != 2 {
			t.Fatalf("response = %+v", resp)
		}
		msgs := stored(t, store, "s1")
		if shape(msgs) != "ua" || msgs[0].Content() != "Hi" || msgs[1].Model != "m1" {
			t.Fatalf("stored %s", dump(msgs))
		}
		req, _ := client.LastRequest()
		if req.Model != "m1" || len(req.Messages) != 2 || req.Messages[0].Role != message.RoleSystem || req.Messages[0].Content() != "Be brief." {
			t.Fatalf("request = %+v", req.Messages)
		}
		// Second turn: the system prompt is still not stored, and is sent once.
		client.Push(llmtest.Text("Bye!"))
		if _, err := a.Chat(t.Context(), "Bye"); err != nil {
			t.Fatal(err)
		}
		if got := shape(stored(t, store, "s1")); got != "uaua" {
			t.Fatalf("stored shape %s", got)
		}
		req, _ = client.LastRequest()
		if shape(req.Messages) != "yuau" {
			t.Fatalf("request shape %s", shape(req.Messages))
		}
	})
}

func TestWithSessionDoesNoIOAndReturnsErrors(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		a := agent.New(p.client(t), agent.WithSession("", store))
		if ok, _ := store.Exists(t.Context(), "x"); ok || store.Writes() != 0 {
			t.Fatal("New did I/O")
		}
		_, err := a.Chat(t.Context(), "hi")
		if !errors.Is(err, session.ErrInvalidID) {
			t.Fatalf("want ErrInvalidID, got %v", err)
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		b := agent.New(p.client(t, llmtest.Text("x")), agent.WithSession("ok", store))
		if _, err := b.Chat(ctx, "hi"); !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
		if ok, _ := store.Exists(t.Context(), "ok"); ok {
			t.Fatal("a cancelled first call created the session")
		}
		// The next call opens it.
		if _, err := b.Chat(t.Context(), "hi"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestToolsRunInParallelInCallOrder(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		var running, peak atomic.Int32
		both := make(chan struct{})
		var arrived atomic.Int32
		slow := tool.Func("slow", "", func(ctx context.Context, a struct {
			N int `json:"n"`
		}) (int, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if arrived.Add(1) == 2 {
				close(both)
			}
			select { // the first call finishes only once the second started
			case <-both:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return a.N * 10, nil
		})
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c1", "slow", `{"n":1}`), llmtest.Call("c2", "slow", `{"n":2}`)),
			llmtest.Text("done"),
		)
		a := agent.New(client, agent.WithSession("p", store), agent.WithTools(slow), agent.WithToolTimeout(10*time.Second))
		resp, err := a.Chat(t.Context(), "go")
		if err != nil {
			t.Fatal(err)
		}
		if peak.Load() != 2 {
			t.Errorf("peak concurrency %d, want 2", peak.Load())
		}
		msgs := stored(t, store, "p")
		if shape(msgs) != "uAta" {
			t.Fatalf("stored %s", dump(msgs))
		}
		res := msgs[2].ToolResults()
		if len(res) != 2 || res[0].CallID != "c1" || res[0].Content != "10" || res[1].CallID != "c2" || res[1].Content != "20" {
			t.Fatalf("results %+v", res)
		}
		if resp.Iterations != 2 || len(resp.Messages) != 4 {
			t.Fatalf("response %+v", resp)
		}
		// The second request carried the call and its results.
		reqs := client.Requests()
		if shape(reqs[1].Messages) != "uAt" || len(reqs[1].Tools) != 1 || reqs[1].Tools[0].Name != "slow" {
			t.Fatalf("second request %s", dump(reqs[1].Messages))
		}
	})
}

func TestMaxParallelToolsOne(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		var running, peak atomic.Int32
		probe := tool.Func("probe", "", func(ctx context.Context, _ struct{}) (string, error) {
			n := running.Add(1)
			defer running.Add(-1)
			if n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(time.Millisecond)
			return "ok", nil
		})
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("1", "probe", ""), llmtest.Call("2", "probe", ""), llmtest.Call("3", "probe", "")),
			llmtest.Text("done"),
		)
		a := agent.New(client, agent.WithTools(probe), agent.WithMaxParallelTools(1))
		if _, err := a.Chat(t.Context(), "go"); err != nil {
			t.Fatal(err)
		}
		if peak.Load() != 1 {
			t.Fatalf("peak %d with MaxParallelTools(1)", peak.Load())
		}
	})
}

func TestToolFailuresReachTheModel(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		boom := tool.Func("boom", "", func(ctx context.Context, _ struct{}) (string, error) { panic("kaboom") })
		client := p.client(t,
			llmtest.ToolCalls(
				llmtest.Call("1", "weather", `{"town":"Oslo"}`),
				llmtest.Call("2", "boom", `{}`),
				llmtest.Call("3", "nosuch", `{}`),
				llmtest.Call("4", "weather", `not json`),
			),
			llmtest.Text("sorry"),
		)
		a := agent.New(client, agent.WithSession("f", store), agent.WithTools(weatherTool(), boom))
		resp, err := a.Chat(t.Context(), "go")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "sorry" {
			t.Fatalf("text %q", resp.Text)
		}
		res := stored(t, store, "f")[2].ToolResults()
		for i, r := range res {
			if !r.IsError {
				t.Errorf("result %d not an error: %+v", i, r)
			}
		}
		if !strings.Contains(res[1].Content, "kaboom") || !strings.Contains(res[2].Content, "nosuch") {
			t.Errorf("results %+v", res)
		}
	})
}

func TestProviderErrorMidTurnLeavesValidIdleSession(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		rate := &llm.APIError{Provider: "test", StatusCode: 429, Kind: llm.ErrRateLimited, RetryAfter: time.Second}
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("1", "weather", `{"city":"Oslo"}`)),
			llmtest.Error(rate),
		)
		a := agent.New(client, agent.WithSession("e", store), agent.WithTools(weatherTool()), agent.WithConcurrencyPolicy(agent.FailIfBusy))
		resp, err := a.Chat(t.Context(), "go")
		if !errors.Is(err, llm.ErrRateLimited) {
			t.Fatalf("want ErrRateLimited, got %v", err)
		}
		if d, ok := llm.RetryAfter(err); !ok || d != time.Second {
			t.Errorf("retry-after lost: %v %v", d, ok)
		}
		if resp == nil || len(resp.Messages) != 4 {
			t.Fatalf("partial response %+v", resp)
		}
		msgs := stored(t, store, "e")
		if shape(msgs) != "uAta" || !strings.HasPrefix(msgs[3].Content(), agent.InterruptedPrefix) {
			t.Fatalf("stored %s", dump(msgs))
		}
		// The session is idle: a new turn runs at once even with FailIfBusy.
		client.Push(llmtest.Text("ok now"))
		if _, err := a.Chat(t.Context(), "again"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProviderErrorFirstCall(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.Error(&llm.APIError{Provider: "test", StatusCode: 401, Kind: llm.ErrAuthentication}))
		a := agent.New(client, agent.WithSession("e", store))
		if _, err := a.Chat(t.Context(), "go"); !errors.Is(err, llm.ErrAuthentication) {
			t.Fatalf("got %v", err)
		}
		if got := shape(stored(t, store, "e")); got != "ua" {
			t.Fatalf("stored %s", got)
		}
	})
}

func TestCancelDuringToolsRecordsInterruptedResults(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		fastDone := make(chan struct{})
		fast := tool.Func("fast", "", func(ctx context.Context, _ struct{}) (string, error) {
			defer close(fastDone)
			return "quick", nil
		})
		started := make(chan struct{})
		hang := tool.Func("hang", "", func(ctx context.Context, _ struct{}) (string, error) {
			<-fastDone
			time.Sleep(50 * time.Millisecond) // let Call collect fast's result (not a timing assertion: only lets the scheduler run)
			close(started)
			<-ctx.Done()
			return "", ctx.Err()
		})
		go func() { <-started; cancel() }()
		client := p.client(t, llmtest.ToolCalls(llmtest.Call("1", "fast", ""), llmtest.Call("2", "hang", "")))
		a := agent.New(client, agent.WithSession("c", store), agent.WithTools(fast, hang))
		_, err := a.Chat(ctx, "go")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want Canceled, got %v", err)
		}
		msgs := stored(t, store, "c")
		if shape(msgs) != "uAta" {
			t.Fatalf("stored %s", dump(msgs))
		}
		res := msgs[2].ToolResults()
		if res[0].Content != "quick" || res[0].Synthesized || !res[1].Synthesized || !res[1].IsError {
			t.Fatalf("results %+v", res)
		}
	})
}

func TestCancelDuringModelCall(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		client := p.client(t, llmtest.Func(func(c context.Context, req llm.Request) (*llm.Response, error) {
			cancel()
			<-c.Done()
			return nil, c.Err()
		}))
		a := agent.New(client, agent.WithSession("m", store))
		if _, err := a.Chat(ctx, "go"); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if got := shape(stored(t, store, "m")); got != "ua" {
			t.Fatalf("stored %s", got)
		}
	})
}

func TestMaxIterations(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t)
		client.SetDefault(llmtest.ToolCalls(llmtest.Call("1", "weather", `{"city":"X"}`)))
		a := agent.New(client, agent.WithSession("i", store), agent.WithTools(weatherTool()), agent.WithMaxIterations(3))
		resp, err := a.Chat(t.Context(), "loop")
		if !errors.Is(err, agent.ErrMaxIterations) {
			t.Fatalf("got %v", err)
		}
		if client.Calls() != 3 || resp.Iterations != 3 {
			t.Fatalf("calls %d iterations %d", client.Calls(), resp.Iterations)
		}
		msgs := stored(t, store, "i")
		if shape(msgs) != "uAtAtAta" {
			t.Fatalf("stored %s", dump(msgs))
		}
		last := msgs[6].ToolResults()[0]
		if !last.IsError || !last.Synthesized || !strings.Contains(last.Content, "not run") {
			t.Fatalf("last result %+v", last)
		}
	})
}

func TestSendWithImage(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.Text("a cat"))
		a := agent.New(client, agent.WithSession("img", store))
		msg := message.Message{Parts: []message.Part{
			message.Text{Text: "What is this?"},
			message.ImageURL{URL: "https://example.com/cat.png", Detail: "low"},
			message.Binary{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}},
		}}
		if _, err := a.Send(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		got := stored(t, store, "img")[0]
		if got.Role != message.RoleUser || len(got.ImageURLContent()) != 1 || len(got.BinaryContent()) != 1 {
			t.Fatalf("stored %+v", got)
		}
		req, _ := client.LastRequest()
		if len(req.Messages[0].ImageURLContent()) != 1 {
			t.Fatal("image not sent")
		}
		if _, err := a.Send(t.Context(), message.NewAssistantMessage("x")); err == nil {
			t.Fatal("non-user message accepted")
		}
	})
}

func TestInvalidToolReportedOnFirstCall(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		bad := tool.Func("bad name", "", func(ctx context.Context, _ struct{}) (string, error) { return "", nil })
		a := agent.New(p.client(t, llmtest.Text("x")), agent.WithTools(bad))
		if _, err := a.Chat(t.Context(), "hi"); !errors.Is(err, tool.ErrInvalidTool) {
			t.Fatalf("got %v", err)
		}
	})
}
