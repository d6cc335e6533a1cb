package agent_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// benchSession creates a SQLite store with session id holding 1,000
// messages of about 200 bytes.
func benchSession(b *testing.B, id string) session.Store {
	b.Helper()
	ctx := context.Background()
	// synchronous=NORMAL (WAL) keeps fsync noise from hiding the agent's
	// own CPU cost; the ratio is then a stricter test than under FULL.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "bench.db")+
		"?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	s, err := session.LoadOrCreate(ctx, store, id)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("lorem ipsum ", 17)
	var msgs []message.Message
	for i := range 1000 {
		if i%2 == 0 {
			msgs = append(msgs, message.NewUserMessage(text))
		} else {
			msgs = append(msgs, message.NewAssistantMessage(text))
		}
	}
	if err := s.AddMessages(ctx, msgs); err != nil {
		b.Fatal(err)
	}
	return store
}

// BenchmarkTurnInterleaved runs one agent turn and the store's two appends
// alternately in each iteration, on two sessions of equal size, and reports
// both costs and their ratio: drift in machine load hits both alike.
func BenchmarkTurnInterleaved(b *testing.B) {
	ctx := context.Background()
	text := strings.Repeat("lorem ipsum ", 17)
	store := benchSession(b, "s")
	s, err := store.Load(ctx, "s")
	if err != nil {
		b.Fatal(err)
	}
	astore := benchSession(b, "a")
	client := llmtest.New()
	client.SetDefault(llmtest.Text(text))
	a := agent.New(client, agent.WithSession("a", astore), agent.WithHistory(agent.LastN(50)),
		agent.WithSystemPrompt("You are a benchmark."))
	if _, err := a.Chat(ctx, "warm up"); err != nil {
		b.Fatal(err)
	}
	var agentNs, storeNs time.Duration
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
		t1 := time.Now()
		if _, err := a.Chat(ctx, "question"); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		storeNs += t1.Sub(t0)
		agentNs += t2.Sub(t1)
		if i%1000 == 999 {
			client.ResetRequests()
		}
	}
	b.ReportMetric(float64(storeNs.Nanoseconds())/float64(b.N), "store-ns/turn")
	b.ReportMetric(float64(agentNs.Nanoseconds())/float64(b.N), "agent-ns/turn")
	b.ReportMetric(float64(agentNs)/float64(storeNs), "x-store")
}

// BenchmarkTurn measures the agent's cost per text-only turn (scripted model,
// so no model latency) on a 1,000-message SQLite session with a LastN(50)
// window, next to the store's own cost for the same two appends (the user
// message, then the answer) that any agent writing the user message first
// must make. x-store is agent/store, from the same run.
func BenchmarkTurn(b *testing.B) {
	ctx := context.Background()
	text := strings.Repeat("lorem ipsum ", 17)
	var storeNs float64

	b.Run("store-two-appends", func(b *testing.B) {
		store := benchSession(b, "s")
		s, err := store.Load(ctx, "s")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("question")}); err != nil {
				b.Fatal(err)
			}
			if err := s.AddMessages(ctx, []message.Message{message.NewAssistantMessage(text)}); err != nil {
				b.Fatal(err)
			}
		}
		storeNs = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})

	b.Run("agent-turn", func(b *testing.B) {
		store := benchSession(b, "a")
		client := llmtest.New()
		client.SetDefault(llmtest.Text(text))
		a := agent.New(client, agent.WithSession("a", store), agent.WithHistory(agent.LastN(50)),
			agent.WithSystemPrompt("You are a benchmark."))
		if _, err := a.Chat(ctx, "warm up"); err != nil { // opens the session and reads the window
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			resp, err := a.Chat(ctx, "question")
			if err != nil {
				b.Fatal(err)
			}
			if resp.Text != text {
				b.Fatal("wrong answer")
			}
			if i%1000 == 999 {
				client.ResetRequests()
			}
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		if storeNs > 0 {
			b.ReportMetric(ns/storeNs, "x-store")
		}
		if req, ok := client.LastRequest(); ok && len(req.Messages) > 52 {
			b.Fatal(fmt.Sprintf("window not applied: %d messages sent", len(req.Messages)))
		}
	})
}
