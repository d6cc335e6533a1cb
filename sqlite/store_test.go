package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
	"github.com/convo-dev/convo/sqlite"
	"github.com/convo-dev/convo/sqlite/internal/drivertest"
)

// The full conformance matrix (three drivers, file and :memory:) runs in
// internal/drivertest; this runs the suite once more with a table prefix.
func TestConformanceWithPrefix(t *testing.T) {
	sessiontest.RunWith(t, func(t *testing.T) session.Store {
		st, err := sqlite.SessionStore(t.Context(), newDB(t), sqlite.WithTablePrefix("chat_"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, sessiontest.Options{Corrupt: drivertest.Corrupt})
}

func newDB(t *testing.T) *sql.DB {
	t.Helper()
	return openFile(t, filepath.Join(t.TempDir(), "convo.db"))
}

func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestSeedTablesAndColumns(t *testing.T) {
	for _, tc := range []struct{ prefix, sessions, messages string }{
		{"", "sessions", "messages"},
		{"chat_", "chat_sessions", "chat_messages"},
	} {
		db := newDB(t)
		if _, err := sqlite.SessionStore(t.Context(), db, sqlite.WithTablePrefix(tc.prefix)); err != nil {
			t.Fatal(err)
		}
		for table, cols := range map[string][]string{
			tc.sessions: {"id", "created_at"},
			tc.messages: {"id", "session_id", "role", "parts", "model", "created_at"},
		} {
			for _, c := range cols {
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, c).Scan(&n); err != nil || n != 1 {
					t.Errorf("prefix %q: table %s has no column %s (%v)", tc.prefix, table, c, err)
				}
			}
		}
		// parts are JSON text
		st, _ := sqlite.SessionStore(t.Context(), db, sqlite.WithTablePrefix(tc.prefix))
		s, err := st.Create(t.Context(), "u")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMessages(t.Context(), []message.Message{message.NewUserMessage("hi")}); err != nil {
			t.Fatal(err)
		}
		var typ, parts string
		if err := db.QueryRow(`SELECT typeof(parts), parts FROM "`+tc.messages+`"`).Scan(&typ, &parts); err != nil {
			t.Fatal(err)
		}
		if typ != "text" || parts != `[{"type":"text","text":"hi"}]` {
			t.Errorf("parts stored as %s %q, want JSON text", typ, parts)
		}
	}
}

func TestBadPrefixIsRefusedBeforeAnySQL(t *testing.T) {
	for _, p := range []string{`x"; DROP TABLE sessions; --`, "1chat", "Chat_", "chat-", "chat prefix", "é_", strings.Repeat("a", 41)} {
		db := newDB(t)
		_, err := sqlite.SessionStore(t.Context(), db, sqlite.WithTablePrefix(p))
		if !errors.Is(err, sqlident.ErrInvalid) || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: err = %v, want an invalid-prefix error", p, err)
		}
		if got := tables(t, db); len(got) != 0 {
			t.Errorf("prefix %q: tables %v were created", p, got)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	db := newDB(t)
	for name, opt := range map[string]sqlite.Option{
		"busy timeout":      sqlite.WithBusyTimeout(0),
		"max message bytes": sqlite.WithMaxMessageBytes(-1),
	} {
		if _, err := sqlite.SessionStore(t.Context(), db, opt); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming it", name, err)
		}
	}
	if _, err := sqlite.SessionStore(t.Context(), nil); err == nil {
		t.Error("nil db: no error")
	}
}

func TestCorruptRowNamesSessionAndRowAndSparesOthers(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	st, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := st.Create(ctx, "bad")
	good, _ := st.Create(ctx, "good")
	for _, s := range []session.Session{bad, good} {
		if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("one"), message.NewUserMessage("two")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE messages SET parts = '{not json' WHERE session_id = 'bad' AND seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, err = bad.GetMessages(ctx, nil)
	var ce *session.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, session.ErrCorrupt) || !errors.Is(err, message.ErrMalformed) {
		t.Fatalf("GetMessages of a corrupt session: %v, want a *session.CorruptError", err)
	}
	if ce.SessionID != "bad" || ce.Seq != 2 || ce.MessageID == "" {
		t.Errorf("CorruptError = %+v, want session bad, seq 2 and the message id", ce)
	}
	if msgs, err := bad.GetMessages(ctx, session.Limit(0)); err != nil || len(msgs) != 0 {
		t.Errorf("limit 0 of the corrupt session: %v, %v", msgs, err)
	}
	if msgs, err := good.GetMessages(ctx, nil); err != nil || len(msgs) != 2 {
		t.Errorf("other session: %d messages, %v; want 2, nil", len(msgs), err)
	}
	// Pop reports the corrupt newest row and leaves it.
	if _, err := bad.PopMessage(ctx); !errors.As(err, &ce) {
		t.Errorf("PopMessage of a corrupt row: %v, want a CorruptError", err)
	}
	if err := bad.Clear(ctx); err != nil {
		t.Errorf("Clear of a corrupt session: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.SessionStore(ctx, newDB(t), sqlite.WithMaxMessageBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := st.Create(ctx, "s")
	err = s.AddMessages(ctx, []message.Message{message.NewUserMessage("small"), message.NewUserMessage(strings.Repeat("x", 2000))})
	if !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if msgs, _ := s.GetMessages(ctx, nil); len(msgs) != 0 {
		t.Errorf("%d messages stored by a refused call", len(msgs))
	}
}

func TestSchemaNewerThanCodeIsRefused(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	if _, err := sqlite.SessionStore(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO convo_schema_migrations (version, applied_at) VALUES (?, 0)`, sqlite.LatestSchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.SessionStore(ctx, db); !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Errorf("err = %v, want ErrSchemaTooNew", err)
	}
	// Another prefix in the same file has its own version.
	if _, err := sqlite.SessionStore(ctx, db, sqlite.WithTablePrefix("other_")); err != nil {
		t.Errorf("other prefix: %v", err)
	}
}

func TestConcurrentOpenersMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "convo.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			// Separate *sql.DB values, as separate processes would have.
			db, err := sql.Open("sqlite", path)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			st, err := sqlite.SessionStore(context.Background(), db)
			if err != nil {
				errs <- fmt.Errorf("opener %d: %w", i, err)
				return
			}
			if _, err := st.Create(context.Background(), fmt.Sprintf("s%d", i)); err != nil {
				errs <- fmt.Errorf("opener %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	db := openFile(t, path)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM convo_schema_migrations`).Scan(&n); err != nil || n != sqlite.LatestSchemaVersion() {
		t.Errorf("%d migration rows (%v), want %d: a migration ran twice or not at all", n, err, sqlite.LatestSchemaVersion())
	}
	if err := db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 8 {
		t.Errorf("%d sessions, want 8 (%v)", n, err)
	}
}

func TestWALIsSwitchedOn(t *testing.T) {
	db := newDB(t)
	if _, err := sqlite.SessionStore(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
	db2 := newDB(t)
	if _, err := sqlite.SessionStore(t.Context(), db2, sqlite.WithWAL(false)); err != nil {
		t.Fatal(err)
	}
	if err := db2.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
		t.Errorf("WithWAL(false): journal_mode = %q (%v), want delete", mode, err)
	}
}

func TestClosedDatabase(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	st, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := st.Create(ctx, "s")
	db.Close()
	err = s.AddMessages(ctx, []message.Message{message.NewUserMessage("x")})
	if err == nil || !strings.Contains(err.Error(), `"s"`) {
		t.Errorf("append on a closed database: %v, want an error naming the session", err)
	}
	if _, err := st.Load(ctx, "s"); err == nil {
		t.Error("Load on a closed database: no error")
	}
}

// The append INSERT skips rows silently (OR IGNORE); a row skipped for any
// reason but an id the session already holds must fail the call, whole.
func TestRowSkippedForAnotherReasonFailsTheAppend(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	st, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("one"), message.NewUserMessage("two")}); err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]message.Message{
		{message.NewUserMessage("three")},                                // every row skipped
		{message.NewUserMessage("four"), message.NewUserMessage("five")}, // one skipped, one would go in
	} {
		// Damage the session row so that the next seq numbers are taken.
		if _, err := db.ExecContext(ctx, `UPDATE sessions SET next_seq = 2 WHERE id = 's'`); err != nil {
			t.Fatal(err)
		}
		err := s.AddMessages(ctx, batch)
		if err == nil || !strings.Contains(err.Error(), "neither stored nor already present") {
			t.Fatalf("append of %d messages over taken seq numbers: got %v, want an internal error", len(batch), err)
		}
	}
	got, err := s.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Content() != "one" || got[1].Content() != "two" {
		t.Fatalf("session holds %d messages after failed appends, want the first two only", len(got))
	}
	// A retry of stored messages is still a success.
	if err := s.AddMessages(ctx, got); err != nil {
		t.Fatalf("retry of stored messages: %v", err)
	}
}

// TestLargeAppendMovesTheVersionOnce: an append of more messages than one
// INSERT takes (256) is still one change: the version moves on by one, as
// in the other stores.
func TestLargeAppendMovesTheVersionOnce(t *testing.T) {
	st, err := sqlite.SessionStore(t.Context(), newDB(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	v := s.(session.Versioned)
	msgs := make([]message.Message, 600)
	for i := range msgs {
		msgs[i] = message.NewUserMessage(fmt.Sprint("m", i))
	}
	got, err := v.AddMessagesAt(t.Context(), 0, msgs)
	if err != nil {
		t.Fatal(err)
	}
	stored, now, err := v.Snapshot(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1 || now != 1 || len(stored) != 600 {
		t.Fatalf("AddMessagesAt(0, 600 messages) = version %d, session at %d with %d messages; want 1, 1, 600", got, now, len(stored))
	}
	// Without a version check too.
	more := make([]message.Message, 300)
	for i := range more {
		more[i] = message.NewUserMessage(fmt.Sprint("n", i))
	}
	if err := s.AddMessages(t.Context(), more); err != nil {
		t.Fatal(err)
	}
	if _, now, err = v.Snapshot(t.Context(), session.Limit(0)); err != nil || now != 2 {
		t.Fatalf("after a 300-message AddMessages the session is at %d (%v), want 2", now, err)
	}
}

// SQLite keeps text that is not a number in an INTEGER column, as another
// program writing the file may leave it. Such a session row stopped every
// listing (issue 17 item 5: convo ls). List now lists it in its place with
// what could be read, reports it in Unreadable (naming the session and the
// column, matching session.ErrCorrupt), and pages on: an unreadable
// updated_at (text sorts above every number, so such rows come first) at
// the end of a page does not end the listing early.
func TestListGoesOnPastUnreadableSessionRows(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := st.Create(ctx, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`UPDATE sessions SET updated_at = 'last week' WHERE id = 's1'`,
		`UPDATE sessions SET created_at = x'00ff', message_count = 2.5 WHERE id = 's3'`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	var unreadable []error
	q := session.ListQuery{Limit: 1}
	for range 10 {
		page, err := st.List(ctx, q)
		if err != nil {
			t.Fatalf("List after %v: %v", listed, err)
		}
		for _, in := range page.Sessions {
			listed = append(listed, in.ID)
		}
		unreadable = append(unreadable, page.Unreadable...)
		if q.Cursor = page.Next; q.Cursor == "" {
			break
		}
	}
	if strings.Join(listed, " ") != "s1 s4 s3 s2 s0" {
		t.Errorf("listed %v, want every session once: s1 (unreadable updated_at) first, then newest first", listed)
	}
	if len(unreadable) != 2 {
		t.Fatalf("unreadable %v, want s1 and s3", unreadable)
	}
	for i, want := range []string{`"s1": updated_at is "last week"`, `"s3": created_at is "\x00\xff", not an integer; message_count is 2.5`} {
		if !errors.Is(unreadable[i], session.ErrCorrupt) || !strings.Contains(unreadable[i].Error(), want) {
			t.Errorf("unreadable[%d] = %v, want ErrCorrupt naming %s", i, unreadable[i], want)
		}
	}
}
