package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/migrations"
	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
)

// The Citus test target. CI has no Citus (no package of it is reachable), so
// these tests run only when CONVO_TEST_CITUS names the database of a Citus
// coordinator with workers added; the package documentation, "Citus", says
// how to build such a cluster and records each run. The worker-failure test
// also needs CONVO_TEST_CITUS_WORKER (host:port of a worker) and the shell
// commands that stop and start it, CONVO_TEST_CITUS_WORKER_STOP and
// CONVO_TEST_CITUS_WORKER_START.

// citusURL returns the coordinator the Citus tests use, or skips.
func citusURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("CONVO_TEST_CITUS")
	if u == "" {
		tb.Skip("postgres: CONVO_TEST_CITUS is not set: the Citus tests need a Citus coordinator " +
			"(the package documentation, \"Citus\", says how to build one), for example " +
			"CONVO_TEST_CITUS=postgres://postgres@127.0.0.1:9700/convo?sslmode=disable")
	}
	return u
}

// citusTestShards is the shard count of the tables the tests create: few,
// so that a fresh store per subtest is quick, and more than the workers, so
// that sessions spread over all of them.
const citusTestShards = "4"

// newCitusPool returns a pool on the coordinator, closed when tb ends.
func newCitusPool(tb testing.TB, maxConns int32, shards string) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(citusURL(tb))
	if err != nil {
		tb.Fatalf("CONVO_TEST_CITUS: %v", err)
	}
	cfg.MaxConns = maxConns
	if shards != "" {
		cfg.ConnConfig.RuntimeParams["citus.shard_count"] = shards
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		tb.Fatalf("Citus coordinator at CONVO_TEST_CITUS does not answer: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// newCitusStore returns a store opened WithCitus in a fresh schema on pool.
func newCitusStore(tb testing.TB, pool *pgxpool.Pool, opts ...Option) *Store {
	tb.Helper()
	schema := newSchema(tb, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s, err := Open(ctx, pool, append([]Option{WithSchema(schema), WithCitus()}, opts...)...)
	if err != nil {
		tb.Fatalf("Open WithCitus: %v", err)
	}
	return s
}

// withRouted runs the statements of WithCitus on plain PostgreSQL.
func withRouted() Option { return func(o *storeOptions) { o.routed = true } }

// TestConformanceRouted runs the conformance suite on plain PostgreSQL with
// the statements a store opened WithCitus runs (the routed append, Clear and
// Open in explicit transactions), so that CI covers their logic.
func TestConformanceRouted(t *testing.T) {
	pool := testPool(t)
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return newStore(t, pool, withRouted())
	})
}

// TestRetriesDoNotDependOnTheSQLSTATERouted is
// TestRetriesDoNotDependOnTheSQLSTATE for the routed append.
func TestRetriesDoNotDependOnTheSQLSTATERouted(t *testing.T) {
	s := xx000Store(t)
	s.opts.routed = true
	retriesWithoutSQLSTATE(t, s)
}

// TestWithCitusWithoutCitus opens a store WithCitus on plain PostgreSQL: it
// must fail with ErrNoCitus and create nothing.
func TestWithCitusWithoutCitus(t *testing.T) {
	pool := testPool(t)
	schema := newSchema(t, pool)
	_, err := Open(t.Context(), pool, WithSchema(schema), WithCitus())
	if !errors.Is(err, ErrNoCitus) {
		t.Fatalf("Open WithCitus on PostgreSQL without citus: %v, want ErrNoCitus", err)
	}
	var exists bool
	if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("the refused open created schema %s", schema)
	}
}

// TestCitusDistributesItsTables checks what WithCitus creates: the three
// tables distributed, sessions by id, messages and messages_quarantine by
// session_id in the same colocation group, the foreign keys in place; and
// that reopening, and opening tables an earlier store created without the
// option, ends the same.
func TestCitusDistributesItsTables(t *testing.T) {
	pool := newCitusPool(t, 4, citusTestShards)
	ctx := t.Context()
	s := newCitusStore(t, pool)
	checkDistributed(t, pool, s.q)
	again, err := Open(ctx, pool, WithSchema(s.Schema()), WithCitus())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	checkDistributed(t, pool, again.q)

	// Migration 5 gives the quarantine table of a store distributed
	// before it the replica identity on every shard: run its SQL on the
	// distributed table (reopening cannot replay it once later migrations
	// are recorded).
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if ms[4].Version != 5 || !strings.Contains(ms[4].SQL, "REPLICA IDENTITY FULL") {
		t.Fatalf("migration 5 is %d %s, not the quarantine table's replica identity", ms[4].Version, ms[4].Name)
	}
	for _, sql := range []string{
		`ALTER TABLE ` + s.q.quarantine + ` REPLICA IDENTITY DEFAULT`,
		strings.ReplaceAll(ms[4].SQL, "{{quarantine}}", s.q.quarantine),
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	checkDistributed(t, pool, s.q)

	// Tables created without the option are distributed by the first open
	// with it.
	schema := newSchema(t, pool)
	plain, err := Open(ctx, pool, WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := plain.Create(ctx, "before")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("kept")}); err != nil {
		t.Fatal(err)
	}
	later, err := Open(ctx, pool, WithSchema(schema), WithCitus())
	if err != nil {
		t.Fatalf("open WithCitus over tables created without it: %v", err)
	}
	checkDistributed(t, pool, later.q)
	// Read through the store WithCitus: the plain statements of the
	// first store no longer work on the distributed tables (its reads of
	// forks join rows of other sessions), and a new plain store is refused
	// (TestCitusRefusesAPlainStore).
	if sess, err = later.Load(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("after distributing: %d messages, %v", len(got), err)
	}
}

// TestCitusBesideOtherDistributedTables opens a store WithCitus in a
// database that already distributes a table of its own by a text column
// of the default collation, with the shard count the store's tables get:
// Citus would put sessions in that table's colocation group by default and
// then refuse ("cannot colocate tables sessions and other: Distribution
// column collations don't match"), since convo's ids use the "C"
// collation.
func TestCitusBesideOtherDistributedTables(t *testing.T) {
	pool := newCitusPool(t, 4, citusTestShards)
	ctx := t.Context()
	schema := sqlident.Quote(newSchema(t, pool))
	other := schema + ".other"
	for _, sql := range []string{
		`CREATE SCHEMA ` + schema,
		`CREATE TABLE ` + other + ` (id text PRIMARY KEY)`,
		`SELECT create_distributed_table('` + other + `', 'id')`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	s := newCitusStore(t, pool)
	checkDistributed(t, pool, s.q)
}

// checkDistributed checks the distribution of the tables of q: sessions by
// id, messages and messages_quarantine by session_id, all three in one
// colocation group, and each of the latter two with its one foreign key
// to sessions.
func checkDistributed(t *testing.T, pool *pgxpool.Pool, q *queries) {
	t.Helper()
	ctx := t.Context()
	tables := []string{q.sessions, q.messages, q.quarantine}
	want := []string{"id", "session_id", "session_id"}
	var coloc []int
	for i, table := range tables {
		var col string
		var c int
		err := pool.QueryRow(ctx, `SELECT column_to_column_name(logicalrelid, partkey), colocationid
			FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)`, table).Scan(&col, &c)
		if err != nil {
			t.Fatalf("distribution of %s: %v", table, err)
		}
		if col != want[i] {
			t.Errorf("%s is distributed by %s, want %s", table, col, want[i])
		}
		coloc = append(coloc, c)
	}
	if coloc[0] != coloc[1] || coloc[0] != coloc[2] {
		t.Errorf("colocation groups %v: sessions, messages and messages_quarantine must share one", coloc)
	}
	for _, table := range tables[1:] {
		var fks int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'f'
			AND confrelid = to_regclass($2)`, table, q.sessions).Scan(&fks); err != nil {
			t.Fatal(err)
		}
		if fks != 1 {
			t.Errorf("%s has %d foreign keys to sessions, want 1", table, fks)
		}
	}
	// Shard moves replicate every table of the group logically: the
	// quarantine table, without a primary key, needs its replica
	// identity (schema version 5) on every shard.
	var full, shards int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE success AND result = 'f'), count(*)
		FROM run_command_on_shards($1, $$SELECT relreplident FROM pg_class WHERE oid = '%s'::regclass$$)`,
		q.quarantine).Scan(&full, &shards); err != nil {
		t.Fatal(err)
	}
	if shards == 0 || full != shards {
		t.Errorf("%d of %d shards of %s have REPLICA IDENTITY FULL", full, shards, q.quarantine)
	}
}

// TestCitusConformance runs the conformance suite on distributed tables, a
// fresh schema per subtest, with the hooks TestConformance gives it: rows
// damaged by hand (so the Quarantiner checks run: the quarantine statement
// and table on Citus) and a second store on the same tables.
func TestCitusConformance(t *testing.T) {
	pool := newCitusPool(t, 16, citusTestShards)
	sessiontest.RunWith(t, func(t *testing.T) session.Store {
		return newCitusStore(t, pool)
	}, sessiontest.Options{Corrupt: corrupt, Twin: citusTwin})
}

// citusTwin is twin for a store opened WithCitus.
func citusTwin(t *testing.T, st session.Store) session.Store {
	t.Helper()
	s := st.(*Store)
	other, err := Open(t.Context(), newCitusPool(t, 4, citusTestShards), WithSchema(s.Schema()), WithTablePrefix(s.Prefix()), WithCitus())
	if err != nil {
		t.Fatalf("twin: %v", err)
	}
	return other
}

// TestCitusUpgradeFromVersion1 upgrades distributed tables of schema
// version 1, as WithCitus created them before the quarantine table and the
// Go-side search terms, with rows in four sessions: the open WithCitus
// creates messages_quarantine with its foreign key to the distributed
// sessions and distributes it, and rewrites every row's search terms
// across the shards (reindex: a read ordered over all shards and an
// UPDATE ... FROM unnest of each batch), as TestReindexUpgradesVersion1
// checks on plain PostgreSQL.
func TestCitusUpgradeFromVersion1(t *testing.T) {
	pool := newCitusPool(t, 8, citusTestShards)
	schema := reindexFromVersion1(t, pool, []string{
		`SELECT create_distributed_table('{{sessions}}', 'id')`,
		`SELECT create_distributed_table('{{messages}}', 'session_id', colocate_with => '{{sessions}}')`,
	}, WithCitus())
	checkDistributed(t, pool, newQueries(schema, ""))
}

// TestCitusUpgradeFromEachVersion upgrades a store WithCitus from every
// earlier schema version: the tables of that version, distributed as
// WithCitus distributed them then (sessions by id, messages and, from
// version 2, messages_quarantine colocated), with two sessions and a fork
// that copied its rows. The open must run every later migration on the
// distributed tables (at schema 8, with each migration sent whole, Citus
// refused "ALTER TABLE ... ADD CONSTRAINT" with other subcommands and a
// CREATE INDEX sent with other statements: "cannot insert multiple
// commands into a prepared statement"), keep every row, and leave a store
// that appends, forks and deletes.
func TestCitusUpgradeFromEachVersion(t *testing.T) {
	pool := newCitusPool(t, 8, citusTestShards)
	for v := 1; v < LatestSchemaVersion(); v++ {
		t.Run(fmt.Sprintf("version_%d", v), func(t *testing.T) {
			ctx := t.Context()
			schema := newSchema(t, pool)
			q, stmts := oldSchema(t, schema, v)
			if v >= 8 {
				// A store of version 8 opened WithCitus has no hand-over
				// trigger: Citus refuses to distribute a table with one
				// (and the store drops it before distributing).
				stmts = append(stmts, q.dropHandover)
			}
			stmts = append(stmts,
				`SELECT create_distributed_table('`+q.sessions+`', 'id')`,
				`SELECT create_distributed_table('`+q.messages+`', 'session_id', colocate_with => '`+q.sessions+`')`)
			if v >= 2 {
				stmts = append(stmts, `SELECT create_distributed_table('`+q.quarantine+`', 'session_id', colocate_with => '`+q.sessions+`')`)
			}
			stmts = append(stmts,
				`INSERT INTO `+q.sessions+` (id, created_at, updated_at, next_seq, message_count, incarnation)
					SELECT s, 1, 1, 4, 3, 1 FROM unnest(ARRAY['a', 'b', 'f']) AS s`,
				`INSERT INTO `+q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
					SELECT s, i, 'm' || i, 'user', json_build_array(json_build_object('type', 'text', 'text', 'message ' || i)), i,
						('message ' || i)::tsvector
					FROM generate_series(1, 3) AS i, unnest(ARRAY['a', 'b', 'f']) AS s`)
			if v >= 4 {
				stmts = append(stmts, `UPDATE `+q.sessions+` SET parent_id = 'a', fork_message_id = 'm3' WHERE id = 'f'`)
			}
			for _, sql := range stmts {
				if _, err := pool.Exec(ctx, sql); err != nil {
					t.Fatalf("version %d: %s: %v", v, sql, err)
				}
			}
			s, err := Open(ctx, pool, WithSchema(schema), WithCitus())
			if err != nil {
				t.Fatalf("open WithCitus at version %d: %v", v, err)
			}
			if got, err := s.SchemaVersion(ctx); err != nil || got != LatestSchemaVersion() {
				t.Fatalf("schema version %d, %v; want %d", got, err, LatestSchemaVersion())
			}
			checkDistributed(t, pool, s.q)
			for _, id := range []string{"a", "b", "f"} {
				if got := readAll(t, s, id); len(got) != 3 || got[2].Content() != "message 3" {
					t.Errorf("session %s after the upgrade: %v", id, got)
				}
			}
			sess, err := s.Load(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("after")}); err != nil {
				t.Fatalf("append after the upgrade: %v", err)
			}
			if _, err := s.Fork(ctx, "a", "m2", "g", session.CreateOptions{}); err != nil {
				t.Fatalf("fork after the upgrade: %v", err)
			}
			if err := s.Delete(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]int{"f": 3, "g": 2} {
				if got := readAll(t, s, id); len(got) != want {
					t.Errorf("fork %s after its parent's delete: %d messages, want %d", id, len(got), want)
				}
			}
		})
	}
}

// TestCitusRefusesAPlainStore opens tables that a store opened WithCitus
// distributed without the option, writable and read-only: both must fail
// with ErrNeedsCitus and change nothing. The plain statements do not run on
// distributed tables: at e00c35b the append failed with "column
// "pg_advisory_xact_lock" has pseudo-type void" (Citus materialises the
// feed lock's CTE), DeleteOwner and Prune with "could not run distributed
// query with FOR UPDATE/SHARE commands", and the change feed, a local
// table of the coordinator, missed every change of a WithCitus writer.
func TestCitusRefusesAPlainStore(t *testing.T) {
	pool := newCitusPool(t, 4, citusTestShards)
	s := newCitusStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("stored")}); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		t.Helper()
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var sessions, messages int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+s.q.sessions+`), (SELECT count(*) FROM `+s.q.messages+`)`).
			Scan(&sessions, &messages); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("version %d, %d sessions, %d messages", v, sessions, messages)
	}
	before := state()
	for _, opts := range [][]Option{
		{WithSchema(s.Schema())},
		{WithSchema(s.Schema()), WithReadOnly()},
	} {
		if _, err := Open(ctx, pool, opts...); !errors.Is(err, ErrNeedsCitus) {
			t.Errorf("open without WithCitus (%d options) on distributed tables: %v, want ErrNeedsCitus", len(opts), err)
		}
	}
	if after := state(); after != before {
		t.Errorf("the refused opens changed the store: %s, then %s", before, after)
	}
	// Tables that are not distributed open without the option, on the
	// coordinator too.
	if _, err := Open(ctx, pool, WithSchema(newSchema(t, pool))); err != nil {
		t.Errorf("open without WithCitus of new, local tables on the coordinator: %v", err)
	}
}

// TestCitusMigrationWhileAppending is TestMigrationWhileAppending on
// distributed tables: 8 writers append WithCitus while stores of a "newer
// release" run migrations that alter both tables (ALTER TABLE ... ADD
// COLUMN, CREATE INDEX, which Citus runs on every shard); the migration
// takes LOCK TABLE sessions, messages first, as on plain PostgreSQL. No
// append and no migration may fail, and every append is stored.
func TestCitusMigrationWhileAppending(t *testing.T) {
	pool := newCitusPool(t, 8, citusTestShards)
	migrateWhileAppending(t, newCitusStore(t, pool), newCitusPool(t, 2, citusTestShards), WithCitus())
}

// TestCitusMigrationTakesTheTableLocks runs a migration on distributed
// tables that fails unless its transaction holds ACCESS EXCLUSIVE locks on
// sessions and messages, on the coordinator and on every worker, before
// its first statement: the LOCK TABLE that keeps a migration from closing
// a lock cycle with running appends (see migrateLocked).
func TestCitusMigrationTakesTheTableLocks(t *testing.T) {
	pool := newCitusPool(t, 4, citusTestShards)
	migrationHoldsTableLocks(t, pool, newCitusStore(t, pool), WithCitus())
}

// TestMigrationTakesTheTableLocks is TestCitusMigrationTakesTheTableLocks
// on plain PostgreSQL.
func TestMigrationTakesTheTableLocks(t *testing.T) {
	pool := testPool(t)
	migrationHoldsTableLocks(t, pool, newStore(t, pool))
}

// migrationHoldsTableLocks opens s's tables with one more migration, a
// check that fails unless the migration's backend holds ACCESS EXCLUSIVE
// locks on sessions and messages (and, on a Citus coordinator, that every
// worker holds them: Citus propagates LOCK TABLE on distributed tables).
func migrationHoldsTableLocks(t *testing.T, pool *pgxpool.Pool, s *Store, opts ...Option) {
	t.Helper()
	check := `DO $$
BEGIN
	IF (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted
			AND mode = 'AccessExclusiveLock' AND relation IN ('{{sessions}}'::regclass, '{{messages}}'::regclass)) <> 2 THEN
		RAISE EXCEPTION 'the migration runs without ACCESS EXCLUSIVE locks on sessions and messages';
	END IF;
END $$;`
	if len(opts) > 0 {
		// On each worker, the locks the coordinator's transaction took
		// through its connections there: its own backends' locks on the
		// tables' names (Citus hides the shards from this query).
		check += `
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM run_command_on_workers($cmd$SELECT count(*) FROM pg_locks WHERE locktype = 'relation'
			AND granted AND mode = 'AccessExclusiveLock'
			AND relation IN (to_regclass('{{sessions}}'), to_regclass('{{messages}}'))$cmd$)
			WHERE NOT success OR result <> '2') THEN
		RAISE EXCEPTION 'a worker does not hold the migration''s locks on sessions and messages';
	END IF;
END $$;`
	}
	m := migrations.Migration{Version: LatestSchemaVersion() + 1, Name: "check_table_locks", SQL: check}
	o := append([]Option{WithSchema(s.Schema()), withMigrations([]migrations.Migration{m})}, opts...)
	if _, err := Open(t.Context(), pool, o...); err != nil {
		t.Fatalf("migration: %v", err)
	}
}

// TestRouterQueries checks with EXPLAIN that Citus runs every per-session
// statement of a store opened WithCitus on one shard: one task, no
// distributed subplan.
func TestRouterQueries(t *testing.T) {
	pool := newCitusPool(t, 4, citusTestShards)
	s := newCitusStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "routed")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("hello")}); err != nil {
		t.Fatal(err)
	}
	ss := sess.(*pgSession)
	chunks, err := ss.encode([]message.Message{message.NewUserMessage("x")}, false)
	if err != nil {
		t.Fatal(err)
	}
	b := chunks[0]
	var none *int64
	now := time.Now().UnixNano()
	q := s.q
	for _, c := range []struct {
		name string
		sql  string
		args []any
	}{
		{"exists", q.exists, []any{ss.id}},
		{"load", q.load, []any{ss.id}},
		{"create", q.create, []any{"other", "", "", nil, now, int64(7), int64(0), "", ""}},
		{"open (insert)", q.openInsert, []any{ss.id, now, int64(7)}},
		{"info", q.info, []any{ss.id}},
		{"update info", q.updateInfo, []any{ss.id, nil, false, nil, now}},
		{"set updated time", q.setUpdatedAt, []any{ss.id, now}},
		{"delete", q.deleteSess, []any{ss.id}},
		{"append: lock", q.routedLock, []any{ss.id, ss.inc, none}},
		{"append: insert", q.routedInsert, []any{ss.id, ss.inc, none, b.ids, b.roles, b.parts, b.models, b.usages, b.created, b.search}},
		{"append: advance", q.routedAdvance, []any{ss.id, ss.inc, int64(1), int64(1), now}},
		{"append: state", q.sessionState, []any{ss.id, ss.inc}},
		{"append: stored ids", q.countIDs, []any{ss.id, b.ids}},
		{"large append: lock", q.lockSession, []any{ss.id, ss.inc}},
		{"large append: version", q.bumpVersion, []any{ss.id, ss.inc}},
		{"last n", q.lastN, []any{ss.id, ss.inc, int64(20)}},
		{"all", q.all, []any{ss.id, ss.inc}},
		{"pop: lock", q.popLock, []any{ss.id, ss.inc}},
		{"pop: delete", q.popDelete, []any{ss.id, ss.inc, now}},
		{"clear: session", q.clearSess, []any{ss.id, ss.inc, now}},
		{"clear: messages", q.clearMsgs, []any{ss.id, ss.inc}},
		{"search in a session", q.search[searchSession], []any{"hello", int64(10), ss.id}},
	} {
		rows, err := pool.Query(ctx, "EXPLAIN "+c.sql, c.args...)
		if err != nil {
			t.Errorf("%s: EXPLAIN: %v", c.name, err)
			continue
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Errorf("%s: EXPLAIN: %v", c.name, err)
			continue
		}
		text := strings.Join(plan, "\n")
		if strings.Count(text, "Task Count: 1") != 1 || strings.Contains(text, "Task Count: ") && strings.Count(text, "Task Count: ") != 1 ||
			strings.Contains(text, "Subplan") || strings.Contains(text, "INSERT/SELECT method") {
			t.Errorf("%s is not a router query on one shard:\n%s", c.name, text)
		}
	}
}

// sessionsByNode returns the ids of the store's sessions grouped by the
// worker (host:port) that holds each one's shard.
func sessionsByNode(t *testing.T, pool *pgxpool.Pool, s *Store) map[string][]string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT s.id, p.nodename || ':' || p.nodeport
		FROM `+s.q.sessions+` s
		JOIN pg_dist_placement pl ON pl.shardid = get_shard_id_for_distribution_column($1::regclass, s.id)
		JOIN pg_dist_node p ON p.groupid = pl.groupid ORDER BY 1`, s.q.sessions)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id, node string
		if err := rows.Scan(&id, &node); err != nil {
			t.Fatal(err)
		}
		out[node] = append(out[node], id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCitusAcrossShards runs List, Search, DeleteOwner and Prune over
// sessions spread over every worker.
func TestCitusAcrossShards(t *testing.T) {
	pool := newCitusPool(t, 8, citusTestShards)
	s := newCitusStore(t, pool)
	ctx := t.Context()
	const n = 40
	for i := range n {
		owner := []string{"ann", "bob"}[i%2]
		sess, err := s.CreateWith(ctx, fmt.Sprintf("s%02d", i), session.CreateOptions{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprintf("okapi number %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := sessionsByNode(t, pool, s)
	if len(nodes) < 2 {
		t.Fatalf("sessions on %d nodes, want them spread over at least 2: %v", len(nodes), nodes)
	}
	// List: every session once, newest first, over pages.
	var listed []string
	cursor := ""
	for {
		page, err := s.List(ctx, session.ListQuery{Limit: 7, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range page.Sessions {
			listed = append(listed, info.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(listed) != n {
		t.Fatalf("List over pages gave %d sessions, want %d", len(listed), n)
	}
	for i, id := range listed {
		if want := fmt.Sprintf("s%02d", n-1-i); id != want {
			t.Fatalf("List position %d is %s, want %s (newest first)", i, id, want)
		}
	}
	byOwner, err := s.List(ctx, session.ListQuery{Owner: "ann", Limit: 100})
	if err != nil || len(byOwner.Sessions) != n/2 {
		t.Fatalf("List by owner: %d sessions, %v", len(byOwner.Sessions), err)
	}
	// Search: hits from every node.
	hits, err := s.Search(ctx, session.SearchQuery{Text: "okapi", Limit: 100})
	if err != nil || len(hits) != n {
		t.Fatalf("Search: %d hits, %v; want %d", len(hits), err, n)
	}
	owned, err := s.Search(ctx, session.SearchQuery{Text: "okapi", Owner: "bob", Limit: 100})
	if err != nil || len(owned) != n/2 {
		t.Fatalf("Search by owner: %d hits, %v; want %d", len(owned), err, n/2)
	}
	// DeleteOwner and Prune: across shards, reported whole.
	rep, err := s.DeleteOwner(ctx, "ann")
	if err != nil || len(rep.SessionIDs) != n/2 || rep.Messages != n/2 {
		t.Fatalf("DeleteOwner: %+v, %v", rep, err)
	}
	dry, err := s.Prune(ctx, session.PruneQuery{UpdatedBefore: time.Now().Add(time.Hour).UnixNano(), DryRun: true})
	if err != nil || len(dry.SessionIDs) != n/2 {
		t.Fatalf("Prune dry run: %+v, %v", dry, err)
	}
	pruned, err := s.Prune(ctx, session.PruneQuery{UpdatedBefore: time.Now().Add(time.Hour).UnixNano()})
	if err != nil || !slices.Equal(pruned.SessionIDs, dry.SessionIDs) || pruned.Messages != n/2 {
		t.Fatalf("Prune: %+v, %v; dry run said %+v", pruned, err, dry)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+s.q.sessions+`) + (SELECT count(*) FROM `+s.q.messages+`)`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d rows left after deleting and pruning everything", left)
	}
}

// appendTurns has writers goroutines each append turns to its own session,
// until stop is closed (or turns turns, if stop is nil), and returns the
// turns each one stored.
func appendTurns(ctx context.Context, s *Store, writers, turns int, stop <-chan struct{}) ([][][]message.Message, error) {
	stored := make([][][]message.Message, writers)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess, err := s.Open(ctx, fmt.Sprintf("w%02d", w))
			if err != nil {
				errs <- err
				return
			}
			for i := 0; stop != nil || i < turns; i++ {
				if stop != nil {
					select {
					case <-stop:
						return
					default:
					}
				}
				turn := turn(fmt.Sprintf("w%02d", w), "own", i)
				if err := sess.AddMessages(ctx, turn); err != nil {
					errs <- fmt.Errorf("writer %d turn %d: %w", w, i, err)
					return
				}
				stored[w] = append(stored[w], turn)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return stored, errors.Join(all...)
}

// checkStored checks that each writer's session holds exactly the turns it
// stored, in order, and counts them right.
func checkStored(t *testing.T, s *Store, stored [][][]message.Message) int {
	t.Helper()
	total := 0
	for w, turns := range stored {
		id := fmt.Sprintf("w%02d", w)
		sess, err := s.Load(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sess.GetMessages(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, turn := range turns {
			for _, m := range turn {
				want = append(want, m.ID)
			}
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("session %s holds %d messages, want the %d its writer stored, once each, in order", id, len(ids), len(want))
		}
		info, err := s.Info(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.MessageCount != int64(len(want)) || info.Version != int64(len(turns)) {
			t.Errorf("session %s: count %d, version %d; want %d and %d", id, info.MessageCount, info.Version, len(want), len(turns))
		}
		total += len(want)
	}
	return total
}

// TestCitus32Writers has 32 goroutines append to 32 sessions at once.
func TestCitus32Writers(t *testing.T) {
	pool := newCitusPool(t, 32, citusTestShards)
	s := newCitusStore(t, pool)
	stored, err := appendTurns(t.Context(), s, 32, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := checkStored(t, s, stored); n != 32*10*concTurnSize {
		t.Errorf("stored %d messages, want %d", n, 32*10*concTurnSize)
	}
}

// TestCitusShardMoveUnderWriters moves every shard of the store's tables to
// the other worker and back while 16 writers append, and checks that
// nothing was lost or stored twice and that no writer saw an error.
func TestCitusShardMoveUnderWriters(t *testing.T) {
	pool := newCitusPool(t, 20, citusTestShards)
	s := newCitusStore(t, pool)
	ctx := t.Context()
	var workers []struct {
		host string
		port int32
	}
	rows, err := pool.Query(ctx, `SELECT node_name, node_port FROM citus_get_active_worker_nodes() ORDER BY 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var w struct {
			host string
			port int32
		}
		if err := rows.Scan(&w.host, &w.port); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	rows.Close()
	if len(workers) < 2 {
		t.Skipf("the cluster has %d active workers; a shard move needs 2", len(workers))
	}
	stop := make(chan struct{})
	var stored [][][]message.Message
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		stored, werr = appendTurns(ctx, s, 16, 0, stop)
	}()
	var moves atomic.Int32
	move := func() {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT sh.shardid, sh.nodename, sh.nodeport FROM citus_shards sh
			WHERE sh.table_name = to_regclass($1) ORDER BY 1`, s.q.sessions)
		if err != nil {
			t.Fatal(err)
		}
		type placement struct {
			shard int64
			host  string
			port  int32
		}
		var ps []placement
		for rows.Next() {
			var p placement
			if err := rows.Scan(&p.shard, &p.host, &p.port); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		rows.Close()
		for _, p := range ps {
			to := workers[0]
			if p.port == to.port && p.host == to.host {
				to = workers[1]
			}
			// Moves the colocated messages shard with it.
			if _, err := pool.Exec(ctx, `SELECT citus_move_shard_placement($1, $2, $3, $4, $5)`,
				p.shard, p.host, p.port, to.host, to.port); err != nil {
				t.Fatalf("move shard %d: %v", p.shard, err)
			}
			moves.Add(1)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the writers start
	move()
	move()
	close(stop)
	<-done
	if werr != nil {
		t.Errorf("writers saw errors during %d shard moves: %v", moves.Load(), werr)
	}
	n := checkStored(t, s, stored)
	t.Logf("%d shard moves; %d messages appended meanwhile", moves.Load(), n)
}

// TestCitusWorkerDown stops one worker: sessions on the other keep working,
// those on the stopped one fail with an error that names the unreachable
// node, and all work again once it is back.
func TestCitusWorkerDown(t *testing.T) {
	worker, stopCmd, startCmd := os.Getenv("CONVO_TEST_CITUS_WORKER"), os.Getenv("CONVO_TEST_CITUS_WORKER_STOP"), os.Getenv("CONVO_TEST_CITUS_WORKER_START")
	pool := newCitusPool(t, 8, citusTestShards)
	if worker == "" || stopCmd == "" || startCmd == "" {
		t.Skip("set CONVO_TEST_CITUS_WORKER (host:port) and the shell commands CONVO_TEST_CITUS_WORKER_STOP and CONVO_TEST_CITUS_WORKER_START to run this test")
	}
	s := newCitusStore(t, pool)
	ctx := t.Context()
	for i := range 16 {
		if _, err := s.Create(ctx, fmt.Sprintf("w%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	nodes := sessionsByNode(t, pool, s)
	down, up := nodes[worker], []string{}
	for node, ids := range nodes {
		if node != worker {
			up = append(up, ids...)
		}
	}
	if len(down) == 0 || len(up) == 0 {
		t.Fatalf("sessions by node %v: need some on %s and some elsewhere", nodes, worker)
	}
	run := func(cmd string) {
		t.Helper()
		if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	// Handles opened before the stop, as a running application holds them.
	handles := map[string]session.Session{}
	if page, err := s.List(ctx, session.ListQuery{Limit: 100}); err != nil || len(page.Sessions) != len(down)+len(up) {
		t.Errorf("List after the worker returned: %d sessions, %v", len(page.Sessions), err)
	}
	for _, id := range append(down, up...) {
		sess, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		handles[id] = sess
	}
	appendTo := func(id, text string) error {
		return handles[id].AddMessages(ctx, []message.Message{message.NewUserMessage(text)})
	}
	run(stopCmd)
	restarted := false
	defer func() {
		if !restarted {
			run(startCmd)
		}
	}()
	for _, id := range up {
		if err := appendTo(id, "while down"); err != nil {
			t.Errorf("session %s, not on the stopped worker: %v", id, err)
		}
	}
	for _, id := range down {
		err := appendTo(id, "while down")
		if err == nil {
			t.Errorf("session %s on the stopped worker: append succeeded", id)
			continue
		}
		if !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), strings.Split(worker, ":")[1]) {
			t.Errorf("session %s on the stopped worker: the error names neither the session nor the worker: %v", id, err)
		}
		t.Logf("session %s on the stopped worker: %v", id, err)
	}
	if _, err := s.List(ctx, session.ListQuery{}); err == nil {
		t.Error("List, which reads every shard, succeeded with a worker down")
	} else {
		t.Logf("List with a worker down: %v", err)
	}
	run(startCmd)
	restarted = true
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range append(down, up...) {
		for {
			err := appendTo(id, "after")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("session %s after the worker returned: %v", id, err)
			}
			time.Sleep(200 * time.Millisecond) // the worker is starting
		}
	}
	if page, err := s.List(ctx, session.ListQuery{Limit: 100}); err != nil || len(page.Sessions) != len(down)+len(up) {
		t.Errorf("List after the worker returned: %d sessions, %v", len(page.Sessions), err)
	}
	for _, id := range append(down, up...) {
		sess, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sess.GetMessages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if slices.Contains(down, id) {
			want = 1
		}
		if len(got) != want {
			t.Errorf("session %s holds %d messages, want %d", id, len(got), want)
		}
	}
}
