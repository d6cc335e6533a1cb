package llmtest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
)

func req(text string) llm.Request {
	return llm.Request{Model: "m1", Messages: []message.Message{message.NewUserMessage(text)}}
}

func TestScriptInOrderAndRecorded(t *testing.T) {
	c := llmtest.New(llmtest.Text("one").WithUsage(message.Usage{InputTokens: 3, OutputTokens: 1}), llmtest.Text("two"))
	r1, err := c.Generate(t.Context(), req("a"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Generate(t.Context(), req("b"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Message.Content() != "one" || r2.Message.Content() != "two" {
		t.Fatalf("got %q, %q", r1.Message.Content(), r2.Message.Content())
	}
	if r1.Usage.InputTokens != 3 || r1.Message.Usage == nil || r1.Message.Usage.OutputTokens != 1 {
		t.Errorf("usage not reported: %+v %+v", r1.Usage, r1.Message.Usage)
	}
	if r1.Message.Model != "m1" || r1.Message.Role != message.RoleAssistant || r1.Message.ID == "" || r1.Message.ID == r2.Message.ID {
		t.Errorf("bad message fields: %+v", r1.Message)
	}
	reqs := c.Requests()
	if len(reqs) != 2 || reqs[0].Messages[0].Content() != "a" || reqs[1].Messages[0].Content() != "b" {
		t.Fatalf("requests not recorded in order: %+v", reqs)
	}
	_, err = c.Generate(t.Context(), req("c"))
	if !errors.Is(err, llmtest.ErrScriptExhausted) {
		t.Fatalf("want ErrScriptExhausted, got %v", err)
	}
	if c.Calls() != 3 || c.Remaining() != 0 {
		t.Errorf("calls %d remaining %d", c.Calls(), c.Remaining())
	}
}

func TestDefaultGivesFreshIDs(t *testing.T) {
	c := llmtest.New()
	c.SetDefault(llmtest.Text("again"))
	a, _ := c.Generate(t.Context(), req("x"))
	b, _ := c.Generate(t.Context(), req("x"))
	if a == nil || b == nil || a.Message.ID == b.Message.ID {
		t.Fatal("default reply must give each answer a fresh ID")
	}
}

func TestErrorReply(t *testing.T) {
	apiErr := &llm.APIError{Provider: "test", StatusCode: 429, Kind: llm.ErrRateLimited}
	c := llmtest.New(llmtest.Error(apiErr))
	_, err := c.Generate(t.Context(), req("x"))
	if !errors.Is(err, llm.ErrRateLimited) {
		t.Fatalf("want ErrRateLimited, got %v", err)
	}
}

func TestStreamAssemblesSameResponse(t *testing.T) {
	c := llmtest.New(llmtest.Parts(
		message.Reasoning{Text: "think", Signature: "sig"},
		message.Text{Text: "héllo wörld"},
		message.ToolCall{ID: "c1", Name: "f", Input: []byte(`{"a":1}`)},
	).WithChunkSize(3))
	var text, reasoning, input strings.Builder
	var done *llm.Response
	for ev, err := range c.Stream(t.Context(), req("x")) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case llm.EventTextDelta:
			text.WriteString(ev.Text)
		case llm.EventReasoningDelta:
			reasoning.WriteString(ev.Text)
		case llm.EventToolCallDelta:
			input.WriteString(ev.ToolCall.InputDelta)
		case llm.EventDone:
			done = ev.Response
		}
	}
	if text.String() != "héllo wörld" || reasoning.String() != "think" || input.String() != `{"a":1}` {
		t.Errorf("deltas: %q %q %q", text.String(), reasoning.String(), input.String())
	}
	if done == nil || done.FinishReason != llm.FinishToolCalls || done.Message.ReasoningContent().Signature != "sig" {
		t.Fatalf("done: %+v", done)
	}
}

func TestStreamFailsMidway(t *testing.T) {
	boom := errors.New("connection reset")
	c := llmtest.New(llmtest.Text("abcdefgh").WithChunkSize(2).FailStreamAfter(2, boom))
	var got string
	var gotErr error
	for ev, err := range c.Stream(t.Context(), req("x")) {
		if err != nil {
			gotErr = err
			break
		}
		got += ev.Text
	}
	if got != "abcd" || !errors.Is(gotErr, boom) {
		t.Fatalf("got %q, %v", got, gotErr)
	}
}

func TestBlockingHonoursContext(t *testing.T) {
	c := llmtest.New(llmtest.Text("never").Blocking())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Generate(ctx, req("x"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	const n = 50
	c := llmtest.New()
	for range n {
		c.Push(llmtest.Text("x"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := c.Generate(t.Context(), req("q")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.Calls() != n || len(c.Requests()) != n || c.Remaining() != 0 {
		t.Fatalf("calls %d, requests %d, remaining %d", c.Calls(), len(c.Requests()), c.Remaining())
	}
}

func TestRequestCheckRefusesAsProviderWould(t *testing.T) {
	errNoUser := errors.New("the first message must be a user turn")
	check := func(r llm.Request) error {
		if len(r.Messages) == 0 || r.Messages[0].Role != message.RoleUser {
			return errNoUser
		}
		return nil
	}
	c := llmtest.New(llmtest.Text("one"), llmtest.Text("two")).WithRequestCheck(check)
	bad := llm.Request{Messages: []message.Message{message.NewAssistantMessage("hi")}}

	_, err := c.Generate(t.Context(), bad)
	var apiErr *llm.APIError
	if !errors.Is(err, llm.ErrBadRequest) || !errors.Is(err, errNoUser) || !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("Generate: want a 400 ErrBadRequest wrapping the rule, got %v", err)
	}
	if !strings.Contains(err.Error(), "request 1") || !strings.Contains(err.Error(), errNoUser.Error()) {
		t.Errorf("error does not name the request and the rule: %v", err)
	}
	for _, err := range c.Stream(t.Context(), bad) {
		if !errors.Is(err, llm.ErrBadRequest) {
			t.Fatalf("Stream: want ErrBadRequest, got %v", err)
		}
	}
	// A refused request uses no scripted reply: the next good request gets
	// the first one.
	resp, err := c.Generate(t.Context(), req("a"))
	if err != nil || resp.Message.Content() != "one" {
		t.Fatalf("good request after refusals: %v, %v", resp, err)
	}
	v := c.Violations()
	if len(v) != 2 || !errors.Is(v[0], errNoUser) || !strings.Contains(v[1].Error(), "request 2") {
		t.Fatalf("violations = %v", v)
	}
	if len(c.Requests()) != 3 || c.Calls() != 3 || c.Remaining() != 1 {
		t.Fatalf("requests %d calls %d remaining %d", len(c.Requests()), c.Calls(), c.Remaining())
	}
}

func TestNoChecksNoViolations(t *testing.T) {
	c := llmtest.New(llmtest.Text("one")).WithRequestCheck(nil)
	if _, err := c.Generate(t.Context(), llm.Request{}); err != nil {
		t.Fatal(err)
	}
	if v := c.Violations(); v != nil {
		t.Fatalf("violations = %v", v)
	}
}
