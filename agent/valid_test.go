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

// The tests in this file hold the agent to "valid also means accepted":
// nothing it stores may make a later request to a supported provider fail.
// Each runs once per provider family with the family's request rules
// enforced (eachProvider).

// noBlankOrEmpty fails t if any message of msgs has a blank text part, or is
// a user or assistant message with nothing a provider would accept.
func noBlankOrEmpty(t *testing.T, what string, msgs []message.Message) {
	t.Helper()
	for i, m := range msgs {
		for _, p := range m.Parts {
			if tx, ok := p.(message.Text); ok && strings.TrimSpace(tx.Text) == "" {
				t.Errorf("%s: message %d (%s) has a blank text part %q", what, i, m.Role, tx.Text)
			}
		}
		if (m.Role == message.RoleAssistant || m.Role == message.RoleUser) && len(m.Parts) == 0 {
			t.Errorf("%s: message %d (%s) has no parts", what, i, m.Role)
		}
	}
}

// hasToolParts reports whether any message of msgs holds a tool call or a
// tool result.
func hasToolParts(msgs []message.Message) bool {
	for _, m := range msgs {
		if len(m.ToolCalls()) > 0 || len(m.ToolResults()) > 0 {
			return true
		}
	}
	return false
}

func isSummaryRequest(req llm.Request) bool {
	return len(req.Messages) > 0 && req.Messages[0].Content() == agent.DefaultSummaryPrompt
}

func TestCompactionWithToolCalls(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t)
		summaries := 0
		client.SetDefault(llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
			text := "answer"
			if isSummaryRequest(req) {
				summaries++
				text = "the summary"
			}
			return &llm.Response{Message: message.NewAssistantMessage(text), FinishReason: llm.FinishStop}, nil
		}))
		client.Push(
			llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)), llmtest.Text("sunny"),
			llmtest.ToolCalls(llmtest.Call("c2", "weather", `{"city":"Bergen"}`)), llmtest.Text("rainy"),
		)
		a := agent.New(client, agent.WithSession("ct", store), agent.WithTools(weatherTool()),
			agent.WithCompaction(agent.Compaction{AfterMessages: 6}))
		for _, q := range []string{"Oslo?", "Bergen?", "and now?", "more?"} {
			if _, err := a.Chat(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		msgs := stored(t, store, "ct")
		if got := shape(msgs); got != "uAtauAtasuaua" {
			t.Fatalf("stored %s", got)
		}
		if summaries != 1 || msgs[8].Text() != "the summary" {
			t.Fatalf("%d summary requests; stored %s", summaries, dump(msgs))
		}
		for _, req := range client.Requests() {
			if !isSummaryRequest(req) {
				continue
			}
			// The history goes as a transcript: no tool blocks, which
			// Anthropic refuses without tool definitions.
			if hasToolParts(req.Messages) || len(req.Tools) != 0 {
				t.Errorf("summary request holds tool blocks: %s", dump(req.Messages))
			}
			all := ""
			for _, m := range req.Messages {
				all += m.Text()
			}
			for _, want := range []string{"Oslo?", `weather with input: {"city":"Bergen"}`, "sunny in Bergen", "rainy"} {
				if !strings.Contains(all, want) {
					t.Errorf("summary request does not carry %q:\n%s", want, all)
				}
			}
		}
	})
}

func TestBlankUserMessageRefused(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t, llmtest.Text("hi"))
		a := agent.New(client, agent.WithSession("blank", store))
		for _, text := range []string{"", "\n", " \t\r\n\u00a0\u2003"} {
			resp, err := a.Chat(t.Context(), text)
			if !errors.Is(err, agent.ErrEmptyMessage) || resp != nil {
				t.Fatalf("Chat(%q): want ErrEmptyMessage and no response, got %v, %v", text, resp, err)
			}
		}
		if client.Calls() != 0 || store.Writes() != 0 {
			t.Fatalf("a blank message reached the model (%d calls) or the store (%d writes)", client.Calls(), store.Writes())
		}
		// A blank text part beside an image is dropped; the image is sent.
		img := message.NewMessage(message.RoleUser, message.Text{Text: " \n"}, message.ImageURL{URL: "https://example.com/a.png"})
		if _, err := a.Send(t.Context(), img); err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "blank")
		noBlankOrEmpty(t, "stored", msgs)
		if len(msgs) != 2 || len(msgs[0].ImageURLContent()) != 1 {
			t.Fatalf("stored %s", dump(msgs))
		}
	})
}

func TestBlankTextBesideToolCallNotStored(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t,
			llmtest.Parts(message.Text{Text: "\n\n"}, llmtest.Call("c1", "weather", `{"city":"Oslo"}`)),
			llmtest.Parts(message.Text{Text: "Sunny."}, message.Text{Text: " "}),
			llmtest.Text("bye"),
		)
		a := agent.New(client, agent.WithSession("bt", store), agent.WithTools(weatherTool()))
		if _, err := a.Chat(t.Context(), "weather?"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Chat(t.Context(), "thanks"); err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "bt")
		if got := shape(msgs); got != "uAtaua" {
			t.Fatalf("stored %s", got)
		}
		noBlankOrEmpty(t, "stored", msgs)
		for _, req := range client.Requests() {
			noBlankOrEmpty(t, "request", req.Messages)
		}
	})
}

// A session written by an older release may hold blank text and empty
// assistant messages: they are not sent.
func TestBlankStoredTextNotSent(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		seed(t, store, "old",
			message.NewUserMessage("hi"),
			message.NewMessage(message.RoleAssistant, message.Text{Text: " "}, message.ToolCall{ID: "c1", Name: "weather", Input: []byte(`{"city":"Oslo"}`)}),
			message.NewToolResultMessage(message.ToolResult{CallID: "c1", Name: "weather", Content: "sunny in Oslo"}),
			message.NewMessage(message.RoleAssistant),
			message.NewUserMessage("\n"),
			message.NewAssistantMessage("ok"),
		)
		client := p.client(t, llmtest.Text("fine"))
		a := agent.New(client, agent.WithSession("old", store), agent.WithTools(weatherTool()))
		if _, err := a.Chat(t.Context(), "again"); err != nil {
			t.Fatal(err)
		}
		req, _ := client.LastRequest()
		noBlankOrEmpty(t, "request", req.Messages)
		if got := shape(req.Messages); got != "uAtau" {
			t.Fatalf("request %s", dump(req.Messages))
		}
		// A window that starts at the blank user message still sends a
		// history that starts with a user turn.
		client.Push(llmtest.Text("fine again"))
		b := agent.New(client, agent.WithSession("old", store), agent.WithTools(weatherTool()), agent.WithHistory(agent.LastN(5)))
		if _, err := b.Chat(t.Context(), "and again"); err != nil {
			t.Fatal(err)
		}
		req, _ = client.LastRequest()
		if got := shape(req.Messages); got != "uau" || req.Messages[0].Content() != "again" {
			t.Fatalf("request %s", dump(req.Messages))
		}
	})
}

func TestEmptyAnswerNeverStored(t *testing.T) {
	cases := []struct {
		name  string
		reply llmtest.Reply
		want  error
	}{
		// A reasoning model that spent its whole budget thinking:
		// content "" with finish_reason "length".
		{"length, no content", llmtest.Parts().WithFinishReason(llm.FinishLength), llm.ErrOutputTruncated},
		{"length, reasoning only", llmtest.Parts(message.Reasoning{Text: "hmm"}).WithFinishReason(llm.FinishLength), llm.ErrOutputTruncated},
		{"length, blank text", llmtest.Text("\n").WithFinishReason(llm.FinishLength), llm.ErrOutputTruncated},
		// content null with finish_reason "content_filter".
		{"content filter, no content", llmtest.Parts().WithFinishReason(llm.FinishContentFilter), llm.ErrContentFiltered},
		{"stop, no content", llmtest.Parts(), agent.ErrEmptyAnswer},
		{"stop, blank text", llmtest.Text(" \n "), agent.ErrEmptyAnswer},
	}
	eachProvider(t, func(t *testing.T, p provider) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				store := newStore(t)
				client := p.client(t, tc.reply, llmtest.Text("a real answer"))
				a := agent.New(client, agent.WithSession("e", store))
				resp, err := a.Chat(t.Context(), "question")
				if !errors.Is(err, tc.want) {
					t.Fatalf("want %v, got %v", tc.want, err)
				}
				if resp == nil || resp.Text != "" || len(resp.Message.Parts) != 0 {
					t.Fatalf("response %+v", resp)
				}
				msgs := stored(t, store, "e")
				noBlankOrEmpty(t, "stored", msgs)
				if got := shape(msgs); got != "ua" || !strings.HasPrefix(msgs[1].Text(), agent.InterruptedPrefix) {
					t.Fatalf("stored %s", dump(msgs))
				}
				// The session stays usable.
				if resp, err := a.Chat(t.Context(), "again"); err != nil || resp.Text != "a real answer" {
					t.Fatalf("next turn: %v, %v", resp, err)
				}
				req, _ := client.LastRequest()
				noBlankOrEmpty(t, "request", req.Messages)
			})
		}
	})
}

func TestTruncatedToolCallNotRun(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		var runs atomic.Int32
		counted := tool.Func("weather", "", func(ctx context.Context, a cityArgs) (string, error) {
			runs.Add(1)
			return "sunny", nil
		})
		client := p.client(t,
			llmtest.Parts(message.Text{Text: "Let me look."}, llmtest.Call("c1", "weather", `{"city":"Os`)).WithFinishReason(llm.FinishLength),
			llmtest.Text("ok"),
		)
		a := agent.New(client, agent.WithSession("tr", store), agent.WithTools(counted))
		resp, err := a.Chat(t.Context(), "weather?")
		if !errors.Is(err, llm.ErrOutputTruncated) {
			t.Fatalf("want ErrOutputTruncated, got %v", err)
		}
		if runs.Load() != 0 {
			t.Fatal("the cut-off tool call was run")
		}
		if resp.FinishReason != llm.FinishLength || client.Calls() != 1 {
			t.Fatalf("finish %q after %d calls", resp.FinishReason, client.Calls())
		}
		msgs := stored(t, store, "tr")
		if got := shape(msgs); got != "ua" || !strings.HasPrefix(msgs[1].Text(), agent.InterruptedPrefix) {
			t.Fatalf("stored %s", dump(msgs))
		}
		if _, err := a.Chat(t.Context(), "again"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFilteredAnswer(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		var runs atomic.Int32
		counted := tool.Func("weather", "", func(ctx context.Context, a cityArgs) (string, error) {
			runs.Add(1)
			return "sunny", nil
		})
		client := p.client(t,
			llmtest.Parts(message.Text{Text: "Partial answer."}, llmtest.Call("c1", "weather", `{}`)).WithFinishReason(llm.FinishContentFilter),
			llmtest.Text("ok"),
		)
		a := agent.New(client, agent.WithSession("r", store), agent.WithTools(counted))
		resp, err := a.Chat(t.Context(), "something")
		if !errors.Is(err, llm.ErrContentFiltered) {
			t.Fatalf("want ErrContentFiltered, got %v", err)
		}
		// The filtered answer's text is the answer, stored and returned.
		if resp == nil || resp.Text != "Partial answer." || resp.FinishReason != llm.FinishContentFilter || runs.Load() != 0 {
			t.Fatalf("response %+v, %d tool runs", resp, runs.Load())
		}
		msgs := stored(t, store, "r")
		if got := shape(msgs); got != "ua" || msgs[1].Text() != "Partial answer." {
			t.Fatalf("stored %s", dump(msgs))
		}
		if _, err := a.Chat(t.Context(), "something else"); err != nil {
			t.Fatal(err)
		}
	})
}

// A refused turn is kept in the store as a record but never sent again:
// Anthropic says a refused turn must be reset, and that continuing without
// resetting "will result in continued refusals"
// (platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals).
// Both providers behave the same.
func TestRefusedTurnNotResent(t *testing.T) {
	const refusalText = "This request was declined because it could enable cyber harm."
	eachProvider(t, func(t *testing.T, p provider) {
		for _, tc := range []struct {
			name  string
			reply llmtest.Reply
			text  string
		}{
			{"with text", llmtest.Parts(message.Text{Text: refusalText}, llmtest.Call("c9", "weather", `{}`)).WithFinishReason(llm.FinishRefusal), refusalText},
			{"without text", llmtest.Parts().WithFinishReason(llm.FinishRefusal), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				store := newStore(t)
				var runs atomic.Int32
				counted := tool.Func("weather", "", func(ctx context.Context, a cityArgs) (string, error) {
					runs.Add(1)
					return "sunny", nil
				})
				client := p.client(t,
					llmtest.Text("Hello."),
					llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)),
					tc.reply,
					llmtest.Text("Rainy."),
				)
				a := agent.New(client, agent.WithSession("r", store), agent.WithTools(counted))
				if _, err := a.Chat(t.Context(), "hi"); err != nil {
					t.Fatal(err)
				}
				resp, err := a.Chat(t.Context(), "REFUSED QUESTION")
				if !errors.Is(err, llm.ErrRefused) {
					t.Fatalf("want ErrRefused, got %v", err)
				}
				if resp == nil || resp.Text != tc.text || resp.FinishReason != llm.FinishRefusal || runs.Load() != 1 {
					t.Fatalf("response %+v, %d tool runs", resp, runs.Load())
				}
				if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
					t.Fatalf("error %q lacks the refusal's text", err)
				}
				// The record is kept: the refused turn closed by a marker.
				msgs := stored(t, store, "r")
				if got := shape(msgs); got != "uauAta" || !strings.HasPrefix(msgs[5].Text(), agent.RefusedPrefix) ||
					!strings.Contains(msgs[5].Text(), tc.text) {
					t.Fatalf("stored %s", dump(msgs))
				}
				resp, err = a.Chat(t.Context(), "weather in Bergen?")
				if err != nil || resp.Text != "Rainy." {
					t.Fatalf("next turn: %+v, %v", resp, err)
				}
				req, _ := client.LastRequest()
				if got := shape(req.Messages); got != "uau" {
					t.Fatalf("next request %s", dump(req.Messages))
				}
				for _, m := range req.Messages {
					txt := m.Text()
					if strings.Contains(txt, "REFUSED QUESTION") || strings.Contains(txt, agent.RefusedPrefix) ||
						(tc.text != "" && strings.Contains(txt, tc.text)) || len(m.ToolCalls()) > 0 {
						t.Fatalf("the refused turn was sent again: %s", dump(req.Messages))
					}
				}
			})
		}
	})
}

func TestInterruptionMarkerNotSentAsModelWords(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)),
			llmtest.Error(&llm.APIError{Provider: "x", Kind: llm.ErrServer, StatusCode: 500}),
			llmtest.Text("Sorry about that. It is sunny."),
		)
		a := agent.New(client, agent.WithSession("im", store), agent.WithTools(weatherTool()))
		if _, err := a.Chat(t.Context(), "weather?"); !errors.Is(err, llm.ErrServer) {
			t.Fatalf("want ErrServer, got %v", err)
		}
		msgs := stored(t, store, "im")
		if got := shape(msgs); got != "uAta" || !strings.HasPrefix(msgs[3].Text(), agent.InterruptedPrefix) {
			t.Fatalf("stored %s", dump(msgs))
		}
		if _, err := a.Chat(t.Context(), "well?"); err != nil {
			t.Fatal(err)
		}
		req, _ := client.LastRequest()
		// u A t note u: the marker goes as a note in a user turn.
		if got := shape(req.Messages); got != "uAtuu" {
			t.Fatalf("request %s", dump(req.Messages))
		}
		for _, m := range req.Messages {
			if strings.Contains(m.Text(), agent.InterruptedPrefix) {
				t.Fatalf("the marker was sent: %s", dump(req.Messages))
			}
		}
		if note := req.Messages[3].Text(); note != agent.InterruptedNote("the model request failed") {
			t.Fatalf("note %q", note)
		}
		// The store keeps the record.
		if got := shape(stored(t, store, "im")); got != "uAtaua" {
			t.Fatalf("stored %s", got)
		}
	})
}

func TestToolResultsStreamedAsEachFinishes(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		release := make(chan struct{})
		slow := tool.Func("slow", "", func(ctx context.Context, _ struct{}) (string, error) {
			select {
			case <-release:
				return "slow done", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		})
		fast := tool.Func("fast", "", func(ctx context.Context, _ struct{}) (string, error) { return "fast done", nil })
		client := p.client(t, llmtest.ToolCalls(llmtest.Call("c1", "slow", `{}`), llmtest.Call("c2", "fast", `{}`)), llmtest.Text("both done"))
		a := agent.New(client, agent.WithSession("sr", store), agent.WithTools(slow, fast))
		// The slow tool finishes only once the fast one's result has been
		// streamed; a watchdog context ends the wait if it never is.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var order []string
		for ev, err := range a.ChatStream(ctx, "go") {
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == agent.EventToolResult {
				order = append(order, ev.ToolResult.Content)
				if ev.ToolResult.Name == "fast" {
					close(release)
				}
			}
		}
		if len(order) != 2 || order[0] != "fast done" || order[1] != "slow done" {
			t.Fatalf("results streamed in order %q", order)
		}
		msgs := stored(t, store, "sr")
		rs := msgs[2].ToolResults()
		if shape(msgs) != "uAta" || rs[0].CallID != "c1" || rs[1].CallID != "c2" {
			t.Fatalf("stored %s", dump(msgs))
		}
	})
}

// unversionedStore hides every capability of a MemoryStore but the basic
// session.Store: a third-party store written to the interface alone.
type unversionedStore struct{ m *session.MemoryStore }

type unversionedSession struct{ session.Session }

func (u unversionedStore) Exists(ctx context.Context, id string) (bool, error) {
	return u.m.Exists(ctx, id)
}
func (u unversionedStore) Create(ctx context.Context, id string) (session.Session, error) {
	s, err := u.m.Create(ctx, id)
	if err != nil {
		return nil, err
	}
	return unversionedSession{s}, nil
}
func (u unversionedStore) Load(ctx context.Context, id string) (session.Session, error) {
	s, err := u.m.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return unversionedSession{s}, nil
}
func (u unversionedStore) Delete(ctx context.Context, id string) error { return u.m.Delete(ctx, id) }
