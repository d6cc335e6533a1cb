package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// bulkStore returns a store in a new file, with its path, holding for each
// of owners the sessions OWNER-0 ... OWNER-(n-1), each with one message.
func bulkStore(t *testing.T, n int, owners ...string) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "convo.db")
	store, err := sqlite.SessionStore(t.Context(), openFile(t, "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)"))
	if err != nil {
		t.Fatal(err)
	}
	st := store.(*sqlite.Store)
	for _, o := range owners {
		for i := range n {
			sess, err := st.CreateWith(t.Context(), fmt.Sprintf("%s-%d", o, i), session.CreateOptions{Owner: o})
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("hello")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st, path
}

// TestBulkDeleteGoesInRounds checks that DeleteOwner and Prune delete in
// rounds of bounded size, each its own transaction, so that other writers
// wait for one round and not for the whole deletion: between two rounds
// another connection, which does not wait at all (busy_timeout 0), can
// write. (One transaction for a prune of 184,000 sessions held SQLite's
// write lock for 25 s, and an application's append failed with "database
// is locked"; docs/performance.md, "The CLI on a large store".)
func TestBulkDeleteGoesInRounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		del  func(ctx context.Context, st *sqlite.Store) (session.DeleteReport, error)
	}{
		{"DeleteOwner", func(ctx context.Context, st *sqlite.Store) (session.DeleteReport, error) {
			return st.DeleteOwner(ctx, "ann")
		}},
		{"Prune", func(ctx context.Context, st *sqlite.Store) (session.DeleteReport, error) {
			return st.Prune(ctx, session.PruneQuery{UpdatedBefore: 1 << 62, Owner: "ann"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			st, path := bulkStore(t, 10, "ann", "bob")
			other := openFile(t, "file:"+path+"?_pragma=busy_timeout(0)")
			var rounds []int
			defer sqlite.SetBulkRound(3, 100, func(r session.DeleteReport) {
				rounds = append(rounds, len(r.SessionIDs))
				// The round has committed: the write lock is free.
				if _, err := other.ExecContext(ctx, `UPDATE sessions SET title = 'touched' WHERE id = 'bob-0'`); err != nil {
					t.Errorf("after round %d, another connection cannot write: %v", len(rounds), err)
				}
			})()
			rep, err := tc.del(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{3, 3, 3, 1}; !slices.Equal(rounds, want) {
				t.Errorf("rounds deleted %v sessions, want %v", rounds, want)
			}
			if len(rep.SessionIDs) != 10 || rep.Messages != 10 || !slices.IsSorted(rep.SessionIDs) {
				t.Errorf("report: %d sessions (sorted: %v), %d messages; want 10 sorted, 10", len(rep.SessionIDs), slices.IsSorted(rep.SessionIDs), rep.Messages)
			}
			left, err := st.List(ctx, session.ListQuery{})
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range left.Sessions {
				if in.Owner != "bob" {
					t.Errorf("session %q of %q left", in.ID, in.Owner)
				}
			}
			if len(left.Sessions) != 10 {
				t.Errorf("%d sessions left, want bob's 10", len(left.Sessions))
			}
		})
	}
}

// TestBulkDeleteRoundBoundsMessages checks that a round also stops at
// about bulkRoundMessages messages, a session always whole: sessions of
// many messages go in rounds of fewer sessions.
func TestBulkDeleteRoundBoundsMessages(t *testing.T) {
	ctx := t.Context()
	st, _ := bulkStore(t, 0)
	for i := range 4 {
		sess, err := st.CreateWith(ctx, fmt.Sprintf("big-%d", i), session.CreateOptions{Owner: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		msgs := make([]message.Message, 5)
		for j := range msgs {
			msgs[j] = message.NewUserMessage("m")
		}
		if err := sess.AddMessages(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	var rounds []int64
	defer sqlite.SetBulkRound(1000, 8, func(r session.DeleteReport) { rounds = append(rounds, r.Messages) })()
	rep, err := st.DeleteOwner(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	// 8 messages at most, but a session of 5 goes whole: one per round.
	if want := []int64{5, 5, 5, 5}; !slices.Equal(rounds, want) {
		t.Errorf("rounds deleted %v messages, want %v", rounds, want)
	}
	if len(rep.SessionIDs) != 4 || rep.Messages != 20 {
		t.Errorf("report: %v, %d messages", rep.SessionIDs, rep.Messages)
	}
}

// TestBulkDeleteFailsPartWay checks what an error between rounds leaves:
// the rounds that committed stay deleted, the report returned with the
// error lists them (session.OwnerEraser), and calling again finishes.
func TestBulkDeleteFailsPartWay(t *testing.T) {
	st, _ := bulkStore(t, 7, "ann")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	restore := sqlite.SetBulkRound(3, 100, func(session.DeleteReport) {
		if n++; n == 2 {
			cancel()
		}
	})
	defer restore()
	rep, err := st.DeleteOwner(ctx, "ann")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteOwner with its context cancelled after the second round: %v, want context.Canceled", err)
	}
	if len(rep.SessionIDs) != 6 {
		t.Errorf("report with the error lists %v, want the 6 sessions of two rounds", rep.SessionIDs)
	}
	rep2, err := st.DeleteOwner(t.Context(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	all := append(rep.SessionIDs, rep2.SessionIDs...)
	slices.Sort(all)
	if len(all) != 7 || len(slices.Compact(all)) != 7 {
		t.Errorf("both calls deleted %v, want each of the 7 sessions once", all)
	}
}

// TestBulkSelectUsesIndex checks the plan of a round's selection: it must
// search the index that serves its condition. (Ordered by id, SQLite
// walked the table past every session that did not match, in every
// round.)
func TestBulkSelectUsesIndex(t *testing.T) {
	st, path := bulkStore(t, 0)
	db := openFile(t, path)
	for _, tc := range []struct {
		where string
		args  []any
		index string
	}{
		{`owner = ?`, []any{"ann"}, "sessions_owner_updated"},
		{`updated_at < ?`, []any{int64(1)}, "sessions_updated"},
		{`updated_at < ? AND owner = ?`, []any{int64(1), "ann"}, "sessions_owner_updated"},
	} {
		plan := explain(t, db, "EXPLAIN QUERY PLAN "+sqlite.BulkSelect(st, tc.where), append(tc.args, 10)...)
		if !strings.Contains(plan, "SEARCH sessions USING") || !strings.Contains(plan, tc.index+" ") || strings.Contains(plan, "SCAN") {
			t.Errorf("round selection WHERE %s is not a search of %s:\n%s", tc.where, tc.index, plan)
		}
	}
}
