package sqlite_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// TestListCursorUsesIndexRange checks the plan of every listing that
// continues from a cursor: SQLite must search the listing index from the
// cursor on, not scan it from the top. A scan made each page cost a read of
// every session before it, so that paging through a million sessions
// (export, doctor and migrate list them all) took minutes; the plan, unlike
// a time, does not depend on the machine.
func TestListCursorUsesIndexRange(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st := store.(*sqlite.Store)
	for i := range 30 {
		if _, err := st.CreateWith(ctx, fmt.Sprintf("s%02d", i), session.CreateOptions{Owner: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := st.List(ctx, session.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if first.Next == "" {
		t.Fatal("no next page after 10 of 30 sessions")
	}
	for _, tc := range []struct {
		name  string
		q     session.ListQuery
		index string
	}{
		{"all", session.ListQuery{}, "sessions_updated"},
		{"owner", session.ListQuery{Owner: "u"}, "sessions_owner_updated"},
		{"window", session.ListQuery{UpdatedAfter: 1, UpdatedBefore: 1 << 62}, "sessions_updated"},
		{"owner and window", session.ListQuery{Owner: "u", UpdatedAfter: 1, UpdatedBefore: 1 << 62}, "sessions_owner_updated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Cursor = first.Next
			query, args, err := sqlite.ListSQL(st, tc.q, 10)
			if err != nil {
				t.Fatal(err)
			}
			plan := explain(t, db, "EXPLAIN QUERY PLAN "+query, args...)
			// A range search from the cursor reads as
			// "SEARCH sessions USING ... INDEX sessions_updated ((updated_at,id)<(?,?))"
			// (https://sqlite.org/eqp.html).
			if !strings.Contains(plan, "SEARCH sessions USING") || !strings.Contains(plan, tc.index+" ") ||
				!strings.Contains(plan, "(updated_at,id)<(?,?)") || strings.Contains(plan, "SCAN") ||
				strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan of a listing from a cursor is not a range search of %s:\n%s\n(query %s)", tc.index, plan, query)
			}
			// And the page is the one after the first.
			tc.q.Limit = 10
			page, err := st.List(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Sessions) != 10 || page.Sessions[0].ID == first.Sessions[9].ID {
				t.Errorf("second page: %d sessions starting at %q after %q", len(page.Sessions), page.Sessions[0].ID, first.Sessions[9].ID)
			}
		})
	}
}

// explain runs an EXPLAIN QUERY PLAN statement on db and returns the
// plan's details, one per line.
func explain(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
