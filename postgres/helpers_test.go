package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/sqlident"
)

// defaultTestURL is the server CI uses when CONVO_TEST_POSTGRES is unset
// (.ci/start-postgres.sh starts it).
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testURL returns the server the tests use. Without CONVO_TEST_POSTGRES the
// tests skip, except under CI=true, where they use defaultTestURL and fail
// if it does not answer.
func testURL(tb testing.TB) string {
	tb.Helper()
	return envURL(tb, "CONVO_TEST_POSTGRES", defaultTestURL,
		"no server configured; to run these tests, start PostgreSQL (for example with .ci/start-postgres.sh)")
}

// envURL returns the URL in the environment variable env. Without it the
// test skips, saying why (what) and how to run it, except under CI=true,
// where it gets def, which the CI scripts start, and fails if that does
// not answer.
func envURL(tb testing.TB, env, def, what string) string {
	tb.Helper()
	if u := os.Getenv(env); u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		return def
	}
	tb.Skip("postgres: " + what + " and set " + env + "=" + def)
	return ""
}

// newPool returns a pool on the test server, closed when tb ends. configure,
// if set, adjusts the pool configuration first.
func newPool(tb testing.TB, configure func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(testURL(tb))
	if err != nil {
		tb.Fatalf("CONVO_TEST_POSTGRES: %v", err)
	}
	if configure != nil {
		configure(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connect to PostgreSQL: %v", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		tb.Fatalf("PostgreSQL at %s does not answer: %v (start it with .ci/start-postgres.sh)", cfg.ConnConfig.Host, err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

var (
	sharedPoolOnce sync.Once
	sharedPool     *pgxpool.Pool
	sharedPoolErr  error
)

// testPool returns a pool shared by the tests of this binary. Its 16
// connections serve the conformance suite's concurrent writers (who wait
// for a connection, as an application's goroutines do) and keep a run well
// under the server's default max_connections, so that runs can overlap.
func testPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	url := testURL(tb)
	sharedPoolOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			sharedPoolErr = err
			return
		}
		cfg.MaxConns = 16
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sharedPool, sharedPoolErr = pgxpool.NewWithConfig(ctx, cfg)
		if sharedPoolErr == nil {
			sharedPoolErr = sharedPool.Ping(ctx)
		}
	})
	if sharedPoolErr != nil {
		tb.Fatalf("PostgreSQL at CONVO_TEST_POSTGRES does not answer: %v (start it with .ci/start-postgres.sh)", sharedPoolErr)
	}
	return sharedPool
}

// newSchema returns the name of a schema no other test uses, and drops it
// with everything in it when tb ends, so that runs can overlap.
func newSchema(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "convo_test_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+sqlident.Quote(name)+" CASCADE"); err != nil {
			tb.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return name
}

// newStore returns a store in a fresh schema on pool (the shared pool if
// nil).
func newStore(tb testing.TB, pool *pgxpool.Pool, opts ...Option) *Store {
	tb.Helper()
	if pool == nil {
		pool = testPool(tb)
	}
	schema := newSchema(tb, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, pool, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// startFeed starts the change feed of s's database (StartFeed): the tests
// that read changes made before their first Watch need it, since a new
// database's feed is dormant.
func startFeed(tb testing.TB, s *Store) *Store {
	tb.Helper()
	if err := s.StartFeed(context.Background()); err != nil {
		tb.Fatalf("StartFeed: %v", err)
	}
	return s
}
