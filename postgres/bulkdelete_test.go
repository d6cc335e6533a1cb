package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// bulkSessions creates, in s, the sessions ids of owner, each holding one
// message.
func bulkSessions(t *testing.T, s *Store, owner string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		sess, err := s.CreateWith(t.Context(), id, session.CreateOptions{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("hello " + id)}); err != nil {
			t.Fatal(err)
		}
	}
}

// holdRow begins a transaction on its own connection that takes the
// session id's feed lock and row lock, as a writer in the middle of a
// write does (addMany, replace), and returns it; the test commits or rolls
// it back.
func holdRow(t *testing.T, s *Store, id string) pgx.Tx {
	t.Helper()
	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	for _, sql := range []string{s.q.lockFeed, s.q.lockSessionRow} {
		if _, err := tx.Exec(t.Context(), sql, id); err != nil {
			t.Fatal(err)
		}
	}
	return tx
}

// waitForLockWait returns once a statement on s's sessions table, or for
// one of its sessions' feed locks, waits for a lock (pg_stat_activity), or
// an error after a minute (a watchdog).
func waitForLockWait(ctx context.Context, s *Store) error {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(20 * time.Millisecond) {
		var n int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND (strpos(query, $1) > 0 OR strpos(query, $2) > 0)
				AND pid <> pg_backend_pid()`, s.q.sessions, s.q.lockFeed).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return errors.New("watchdog: no statement waited for a lock within a minute")
}

// TestDeleteOwnerLeavesOtherWritersFree holds a row of the owner being
// erased, as a writer in the middle of a write does, so that DeleteOwner
// must wait for it; meanwhile an append to another owner's session must
// complete. (DeleteOwner used to lock the whole sessions table IN
// EXCLUSIVE MODE for its delete: it queued behind the held row, and every
// writer of every session queued behind it.)
func TestDeleteOwnerLeavesOtherWritersFree(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	bulkSessions(t, s, "ann", "a1", "a2", "a3")
	bulkSessions(t, s, "bob", "b1")
	held := holdRow(t, s, "a2")

	type result struct {
		r   session.DeleteReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.DeleteOwner(ctx, "ann")
		done <- result{r, err}
	}()
	if err := waitForLockWait(ctx, s); err != nil {
		t.Fatal(err)
	}

	// The watchdog's deadline only keeps a broken store from hanging the
	// test: the append either completes or waits for the held row.
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b1, err := s.Load(actx, "b1")
	if err != nil {
		t.Fatalf("load another owner's session during DeleteOwner: %v", err)
	}
	if err := b1.AddMessages(actx, []message.Message{message.NewUserMessage("meanwhile")}); err != nil {
		t.Fatalf("append to another owner's session while DeleteOwner waits for a held row: %v", err)
	}
	select {
	case res := <-done:
		t.Fatalf("DeleteOwner returned while a row it must delete was held: %+v, %v", res.r, res.err)
	default:
	}
	// The rows nobody held are gone already: their rounds committed.
	if _, err := s.Load(ctx, "a1"); err == nil {
		t.Error("a1 still exists while DeleteOwner waits for a2")
	}
	if err := held.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("DeleteOwner: %v", res.err)
	}
	if want := []string{"a1", "a2", "a3"}; !slices.Equal(res.r.SessionIDs, want) || res.r.Messages != 3 {
		t.Errorf("DeleteOwner reported %+v, want %v and 3 messages", res.r, want)
	}
	msgs, err := b1.GetMessages(ctx, nil)
	if err != nil || len(msgs) != 2 {
		t.Errorf("b1 holds %d messages, %v; want 2", len(msgs), err)
	}
}

// collectFeed reads n changes from a watch started before the test's
// writes and returns them as "kind session".
func collectFeed(t *testing.T, seq func(func(session.Change, error) bool), n int) []string {
	t.Helper()
	got := make(chan string, n)
	go func() {
		i := 0
		for c, err := range seq {
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			got <- fmt.Sprintf("%s %s", c.Kind, c.SessionID)
			if i++; i == n {
				return
			}
		}
	}()
	var out []string
	for range n {
		select {
		case c := <-got:
			out = append(out, c)
		case <-time.After(time.Minute):
			t.Fatalf("watchdog: changes so far %q", out)
		}
	}
	return out
}

// setBulkHook sets bulkHook for the test.
func setBulkHook(t *testing.T, f func()) {
	bulkHook = f
	t.Cleanup(func() { bulkHook = nil })
}

// TestPruneOrderWithHeldRow: a writer takes a row Prune is to delete
// after Prune's first round got its xid, and commits its change only once
// Prune waits for it. Its change has the larger xid; the feed must still
// deliver it before the session's delete, in commit order. A round that
// deleted the row after waiting for it (as one multi-row DELETE does)
// would record the delete under its smaller xid, before the change.
func TestPruneOrderWithHeldRow(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	bulkSessions(t, s, "ann", "p1", "p2", "p3")
	seq, err := s.Watch(ctx, session.WatchQuery{Owner: "ann", After: session.WatchFromNow})
	if err != nil {
		t.Fatal(err)
	}
	var held pgx.Tx
	committed := make(chan error, 1)
	setBulkHook(t, func() {
		if held != nil {
			return
		}
		held = holdRow(t, s, "p2")
		if _, err := held.Exec(ctx, s.q.recordChange, "p2", string(session.ChangeClear), int64(0), nil, time.Now().UnixNano()); err != nil {
			t.Error(err)
		}
		// The writer commits once Prune waits for it.
		go func() {
			if err := waitForLockWait(ctx, s); err != nil {
				t.Error(err)
			}
			committed <- held.Commit(ctx)
		}()
	})
	r, err := s.Prune(ctx, session.PruneQuery{UpdatedBefore: time.Now().UnixNano() + int64(time.Hour)})
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if want := []string{"p1", "p2", "p3"}; !slices.Equal(r.SessionIDs, want) || r.Messages != 3 {
		t.Errorf("Prune reported %+v, want %v and 3 messages", r, want)
	}
	got := collectFeed(t, seq, 4)
	p2 := slices.DeleteFunc(slices.Clone(got), func(c string) bool { return !strings.HasSuffix(c, " p2") })
	if want := "clear p2,delete p2"; strings.Join(p2, ",") != want {
		t.Errorf("feed delivered %q for p2 (all: %q), want %q", p2, got, want)
	}
}

// TestDeleteOwnerOrderWithChangeInRound: an append commits to a session
// after DeleteOwner's round got its xid and before the round locks the
// row (which it then takes without waiting). The round must not delete
// that session: its delete would sort before the append that preceded it.
// A later round deletes it.
func TestDeleteOwnerOrderWithChangeInRound(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	bulkSessions(t, s, "ann", "d1", "d2", "d3")
	seq, err := s.Watch(ctx, session.WatchQuery{Owner: "ann", After: session.WatchFromNow})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.Load(ctx, "d2")
	if err != nil {
		t.Fatal(err)
	}
	rounds := 0
	setBulkHook(t, func() {
		if rounds++; rounds == 1 {
			if err := d2.AddMessages(ctx, []message.Message{message.NewUserMessage("during the round")}); err != nil {
				t.Error(err)
			}
		}
	})
	r, err := s.DeleteOwner(ctx, "ann")
	if err != nil {
		t.Fatalf("DeleteOwner: %v", err)
	}
	if want := []string{"d1", "d2", "d3"}; !slices.Equal(r.SessionIDs, want) || r.Messages != 4 {
		t.Errorf("DeleteOwner reported %+v, want %v and 4 messages", r, want)
	}
	if rounds < 2 {
		t.Errorf("DeleteOwner ran %d rounds; the append should have left d2 to a later one", rounds)
	}
	got := collectFeed(t, seq, 4)
	// In xid order: the first round's deletes, the append, the delete
	// of d2 by a later round.
	want := []string{"delete d1", "delete d3", "append d2", "delete d2"}
	if !slices.Equal(got, want) {
		t.Errorf("feed delivered %q, want %q", got, want)
	}
}

// TestBulkDeleteRounds deletes more sessions than a round takes, and
// checks that sessions of other owners, and those Prune does not select,
// stay.
func TestBulkDeleteRounds(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	old := bulkRound
	bulkRound = 2
	t.Cleanup(func() { bulkRound = old })
	bulkSessions(t, s, "ann", "r1", "r2", "r3", "r4", "r5")
	bulkSessions(t, s, "bob", "o1", "o2", "o3")
	r, err := s.DeleteOwner(ctx, "ann")
	if err != nil || !slices.Equal(r.SessionIDs, []string{"r1", "r2", "r3", "r4", "r5"}) || r.Messages != 5 {
		t.Fatalf("DeleteOwner: %+v, %v", r, err)
	}
	if r, err := s.DeleteOwner(ctx, "ann"); err != nil || len(r.SessionIDs) != 0 || r.Messages != 0 {
		t.Errorf("DeleteOwner again: %+v, %v; want nothing", r, err)
	}
	cut := time.Now().UnixNano()
	bulkSessions(t, s, "bob", "o4")
	r, err = s.Prune(ctx, session.PruneQuery{UpdatedBefore: cut, Owner: "bob"})
	if err != nil || !slices.Equal(r.SessionIDs, []string{"o1", "o2", "o3"}) || r.Messages != 3 {
		t.Fatalf("Prune: %+v, %v", r, err)
	}
	if _, err := s.Load(ctx, "o4"); err != nil {
		t.Errorf("o4, updated after the cut, was pruned: %v", err)
	}
}

// A bulk delete that fails part way reports, with the error, the sessions
// its committed rounds deleted; a second call finishes the work (the
// contract of session.OwnerEraser for stores that delete in rounds).
func TestBulkDeleteReportsWhatItDeletedBeforeAnError(t *testing.T) {
	s := newStore(t, testPool(t))
	old := bulkRound
	bulkRound = 2
	t.Cleanup(func() { bulkRound = old })
	bulkSessions(t, s, "ann", "r1", "r2", "r3", "r4", "r5")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rounds := 0
	setBulkHook(t, func() {
		if rounds++; rounds == 2 {
			cancel() // the second round fails
		}
	})
	r, err := s.DeleteOwner(ctx, "ann")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteOwner with the second round cancelled: %+v, %v; want context.Canceled", r, err)
	}
	if !slices.Equal(r.SessionIDs, []string{"r1", "r2"}) || r.Messages != 2 {
		t.Fatalf("report with the error = %+v, want r1 and r2 (the first round), 2 messages", r)
	}
	for _, id := range r.SessionIDs {
		if _, err := s.Load(t.Context(), id); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s reported deleted, but Load = %v", id, err)
		}
	}
	setBulkHook(t, nil)
	r, err = s.DeleteOwner(t.Context(), "ann")
	if err != nil || !slices.Equal(r.SessionIDs, []string{"r3", "r4", "r5"}) {
		t.Fatalf("DeleteOwner again = %+v, %v; want r3, r4, r5", r, err)
	}
}
