package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// waitForWaiters returns once n statements of other backends wait for a
// lock (pg_stat_activity), or when done is closed, or an error after a
// minute (a watchdog).
func waitForWaiters(ctx context.Context, s *Store, n int, done <-chan struct{}) error {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			return nil
		default:
		}
		var got int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid()`).Scan(&got)
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
	}
	return errors.New("watchdog: no statement waited for a lock within a minute")
}

// TestForkOfForkRacingOwnerPop forks f (whose rows borrow from p) while a
// pop of p is under way: the pop's statement has taken its snapshot and
// waits (for a row of f held by this test) to hand its row's bytes over.
// The fork g's rows borrow from p, the session owning the bytes, which g's
// fork did not lock: unless Fork waits for the pop, the pop hands the bytes
// over to f only (g's rows were not in its snapshot) and deletes them, and
// g's copy of the popped message lost its parts.
func TestForkOfForkRacingOwnerPop(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	p, err := s.Create(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []message.Message{message.NewUserMessage("one"), message.NewUserMessage("two"), message.NewUserMessage("three")}
	if err := p.AddMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	pm := readAll(t, s, "p")
	if _, err := s.Fork(ctx, "p", pm[2].ID, "f", session.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Hold f's row 3 (which borrows p's row 3), as a writer would.
	hold, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(context.WithoutCancel(ctx))
	if _, err := hold.Exec(ctx, `SELECT 1 FROM `+s.q.messages+` WHERE session_id = 'f' AND seq = 3 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	popped := make(chan error, 1)
	go func() { _, err := p.PopMessage(ctx); popped <- err }()
	if err := waitForWaiters(ctx, s, 1, nil); err != nil {
		t.Fatal(err)
	}
	forked := make(chan struct{})
	var forkErr error
	go func() {
		defer close(forked)
		_, forkErr = s.Fork(ctx, "f", pm[2].ID, "g", session.CreateOptions{})
	}()
	// The fork either completes (it does not wait for the pop) or waits.
	if err := waitForWaiters(ctx, s, 2, forked); err != nil {
		t.Fatal(err)
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-popped; err != nil {
		t.Fatal(err)
	}
	<-forked
	if forkErr != nil {
		t.Fatal(forkErr)
	}
	// p appends a new message at the popped seq.
	if err := p.AddMessages(ctx, []message.Message{message.NewUserMessage("three again")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"f", "g"} {
		sess, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sess.GetMessages(ctx, nil)
		if err != nil {
			t.Fatalf("read %q: %v (rows %v)", id, err, rowStates(t, s, id))
		}
		if len(got) != 3 {
			t.Fatalf("%q has %d messages, want 3", id, len(got))
		}
		for i, m := range got {
			if m.ID != pm[i].ID || m.Text() != pm[i].Text() {
				t.Errorf("%q message %d: %q %q, want %q %q (rows %v)", id, i, m.ID, m.Text(), pm[i].ID, pm[i].Text(), rowStates(t, s, id))
			}
		}
	}
}
