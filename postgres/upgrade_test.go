package postgres

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/internal/upstream/upstreamtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The dumps in testdata/upstream were written by the memory/postgres
// session store of github.com/joakimcarlsson/ai (see
// testdata/upstream/README.md): tables in public, and in schema chat.

// newDatabase creates an empty database on the test server, dropped when t
// ends, and returns its URL. The upstream store uses unqualified table
// names, so its default-schema fixture needs a database of its own.
func newDatabase(t *testing.T) string {
	t.Helper()
	admin := testPool(t)
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := "convo_up_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(t.Context(), `CREATE DATABASE `+sqlident.Quote(name)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+sqlident.Quote(name)+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// restore loads a dump into the database at dbURL on its own connection
// (the dump empties its connection's search_path), leaving out psql's
// backslash commands.
func restore(t *testing.T, dbURL, file string) {
	t.Helper()
	b, err := os.ReadFile("testdata/upstream/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var sqlText strings.Builder
	for l := range strings.Lines(string(b)) {
		if !strings.HasPrefix(l, `\`) {
			sqlText.WriteString(l)
		}
	}
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sqlText.String()); err != nil {
		t.Fatalf("restore %s: %v", file, err)
	}
}

func poolAt(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pool.Config().MaxConns = 4
	t.Cleanup(pool.Close)
	return pool
}

var upstreamDumps = []struct {
	file   string
	schema string // "" for the connection's search_path
}{
	{"upstream-postgres-default.sql", ""},
	{"upstream-postgres-schema.sql", "chat"},
}

func schemaOpts(schema string, more ...Option) []Option {
	if schema != "" {
		more = append([]Option{WithSchema(schema)}, more...)
	}
	return more
}

func qualified(schema, table string) string {
	if schema == "" {
		return table
	}
	return schema + "." + table
}

// upstreamState reads what the test compares before and after: the ids
// of the messages in row order (README's order), and the sessions'
// created_at in nanoseconds.
func upstreamState(t *testing.T, pool *pgxpool.Pool, schema string) ([]string, map[string]int64) {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT id FROM `+qualified(schema, "messages")+` ORDER BY created_at`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) != 8 {
		t.Fatalf("fixture message ids: %v, %v", ids, err)
	}
	rows, err = pool.Query(t.Context(), `SELECT id, (extract(epoch FROM created_at) * 1000000000)::bigint FROM `+qualified(schema, "sessions"))
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]int64{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		created[id] = at
	}
	if err := rows.Err(); err != nil || len(created) != 4 {
		t.Fatalf("fixture sessions: %v, %v", created, err)
	}
	return ids, created
}

// catalog lists every schema and relation of the database outside the
// system schemas, so that two states can be compared.
func catalog(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
		UNION ALL
		SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
		UNION ALL
		SELECT 'con ' || conname || ' ' || contype::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSessionStoreRefusesUpstreamTablesAndChangesNothing(t *testing.T) {
	for _, fx := range upstreamDumps {
		t.Run(fx.file, func(t *testing.T) {
			dbURL := newDatabase(t)
			restore(t, dbURL, fx.file)
			pool := poolAt(t, dbURL)
			before := catalog(t, pool)
			for _, ro := range []bool{false, true} {
				opts := schemaOpts(fx.schema)
				if ro {
					opts = append(opts, WithReadOnly())
				}
				if _, err := SessionStore(t.Context(), pool, opts...); !errors.Is(err, ErrUpstreamSchema) {
					t.Errorf("SessionStore (read-only %v): %v, want ErrUpstreamSchema", ro, err)
				}
			}
			if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
				t.Errorf("the refused open changed the catalog (-before +after):\n%s", diff)
			}
		})
	}
}

func TestUpgradeFromUpstream(t *testing.T) {
	for _, fx := range upstreamDumps {
		t.Run(fx.file, func(t *testing.T) {
			ctx := t.Context()
			dbURL := newDatabase(t)
			restore(t, dbURL, fx.file)
			pool := poolAt(t, dbURL)
			ids, created := upstreamState(t, pool, fx.schema)
			rep, err := Upgrade(ctx, pool, schemaOpts(fx.schema)...)
			if err != nil {
				t.Fatalf("Upgrade: %v", err)
			}
			if !rep.Upgraded || rep.Sessions != 4 || rep.Messages != 8 || len(rep.Unconverted) != 0 || len(rep.AddedSessions) != 0 {
				t.Errorf("report = %+v, want 4 sessions and 8 messages upgraded, nothing else", rep)
			}
			st, err := Open(ctx, pool, schemaOpts(fx.schema)...)
			if err != nil {
				t.Fatalf("open after upgrade: %v", err)
			}
			upstreamtest.CheckUpgraded(t, st, upstreamtest.Want(ids), created)
			rep, err = Upgrade(ctx, pool, schemaOpts(fx.schema)...)
			if err != nil || rep.Upgraded {
				t.Errorf("second Upgrade = %+v, %v; want nothing done", rep, err)
			}
			s, err := st.Load(ctx, "reasoning")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("thanks")}); err != nil {
				t.Fatalf("append after upgrade: %v", err)
			}
			hits, err := st.Search(ctx, session.SearchQuery{Text: "Stockholm"})
			if err != nil || len(hits) == 0 || hits[0].SessionID != "user-123" {
				t.Errorf("search after upgrade: %+v, %v", hits, err)
			}
		})
	}
}

func TestUpgradeReportsRowsItCannotConvert(t *testing.T) {
	ctx := t.Context()
	dbURL := newDatabase(t)
	restore(t, dbURL, "upstream-postgres-default.sql")
	pool := poolAt(t, dbURL)
	ids, _ := upstreamState(t, pool, "")
	bad := `{"role": "tool", "parts": [{"data": "not an object", "type": "tool_result"}]}`
	if _, err := pool.Exec(ctx, `UPDATE messages SET parts = $1::jsonb WHERE id = $2`, bad, ids[2]); err != nil {
		t.Fatal(err)
	}
	rep, err := Upgrade(ctx, pool)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if len(rep.Unconverted) != 1 || rep.Unconverted[0].SessionID != "user-123" || rep.Unconverted[0].Row != ids[2] || rep.Unconverted[0].Seq != 3 || rep.Messages != 7 {
		t.Fatalf("report = %+v, want row %s of user-123 (seq 3) unconverted and 7 messages", rep, ids[2])
	}
	st, err := Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(ctx, "user-123")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMessages(ctx, nil)
	if err != nil || len(got) != 3 || got[1].ID != ids[1] || got[2].ID != ids[3] {
		t.Errorf("session keeps %d messages (%v), want rows 1, 2 and 4 in order", len(got), err)
	}
	q, err := st.Quarantined(ctx, "user-123")
	if err != nil || len(q) != 1 || q[0].MessageID != ids[2] || q[0].Seq != 3 || string(q[0].Parts) != bad {
		t.Errorf("quarantined = %+v, %v; want row %s with its text", q, err, ids[2])
	}
}

// upgradeChildEnv holds, in a child process, the URL of the database to
// upgrade.
const upgradeChildEnv = "CONVO_TEST_PG_UPGRADE_CHILD"

// TestUpgradeChild upgrades the database at upgradeChildEnv and stops just
// before its commit, for TestUpgradeKilled to kill it there.
func TestUpgradeChild(t *testing.T) {
	dbURL := os.Getenv(upgradeChildEnv)
	if dbURL == "" {
		t.Skip("runs only as the child of TestUpgradeKilled")
	}
	upgradeHook = func(stage string) {
		if stage == "before commit" {
			fmt.Println("MID-UPGRADE")
			time.Sleep(time.Minute)
		}
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Upgrade(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeKilled kills (SIGKILL) a process whose upgrade has done all
// its work but not committed: the server rolls the transaction back, the
// old tables and rows are all there, and a second Upgrade succeeds.
func TestUpgradeKilled(t *testing.T) {
	if os.Getenv(upgradeChildEnv) != "" {
		t.Skip("in the child")
	}
	dbURL := newDatabase(t)
	restore(t, dbURL, "upstream-postgres-default.sql")
	pool := poolAt(t, dbURL)
	ids, created := upstreamState(t, pool, "")
	before := catalog(t, pool)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestUpgradeChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), upgradeChildEnv+"="+dbURL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	mid := false
	for sc.Scan() {
		if sc.Text() == "MID-UPGRADE" {
			mid = true
			break
		}
	}
	if !mid {
		cmd.Wait()
		t.Fatal("the child ended without reaching the end of the upgrade")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The server ends the dead connection's transaction; wait for it to
	// let go of its locks (the catalog read below would wait anyway).
	if diff := cmp.Diff(before, catalog(t, pool)); diff != "" {
		t.Fatalf("the killed upgrade changed the catalog (-before +after):\n%s", diff)
	}
	if ids2, created2 := upstreamState(t, pool, ""); !slices.Equal(ids, ids2) || !cmp.Equal(created, created2) {
		t.Fatal("the killed upgrade changed the old rows")
	}
	rep, err := Upgrade(t.Context(), pool)
	if err != nil || !rep.Upgraded || rep.Messages != 8 {
		t.Fatalf("Upgrade after the killed one = %+v, %v", rep, err)
	}
	st, err := Open(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	upstreamtest.CheckUpgraded(t, st, upstreamtest.Want(ids), created)
}
