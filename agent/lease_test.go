package agent_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
	"github.com/convo-dev/convo/tool"
)

// holdTool returns the tool "hold", which holds its turn from when it
// closes inTool until release is closed (or its context ends).
func holdTool() (hold tool.Tool, inTool, release chan struct{}) {
	release, inTool = make(chan struct{}), make(chan struct{})
	hold = tool.Func("hold", "Holds the turn", func(ctx context.Context, _ struct{}) (string, error) {
		close(inTool)
		select {
		case <-release:
			return "released", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	return hold, inTool, release
}

// TestLeaseRenewedWhileTurnRuns: a turn that runs for several leases
// without writing (its tool is slow) keeps the session, because it renews
// its lease; another agent on the session finds it busy all along, and the
// turn ends normally, not with ErrTurnTakenOver. The lease here is 900 ms
// (renewed every 300 ms) and the tool holds the turn for 3 s.
func TestLeaseRenewedWhileTurnRuns(t *testing.T) {
	store := session.NewMemoryStore()
	const lease = 900 * time.Millisecond
	hold, inTool, release := holdTool()
	client := llmtest.New()
	client.Push(llmtest.ToolCalls(llmtest.Call("c1", "hold", `{}`)), llmtest.Text("done"))
	a := agent.New(client, agent.WithSession("s", store), agent.WithTools(hold), agent.WithTurnLease(lease))
	done := make(chan error, 1)
	go func() {
		_, err := a.Chat(t.Context(), "hold it")
		done <- err
	}()
	<-inTool

	b := agent.New(llmtest.New(), agent.WithSession("s", store), agent.WithTurnLease(lease),
		agent.WithConcurrencyPolicy(agent.FailIfBusy))
	tries := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); tries++ {
		if _, err := b.Chat(t.Context(), "me too"); !errors.Is(err, agent.ErrBusy) {
			t.Fatalf("try %d, %v into a turn running under a %v lease: got %v, want ErrBusy", tries, time.Since(end.Add(-3*time.Second)).Round(time.Millisecond), lease, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the long turn: %v", err)
	}
	if got := shape(stored(t, store, "s")); got != "uAta" {
		t.Errorf("session %s, want uAta", got)
	}
	t.Logf("%d tries of another agent found the session busy", tries)
}

// A session whose stored info cannot be read (here corrupt metadata in a
// SQLite file) has no readable lease: an unfinished turn on it is judged by
// its last message, as on a store without the lease, instead of failing
// every later turn.
func TestUnreadableLeaseFallsBackToMessageAge(t *testing.T) {
	ctx := t.Context()
	db, err := openDB(filepath.Join(t.TempDir(), "corrupt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, store, "c", aged(message.NewUserMessage("left unanswered"), time.Hour))
	if _, err := db.ExecContext(ctx, `UPDATE sessions SET metadata = '{"x": ' WHERE id = 'c'`); err != nil {
		t.Fatal(err)
	}
	client := llmtest.New()
	client.Push(llmtest.Text("back"))
	resp, err := agent.New(client, agent.WithSession("c", store)).Chat(ctx, "anyone?")
	if err != nil {
		t.Fatalf("turn on a session with unreadable info: %v", err)
	}
	if len(resp.Notices) == 0 || resp.Notices[0].Kind != agent.NoticeTookOver {
		t.Errorf("notices %v, want took_over", resp.Notices)
	}
}

// TestLeaseRenewedWhileResumedTurnRuns: a turn resumed after approval
// (Resume) holds the turn lease as Send's turns do. Its approved tool runs
// for several leases without writing; another agent on the session finds
// it busy all along instead of taking the turn over (which would record
// the approved call as interrupted and make the resumed turn fail with
// ErrTurnTakenOver after the tool had run).
func TestLeaseRenewedWhileResumedTurnRuns(t *testing.T) {
	store := session.NewMemoryStore()
	const lease = 900 * time.Millisecond
	hold, inTool, release := holdTool()
	client := llmtest.New()
	client.Push(llmtest.ToolCalls(llmtest.Call("c1", "hold", `{}`)), llmtest.Text("done"))
	a := agent.New(client, agent.WithSession("s", store), agent.WithTools(hold), agent.WithTurnLease(lease),
		agent.WithApproval("hold"))
	if _, err := a.Chat(t.Context(), "hold it"); !errors.Is(err, agent.ErrAwaitingApproval) {
		t.Fatalf("first turn: %v, want ErrAwaitingApproval", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Resume(t.Context(), agent.Approve("c1"))
		done <- err
	}()
	<-inTool

	b := agent.New(llmtest.New(), agent.WithSession("s", store), agent.WithTurnLease(lease),
		agent.WithConcurrencyPolicy(agent.FailIfBusy))
	tries := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); tries++ {
		if _, err := b.Chat(t.Context(), "me too"); !errors.Is(err, agent.ErrBusy) {
			close(release)
			<-done
			t.Fatalf("try %d into a resumed turn running under a %v lease: got %v, want ErrBusy", tries, lease, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the resumed turn: %v", err)
	}
	t.Logf("%d tries of another agent found the session busy", tries)
}
