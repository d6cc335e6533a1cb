package encrypted_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// testKEK is the key-encryption key of the tests' keyrings.
var testKEK = []byte("0123456789abcdef0123456789abcdef")

func newKeyring(t testing.TB) *encrypted.MemoryKeyring {
	t.Helper()
	kr, err := encrypted.NewMemoryKeyring("kek-1", testKEK)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func wrap(t testing.TB, inner session.Store, kr encrypted.Keyring, ks encrypted.KeyStore, opts ...encrypted.Option) encrypted.Store {
	t.Helper()
	st, err := encrypted.New(inner, kr, ks, opts...)
	if err != nil {
		t.Fatalf("encrypted.New: %v", err)
	}
	return st
}

// newMemory returns a wrapper over a MemoryStore with a MemoryKeyStore.
func newMemory(t testing.TB, opts ...encrypted.Option) encrypted.Store {
	return wrap(t, session.NewMemoryStore(), newKeyring(t), encrypted.NewMemoryKeyStore(), opts...)
}

// sqliteEnv is an encrypted store over a SQLite file holding both the
// messages and the key table.
type sqliteEnv struct {
	path  string
	db    *sql.DB
	inner *sqlite.Store
	keys  *encrypted.SQLKeyStore
	kr    *encrypted.MemoryKeyring
	st    encrypted.Store
}

func openSQLiteDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openSQLite opens (creating if needed) the SQLite file path with an
// encrypted store on it, using keyring kr.
func openSQLite(t testing.TB, path string, kr *encrypted.MemoryKeyring, opts ...encrypted.Option) *sqliteEnv {
	t.Helper()
	db := openSQLiteDB(t, path)
	inner, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	keys, err := encrypted.OpenSQLKeyStore(context.Background(), db, encrypted.SQLKeyStoreConfig{Dialect: encrypted.SQLite})
	if err != nil {
		t.Fatalf("OpenSQLKeyStore: %v", err)
	}
	return &sqliteEnv{path: path, db: db, inner: inner, keys: keys, kr: kr, st: wrap(t, inner, kr, keys, opts...)}
}

func newSQLite(t testing.TB, opts ...encrypted.Option) *sqliteEnv {
	t.Helper()
	return openSQLite(t, filepath.Join(t.TempDir(), "convo.db"), newKeyring(t), opts...)
}

// defaultPGURL is the server CI uses when CONVO_TEST_POSTGRES is unset.
const defaultPGURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgURL returns the test server: CONVO_TEST_POSTGRES, or under CI=true the
// default one (which must answer); otherwise the test skips.
func pgURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("CONVO_TEST_POSTGRES"); u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		return defaultPGURL
	}
	t.Skip("encrypted: no PostgreSQL configured; set CONVO_TEST_POSTGRES=" + defaultPGURL + " to run these tests")
	return ""
}

var (
	pgOnce sync.Once
	pgPool *pgxpool.Pool
	pgDB   *sql.DB
	pgErr  error
)

// pgShared returns a pool (16 connections, shared by the binary's tests)
// and a database/sql handle over it for the key store.
func pgShared(t testing.TB) (*pgxpool.Pool, *sql.DB) {
	t.Helper()
	url := pgURL(t)
	pgOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			pgErr = err
			return
		}
		cfg.MaxConns = 16
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if pgPool, pgErr = pgxpool.NewWithConfig(ctx, cfg); pgErr == nil {
			pgErr = pgPool.Ping(ctx)
			pgDB = stdlib.OpenDBFromPool(pgPool)
		}
	})
	if pgErr != nil {
		t.Fatalf("PostgreSQL at CONVO_TEST_POSTGRES does not answer: %v", pgErr)
	}
	return pgPool, pgDB
}

// pgEnv is an encrypted store over PostgreSQL in a fresh schema that holds
// the messages and the key table.
type pgEnv struct {
	schema string
	inner  *postgres.Store
	keys   *encrypted.SQLKeyStore
	st     encrypted.Store
}

func newPostgres(t testing.TB) *pgEnv {
	t.Helper()
	pool, db := pgShared(t)
	schema := newPGSchema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inner, err := postgres.Open(ctx, pool, postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	keys, err := encrypted.OpenSQLKeyStore(ctx, db, encrypted.SQLKeyStoreConfig{Dialect: encrypted.PostgreSQL, Schema: schema})
	if err != nil {
		t.Fatalf("OpenSQLKeyStore: %v", err)
	}
	return &pgEnv{schema: schema, inner: inner, keys: keys, st: wrap(t, inner, newKeyring(t), keys)}
}

func sqliteOpen(ctx context.Context, db *sql.DB) (session.Store, error) {
	return sqlite.Open(ctx, db)
}

// newPGSchema returns the name of a schema no other test uses (not yet
// created), dropped with its contents when t ends.
func newPGSchema(t testing.TB) string {
	t.Helper()
	pool, _ := pgShared(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "convo_enc_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+sqlident.Quote(schema)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func contextCancelled(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}

// newCurrentKEK adds a new random KEK id to kr and makes it current.
func newCurrentKEK(t testing.TB, kr *encrypted.MemoryKeyring, id string) {
	t.Helper()
	if err := kr.Add(id, encrypted.NewKey()); err != nil {
		t.Fatal(err)
	}
	if err := kr.SetCurrent(id); err != nil {
		t.Fatal(err)
	}
}
