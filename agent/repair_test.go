package agent_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// seed writes msgs straight into the store, as another (older) program would.
func seed(t *testing.T, store session.Store, id string, msgs ...message.Message) {
	t.Helper()
	s, err := session.LoadOrCreate(t.Context(), store, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMessages(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	// The session was last active when its newest message was written
	// (the turn lease reads this: see WithTurnLease).
	if imp, ok := store.(session.Importer); ok && len(msgs) > 0 {
		if err := imp.SetUpdatedAt(t.Context(), id, msgs[len(msgs)-1].CreatedAt); err != nil {
			t.Fatal(err)
		}
	}
}

func aged(m message.Message, age time.Duration) message.Message {
	m.CreatedAt = time.Now().Add(-age).UnixNano()
	return m
}

func TestDanglingCallRepairedInStore(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := session.NewMemoryStore()
		call := message.ToolCall{ID: "old1", Name: "weather", Input: []byte(`{"city":"Oslo"}`)}
		seed(t, store, "r",
			aged(message.NewUserMessage("weather?"), time.Hour),
			aged(message.NewMessage(message.RoleAssistant, call), time.Hour))
		var notices []agent.Notice
		client := p.client(t, llmtest.Text("hello again"))
		a := agent.New(client, agent.WithSession("r", store), agent.WithNoticeHandler(func(n agent.Notice) { notices = append(notices, n) }))
		resp, err := a.Chat(t.Context(), "still there?")
		if err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "r")
		if shape(msgs) != "uAtua" || session.Check(msgs) != nil {
			t.Fatalf("stored %s", dump(msgs))
		}
		r := msgs[2].ToolResults()[0]
		if !r.Synthesized || !r.IsError || r.CallID != "old1" {
			t.Fatalf("repair result %+v", r)
		}
		req, _ := client.LastRequest()
		if session.Check(req.Messages) != nil {
			t.Fatal("request invalid")
		}
		kinds := map[agent.NoticeKind]bool{}
		for _, n := range resp.Notices {
			kinds[n.Kind] = true
		}
		if !kinds[agent.NoticeRepairedStored] || !kinds[agent.NoticeTookOver] || len(notices) != len(resp.Notices) {
			t.Fatalf("notices %v / %v", resp.Notices, notices)
		}
	})
}

func TestMidHistoryDamageRepairedInRequestOnly(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := session.NewMemoryStore()
		call := message.ToolCall{ID: "lost", Name: "weather", Input: []byte(`{}`)}
		damaged := []message.Message{
			message.NewUserMessage("q1"),
			message.NewMessage(message.RoleAssistant, call), // no result follows
			message.NewUserMessage("q2"),
			message.NewAssistantMessage("a2"),
		}
		seed(t, store, "d", damaged...)
		client := p.client(t, llmtest.Text("fine"))
		a := agent.New(client, agent.WithSession("d", store))
		resp, err := a.Chat(t.Context(), "q3")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := client.LastRequest()
		if session.Check(req.Messages) != nil {
			t.Fatalf("request not repaired: %s", dump(req.Messages))
		}
		msgs := stored(t, store, "d")
		if shape(msgs) != "uAuaua" {
			t.Fatalf("store changed beyond the turn: %s", dump(msgs))
		}
		found := false
		for _, n := range resp.Notices {
			found = found || (n.Kind == agent.NoticeRepairedRequest && len(n.Problems) > 0)
		}
		if !found {
			t.Fatalf("no repaired_request notice: %v", resp.Notices)
		}
	})
}

func TestRecentUnfinishedTurnIsBusyNotRepaired(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := session.NewMemoryStore()
		seed(t, store, "b", message.NewUserMessage("in progress elsewhere"))
		a := agent.New(p.client(t, llmtest.Text("x")), agent.WithSession("b", store), agent.WithConcurrencyPolicy(agent.FailIfBusy))
		if _, err := a.Chat(t.Context(), "me too"); !errors.Is(err, agent.ErrBusy) {
			t.Fatalf("want ErrBusy, got %v", err)
		}
		// With a zero stale timeout the session is taken over at once.
		b := agent.New(p.client(t, llmtest.Text("x")), agent.WithSession("b", store), agent.WithStaleTurnAfter(0))
		if _, err := b.Chat(t.Context(), "me too"); err != nil {
			t.Fatal(err)
		}
		if got := shape(stored(t, store, "b")); got != "uua" {
			t.Fatalf("stored %s", got)
		}
	})
}

// gate is a reply that signals when the model is called and answers only
// when released.
func gate(started chan<- struct{}, release <-chan struct{}, text string) llmtest.Reply {
	return llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &llm.Response{Message: message.NewAssistantMessage(text), FinishReason: llm.FinishStop}, nil
	})
}

func TestTwoAgentsFailIfBusy(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		started, release := make(chan struct{}), make(chan struct{})
		a := agent.New(p.client(t, gate(started, release, "A")), agent.WithSession("x", store))
		b := agent.New(p.client(t, llmtest.Text("B")), agent.WithSession("x", store), agent.WithConcurrencyPolicy(agent.FailIfBusy))
		done := make(chan error, 1)
		go func() { _, err := a.Chat(t.Context(), "from A"); done <- err }()
		<-started
		if _, err := b.Chat(t.Context(), "from B"); !errors.Is(err, agent.ErrBusy) {
			t.Fatalf("want ErrBusy, got %v", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := b.Chat(t.Context(), "from B"); err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "x")
		if shape(msgs) != "uaua" || msgs[0].Content() != "from A" || msgs[1].Content() != "A" || msgs[2].Content() != "from B" {
			t.Fatalf("stored %s", dump(msgs))
		}
	})
}

func TestTwoAgentsWaitForTurn(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		started, release := make(chan struct{}), make(chan struct{})
		clientB := p.client(t, llmtest.Text("B"))
		a := agent.New(p.client(t, gate(started, release, "A")), agent.WithSession("w", store))
		b := agent.New(clientB, agent.WithSession("w", store), agent.WithBusyPolling(time.Millisecond, 5*time.Millisecond))
		doneA := make(chan error, 1)
		go func() { _, err := a.Chat(t.Context(), "from A"); doneA <- err }()
		<-started
		doneB := make(chan error, 1)
		go func() { _, err := b.Chat(t.Context(), "from B"); doneB <- err }()
		select {
		case err := <-doneB:
			t.Fatalf("B finished while A's turn was in progress: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-doneA; err != nil {
			t.Fatal(err)
		}
		if err := <-doneB; err != nil {
			t.Fatal(err)
		}
		msgs := stored(t, store, "w")
		if shape(msgs) != "uaua" || msgs[0].Content() != "from A" || msgs[2].Content() != "from B" {
			t.Fatalf("stored %s", dump(msgs))
		}
		// B ran on the new history: its request held A's turn.
		req, _ := clientB.LastRequest()
		if shape(req.Messages) != "uau" || req.Messages[1].Content() != "A" {
			t.Fatalf("B's request %s", dump(req.Messages))
		}
	})
}

func TestManyAgentsNeverInterleave(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		const n = 6
		var wg sync.WaitGroup
		for i := range n {
			c := p.client(t,
				llmtest.ToolCalls(llmtest.Call("c", "weather", `{"city":"Oslo"}`)),
				llmtest.Text("answer"),
			)
			a := agent.New(c, agent.WithSession("many", store), agent.WithTools(weatherTool()),
				agent.WithBusyPolling(time.Millisecond, 3*time.Millisecond))
			wg.Go(func() {
				if _, err := a.Chat(t.Context(), "q"); err != nil {
					t.Errorf("agent %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		msgs := stored(t, store, "many")
		want := ""
		for range n {
			want += "uAta"
		}
		if shape(msgs) != want {
			t.Fatalf("turns interleaved: %s", shape(msgs))
		}
	})
}

func TestSameAgentConcurrentCalls(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		started, release := make(chan struct{}), make(chan struct{})
		client := p.client(t, gate(started, release, "first"), llmtest.Text("second"))
		a := agent.New(client, agent.WithSession("same", store))
		done := make(chan error, 2)
		go func() { _, err := a.Chat(t.Context(), "1"); done <- err }()
		<-started
		go func() { _, err := a.Chat(t.Context(), "2"); done <- err }()
		time.Sleep(20 * time.Millisecond)
		close(release)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if got := shape(stored(t, store, "same")); got != "uaua" {
			t.Fatalf("stored %s", got)
		}
	})
}

func TestTurnTakenOver(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		started, release := make(chan struct{}), make(chan struct{})
		a := agent.New(p.client(t, gate(started, release, "late")), agent.WithSession("t", store))
		done := make(chan error, 1)
		go func() { _, err := a.Chat(t.Context(), "slow"); done <- err }()
		<-started
		// Another agent decides A is stale and takes over.
		b := agent.New(p.client(t, llmtest.Text("B")), agent.WithSession("t", store), agent.WithStaleTurnAfter(0))
		if _, err := b.Chat(t.Context(), "fast"); err != nil {
			t.Fatal(err)
		}
		close(release)
		err := <-done
		if !errors.Is(err, agent.ErrTurnTakenOver) || !errors.Is(err, session.ErrConflict) {
			t.Fatalf("want ErrTurnTakenOver, got %v", err)
		}
		if got := shape(stored(t, store, "t")); got != "uua" {
			t.Fatalf("stored %s", got)
		}
	})
}
