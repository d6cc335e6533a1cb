package postgres

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/migrations"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// laterMigrations are schema versions of a "newer release" than this one,
// each altering both tables, in one order or the other, as real schema
// changes do. A migration that takes the messages table before the
// sessions table, while appends (which lock sessions, then messages) run,
// deadlocks with them unless the migration takes its locks in the appends'
// order first.
func laterMigrations(n int) []migrations.Migration {
	ms := make([]migrations.Migration, n)
	for i := range ms {
		v := LatestSchemaVersion() + 1 + i
		sql := fmt.Sprintf(`ALTER TABLE {{messages}} ADD COLUMN later_%d text;
ALTER TABLE {{sessions}} ADD COLUMN later_%d text;`, v, v)
		if i%2 == 1 {
			sql = fmt.Sprintf(`ALTER TABLE {{sessions}} ADD COLUMN later_%d text;
CREATE INDEX "{{prefix}}later_%d" ON {{messages}} (created_at);`, v, v)
		}
		ms[i] = migrations.Migration{Version: v, Name: fmt.Sprintf("later_%d", v), SQL: sql}
	}
	return ms
}

// TestMigrationWhileAppending is issue 17 item 10: a newer release
// migrating the schema while processes of this one append. Writers append
// on several connections without a pause; meanwhile stores of a "newer
// release" (test-only migrations that alter both tables) open on another
// pool, one new version each. No append and no migration may fail, in
// particular not with PostgreSQL's deadlock_detected (SQLSTATE 40P01,
// https://www.postgresql.org/docs/current/errcodes-appendix.html), and
// every append is stored.
func TestMigrationWhileAppending(t *testing.T) {
	writersPool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 8 })
	migratorPool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 2 })
	migrateWhileAppending(t, newStore(t, writersPool), migratorPool)
}

// migrateWhileAppending is TestMigrationWhileAppending on the store old,
// whose pool has at least 8 connections: the stores of the "newer
// release" open on migratorPool, with old's schema and opts.
func migrateWhileAppending(t *testing.T, old *Store, migratorPool *pgxpool.Pool, opts ...Option) {
	t.Helper()
	schema := old.opts.schema
	ctx := t.Context()

	const writers = 8
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []error
		appended [writers]int
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, err)
	}
	for w := range writers {
		sess, err := old.Create(ctx, fmt.Sprintf("w%d", w))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				msgs := []message.Message{
					message.NewUserMessage(fmt.Sprintf("w%d turn %d", w, n)),
					message.NewAssistantMessage(fmt.Sprintf("w%d answer %d", w, n)),
				}
				if err := sess.AddMessages(ctx, msgs); err != nil {
					fail(fmt.Errorf("writer %d, append %d: %w", w, n, err))
					return
				}
				appended[w] += len(msgs)
				if _, err := sess.GetMessages(ctx, func() *int { n := 2; return &n }()); err != nil {
					fail(fmt.Errorf("writer %d, read %d: %w", w, n, err))
					return
				}
			}
		})
	}
	later := laterMigrations(rounds)
	for r := range rounds {
		time.Sleep(100 * time.Millisecond) // let the writers hold locks
		o := withMigrations(later[:r+1])
		if _, err := Open(ctx, migratorPool, append([]Option{WithSchema(schema), o}, opts...)...); err != nil {
			fail(fmt.Errorf("newer release, migration to version %d: %w", later[r].Version, err))
		}
	}
	stop.Store(true)
	wg.Wait()
	deadlocks := 0
	for _, err := range failures {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "40P01" {
			deadlocks++
		}
		t.Error(err)
	}
	if deadlocks > 0 {
		t.Errorf("%d of %d failures were deadlocks (40P01)", deadlocks, len(failures))
	}
	newest, err := Open(ctx, migratorPool, append([]Option{WithSchema(schema), withMigrations(later)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := newest.SchemaVersion(ctx); err != nil || v != later[len(later)-1].Version {
		t.Errorf("schema version %d, %v; want %d", v, err, later[len(later)-1].Version)
	}
	total := 0
	for w := range writers {
		sess, err := newest.Load(ctx, fmt.Sprintf("w%d", w))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := sess.GetMessages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != appended[w] {
			t.Errorf("writer %d: %d messages stored, %d appended", w, len(msgs), appended[w])
		}
		total += len(msgs)
	}
	t.Logf("%d writers appended %d messages while %d migrations ran; %d failures", writers, total, rounds, len(failures))
}

// withMigrations adds ms after the embedded migrations.
func withMigrations(ms []migrations.Migration) Option {
	return func(o *storeOptions) { o.extraMigrations = ms }
}

// victimOfCycle closes a lock cycle with run on purpose, as DDL run outside
// the store in another order than run's can: another transaction locks the
// table first, run (whose statements lock second, then first) waits for it,
// and the transaction then asks for second. The other transaction's
// deadlock_timeout is 10 s and run's backend's 1 s (the default), so run's
// backend finds the cycle and PostgreSQL aborts run's transaction with 40P01
// (https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-DEADLOCKS).
// The other transaction getting its lock proves the cycle was broken that
// way. app is the application_name of run's pool; victimOfCycle returns
// run's error.
func victimOfCycle(t *testing.T, app, first, second string, run func() error) error {
	t.Helper()
	ctx := t.Context()
	admin := newPool(t, nil)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL deadlock_timeout = '10s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+first+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run() }()
	waitBackend(t, admin, app, `wait_event_type = 'Lock'`)
	if _, err := tx.Exec(ctx, `LOCK TABLE `+second+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatalf("the other transaction was aborted, not the store's: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// TestAppendChosenAsDeadlockVictimIsRetried: an append that PostgreSQL
// aborts to break a deadlock is run again, and stored once.
func TestAppendChosenAsDeadlockVictimIsRetried(t *testing.T) {
	pool, app := faultPool(t, nil)
	store := newStore(t, pool)
	ctx := t.Context()
	sess, err := store.Create(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	msgs := texts("victim", 3)
	if err := victimOfCycle(t, app, store.q.messages, store.q.sessions, func() error { return sess.AddMessages(ctx, msgs) }); err != nil {
		t.Fatalf("append chosen as a deadlock victim: %v (it must be retried)", err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Errorf("%d messages stored, want %d", len(got), len(msgs))
	}
}

// TestMigrationChosenAsDeadlockVictimIsRetried: a migration that PostgreSQL
// aborts to break a deadlock runs again and completes.
func TestMigrationChosenAsDeadlockVictimIsRetried(t *testing.T) {
	pool, app := faultPool(t, nil)
	store := newStore(t, pool)
	ctx := t.Context()
	later := laterMigrations(1)
	err := victimOfCycle(t, app, store.q.messages, store.q.sessions, func() error {
		_, err := Open(ctx, pool, WithSchema(store.Schema()), withMigrations(later))
		return err
	})
	if err != nil {
		t.Fatalf("migration chosen as a deadlock victim: %v (it must be retried)", err)
	}
	if v, err := store.SchemaVersion(ctx); err != nil || v != later[0].Version {
		t.Errorf("schema version %d, %v; want %d", v, err, later[0].Version)
	}
}

// TestSearchChosenAsDeadlockVictimIsRetried: a search by owner, which
// reads messages before sessions, aborted to break a deadlock, is run again.
func TestSearchChosenAsDeadlockVictimIsRetried(t *testing.T) {
	pool, app := faultPool(t, nil)
	store := newStore(t, pool)
	ctx := t.Context()
	sess, err := store.CreateWith(ctx, "victim", session.CreateOptions{Owner: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("a deadlocked umbrella")}); err != nil {
		t.Fatal(err)
	}
	var hits []session.SearchHit
	err = victimOfCycle(t, app, store.q.sessions, store.q.messages, func() (err error) {
		hits, err = store.Search(ctx, session.SearchQuery{Text: "umbrella", Owner: "ann"})
		return err
	})
	if err != nil || len(hits) != 1 {
		t.Fatalf("search chosen as a deadlock victim: %d hits, %v (it must be retried)", len(hits), err)
	}
}

// TestReadChosenAsDeadlockVictimIsRetried: a read of a session (sessions,
// then messages, as appends) aborted to break a deadlock is run again.
func TestReadChosenAsDeadlockVictimIsRetried(t *testing.T) {
	pool, app := faultPool(t, nil)
	store := newStore(t, pool)
	ctx := t.Context()
	sess, err := store.Create(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, texts("victim", 2)); err != nil {
		t.Fatal(err)
	}
	var got []message.Message
	err = victimOfCycle(t, app, store.q.messages, store.q.sessions, func() (err error) {
		got, err = sess.GetMessages(ctx, nil)
		return err
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("read chosen as a deadlock victim: %d messages, %v (it must be retried)", len(got), err)
	}
}

// TestForkChosenAsDeadlockVictimIsRetried: a fork (sessions, then
// messages, as appends) aborted to break a deadlock is run again, and the
// fork holds its parent's messages.
func TestForkChosenAsDeadlockVictimIsRetried(t *testing.T) {
	pool, app := faultPool(t, nil)
	store := newStore(t, pool)
	ctx := t.Context()
	parent, err := store.Create(ctx, "parent")
	if err != nil {
		t.Fatal(err)
	}
	msgs := texts("parent", 3)
	if err := parent.AddMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	err = victimOfCycle(t, app, store.q.messages, store.q.sessions, func() error {
		_, err := store.Fork(ctx, "parent", msgs[1].ID, "fork", session.CreateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("fork chosen as a deadlock victim: %v (it must be retried)", err)
	}
	fork, err := store.Load(ctx, "fork")
	if err != nil {
		t.Fatal(err)
	}
	got, err := fork.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != msgs[0].ID || got[1].ID != msgs[1].ID {
		t.Errorf("fork holds %d messages, want the parent's first 2", len(got))
	}
}
