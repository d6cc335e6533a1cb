package encrypted

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/convo-dev/convo/internal/sqlident"
)

// sqlKeyStoreVersion is the layout of SQLKeyStore's table.
const sqlKeyStoreVersion = 1

// Dialect is the SQL dialect of a SQLKeyStore's database.
type Dialect int

// The dialects SQLKeyStore speaks.
const (
	// SQLite: any database/sql SQLite driver (modernc, mattn, ncruces).
	SQLite Dialect = iota + 1
	// PostgreSQL: through database/sql, for example
	// github.com/jackc/pgx/v5/stdlib's OpenDBFromPool.
	PostgreSQL
)

// SQLKeyStoreConfig configures OpenSQLKeyStore.
type SQLKeyStoreConfig struct {
	// Dialect is the database's dialect; it must be set.
	Dialect Dialect
	// Table is the table's name, a plain identifier; "" means
	// "convo_data_keys".
	Table string
	// Schema, for PostgreSQL, is the schema of the table; "" means the
	// search path's first.
	Schema string
}

// SQLKeyStore is a KeyStore in one table of a SQLite or PostgreSQL
// database, shared safely by every process that opens it:
//
//	CREATE TABLE convo_data_keys (
//	  key_id TEXT NOT NULL, version BIGINT NOT NULL,
//	  kek_id TEXT NOT NULL, wrapped BLOB/BYTEA,
//	  created_at BIGINT NOT NULL, destroyed_at BIGINT NOT NULL DEFAULT 0,
//	  PRIMARY KEY (key_id, version))
//
// A second table, convo_data_keys_version, records the layout's version;
// a database written by a later layout is refused. It can live in the
// database of the messages or in another. The table
// holds wrapped keys only; whoever reads it (or a backup of it) also needs
// the key-encryption key. Destroy sets wrapped to NULL; the database may
// keep the old bytes in free pages, its WAL or backups until they are
// overwritten, which is why erasure is complete once the KEK that wrapped
// them is retired too (see the package documentation).
type SQLKeyStore struct {
	db      *sql.DB
	dialect Dialect
	q       sqlKeyQueries
}

var _ KeyStore = (*SQLKeyStore)(nil)

type sqlKeyQueries struct {
	latest, get, add, rewrap, destroy, list string
}

// OpenSQLKeyStore creates the key table in db if it does not exist and
// returns the key store. It imports no driver: db is the caller's.
func OpenSQLKeyStore(ctx context.Context, db *sql.DB, cfg SQLKeyStoreConfig) (*SQLKeyStore, error) {
	table := cfg.Table
	if table == "" {
		table = "convo_data_keys"
	}
	if err := sqlident.ValidateName("key table", table); err != nil {
		return nil, fmt.Errorf("encrypted: open key store: %w", err)
	}
	name := sqlident.Quote(table)
	blob, text := "BLOB", "TEXT"
	switch cfg.Dialect {
	case SQLite:
		if cfg.Schema != "" {
			return nil, errors.New("encrypted: open key store: a schema is for PostgreSQL only")
		}
	case PostgreSQL:
		// Byte order for key ids, as SQLite's default: copies of keys are
		// found by prefix, which a locale's collation would scatter.
		blob, text = "BYTEA", `TEXT COLLATE "C"`
		if cfg.Schema != "" {
			if err := sqlident.ValidateName("schema", cfg.Schema); err != nil {
				return nil, fmt.Errorf("encrypted: open key store: %w", err)
			}
			name = sqlident.Quote(cfg.Schema) + "." + name
		}
	default:
		return nil, fmt.Errorf("encrypted: open key store: unknown dialect %d", cfg.Dialect)
	}
	s := &SQLKeyStore{db: db, dialect: cfg.Dialect}
	cols := "key_id, version, kek_id, wrapped, created_at, destroyed_at"
	s.q = sqlKeyQueries{
		latest:  s.bind("SELECT " + cols + " FROM " + name + " WHERE key_id = ? ORDER BY version DESC LIMIT 1"),
		get:     s.bind("SELECT " + cols + " FROM " + name + " WHERE key_id = ? AND version = ?"),
		add:     s.bind("INSERT INTO " + name + " (" + cols + ") VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (key_id, version) DO NOTHING"),
		rewrap:  s.bind("UPDATE " + name + " SET kek_id = ?, wrapped = ? WHERE key_id = ? AND version = ? AND kek_id = ? AND destroyed_at = 0"),
		destroy: s.bind("UPDATE " + name + " SET kek_id = '', wrapped = NULL, destroyed_at = ? WHERE key_id = ? AND version <= ? AND destroyed_at = 0"),
		list:    s.bind("SELECT " + cols + " FROM " + name + " WHERE key_id > ? OR (key_id = ? AND version > ?) ORDER BY key_id, version LIMIT ?"),
	}
	// The layout's version is kept in a one-row table beside it; a later
	// layout will come with numbered migrations, as the stores' tables do,
	// and a database newer than this code is refused.
	verName := sqlident.Quote(table + "_version")
	if cfg.Schema != "" {
		verName = sqlident.Quote(cfg.Schema) + "." + verName
	}
	ddl := []string{
		"CREATE TABLE IF NOT EXISTS " + name + ` (
	key_id ` + text + ` NOT NULL,
	version BIGINT NOT NULL,
	kek_id TEXT NOT NULL,
	wrapped ` + blob + `,
	created_at BIGINT NOT NULL,
	destroyed_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, version)
)`,
		"CREATE TABLE IF NOT EXISTS " + verName + " (version BIGINT NOT NULL)",
	}
	var found int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if cfg.Dialect == PostgreSQL {
			// Concurrent CREATE TABLE IF NOT EXISTS can fail with a unique
			// violation in PostgreSQL: openers of one table take turns.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "convo_data_keys:"+name); err != nil {
				return err
			}
		}
		for _, q := range ddl {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, "SELECT version FROM "+verName).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			found = sqlKeyStoreVersion
			_, err = tx.ExecContext(ctx, s.bind("INSERT INTO "+verName+" (version) VALUES (?)"), found)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("encrypted: open key store: %w", err)
	}
	if found > sqlKeyStoreVersion {
		return nil, fmt.Errorf("encrypted: open key store: table %s is at layout version %d, newer than this release's %d", table, found, sqlKeyStoreVersion)
	}
	return s, nil
}

// bind turns ? placeholders into the dialect's.
func (s *SQLKeyStore) bind(q string) string {
	if s.dialect != PostgreSQL {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// write runs fn in a transaction. On SQLite it first sets a busy timeout on
// the transaction's connection, so that a write waits for other writers
// (the message store's, other processes') instead of failing with
// SQLITE_BUSY under a driver whose default is not to wait.
func (s *SQLKeyStore) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	if s.dialect == SQLite {
		if _, err := tx.ExecContext(ctx, "PRAGMA busy_timeout = 10000"); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func scanKey(row interface{ Scan(...any) error }) (WrappedKey, error) {
	var k WrappedKey
	err := row.Scan(&k.KeyID, &k.Version, &k.KEKID, &k.Wrapped, &k.CreatedAt, &k.DestroyedAt)
	return k, err
}

// Latest returns the newest version of keyID.
func (s *SQLKeyStore) Latest(ctx context.Context, keyID string) (WrappedKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, s.q.latest, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return WrappedKey{}, fmt.Errorf("encrypted: key %q: %w", keyID, ErrKeyNotFound)
	}
	if err != nil {
		return WrappedKey{}, fmt.Errorf("encrypted: read key %q: %w", keyID, err)
	}
	return k, nil
}

// Get returns version of keyID.
func (s *SQLKeyStore) Get(ctx context.Context, keyID string, version int64) (WrappedKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, s.q.get, keyID, version))
	if errors.Is(err, sql.ErrNoRows) {
		return WrappedKey{}, fmt.Errorf("encrypted: key %q version %d: %w", keyID, version, ErrKeyNotFound)
	}
	if err != nil {
		return WrappedKey{}, fmt.Errorf("encrypted: read key %q version %d: %w", keyID, version, err)
	}
	return k, nil
}

// Add stores k, or fails with ErrKeyExists.
func (s *SQLKeyStore) Add(ctx context.Context, k WrappedKey) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.add, k.KeyID, k.Version, k.KEKID, k.Wrapped, k.CreatedAt)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("encrypted: add key %q version %d: %w", k.KeyID, k.Version, err)
	}
	if n == 0 {
		return fmt.Errorf("encrypted: add key %q version %d: %w", k.KeyID, k.Version, ErrKeyExists)
	}
	return nil
}

// Rewrap replaces the wrapping of a key still under oldKEK.
func (s *SQLKeyStore) Rewrap(ctx context.Context, keyID string, version int64, oldKEK, newKEK string, wrapped []byte) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.rewrap, newKEK, wrapped, keyID, version, oldKEK)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("encrypted: rewrap key %q version %d: %w", keyID, version, err)
	}
	return n == 1, nil
}

// Destroy erases the live versions of keyID up to through, keeping
// tombstones.
func (s *SQLKeyStore) Destroy(ctx context.Context, keyID string, through int64) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.destroy, time.Now().UnixNano(), keyID, through)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("encrypted: destroy key %q: %w", keyID, err)
	}
	return int(n), nil
}

// List pages through the keys in (KeyID, Version) order.
func (s *SQLKeyStore) List(ctx context.Context, afterKeyID string, afterVersion int64, limit int) ([]WrappedKey, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, s.q.list, afterKeyID, afterKeyID, afterVersion, limit)
	if err != nil {
		return nil, fmt.Errorf("encrypted: list keys: %w", err)
	}
	defer rows.Close()
	var out []WrappedKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("encrypted: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("encrypted: list keys: %w", err)
	}
	return out, nil
}
