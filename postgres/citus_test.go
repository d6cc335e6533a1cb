package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
)

// TestSchemaFollowsCitusRules checks, in the catalog of a store's schema,
// the rules a Citus cluster imposes on tables distributed by session id
// (postgres package doc, "Citus"): every primary key and unique constraint
// of sessions includes id and of messages includes session_id, and the
// foreign key from messages to sessions joins exactly the two distribution
// columns. A later migration that breaks one fails here, although no Citus
// runs in these tests.
func TestSchemaFollowsCitusRules(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	dist := map[string]string{"sessions": "id", "messages": "session_id"}
	for table, col := range dist {
		rows, err := s.pool.Query(ctx, `
			SELECT i.indexrelid::regclass::text,
				EXISTS (SELECT 1 FROM unnest(i.indkey) AS k(attnum)
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
					WHERE a.attname = $3)
			FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relname = $2 AND (i.indisunique OR i.indisprimary)`,
			s.Schema(), table, col)
		if err != nil {
			t.Fatal(err)
		}
		unique := 0
		for rows.Next() {
			var name string
			var has bool
			if err := rows.Scan(&name, &has); err != nil {
				t.Fatal(err)
			}
			unique++
			if !has {
				t.Errorf("unique index %s on %s does not include the distribution column %s", name, table, col)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if unique == 0 {
			t.Errorf("%s has no unique index at all: the query found nothing to check", table)
		}
	}
	// The quarantine table has no unique index; its rows go with their
	// session by a foreign key on the distribution column.
	dist["messages_quarantine"] = "session_id"
	rows, err := s.pool.Query(ctx, `
		SELECT con.conname, c.relname, f.relname,
			(SELECT array_agg(a.attname ORDER BY a.attname) FROM unnest(con.conkey) k(n)
				JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n)::text[],
			(SELECT array_agg(a.attname ORDER BY a.attname) FROM unnest(con.confkey) k(n)
				JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n)::text[]
		FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
		JOIN pg_class f ON f.oid = con.confrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND con.contype = 'f'`, s.Schema())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	fks := 0
	for rows.Next() {
		var name, from, to string
		var cols, refs []string
		if err := rows.Scan(&name, &from, &to, &cols, &refs); err != nil {
			t.Fatal(err)
		}
		fks++
		if len(cols) != 1 || cols[0] != dist[from] || len(refs) != 1 || refs[0] != dist[to] {
			t.Errorf("foreign key %s: %s%v -> %s%v; Citus needs it to join the distribution columns (%s -> %s)",
				name, from, cols, to, refs, dist[from], dist[to])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fks != 2 {
		t.Errorf("found %d foreign keys, want 2 (messages -> sessions, messages_quarantine -> sessions)", fks)
	}
}

// TestDeletesPublishToLogicalReplication deletes a session with a
// quarantined row while a publication (CREATE PUBLICATION ... FOR TABLE)
// covers every table of the store. PostgreSQL refuses a delete from a
// published table that has no replica identity ("cannot delete from table
// ... because it does not have a replica identity and publishes deletes",
// CheckCmdReplicaIdentity), and Citus moves shards by logical replication,
// refusing tables without one; messages_quarantine, which has no primary
// key, was such a table until schema version 5. The publication needs no
// wal_level = logical to exist, so this runs on any server.
func TestDeletesPublishToLogicalReplication(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []message.Message{message.NewUserMessage("kept"), message.NewUserMessage("damaged")}
	if err := sess.AddMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := s.Quarantine(ctx, "s1", msgs[1].ID, "test"); err != nil {
		t.Fatal(err)
	}
	pub := sqlident.Quote(s.Schema() + "_pub")
	if _, err := s.pool.Exec(ctx, `CREATE PUBLICATION `+pub+` FOR TABLE `+s.q.sessions+`, `+s.q.messages+`, `+s.q.quarantine); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.pool.Exec(context.WithoutCancel(ctx), `DROP PUBLICATION `+pub); err != nil {
			t.Errorf("drop publication: %v", err)
		}
	})
	if err := s.Delete(ctx, "s1"); err != nil {
		t.Fatalf("delete a session with a quarantined row under a publication: %v", err)
	}
	var left int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.q.quarantine).Scan(&left); err != nil || left != 0 {
		t.Fatalf("quarantined rows left after the delete: %d, %v", left, err)
	}
}

// TestSplitStatements checks the split of a migration into statements
// that a store opened WithCitus sends one by one: only at semicolons
// outside comments, quotes and dollar-quoted bodies, leaving out parts
// that hold only comments. (TestConformanceRouted creates every schema
// from split migrations.)
func TestSplitStatements(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want []string
	}{
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"SELECT 1;\nSELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"-- a; comment\nSELECT 1; -- trailing; comment\n", []string{"-- a; comment\nSELECT 1"}},
		{"/* a; b */ SELECT 1; SELECT 2", []string{"/* a; b */ SELECT 1", "SELECT 2"}},
		{"SELECT ';', 'it''s; fine'; SELECT 2", []string{"SELECT ';', 'it''s; fine'", "SELECT 2"}},
		{`SELECT 1 AS "a;b"; SELECT 2`, []string{`SELECT 1 AS "a;b"`, "SELECT 2"}},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$; SELECT 2",
			[]string{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$", "SELECT 2"}},
		{"DO $do$ BEGIN EXECUTE $x$SELECT 1; $$ $x$; END $do$; SELECT 2",
			[]string{"DO $do$ BEGIN EXECUTE $x$SELECT 1; $$ $x$; END $do$", "SELECT 2"}},
		{"PREPARE p AS SELECT $1::int; SELECT 2", []string{"PREPARE p AS SELECT $1::int", "SELECT 2"}},
		{"-- only a comment\n", nil},
	} {
		if got := splitStatements(c.sql); !slices.Equal(got, c.want) {
			t.Errorf("splitStatements(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		stmts := splitStatements(m.SQL)
		if len(stmts) == 0 {
			t.Errorf("migration %d: no statements", m.Version)
		}
		for _, s := range stmts {
			if strings.HasSuffix(s, ";") {
				t.Errorf("migration %d: statement ends with a semicolon: %q", m.Version, s)
			}
		}
	}
}
