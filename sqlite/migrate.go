package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/convo-dev/convo/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Errors of SessionStore and Open about the database's schema. Each one is
// returned before the store writes anything: a refused open leaves the file
// exactly as it was (no journal-mode switch, no table, no index).
var (
	// ErrSchemaTooNew: the database holds a schema version newer than this
	// release knows: a newer convo wrote it, and this one refuses to run
	// rather than damage it.
	ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version of convo")
	// ErrSchemaTooOld: a read-only store (WithReadOnly) found an older
	// convo schema, which it does not upgrade. Open it once without
	// WithReadOnly, or run `convo upgrade`, to upgrade it.
	ErrSchemaTooOld = errors.New("sqlite: database schema is older than this version of convo; open it once without WithReadOnly to upgrade it")
	// ErrNoSchema: a read-only store found none of convo's tables.
	ErrNoSchema = errors.New("sqlite: database has no convo tables (a read-only store creates none)")
	// ErrUpstreamSchema: the tables were written by the session store of
	// github.com/joakimcarlsson/ai (memory/sqlite). Upgrade them in place
	// with Upgrade, or with `convo upgrade`, then open the store.
	ErrUpstreamSchema = errors.New("sqlite: the tables were written by github.com/joakimcarlsson/ai's memory/sqlite; upgrade them in place with sqlite.Upgrade or `convo upgrade`")
	// ErrForeignTables: tables with convo's names exist (sessions, messages,
	// with the store's prefix) but hold neither convo's schema nor that of
	// github.com/joakimcarlsson/ai. The store refuses to touch them; use
	// another table prefix (WithTablePrefix) or another database.
	ErrForeignTables = errors.New("sqlite: tables with convo's names belong to something else; use another table prefix or database")
)

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migrations.Migration, error) {
	ms, err := migrations.Load(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
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

// schemaKind is what the tables of a prefix are.
type schemaKind int

const (
	schemaNone     schemaKind = iota // no sessions, messages or version table
	schemaConvo                      // a recorded convo schema version
	schemaUpstream                   // joakimcarlsson/ai's memory/sqlite tables
	schemaForeign                    // tables with convo's names, of another shape
)

// upstreamColumns are the columns of the tables that
// github.com/joakimcarlsson/ai's memory/sqlite creates (see
// testdata/upstream/README.md), in table order.
var upstreamColumns = map[string][]string{
	"sessions": {"id", "created_at"},
	"messages": {"id", "session_id", "role", "parts", "model", "created_at"},
}

// querier is what classify reads through: a connection or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// classify tells what the database holds under the store's prefix, and the
// recorded convo version. It only reads.
func (s *Store) classify(ctx context.Context, q querier) (schemaKind, int, error) {
	p := s.opts.prefix
	has := func(name string) (bool, error) {
		var n int
		err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, name).Scan(&n)
		return n > 0, err
	}
	hasVersions, err := has(p + "convo_schema_migrations")
	if err != nil {
		return 0, 0, err
	}
	if hasVersions {
		var v int
		if err := q.QueryRowContext(ctx, s.q.schemaVersion).Scan(&v); err != nil {
			return 0, 0, err
		}
		if v > 0 {
			return schemaConvo, v, nil
		}
		// An empty version table (left by an open that failed before this
		// release checked first) says nothing: look at the tables.
	}
	hasSessions, err := has(p + "sessions")
	if err != nil {
		return 0, 0, err
	}
	hasMessages, err := has(p + "messages")
	if err != nil {
		return 0, 0, err
	}
	if !hasSessions && !hasMessages {
		return schemaNone, 0, nil
	}
	if !hasSessions || !hasMessages {
		return schemaForeign, 0, nil
	}
	for table, want := range upstreamColumns {
		cols, err := columns(ctx, q, p+table)
		if err != nil {
			return 0, 0, err
		}
		if !slices.Equal(cols, want) {
			return schemaForeign, 0, nil
		}
	}
	return schemaUpstream, 0, nil
}

// columns returns the lower-cased column names of table, in order.
func columns(ctx context.Context, q querier, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, strings.ToLower(c))
	}
	return cols, rows.Err()
}

// schemaError is the error of an open that finds kind at version v, or nil
// when the open may go on.
func (s *Store) schemaError(kind schemaKind, v, latest int) error {
	switch kind {
	case schemaUpstream:
		return ErrUpstreamSchema
	case schemaForeign:
		return fmt.Errorf("%w (prefix %q)", ErrForeignTables, s.opts.prefix)
	}
	if v > latest {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, v, latest)
	}
	if s.opts.readOnly {
		switch {
		case kind == schemaNone:
			return fmt.Errorf("%w (prefix %q)", ErrNoSchema, s.opts.prefix)
		case v < latest:
			return fmt.Errorf("%w: database has version %d, this release has %d", ErrSchemaTooOld, v, latest)
		}
	}
	return nil
}

// checkSchema reads what the database holds and returns the error of an
// open that must not go on. It writes nothing.
func (s *Store) checkSchema(ctx context.Context) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	defer conn.Close()
	if err := s.setBusyTimeout(ctx, conn); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	tx, err := beginTx(ctx, conn, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	defer endReadOnly(tx, &err)
	kind, v, err := s.classify(ctx, tx)
	if err != nil {
		return fmt.Errorf("sqlite: open: read schema: %w", err)
	}
	err = s.schemaError(kind, v, LatestSchemaVersion())
	if errors.Is(err, ErrNoSchema) {
		// Often the right file, opened with the wrong prefix: name the
		// prefixes it has tables of.
		if others, lerr := otherPrefixes(ctx, tx, s.opts.prefix); lerr == nil && len(others) > 0 {
			err = fmt.Errorf("%w; it has convo tables with prefix %s", err, strings.Join(others, ", "))
		}
	}
	return err
}

// otherPrefixes returns, quoted, the table prefixes other than prefix that
// the database has a convo schema version table of.
func otherPrefixes(ctx context.Context, tx *sql.Tx, prefix string) ([]string, error) {
	const versions = "convo_schema_migrations"
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%' || ? ORDER BY name`, versions)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if p, ok := strings.CutSuffix(name, versions); ok && p != prefix {
			out = append(out, strconv.Quote(p))
		}
	}
	return out, rows.Err()
}

// migrate brings the schema of s up to date. It first checks, reading only,
// that the tables are convo's (or absent), so that a refused open changes
// nothing. Then it runs on one connection: the file is switched to WAL, the
// version table is created if missing, and one transaction takes the write
// lock with a write statement before reading the version again, applies
// every pending migration and records it. Concurrent openers, in this
// process or others, wait for the lock and then find nothing left to do.
//
// Several processes opening a new file at once meet SQLITE_BUSY that
// busy_timeout does not cover: switching the journal mode needs the file to
// itself, and SQLite returns "database is locked" at once, without calling
// the busy handler, when another connection holds or is changing it. Every
// step above is idempotent, so an attempt that fails busy is started again
// (retryBusy) until the store's busy timeout has passed or ctx ends.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return s.retryBusy(ctx, func() error { return s.migrateOnce(ctx, ms) })
}

// migrateOnce is one attempt of migrate.
func (s *Store) migrateOnce(ctx context.Context, ms []migrations.Migration) (err error) {
	if err := s.checkSchema(ctx); err != nil {
		return err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer conn.Close()
	if err := s.setBusyTimeout(ctx, conn); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if s.opts.wal {
		if err := setWAL(ctx, conn); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, s.q.createMigrations); err != nil {
		return fmt.Errorf("sqlite: create migrations table: %w", err)
	}
	tx, err := beginTx(ctx, conn, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer rollbackOnError(tx, &err)
	if _, err := tx.ExecContext(ctx, s.q.lock); err != nil {
		return fmt.Errorf("sqlite: migrate: lock: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, s.q.schemaVersion).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: read version: %w", err)
	}
	if current == 0 {
		// Another process may have made tables since checkSchema looked.
		kind, v, err := s.classify(ctx, tx)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: read schema: %w", err)
		}
		if err := s.schemaError(kind, v, len(ms)); err != nil {
			return err
		}
	}
	return s.applyMigrations(ctx, tx, ms, current, true)
}

// setWAL switches the file to write-ahead logging. WAL persists in the
// file; :memory: and temp databases answer "memory" and stay as they are.
func setWAL(ctx context.Context, conn *sql.Conn) error {
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") && !strings.EqualFold(mode, "memory") {
		if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
			return fmt.Errorf("sqlite: set journal_mode=WAL: %w", err)
		}
	}
	return nil
}

// applyMigrations applies ms after version current in tx, which holds the
// write lock, and records each; with commit it commits tx.
func (s *Store) applyMigrations(ctx context.Context, tx *sql.Tx, ms []migrations.Migration, current int, commit bool) error {
	if current > len(ms) {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, current, len(ms))
	}
	r := strings.NewReplacer("{{sessions}}", s.q.sessions, "{{messages}}", s.q.messages, "{{quarantine}}", s.q.quarantine, "{{prefix}}", s.opts.prefix)
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, r.Replace(m.SQL)); err != nil {
			return fmt.Errorf("sqlite: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q.recordMigration, m.Version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("sqlite: record migration %d: %w", m.Version, err)
		}
	}
	if !commit {
		return nil
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", err)
	}
	return nil
}

// SchemaVersion returns the schema version recorded in the database for
// this store's prefix.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.q.schemaVersion).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return v, nil
}
