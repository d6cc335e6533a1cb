package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// tracedStores are the stores whose calls the tracing test checks, with the
// db.system.name the conventions give them.
func tracedStores(t *testing.T) map[string]func(t *testing.T) session.Store {
	return map[string]func(t *testing.T) session.Store{
		"sqlite": sqliteStore,
		"postgresql": func(t *testing.T) session.Store {
			url := os.Getenv("CONVO_TEST_POSTGRES")
			if url == "" {
				if os.Getenv("CI") == "true" {
					t.Fatal("CI=true needs PostgreSQL: set CONVO_TEST_POSTGRES")
				}
				t.Skip("no PostgreSQL: set CONVO_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
			}
			pool, err := pgxpool.New(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			store, err := postgres.SessionStore(t.Context(), pool, postgres.WithTablePrefix("agenttrace_"))
			if err != nil {
				t.Fatal(err)
			}
			return store
		},
	}
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// A traced turn is one invoke_agent span holding a chat span per model call
// (gen_ai.* attributes with token usage and finish reasons), an
// execute_tool span per tool call (a failed tool fails its span), and a
// span per store call (db.system.name, db.operation.name), all children of
// the turn span, which is a child of the caller's span. Names and
// attributes follow semantic conventions v1.37.0 (see trace.go).
func TestTracing(t *testing.T) {
	for system, open := range tracedStores(t) {
		t.Run(system, func(t *testing.T) {
			store := open(t)
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			broken := tool.Func("broken", "Fails", func(ctx context.Context, a struct{}) (string, error) {
				return "", errors.New("disk on fire")
			})
			client := llmtest.New(
				llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`), llmtest.Call("c2", "broken", `{}`)).
					WithUsage(message.Usage{InputTokens: 11, OutputTokens: 7}),
				llmtest.Text("Sunny.").WithUsage(message.Usage{InputTokens: 20, OutputTokens: 3}),
			)
			id := "trace-" + message.NewID()
			a := agent.New(client, agent.WithSession(id, store), agent.WithTools(weatherTool(), broken),
				agent.WithModel("m-1"), agent.WithTemperature(0.5), agent.WithTracerProvider(tp), agent.WithProviderName("openai"))
			ctx, root := tp.Tracer("test").Start(t.Context(), "request")
			if _, err := a.Chat(ctx, "Weather?"); err != nil {
				t.Fatal(err)
			}
			root.End()
			spans := exp.GetSpans()
			var names []string
			byName := map[string][]tracetest.SpanStub{}
			for _, s := range spans {
				names = append(names, s.Name)
				byName[s.Name] = append(byName[s.Name], s)
			}
			one := func(name string) tracetest.SpanStub {
				t.Helper()
				if len(byName[name]) != 1 {
					t.Fatalf("%d spans %q; all: %v", len(byName[name]), name, names)
				}
				return byName[name][0]
			}
			turn := one("invoke_agent")
			if turn.Parent.SpanID() != root.SpanContext().SpanID() {
				t.Errorf("invoke_agent is not a child of the caller's span")
			}
			ta := attrs(turn)
			if ta["gen_ai.operation.name"].AsString() != "invoke_agent" || ta["gen_ai.provider.name"].AsString() != "openai" ||
				ta["gen_ai.conversation.id"].AsString() != id || ta["gen_ai.request.model"].AsString() != "m-1" ||
				ta["gen_ai.usage.input_tokens"].AsInt64() != 31 || ta["gen_ai.usage.output_tokens"].AsInt64() != 10 ||
				turn.Status.Code == codes.Error {
				t.Errorf("invoke_agent: %v %v", ta, turn.Status)
			}
			chats := byName["chat m-1"]
			if len(chats) != 2 {
				t.Fatalf("%d chat spans; all: %v", len(chats), names)
			}
			for i, want := range []struct {
				in, out int64
				finish  string
			}{{11, 7, "tool_calls"}, {20, 3, "stop"}} {
				c := attrs(chats[i])
				if chats[i].SpanKind != trace.SpanKindClient || chats[i].Parent.SpanID() != turn.SpanContext.SpanID() ||
					c["gen_ai.operation.name"].AsString() != "chat" || c["gen_ai.provider.name"].AsString() != "openai" ||
					c["gen_ai.request.model"].AsString() != "m-1" || c["gen_ai.request.temperature"].AsFloat64() != 0.5 ||
					c["gen_ai.usage.input_tokens"].AsInt64() != want.in || c["gen_ai.usage.output_tokens"].AsInt64() != want.out ||
					!slices.Equal(c["gen_ai.response.finish_reasons"].AsStringSlice(), []string{want.finish}) {
					t.Errorf("chat span %d: kind %v, %v", i, chats[i].SpanKind, c)
				}
			}
			w := one("execute_tool weather")
			wa := attrs(w)
			if w.Parent.SpanID() != turn.SpanContext.SpanID() || wa["gen_ai.operation.name"].AsString() != "execute_tool" ||
				wa["gen_ai.tool.name"].AsString() != "weather" || wa["gen_ai.tool.call.id"].AsString() != "c1" ||
				wa["gen_ai.tool.type"].AsString() != "function" || w.Status.Code == codes.Error {
				t.Errorf("execute_tool weather: %v %v", wa, w.Status)
			}
			// A failed tool fails its span without its content: the
			// result is conversation text, which the conventions record
			// only on opt-in (see TestTracingContentOptIn).
			b := one("execute_tool broken")
			if b.Status.Code != codes.Error || b.Status.Description != "tool returned an error" ||
				attrs(b)["error.type"].AsString() != "tool_error" {
				t.Errorf("execute_tool broken: %v %v", attrs(b), b.Status)
			}
			for _, s := range spans {
				if c := spanText(s); strings.Contains(c, "disk on fire") || strings.Contains(c, "Oslo") {
					t.Errorf("span %s carries conversation content: %s", s.Name, c)
				}
			}
			// Store calls: the session opened, read once, and three
			// appends (user message, tool round, answer), each a child
			// of the turn.
			for name, n := range map[string]int{"LoadOrCreate": 1, "Snapshot": 1, "AddMessagesAt": 3} {
				if len(byName[name]) != n {
					t.Errorf("%d %s spans, want %d; all: %v", len(byName[name]), name, n, names)
				}
				for _, s := range byName[name] {
					sa := attrs(s)
					if s.Parent.SpanID() != turn.SpanContext.SpanID() || sa["db.system.name"].AsString() != system ||
						sa["db.operation.name"].AsString() != name || sa["convo.session.id"].AsString() != id {
						t.Errorf("%s span: %v", name, sa)
					}
				}
			}
		})
	}
}

// spanText is every string a span carries besides its name: status,
// attributes, events and their attributes.
func spanText(s tracetest.SpanStub) string {
	var b strings.Builder
	b.WriteString(s.Status.Description)
	for _, kv := range s.Attributes {
		b.WriteString(" " + kv.Value.Emit())
	}
	for _, e := range s.Events {
		b.WriteString(" " + e.Name)
		for _, kv := range e.Attributes {
			b.WriteString(" " + kv.Value.Emit())
		}
	}
	return b.String()
}

// Content capture is opt-in (semantic conventions v1.37.0, gen-ai-spans.md,
// "Recording content on attributes": content is sensitive and is recorded
// only when the user asks). WithTraceContent(true) is that opt-in: a failed
// tool's result then becomes its span's status description.
func TestTracingContentOptIn(t *testing.T) {
	broken := tool.Func("broken", "Fails", func(ctx context.Context, a struct{}) (string, error) {
		return "", errors.New("disk on fire")
	})
	for _, opt := range []bool{false, true} {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		client := llmtest.New(llmtest.ToolCalls(llmtest.Call("c1", "broken", `{}`)), llmtest.Text("Sorry."))
		a := agent.New(client, agent.WithTools(broken), agent.WithTracerProvider(tp), agent.WithTraceContent(opt))
		if _, err := a.Chat(t.Context(), "Go"); err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, s := range exp.GetSpans() {
			if s.Name != "execute_tool broken" {
				continue
			}
			found = true
			if s.Status.Code != codes.Error || attrs(s)["error.type"].AsString() != "tool_error" ||
				strings.Contains(s.Status.Description, "disk on fire") != opt {
				t.Errorf("WithTraceContent(%v): status %v, attributes %v", opt, s.Status, attrs(s))
			}
		}
		if !found {
			t.Errorf("WithTraceContent(%v): no execute_tool span", opt)
		}
	}
}

// A failed model call fails its chat span and the turn's span, with the
// provider error's kind as error.type; a turn paused for approval is not
// an error.
func TestTracingErrorsAndPause(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	client := llmtest.New(llmtest.Error(&llm.APIError{Provider: "openai", StatusCode: 429, Kind: llm.ErrRateLimited}))
	a := agent.New(client, agent.WithTracerProvider(tp))
	if _, err := a.Chat(t.Context(), "Hi"); !errors.Is(err, llm.ErrRateLimited) {
		t.Fatal(err)
	}
	for _, s := range exp.GetSpans() {
		if s.Name != "chat" && s.Name != "invoke_agent" {
			continue
		}
		if s.Status.Code != codes.Error || attrs(s)["error.type"].AsString() != llm.ErrRateLimited.Error() {
			t.Errorf("%s: %v %v", s.Name, s.Status, attrs(s))
		}
	}
	if p := attrs(exp.GetSpans()[len(exp.GetSpans())-1])["gen_ai.provider.name"].AsString(); p != "llmtest" {
		t.Errorf("default gen_ai.provider.name %q, want the client's package", p)
	}

	exp.Reset()
	runs := filepath.Join(t.TempDir(), "runs")
	b := agent.New(llmtest.New(approvalCalls()), agent.WithTools(transferTool(runs), weatherTool()),
		agent.WithApproval("transfer"), agent.WithTracerProvider(tp))
	if _, err := b.Chat(t.Context(), "Pay"); !errors.Is(err, agent.ErrAwaitingApproval) {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	turn := spans[len(spans)-1]
	if turn.Name != "invoke_agent" || turn.Status.Code == codes.Error || attrs(turn)["convo.approval.pending"].AsInt64() != 1 {
		t.Errorf("paused turn: %s %v %v", turn.Name, turn.Status, attrs(turn))
	}
}

// Without a tracer provider nothing is traced: not even a global provider
// that the program set is used.
func TestNoTracingWithoutProvider(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	a := agent.New(llmtest.New(llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)), llmtest.Text("hi")),
		agent.WithTools(weatherTool()))
	if _, err := a.Chat(t.Context(), "Hi"); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans without WithTracerProvider", n)
	}
}
