package postgres

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func TestForeignTablesAreRefusedAndNothingChanges(t *testing.T) {
	dbURL := newDatabase(t)
	pool := poolAt(t, dbURL)
	for _, st := range []string{
		`CREATE SCHEMA app`,
		`CREATE TABLE app.sessions (token text PRIMARY KEY, user_id int, expires timestamptz)`,
		`CREATE TABLE app.messages (id serial PRIMARY KEY, body text)`,
		`CREATE TABLE public.chat_sessions (token text PRIMARY KEY)`,
	} {
		if _, err := pool.Exec(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	before := catalog(t, pool)
	for _, opts := range [][]Option{
		{WithSchema("app")},
		{WithSchema("app"), WithReadOnly()},
		{WithTablePrefix("chat_")}, // only one of the two tables: still not convo's
		{WithTablePrefix("chat_"), WithReadOnly()},
	} {
		if _, err := SessionStore(t.Context(), pool, opts...); !errors.Is(err, ErrForeignTables) {
			t.Errorf("SessionStore: %v, want ErrForeignTables", err)
		}
	}
	if _, err := Upgrade(t.Context(), pool, WithSchema("app")); !errors.Is(err, ErrForeignTables) {
		t.Errorf("Upgrade: %v, want ErrForeignTables", err)
	}
	if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
		t.Errorf("the refused opens changed the catalog (-before +after):\n%s", diff)
	}
}

func TestReadOnlyStoreWithAReadOnlyRole(t *testing.T) {
	ctx := t.Context()
	dbURL := newDatabase(t)
	pool := poolAt(t, dbURL)
	w, err := Open(ctx, pool, WithSchema("convo"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.Create(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("hello there"), message.NewAssistantMessage("hi")}); err != nil {
		t.Fatal(err)
	}
	// A role that may only read convo's tables.
	u, _ := url.Parse(dbURL)
	role := "ro_" + u.Path[len("/convo_up_"):]
	for _, st := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA convo TO ` + role,
		`GRANT SELECT ON ALL TABLES IN SCHEMA convo TO ` + role,
	} {
		if _, err := pool.Exec(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP OWNED BY `+role); err != nil {
			t.Errorf("drop owned: %v", err)
		}
		if _, err := testPool(t).Exec(context.Background(), `DROP ROLE IF EXISTS `+role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	before := catalog(t, pool)
	u.User = url.User(role)
	ro := poolAt(t, u.String())
	if _, err := ro.Exec(ctx, `DELETE FROM convo.messages`); err == nil {
		t.Fatal("the test's read-only role can write")
	}
	st, err := Open(ctx, ro, WithSchema("convo"), WithReadOnly())
	if err != nil {
		t.Fatalf("read-only open with a read-only role: %v", err)
	}
	rs, err := st.Load(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rs.GetMessages(ctx, nil); err != nil || len(got) != 2 {
		t.Errorf("GetMessages = %d, %v", len(got), err)
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
		"UpdateInfo":  func() error { x := "x"; return st.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &x}) },
		"SetUpdated":  func() error { return st.SetUpdatedAt(ctx, "s1", 5) },
		"DeleteOwner": func() error { _, err := st.DeleteOwner(ctx, "o"); return err },
		"Prune":       func() error { _, err := st.Prune(ctx, session.PruneQuery{UpdatedBefore: 1 << 62}); return err },
		"Quarantine":  func() error { return st.Quarantine(ctx, "s1", "x", "r") },
		"Fork":        func() error { _, err := st.Fork(ctx, "s1", "", "s3", session.CreateOptions{}); return err },
		"AddMessages": func() error { return rs.AddMessages(ctx, []message.Message{message.NewUserMessage("no")}) },
		"AddMessagesAt": func() error {
			_, err := rs.(session.Versioned).AddMessagesAt(ctx, 1, []message.Message{message.NewUserMessage("no")})
			return err
		},
		"PopMessage": func() error { _, err := rs.PopMessage(ctx); return err },
		"Clear":      func() error { return rs.Clear(ctx) },
		"ReplaceMessages": func() error {
			_, err := rs.(session.Rewriter).ReplaceMessages(ctx, 1, nil)
			return err
		},
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, session.ErrReadOnly) {
			t.Errorf("%s on a read-only store: %v, want session.ErrReadOnly", name, err)
		}
	}
	if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
		t.Errorf("the read-only store changed the catalog (-before +after):\n%s", diff)
	}
}

func TestReadOnlyReportsTheSchemaInsteadOfChangingIt(t *testing.T) {
	ctx := t.Context()
	pool := testPool(t)
	t.Run("none", func(t *testing.T) {
		pool := poolAt(t, newDatabase(t)) // a database of its own: nobody else changes its catalog
		before := catalog(t, pool)
		if _, err := Open(ctx, pool, WithReadOnly()); !errors.Is(err, ErrNoSchema) {
			t.Errorf("read-only open of an empty schema: %v, want ErrNoSchema", err)
		}
		if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
			t.Errorf("catalog changed:\n%s", diff)
		}
	})
	t.Run("older_and_newer", func(t *testing.T) {
		st := newStore(t, pool)
		if _, err := pool.Exec(ctx, `DELETE FROM `+st.q.migrations+` WHERE version = $1`, LatestSchemaVersion()); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, pool, WithSchema(st.Schema()), WithReadOnly()); !errors.Is(err, ErrSchemaTooOld) {
			t.Errorf("read-only open of an older schema: %v, want ErrSchemaTooOld", err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO `+st.q.migrations+` VALUES (999, 0)`); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, pool, WithSchema(st.Schema()), WithReadOnly()); !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("read-only open of a newer schema: %v, want ErrSchemaTooNew", err)
		}
	})
}

// A search_path (in the URL, say) whose schema does not exist made the
// first open fail with PostgreSQL's own words alone, "no schema has been
// selected to create in (SQLSTATE 3F000)"; the error now says what to do.
func TestMissingSchemaSaysWhatToDo(t *testing.T) {
	pool := newPool(t, func(cfg *pgxpool.Config) {
		cfg.ConnConfig.RuntimeParams["search_path"] = "convo_no_such_schema_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	})
	_, err := SessionStore(t.Context(), pool)
	if err == nil || !strings.Contains(err.Error(), "SQLSTATE 3F000") || !strings.Contains(err.Error(), "create it first with CREATE SCHEMA") {
		t.Errorf("SessionStore with a search_path of a missing schema: %v; want PostgreSQL's error and what to do", err)
	}
}
