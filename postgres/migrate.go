package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/convo-dev/convo/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by SessionStore when the database holds a
// schema version newer than this release knows: a newer convo wrote it, and
// this one refuses to run rather than damage it.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this version of convo")

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
	if s.opts.citus {
		if err := s.checkCitus(ctx); err != nil {
			return err
		}
	}
	current, err := s.readVersion(ctx)
	if err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, current, len(ms))
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
	for attempt := 0; ; attempt++ {
		err = s.migrateLocked(ctx, ms)
		var pe *pgconn.PgError
		if attempt < 3 && errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P06") {
			continue
		}
		return err
	}
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
	if current > len(ms) {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, current, len(ms))
	}
	r := strings.NewReplacer("{{sessions}}", s.q.sessions, "{{messages}}", s.q.messages, "{{prefix}}", s.opts.prefix)
	for _, m := range ms[current:] {
		// No arguments: pgx sends it with the simple protocol, which runs
		// several statements.
		if _, err := tx.Exec(ctx, r.Replace(m.SQL)); err != nil {
			return fmt.Errorf("postgres: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, s.q.recordMigration, m.Version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("postgres: record migration %d: %w", m.Version, err)
		}
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
