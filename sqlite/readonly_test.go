package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// foreignDB writes a database whose tables have convo's names (with
// prefix) but belong to another program, in rollback-journal mode, and
// returns its path.
func foreignDB(t *testing.T, prefix string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db := openFile(t, path)
	for _, st := range []string{
		`PRAGMA journal_mode = DELETE`,
		`CREATE TABLE "` + prefix + `sessions" (token TEXT PRIMARY KEY, user_id INTEGER, expires INTEGER)`,
		`CREATE TABLE "` + prefix + `messages" (id INTEGER PRIMARY KEY, body TEXT)`,
		`INSERT INTO "` + prefix + `sessions" VALUES ('tok', 1, 2)`,
	} {
		if _, err := db.Exec(st); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	return path
}

func TestForeignTablesAreRefusedAndNothingChanges(t *testing.T) {
	for _, prefix := range []string{"", "chat_"} {
		t.Run("prefix_"+prefix, func(t *testing.T) {
			path := foreignDB(t, prefix)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db := openFile(t, path)
			for _, opts := range [][]sqlite.Option{
				{sqlite.WithTablePrefix(prefix)},
				{sqlite.WithTablePrefix(prefix), sqlite.WithReadOnly()},
			} {
				if _, err := sqlite.SessionStore(t.Context(), db, opts...); !errors.Is(err, sqlite.ErrForeignTables) {
					t.Errorf("SessionStore: %v, want ErrForeignTables", err)
				}
			}
			if _, err := sqlite.Upgrade(t.Context(), db, sqlite.WithTablePrefix(prefix)); !errors.Is(err, sqlite.ErrForeignTables) {
				t.Errorf("Upgrade: %v, want ErrForeignTables", err)
			}
			db.Close()
			assertUnchanged(t, path, before)
			// Another prefix beside them works.
			db = openFile(t, path)
			if _, err := sqlite.SessionStore(t.Context(), db, sqlite.WithTablePrefix("convo_")); err != nil {
				t.Errorf("SessionStore with another prefix: %v", err)
			}
		})
	}
}

// TestEmptyVersionTableLeftByOldReleases: an earlier release created the
// version table before failing on foreign tables. Such a file is still
// refused, and a fresh one with only that table opens.
func TestEmptyVersionTableIsNoVersion(t *testing.T) {
	path := foreignDB(t, "")
	db := openFile(t, path)
	if _, err := db.Exec(`CREATE TABLE convo_schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.SessionStore(t.Context(), db); !errors.Is(err, sqlite.ErrForeignTables) {
		t.Errorf("SessionStore: %v, want ErrForeignTables", err)
	}
}

// writtenDB returns the path of a database file holding session s1 with
// two messages, written by a store and closed.
func writtenDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "convo.db")
	db := openFile(t, path)
	st, err := sqlite.SessionStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMessages(t.Context(), []message.Message{message.NewUserMessage("hello there"), message.NewAssistantMessage("hi")}); err != nil {
		t.Fatal(err)
	}
	// Fold the WAL back into the file so that it is one file.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path
}

func TestReadOnlyStore(t *testing.T) {
	cases := []struct {
		name string
		open func(t *testing.T, path string) *sql.DB
	}{
		{"file_mode_0444", func(t *testing.T, path string) *sql.DB {
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
			return openFile(t, path)
		}},
		{"dsn_mode_ro", func(t *testing.T, path string) *sql.DB {
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			path := writtenDB(t)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db := c.open(t, path)
			st, err := sqlite.Open(ctx, db, sqlite.WithReadOnly())
			if err != nil {
				t.Fatalf("read-only open: %v", err)
			}
			s, err := st.Load(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetMessages(ctx, nil); err != nil || len(got) != 2 {
				t.Errorf("GetMessages = %d messages, %v", len(got), err)
			}
			if page, err := st.List(ctx, session.ListQuery{}); err != nil || len(page.Sessions) != 1 {
				t.Errorf("List = %+v, %v", page, err)
			}
			if hits, err := st.Search(ctx, session.SearchQuery{Text: "hello"}); err != nil || len(hits) != 1 {
				t.Errorf("Search = %+v, %v", hits, err)
			}
			writes := map[string]func() error{
				"Create":      func() error { _, err := st.Create(ctx, "s2"); return err },
				"Open":        func() error { _, err := st.Open(ctx, "s2"); return err },
				"Delete":      func() error { return st.Delete(ctx, "s1") },
				"UpdateInfo":  func() error { t := "x"; return st.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &t}) },
				"SetUpdated":  func() error { return st.SetUpdatedAt(ctx, "s1", 5) },
				"DeleteOwner": func() error { _, err := st.DeleteOwner(ctx, "o"); return err },
				"Prune":       func() error { _, err := st.Prune(ctx, session.PruneQuery{UpdatedBefore: 1 << 62}); return err },
				"Quarantine":  func() error { return st.Quarantine(ctx, "s1", "x", "r") },
				"Fork":        func() error { _, err := st.Fork(ctx, "s1", "", "s3", session.CreateOptions{}); return err },
				"AddMessages": func() error { return s.AddMessages(ctx, []message.Message{message.NewUserMessage("no")}) },
				"AddMessagesAt": func() error {
					_, err := s.(session.Versioned).AddMessagesAt(ctx, 1, []message.Message{message.NewUserMessage("no")})
					return err
				},
				"PopMessage": func() error { _, err := s.PopMessage(ctx); return err },
				"Clear":      func() error { return s.Clear(ctx) },
				"ReplaceMessages": func() error {
					_, err := s.(session.Rewriter).ReplaceMessages(ctx, 1, nil)
					return err
				},
				"DropSearchIndex": func() error { return st.DropSearchIndex(ctx) },
			}
			for name, w := range writes {
				if err := w(); !errors.Is(err, session.ErrReadOnly) {
					t.Errorf("%s on a read-only store: %v, want session.ErrReadOnly", name, err)
				}
			}
			if got, err := s.GetMessages(ctx, nil); err != nil || len(got) != 2 {
				t.Errorf("after the refused writes: %d messages, %v", len(got), err)
			}
			db.Close()
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				t.Error("the read-only store changed the file")
			}
		})
	}
}

func TestReadOnlyReportsTheSchemaInsteadOfChangingIt(t *testing.T) {
	ctx := context.Background()
	t.Run("older", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "v1.db")
		copyFile(t, filepath.Join("testdata", "schema-v1.db"), path)
		before, _ := os.ReadFile(path)
		db := openFile(t, path)
		if _, err := sqlite.SessionStore(ctx, db, sqlite.WithReadOnly()); !errors.Is(err, sqlite.ErrSchemaTooOld) {
			t.Errorf("read-only open of a version 1 database: %v, want ErrSchemaTooOld", err)
		}
		db.Close()
		assertUnchanged(t, path, before)
	})
	t.Run("newer", func(t *testing.T) {
		path := writtenDB(t)
		db := openFile(t, path)
		if _, err := db.Exec(`INSERT INTO convo_schema_migrations VALUES (999, 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlite.SessionStore(ctx, db, sqlite.WithReadOnly()); !errors.Is(err, sqlite.ErrSchemaTooNew) {
			t.Errorf("read-only open of a newer database: %v, want ErrSchemaTooNew", err)
		}
	})
	t.Run("none", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "empty.db")
		db := openFile(t, path)
		if _, err := sqlite.SessionStore(ctx, db, sqlite.WithReadOnly()); !errors.Is(err, sqlite.ErrNoSchema) {
			t.Errorf("read-only open of an empty database: %v, want ErrNoSchema", err)
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil || n != 0 {
			t.Errorf("the read-only open created %d objects (%v)", n, err)
		}
	})
	t.Run("another_prefix", func(t *testing.T) {
		// The right file with the wrong prefix: the error names the
		// prefixes whose tables the file has.
		path := filepath.Join(t.TempDir(), "chat.db")
		db := openFile(t, path)
		for _, p := range []string{"chat_", "v2_"} {
			if _, err := sqlite.SessionStore(ctx, db, sqlite.WithTablePrefix(p)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := sqlite.SessionStore(ctx, db, sqlite.WithReadOnly())
		if !errors.Is(err, sqlite.ErrNoSchema) || !strings.Contains(err.Error(), `it has convo tables with prefix "chat_", "v2_"`) {
			t.Errorf("read-only open without the prefix: %v; want ErrNoSchema naming the prefixes", err)
		}
		_, err = sqlite.SessionStore(ctx, db, sqlite.WithReadOnly(), sqlite.WithTablePrefix("v3_"))
		if !errors.Is(err, sqlite.ErrNoSchema) || !strings.Contains(err.Error(), `prefix "chat_", "v2_"`) {
			t.Errorf("read-only open with prefix v3_: %v; want ErrNoSchema naming the prefixes", err)
		}
	})
}
