package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
)

// BenchmarkTurnTracing is BenchmarkTurnInterleaved with a third step: each
// iteration makes the store's two appends, a turn of an agent without a
// tracer provider (tracing off), and a turn of an agent with the
// OpenTelemetry SDK recording every span (sampled, ended, handed to an
// exporter that drops it), on three sessions of equal size; the two agents
// take turns going first. off-x-store
// compares with BenchmarkTurnInterleaved's x-store of a build without
// tracing; on-x-off is the cost of tracing on, from the same run.
func BenchmarkTurnTracing(b *testing.B) {
	ctx := context.Background()
	text := strings.Repeat("lorem ipsum ", 17)
	store := benchSession(b, "s")
	s, err := store.Load(ctx, "s")
	if err != nil {
		b.Fatal(err)
	}
	newAgent := func(id string, opts ...agent.Option) (*agent.Agent, *llmtest.Client) {
		client := llmtest.New()
		client.SetDefault(llmtest.Text(text))
		a := agent.New(client, append([]agent.Option{agent.WithSession(id, benchSession(b, id)),
			agent.WithHistory(agent.LastN(50)), agent.WithSystemPrompt("You are a benchmark.")}, opts...)...)
		if _, err := a.Chat(ctx, "warm up"); err != nil {
			b.Fatal(err)
		}
		return a, client
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer tp.Shutdown(ctx)
	off, offClient := newAgent("off")
	on, onClient := newAgent("on", agent.WithTracerProvider(tp))
	var storeNs, offNs, onNs time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("question")}); err != nil {
			b.Fatal(err)
		}
		if err := s.AddMessages(ctx, []message.Message{message.NewAssistantMessage(text)}); err != nil {
			b.Fatal(err)
		}
		storeNs += time.Since(t0)
		// Alternate which agent goes first: the second runs on caches
		// the first warmed.
		first, second, firstNs, secondNs := off, on, &offNs, &onNs
		if i%2 == 1 {
			first, second, firstNs, secondNs = on, off, &onNs, &offNs
		}
		t1 := time.Now()
		if _, err := first.Chat(ctx, "question"); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := second.Chat(ctx, "question"); err != nil {
			b.Fatal(err)
		}
		*firstNs += t2.Sub(t1)
		*secondNs += time.Since(t2)
		if i%1000 == 999 {
			offClient.ResetRequests()
			onClient.ResetRequests()
		}
	}
	b.ReportMetric(float64(offNs.Nanoseconds())/float64(b.N), "off-ns/turn")
	b.ReportMetric(float64(onNs.Nanoseconds())/float64(b.N), "on-ns/turn")
	b.ReportMetric(float64(offNs)/float64(storeNs), "off-x-store")
	b.ReportMetric(float64(onNs)/float64(offNs), "on-x-off")
}
