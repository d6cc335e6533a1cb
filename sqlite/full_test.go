package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// Issue 17 item 11: a full disk reached callers as each driver's own text.
// SQLite's page-count limit gives the same SQLITE_FULL ("database or disk
// is full", https://sqlite.org/rescode.html#full) that a full disk gives,
// without filling one.
func TestFullDatabaseIsErrStorageFull(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // max_page_count is per connection
	ctx := t.Context()
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := store.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("before")}); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	var limit int
	if err := db.QueryRowContext(ctx, `PRAGMA max_page_count`).Scan(&limit); err != nil {
		t.Fatal(err)
	}
	big := message.NewUserMessage(strings.Repeat("no room for this ", 50_000)) // ~850 KB
	err = sess.AddMessages(ctx, []message.Message{big})
	if !errors.Is(err, session.ErrStorageFull) {
		t.Fatalf("append past max_page_count %d (page_count %d): %v, want session.ErrStorageFull", limit, pages, err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("after the refused append: %d messages, %v; want the 1 from before", len(got), err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{big}); err != nil {
		t.Fatalf("append once there is room again: %v", err)
	}
}
