package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/convo-dev/convo/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by SessionStore when the database holds a
// schema version newer than this release knows: a newer convo wrote it, and
// this one refuses to run rather than damage it.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this version of convo")

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

// migrate brings the schema of s up to date. It runs on one connection:
// first the version table is created if missing, then one transaction takes
// the write lock with a write statement before reading the version, applies
// every pending migration and records it. Concurrent openers, in this process
// or others, wait for the lock and then find nothing left to do.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := loadMigrations()
	if err != nil {
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
		// WAL persists in the file; :memory: and temp databases answer
		// "memory" and stay as they are.
		var mode string
		if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			return fmt.Errorf("sqlite: read journal_mode: %w", err)
		}
		if !strings.EqualFold(mode, "wal") && !strings.EqualFold(mode, "memory") {
			if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
				return fmt.Errorf("sqlite: set journal_mode=WAL: %w", err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, s.q.createMigrations); err != nil {
		return fmt.Errorf("sqlite: create migrations table: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
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
	if current > len(ms) {
		return fmt.Errorf("%w: database has version %d, this release knows up to %d", ErrSchemaTooNew, current, len(ms))
	}
	r := strings.NewReplacer("{{sessions}}", s.q.sessions, "{{messages}}", s.q.messages, "{{prefix}}", s.opts.prefix)
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, r.Replace(m.SQL)); err != nil {
			return fmt.Errorf("sqlite: migration %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q.recordMigration, m.Version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("sqlite: record migration %d: %w", m.Version, err)
		}
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
