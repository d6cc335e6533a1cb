package agent_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
	"github.com/convo-dev/convo/sqlite"
)

// The wrapper is a store as good as any: it passes the conformance suite.
func TestUnversionedStorePassesSessiontest(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return unversionedStore{session.NewMemoryStore()} })
}

func TestUnversionedStore(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := unversionedStore{session.NewMemoryStore()}
		client := p.client(t,
			llmtest.ToolCalls(llmtest.Call("c1", "weather", `{"city":"Oslo"}`)), llmtest.Text("sunny"), llmtest.Text("bye"))
		a := agent.New(client, agent.WithSession("u", store), agent.WithTools(weatherTool()))
		for _, q := range []string{"weather?", "thanks"} {
			if _, err := a.Chat(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		if got := shape(stored(t, store, "u")); got != "uAtaua" {
			t.Fatalf("stored %s", got)
		}
		// A second agent (a restart) reads what the first stored.
		client2 := p.client(t, llmtest.Text("hello again"))
		b := agent.New(client2, agent.WithSession("u", store), agent.WithTools(weatherTool()))
		if _, err := b.Chat(t.Context(), "back"); err != nil {
			t.Fatal(err)
		}
		req, _ := client2.LastRequest()
		if got := shape(req.Messages); got != "uAtauau" {
			t.Fatalf("request after restart %s", got)
		}
	})
}

// Without optimistic concurrency, the turns of agents of one process on one
// session are serialised.
func TestUnversionedStoreManyAgentsNeverInterleave(t *testing.T) {
	store := unversionedStore{session.NewMemoryStore()}
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		c := providers()[i%len(providers())].client(t,
			llmtest.ToolCalls(llmtest.Call("c", "weather", `{"city":"Oslo"}`)),
			llmtest.Text("answer"),
		)
		a := agent.New(c, agent.WithSession("many", store), agent.WithTools(weatherTool()))
		wg.Go(func() {
			if _, err := a.Chat(t.Context(), fmt.Sprint("q", i)); err != nil {
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
	if shape(msgs) != want || session.Check(msgs) != nil {
		t.Fatalf("turns interleaved: %s", shape(msgs))
	}
}

func TestUnversionedStoreFailIfBusy(t *testing.T) {
	store := unversionedStore{session.NewMemoryStore()}
	started, release := make(chan struct{}), make(chan struct{})
	a := agent.New(llmtest.New(gate(started, release, "A")), agent.WithSession("x", store))
	b := agent.New(llmtest.New(llmtest.Text("B")), agent.WithSession("x", store), agent.WithConcurrencyPolicy(agent.FailIfBusy))
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
	if got := shape(stored(t, store, "x")); got != "uaua" {
		t.Fatalf("stored %s", got)
	}
}

// sqliteStore returns a SQLite store in a temporary file.
func sqliteStore(t *testing.T) session.Store {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "agent.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlite.SessionStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestWithSessionInfo(t *testing.T) {
	stores := map[string]func(t *testing.T) session.Store{
		"sqlite": sqliteStore,
		"memory": func(*testing.T) session.Store { return session.NewMemoryStore() },
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			store := newStore(t)
			info := session.CreateOptions{Owner: "alice", Title: "Trip to Oslo", Metadata: map[string]string{"channel": "web"}}
			a := agent.New(llmtest.New(llmtest.Text("hi"), llmtest.Text("again")),
				agent.WithSession("alice-1", store), agent.WithSessionInfo(info))
			info.Metadata["channel"] = "changed after the option" // the option keeps its own copy
			if ok, _ := store.Exists(ctx, "alice-1"); ok {
				t.Fatal("WithSessionInfo did I/O")
			}
			if _, err := a.Chat(ctx, "hello"); err != nil {
				t.Fatal(err)
			}
			page, err := session.List(ctx, store, session.ListQuery{Owner: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Sessions) != 1 {
				t.Fatalf("listing by owner: %+v", page.Sessions)
			}
			got := page.Sessions[0]
			if got.ID != "alice-1" || got.Owner != "alice" || got.Title != "Trip to Oslo" || got.Metadata["channel"] != "web" || got.MessageCount != 2 {
				t.Fatalf("info %+v", got)
			}
			// Another owner's agent on that id is refused, and stores nothing.
			b := agent.New(llmtest.New(llmtest.Text("x")), agent.WithSession("alice-1", store),
				agent.WithSessionInfo(session.CreateOptions{Owner: "mallory"}))
			if _, err := b.Chat(ctx, "give me alice's history"); !errors.Is(err, agent.ErrOwnerMismatch) {
				t.Fatalf("want ErrOwnerMismatch, got %v", err)
			}
			// The owner's agent resumes it; erasing the owner removes it.
			if _, err := a.Chat(ctx, "again"); err != nil {
				t.Fatal(err)
			}
			rep, err := store.(session.OwnerEraser).DeleteOwner(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.SessionIDs) != 1 || rep.SessionIDs[0] != "alice-1" || rep.Messages != 4 {
				t.Fatalf("erasure %+v", rep)
			}
		})
	}
}

func TestWithSessionInfoNeedsDescriber(t *testing.T) {
	store := unversionedStore{session.NewMemoryStore()}
	a := agent.New(llmtest.New(llmtest.Text("hi")), agent.WithSession("s", store),
		agent.WithSessionInfo(session.CreateOptions{Owner: "alice"}))
	if _, err := a.Chat(t.Context(), "hello"); !errors.Is(err, session.ErrNotSupported) {
		t.Fatalf("want ErrNotSupported, got %v", err)
	}
	if ok, _ := store.Exists(t.Context(), "s"); ok {
		t.Fatal("a session was made without its owner")
	}
}
