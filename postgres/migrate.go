package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convo-dev/convo/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Errors of SessionStore and Open about the database's schema. Each one is
// returned before the store changes anything: a refused open leaves the
// database as it was (no schema, table, index or version table).
var (
	// ErrSchemaTooNew: the database holds a schema version newer than
	// this release knows: a newer convo wrote it, and this one refuses to
	// run rather than damage it.
	ErrSchemaTooNew = errors.New("postgres: database schema is newer than this version of convo")
	// ErrSchemaTooOld: a read-only store (WithReadOnly) found an older
	// convo schema, which it does not upgrade. Open it once without
	// WithReadOnly, or run `convo upgrade`, to upgrade it.
	ErrSchemaTooOld = errors.New("postgres: database schema is older than this version of convo; open it once without WithReadOnly to upgrade it")
	// ErrNoSchema: a read-only store found none of convo's tables.
	ErrNoSchema = errors.New("postgres: database has no convo tables (a read-only store creates none)")
	// ErrUpstreamSchema: the tables were written by the session store of
	// github.com/joakimcarlsson/ai (memory/postgres). Upgrade them in
	// place with Upgrade, or with `convo upgrade`, then open the store.
	ErrUpstreamSchema = errors.New("postgres: the tables were written by github.com/joakimcarlsson/ai's memory/postgres; upgrade them in place with postgres.Upgrade or `convo upgrade`")
	// ErrForeignTables: tables with convo's names (sessions, messages, with
	// the store's prefix, in its schema) exist but hold neither convo's
	// schema nor that of github.com/joakimcarlsson/ai. The store refuses to
	// touch them; use another prefix (WithTablePrefix), schema (WithSchema)
	// or database.
	ErrForeignTables = errors.New("postgres: tables with convo's names belong to something else; use another table prefix, schema or database")
)

// schemaKind is what the tables of a schema and prefix are.
type schemaKind int

const (
	schemaNone     schemaKind = iota // no sessions, messages or version table
	schemaConvo                      // a recorded convo schema version
	schemaUpstream                   // joakimcarlsson/ai's memory/postgres tables
	schemaForeign                    // tables with convo's names, of another shape
)

// upstreamColumns are the columns of the tables that
// github.com/joakimcarlsson/ai's memory/postgres creates (see
// testdata/upstream/README.md), in table order.
var upstreamColumns = map[string][]string{
	"sessions": {"id", "created_at"},
	"messages": {"id", "session_id", "role", "parts", "model", "created_at"},
}

// pgQuerier is what classify reads through: the pool or a transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// classify tells what the database holds under the store's schema and
// prefix, and the recorded convo version. It only reads the catalog and
// the version table.
func (s *Store) classify(ctx context.Context, q pgQuerier) (schemaKind, int, error) {
	var hasVersions bool
	if err := q.QueryRow(ctx, s.q.regclass, s.q.migrationsTable).Scan(&hasVersions); err != nil {
		return 0, 0, err
	}
	if hasVersions {
		var v int
		if err := q.QueryRow(ctx, s.q.schemaVersion).Scan(&v); err != nil {
			return 0, 0, err
		}
		if v > 0 {
			return schemaConvo, v, nil
		}
	}
	cols := map[string][]string{}
	for table, name := range map[string]string{"sessions": s.q.sessions, "messages": s.q.messages} {
		rows, err := q.Query(ctx, s.q.columns, name)
		if err != nil {
			return 0, 0, err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, 0, err
		}
		cols[table] = names
	}
	switch {
	case len(cols["sessions"]) == 0 && len(cols["messages"]) == 0:
		return schemaNone, 0, nil
	case slices.Equal(cols["sessions"], upstreamColumns["sessions"]) && slices.Equal(cols["messages"], upstreamColumns["messages"]):
		return schemaUpstream, 0, nil
	}
	return schemaForeign, 0, nil
}

// where names the tables' place for an error: their schema (the first of
// the search_path when none was given) and their prefix, if any.
func (s *Store) where() string {
	w := "the search_path's schema"
	if s.opts.schema != "" {
		w = fmt.Sprintf("schema %q", s.opts.schema)
	}
	if s.opts.prefix != "" {
		w += fmt.Sprintf(", prefix %q", s.opts.prefix)
	}
	return w
}

// schemaError is the error of an open that finds kind at version v, or nil
// when the open may go on.
func (s *Store) schemaError(kind schemaKind, v, latest int) error {
	where := "(" + s.where() + ")"
	switch kind {
	case schemaUpstream:
		return fmt.Errorf("%w %s", ErrUpstreamSchema, where)
	case schemaForeign:
		return fmt.Errorf("%w %s", ErrForeignTables, where)
	}
	if v > latest {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, v, latest)
	}
	if s.opts.readOnly {
		switch {
		case kind == schemaNone:
			return fmt.Errorf("%w %s", ErrNoSchema, where)
		case v < latest:
			return fmt.Errorf("%w: database has version %d, this release has %d", ErrSchemaTooOld, v, latest)
		}
	}
	return nil
}

// checkSchema reads what the database holds and returns the error of an
// open that must not go on, and the recorded version. It writes nothing.
func (s *Store) checkSchema(ctx context.Context) (int, error) {
	kind, v, err := s.classify(ctx, s.pool)
	if err == nil && (kind == schemaForeign || kind == schemaUpstream) {
		// classify's statements each see what is committed when they run:
		// tables that another starter committed between them (after the
		// version table was found missing) look foreign. That commit made
		// the tables and the version at once; a second look sees both.
		kind, v, err = s.classify(ctx, s.pool)
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: open: read schema: %w", err)
	}
	return v, s.schemaError(kind, v, LatestSchemaVersion()+len(s.opts.extraMigrations))
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migrations.Migration, error) {
	ms, err := migrations.Load(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this release creates and
// upgrades to.
func LatestSchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// lockKey is the pg_advisory_xact_lock key that serialises migrations of
// one schema and prefix: the FNV-1a 64-bit hash of
// "convo/postgres:<schema>.<prefix>", as a signed integer.
func lockKey(schema, prefix string) int64 {
	h := fnv.New64a()
	h.Write([]byte("convo/postgres:" + schema + "." + prefix))
	return int64(h.Sum64())
}

// migrate brings the schema up to date. A store whose schema is current
// checks that with one query and takes no lock. Otherwise one transaction
// takes a transaction-scoped advisory lock, creates the schema and the
// version table if missing, re-reads the version, applies every pending
// migration and records it. PostgreSQL DDL is transactional, so concurrent
// starters, in this process or others, wait for the lock and then find
// nothing left to do; a crash leaves the previous version intact.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	ms = append(ms, s.opts.extraMigrations...)
	if s.opts.citus {
		if err := s.checkCitus(ctx); err != nil {
			return err
		}
	}
	current, err := s.checkSchema(ctx)
	if err != nil {
		return err
	}
	if current == len(ms) {
		if !s.opts.citus {
			return nil
		}
		// WithCitus: distribute the tables if an earlier open did not.
		sess, msgs, err := s.undistributed(ctx, s.pool)
		if err != nil || (!sess && !msgs) {
			return err
		}
	}
	// CREATE SCHEMA IF NOT EXISTS can still fail with a unique violation
	// when a store with another prefix (another lock key) creates the same
	// schema at the same instant; the second attempt finds it.
	// A deadlock (40P01) with a transaction that takes convo's tables in
	// another order than its own statements do rolled everything back:
	// retryDeadlock runs the migration again.
	err = retryDeadlock(ctx, func() error {
		for attempt := 0; ; attempt++ {
			err := s.migrateLocked(ctx, ms)
			var pe *pgconn.PgError
			if attempt < 3 && errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P06") {
				continue
			}
			return err
		}
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "3F000" && s.opts.schema == "" {
		// PostgreSQL's "no schema has been selected to create in": the
		// search_path names no schema that exists (a search_path in the
		// URL with a schema not created yet, say).
		return fmt.Errorf("%w (the search_path names no schema that exists: create it first with CREATE SCHEMA, or open the store WithSchema, which creates its schema)", err)
	}
	return err
}

// readVersion returns the recorded schema version, 0 if there is none.
func (s *Store) readVersion(ctx context.Context) (int, error) {
	var found bool
	if err := s.pool.QueryRow(ctx, s.q.regclass, s.q.migrationsTable).Scan(&found); err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	if !found {
		return 0, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, s.q.schemaVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: read schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrateLocked(ctx context.Context, ms []migrations.Migration) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer rollbackOnError(ctx, tx, &err)
	if _, err := tx.Exec(ctx, s.q.lockMigrations, lockKey(s.opts.schema, s.opts.prefix)); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if s.q.createSchema != "" {
		if _, err := tx.Exec(ctx, s.q.createSchema); err != nil {
			return fmt.Errorf("postgres: migrate: create schema: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, s.q.createMigrations); err != nil {
		return fmt.Errorf("postgres: migrate: create migrations table: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, s.q.schemaVersion).Scan(&current); err != nil {
		return fmt.Errorf("postgres: migrate: read version: %w", err)
	}
	if current == 0 {
		// Another process may have made tables since checkSchema looked;
		// an error rolls back the schema and version table made above.
		kind, v, err := s.classify(ctx, tx)
		if err != nil {
			return fmt.Errorf("postgres: migrate: read schema: %w", err)
		}
		if err := s.schemaError(kind, v, len(ms)); err != nil {
			return err
		}
	}
	if current > 0 && current < len(ms) {
		// Running appends and reads lock sessions, then messages, each
		// for a moment; a migration that took messages first (an ALTER
		// TABLE, a CREATE INDEX) and then waited for sessions would close a
		// cycle with any of them that holds sessions and waits for
		// messages: a deadlock (40P01). Take both, in their order, before
		// any migration statement: the store's statements then wait for
		// the migration, and it only for statements already running.
		// On a Citus coordinator the same statement locks the distributed
		// tables on the coordinator, where every routed statement takes
		// them first, and Citus propagates it to the workers (tried on
		// Citus 13.2.2: TestCitusMigrationTakesTheTableLocks,
		// TestCitusMigrationWhileAppending).
		if _, err := tx.Exec(ctx, s.q.lockTables); err != nil {
			return fmt.Errorf("postgres: migrate: lock tables: %w", err)
		}
	}
	if err := s.applyMigrations(ctx, tx, ms, current); err != nil {
		return err
	}
	if s.opts.citus {
		// In the transaction that created the tables: no other process
		// sees them undistributed.
		if err := s.distribute(ctx, tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: commit: %w", err)
	}
	return nil
}

// applyMigrations applies ms after version current in tx, which holds the
// migration lock, and records each.
func (s *Store) applyMigrations(ctx context.Context, tx pgx.Tx, ms []migrations.Migration, current int) error {
	if current > len(ms) {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, current, len(ms))
	}
	r := strings.NewReplacer("{{sessions}}", s.q.sessions, "{{messages}}", s.q.messages, "{{quarantine}}", s.q.quarantine,
		"{{search_index}}", s.q.searchIndex, "{{changes}}", s.q.changes, "{{feed_state}}", s.q.feedState,
		"{{feed_notify}}", s.q.feedNotify, "{{feed_listeners}}", s.q.feedListeners, "{{fork_handover}}", s.q.forkHandover,
		"{{prefix}}", s.opts.prefix)
	for _, m := range ms[current:] {
		// No arguments: pgx sends it with the simple protocol, which runs
		// several statements. WithCitus sends them one by one (see
		// splitStatements), as do the routed tests on plain PostgreSQL.
		stmts := []string{r.Replace(m.SQL)}
		if s.routed() {
			stmts = splitStatements(stmts[0])
		}
		for _, sql := range stmts {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("postgres: migration %d (%s): %w", m.Version, m.Name, err)
			}
		}
		if _, err := tx.Exec(ctx, s.q.recordMigration, m.Version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("postgres: record migration %d: %w", m.Version, err)
		}
	}
	return nil
}

// SchemaVersion returns the schema version recorded in the database for
// this store's schema and prefix.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return s.readVersion(ctx)
}

// rollbackOnError rolls tx back when *errp is set, with a context that is
// not cancelled, so that a cancelled call still ends its transaction.
//
// Rollback runs even when the connection is closed: a pgxpool transaction
// gives its connection back to the pool only in Commit or Rollback, so
// skipping it on a dead connection leaked one pool slot per backend death
// until every call blocked (issue 17). The rollback error of a closed
// connection says only that it is closed, and is dropped.
func rollbackOnError(ctx context.Context, tx pgx.Tx, errp *error) {
	if *errp == nil {
		return
	}
	closed := tx.Conn().IsClosed()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := tx.Rollback(ctx); rerr != nil && !closed && !errors.Is(rerr, pgx.ErrTxClosed) {
		*errp = errors.Join(*errp, fmt.Errorf("rollback: %w", rerr))
	}
}
