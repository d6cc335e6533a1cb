package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The fault tests run against a real server: concurrent writers in this
// process and in child processes, backends killed mid-append, and contexts
// cancelled mid-query. Each uses its own schema.

const (
	concWriters = 32 // goroutines in this process
	concProcs   = 4  // child processes
	concProcGor = 8  // goroutines in each child
	// Connections: the goroutines share a few, as an application's do, so
	// that two test runs at once stay within the server's default
	// max_connections (100); a run peaks at about 40.
	concConns     = 8  // pool of this process
	concProcConns = 4  // pool of each child
	concTurns     = 12 // turns per writer and session
	concTurnSize  = 4  // messages per turn
	helperEnv     = "CONVO_PG_HELPER"
	helperURL     = "CONVO_PG_HELPER_URL"
	helperSchema  = "CONVO_PG_HELPER_SCHEMA"
	helperProcess = "CONVO_PG_HELPER_PROC"
)

// turn returns the messages writer w appends to session sess in turn t; ids
// and texts say who wrote them, where and when.
func turn(w, sess string, t int) []message.Message {
	out := make([]message.Message, concTurnSize)
	for i := range out {
		m := message.NewUserMessage(fmt.Sprintf("%s/%s/%d/%d", w, sess, t, i))
		m.ID = fmt.Sprintf("%s.%s.%d.%d", w, sess, t, i)
		out[i] = m
	}
	return out
}

// writeTurns appends concTurns turns of writer w to the shared session and
// to the writer's own session, alternating.
func writeTurns(ctx context.Context, store *Store, w string) error {
	shared, err := store.Load(ctx, "shared")
	if err != nil {
		return err
	}
	own, err := store.Open(ctx, "own-"+w)
	if err != nil {
		return err
	}
	for t := range concTurns {
		if err := shared.AddMessages(ctx, turn(w, "shared", t)); err != nil {
			return fmt.Errorf("writer %s turn %d (shared): %w", w, t, err)
		}
		if err := own.AddMessages(ctx, turn(w, "own", t)); err != nil {
			return fmt.Errorf("writer %s turn %d (own): %w", w, t, err)
		}
	}
	return nil
}

// TestHelperAppender is the body of a child process of
// TestConcurrentAppendsGoroutinesAndProcesses; run directly, it skips.
func TestHelperAppender(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestConcurrentAppendsGoroutinesAndProcesses")
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv(helperURL))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = concProcConns
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := Open(t.Context(), pool, WithSchema(os.Getenv(helperSchema)))
	if err != nil {
		t.Fatal(err)
	}
	proc := os.Getenv(helperProcess)
	var wg sync.WaitGroup
	errs := make(chan error, concProcGor)
	for g := range concProcGor {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := writeTurns(t.Context(), store, fmt.Sprintf("p%s-g%d", proc, g)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentAppendsGoroutinesAndProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	url := testURL(t)
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = concConns })
	store := newStore(t, pool)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute) // watchdog
	defer cancel()
	if _, err := store.Create(ctx, "shared"); err != nil {
		t.Fatal(err)
	}

	var writers []string
	var wg sync.WaitGroup
	errs := make(chan error, concWriters+concProcs)
	start := make(chan struct{})
	for p := range concProcs {
		for g := range concProcGor {
			writers = append(writers, fmt.Sprintf("p%d-g%d", p, g))
		}
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperAppender$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"=1", helperURL+"="+url,
			helperSchema+"="+store.Schema(), helperProcess+"="+strconv.Itoa(p))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child process %d: %v\n%s", p, err, out)
			}
		}()
	}
	for g := range concWriters {
		w := fmt.Sprintf("g%d", g)
		writers = append(writers, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := writeTurns(ctx, store, w); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Nothing lost, nothing twice, and every call's messages contiguous
	// and in order; every writer's turns in order.
	check := func(id string, writers []string, want int) {
		t.Helper()
		sess, err := store.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := sess.GetMessages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != want {
			t.Errorf("session %s holds %d messages, want %d", id, len(msgs), want)
		}
		nextTurn := map[string]int{}
		for _, w := range writers {
			nextTurn[w] = 0
		}
		for i := 0; i < len(msgs); {
			parts := strings.Split(msgs[i].Content(), "/")
			if len(parts) != 4 {
				t.Fatalf("session %s message %d: unexpected text %q", id, i, msgs[i].Content())
			}
			w, tn := parts[0], parts[2]
			if strconv.Itoa(nextTurn[w]) != tn {
				t.Fatalf("session %s message %d: writer %s turn %s, want turn %d (turns out of order or lost)", id, i, w, tn, nextTurn[w])
			}
			for k := range concTurnSize {
				if i+k >= len(msgs) {
					t.Fatalf("session %s: turn %s of %s cut short", id, tn, w)
				}
				if want := fmt.Sprintf("%s/%s/%s/%d", w, parts[1], tn, k); msgs[i+k].Content() != want {
					t.Fatalf("session %s message %d: %q, want %q (a call interleaved with another)", id, i+k, msgs[i+k].Content(), want)
				}
			}
			nextTurn[w]++
			i += concTurnSize
		}
		for _, w := range writers {
			if nextTurn[w] != concTurns {
				t.Errorf("session %s: writer %s has %d turns, want %d", id, w, nextTurn[w], concTurns)
			}
		}
	}
	check("shared", writers, len(writers)*concTurns*concTurnSize)
	for _, w := range writers {
		check("own-"+w, []string{w}, concTurns*concTurnSize)
	}
	info, err := store.Info(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(writers) * concTurns); info.Version != want {
		t.Errorf("shared session at version %d, want %d (one step per append)", info.Version, want)
	}
}

// faultPool returns a pool whose connections carry a unique
// application_name, so that a test can find their backends.
func faultPool(t *testing.T, configure func(*pgxpool.Config)) (*pgxpool.Pool, string) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	app := "convo-fault-" + hex.EncodeToString(b[:])
	return newPool(t, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["application_name"] = app
		if configure != nil {
			configure(c)
		}
	}), app
}

// installSleep adds a trigger that makes an insert of the message with id
// "sleep-here" sleep for the seconds in the table sleep_flag, while the
// table has a row: the rows of the batch before it are then inserted but
// not committed.
func installSleep(t *testing.T, store *Store, seconds int) {
	t.Helper()
	schema := `"` + store.Schema() + `"`
	for _, sql := range []string{
		`CREATE TABLE ` + schema + `.sleep_flag (seconds int)`,
		`INSERT INTO ` + schema + `.sleep_flag VALUES (` + strconv.Itoa(seconds) + `)`,
		`CREATE FUNCTION ` + schema + `.sleep_here() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.id = 'sleep-here' THEN
				PERFORM pg_sleep(seconds) FROM ` + schema + `.sleep_flag;
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER sleep_here BEFORE INSERT ON ` + store.q.messages + ` FOR EACH ROW EXECUTE FUNCTION ` + schema + `.sleep_here()`,
	} {
		if _, err := store.pool.Exec(t.Context(), sql); err != nil {
			t.Fatal(err)
		}
	}
}

func stopSleeping(t *testing.T, store *Store) {
	t.Helper()
	if _, err := store.pool.Exec(t.Context(), `DELETE FROM "`+store.Schema()+`".sleep_flag`); err != nil {
		t.Fatal(err)
	}
}

// sleepyBatch returns n messages, the middle one with id "sleep-here".
func sleepyBatch(n int) []message.Message {
	msgs := texts("batch", n)
	msgs[n/2].ID = "sleep-here"
	return msgs
}

// waitBackend polls until a backend of application app matches cond (an
// SQL condition on pg_stat_activity) and returns its pid.
func waitBackend(t *testing.T, admin *pgxpool.Pool, app, cond string) int32 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var pid int32
		err := admin.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND `+cond+` LIMIT 1`, app).Scan(&pid)
		if err == nil {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no backend of %s with %s within 30s", app, cond)
	return 0
}

// waitIdle polls until no backend of app runs a query.
func waitIdle(t *testing.T, admin *pgxpool.Pool, app string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("backends of %s still active after 30s", app)
}

// stored returns how many of msgs the session holds, and fails t unless
// that is none or all of them, in order and contiguous.
func storedAllOrNothing(t *testing.T, sess session.Session, msgs []message.Message) int {
	t.Helper()
	got, err := sess.GetMessages(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range msgs {
		want[m.ID] = true
	}
	n, first := 0, -1
	for i, m := range got {
		if want[m.ID] {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	switch {
	case n == 0:
	case n != len(msgs):
		t.Fatalf("half an append is stored: %d of %d messages", n, len(msgs))
	default:
		for k, m := range msgs {
			if got[first+k].ID != m.ID {
				t.Fatalf("stored batch out of order at %d", k)
			}
		}
	}
	return n
}

func TestBackendKilledMidAppend(t *testing.T) {
	pool, app := faultPool(t, nil)
	admin := testPool(t)
	store := newStore(t, pool)
	ctx := t.Context()
	sess, err := store.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, texts("before", 3)); err != nil {
		t.Fatal(err)
	}
	installSleep(t, store, 60)
	msgs := sleepyBatch(200)
	done := make(chan error, 1)
	go func() { done <- sess.AddMessages(ctx, msgs) }()
	// The backend sleeps in the trigger of message 100: 100 rows are in
	// the table, uncommitted. Kill it there.
	pid := waitBackend(t, admin, app, `wait_event = 'PgSleep'`)
	var killed bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, killed, err)
	}
	err = <-done
	if err == nil {
		t.Fatal("append whose backend was killed returned no error")
	}
	t.Logf("append on a killed backend: %v", err)
	if n := storedAllOrNothing(t, sess, msgs); n != 0 {
		t.Fatalf("%d messages of an append killed before commit are stored", n)
	}
	// The next call gets a fresh connection and succeeds; retrying the
	// very same messages stores them once.
	stopSleeping(t, store)
	if err := sess.AddMessages(ctx, msgs); err != nil {
		t.Fatalf("retry after the kill: %v", err)
	}
	if err := sess.AddMessages(ctx, msgs); err != nil {
		t.Fatalf("second retry: %v", err)
	}
	if n := storedAllOrNothing(t, sess, msgs); n != len(msgs) {
		t.Fatalf("after retry: %d of %d stored", n, len(msgs))
	}
	info, err := store.Info(ctx, "s")
	if err != nil || info.MessageCount != 203 || info.Version != 2 {
		t.Errorf("info %+v, %v; want 203 messages at version 2", info, err)
	}
}

func TestBackendKilledDuringLargeAppends(t *testing.T) {
	// Kills at whatever instant the large append happens to be at: parse,
	// insert, index update or commit. Every outcome must be whole.
	pool, app := faultPool(t, nil)
	admin := testPool(t)
	store := newStore(t, pool)
	ctx := t.Context()
	sess, err := store.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("lorem ipsum dolor sit amet ", 150) // ~4 KB per message
	var failed, succeeded int
	for round := range 6 {
		msgs := make([]message.Message, 800)
		for i := range msgs {
			msgs[i] = message.NewUserMessage(fmt.Sprintf("r%d m%d %s", round, i, text))
		}
		done := make(chan error, 1)
		go func() { done <- sess.AddMessages(ctx, msgs) }()
		// Find the backend while the append runs; if it has finished
		// already, there is nothing to kill this round.
		var err error
		finished := false
		for !finished {
			select {
			case err = <-done:
				finished = true
				continue
			default:
			}
			var pid int32
			qerr := admin.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1
				AND state = 'active' AND query LIKE '%unnest%' LIMIT 1`, app).Scan(&pid)
			if qerr != nil {
				time.Sleep(2 * time.Millisecond)
				continue
			}
			time.Sleep(time.Duration(round*15) * time.Millisecond)
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			err = <-done
			finished = true
		}
		n := storedAllOrNothing(t, sess, msgs)
		switch {
		case err == nil && n != len(msgs):
			t.Fatalf("round %d: append succeeded but %d of %d messages are stored", round, n, len(msgs))
		case err == nil:
			succeeded++
		default:
			failed++ // n is 0, or all if the commit finished before the kill
		}
		if err := sess.AddMessages(ctx, msgs); err != nil {
			t.Fatalf("round %d: retry after the kill: %v", round, err)
		}
		if n := storedAllOrNothing(t, sess, msgs); n != len(msgs) {
			t.Fatalf("round %d: after retry %d of %d stored", round, n, len(msgs))
		}
	}
	t.Logf("large appends under kill: %d failed, %d succeeded (committed before the kill landed, or done before it was found)", failed, succeeded)
	info, err := store.Info(ctx, "s")
	if err != nil || info.MessageCount != 6*800 {
		t.Errorf("info %+v, %v; want %d messages", info, err, 6*800)
	}
}

func TestContextCancelledMidAppend(t *testing.T) {
	for _, c := range []struct {
		name      string
		configure func(*pgxpool.Config)
	}{
		// pgx's default: on cancel, the client stops waiting and closes
		// the connection; the server finishes the statement (and commits)
		// or not, so the batch is whole or absent.
		{"deadline_handler", nil},
		// A cancel request: the server aborts the statement, nothing is
		// stored.
		{"cancel_request_handler", func(c *pgxpool.Config) {
			c.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
				return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 5 * time.Second}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool, app := faultPool(t, c.configure)
			admin := testPool(t)
			store := newStore(t, pool)
			sess, err := store.Create(t.Context(), "s")
			if err != nil {
				t.Fatal(err)
			}
			installSleep(t, store, 2)
			msgs := sleepyBatch(200)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- sess.AddMessages(ctx, msgs) }()
			waitBackend(t, admin, app, `wait_event = 'PgSleep'`)
			cancel()
			err = <-done
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled append: %v, want context.Canceled", err)
			}
			waitIdle(t, admin, app)
			n := storedAllOrNothing(t, sess, msgs)
			if c.configure != nil && n != 0 {
				t.Errorf("a cancel request should abort the statement, but %d messages are stored", n)
			}
			t.Logf("after cancel: %d of %d stored", n, len(msgs))
			stopSleeping(t, store)
			if err := sess.AddMessages(t.Context(), msgs); err != nil {
				t.Fatalf("append after cancel: %v", err)
			}
			if n := storedAllOrNothing(t, sess, msgs); n != len(msgs) {
				t.Fatalf("after retry %d of %d stored", n, len(msgs))
			}
		})
	}
}

func TestContextCancelledWhileWaitingForLock(t *testing.T) {
	// Another transaction holds the session row; pop, clear and append
	// wait for it and are cancelled while waiting: nothing changes.
	pool, app := faultPool(t, func(c *pgxpool.Config) {
		c.ConnConfig.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 5 * time.Second}
		}
	})
	admin := testPool(t)
	store := newStore(t, pool)
	sess, err := store.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(t.Context(), texts("kept", 5)); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(context.Context) error{
		"append": func(ctx context.Context) error { return sess.AddMessages(ctx, texts("new", 3)) },
		"pop":    func(ctx context.Context) error { _, err := sess.PopMessage(ctx); return err },
		"clear":  func(ctx context.Context) error { return sess.Clear(ctx) },
		"delete": func(ctx context.Context) error { return store.Delete(ctx, "s") },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			tx, err := admin.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.WithoutCancel(t.Context()))
			if _, err := tx.Exec(t.Context(), `SELECT 1 FROM `+store.q.sessions+` WHERE id = 's' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- op(ctx) }()
			waitBackend(t, admin, app, `wait_event_type = 'Lock'`)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v, want context.Canceled", name, err)
			}
			if err := tx.Rollback(t.Context()); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, admin, app)
			info, err := store.Info(t.Context(), "s")
			if err != nil || info.MessageCount != 5 || info.Version != 1 {
				t.Fatalf("after a cancelled %s: %+v, %v; want 5 messages at version 1", name, info, err)
			}
			got, err := sess.GetMessages(t.Context(), nil)
			if err != nil || len(got) != 5 {
				t.Fatalf("after a cancelled %s: %d messages, %v", name, len(got), err)
			}
		})
	}
}

// Issue 17 item 1: when a backend died inside a transaction, the rollback
// path skipped Rollback on the closed connection, so pgxpool never got the
// connection back; after pool-size such deaths every call blocked forever.
// Here the pool has two connections and three transactions (appends of more
// than 1,000 messages run in one) lose their backend mid-way; every
// connection must come back to the pool and the store must still answer.
func TestBackendsKilledInTransactionsDoNotLeakConnections(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app := "convo-leak-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Not newPool: pgxpool's Close waits for every acquired connection, so
	// with the leak this test looks for, closing would hang the binary.
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() { pool.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Error("pool.Close still waits for connections that were never released")
		}
	})
	admin := testPool(t)
	store := newStore(t, pool)
	ctx := t.Context()
	sess, err := store.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	installSleep(t, store, 60)
	const kills = 3 // more than the pool's size
	for i := range kills {
		msgs := sleepyBatch(1200) // over 1,000: appended in one transaction
		done := make(chan error, 1)
		callCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		go func() { done <- sess.AddMessages(callCtx, msgs) }()
		pid := waitBackend(t, admin, app, `wait_event = 'PgSleep'`)
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
			t.Fatal(err)
		}
		err := <-done
		cancel()
		if err == nil {
			t.Fatalf("kill %d: append whose backend was killed returned no error", i+1)
		}
		// pgxpool may release a connection in a goroutine: allow it time.
		deadline := time.Now().Add(10 * time.Second)
		for pool.Stat().AcquiredConns() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Fatalf("kill %d: %d of the pool's 2 connections were never released", i+1, n)
		}
	}
	stopSleeping(t, store)
	callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := sess.AddMessages(callCtx, texts("after", 2)); err != nil {
		t.Fatalf("append after %d killed transactions on a pool of 2: %v", kills, err)
	}
	if _, err := sess.PopMessage(callCtx); err != nil {
		t.Fatalf("pop after %d killed transactions: %v", kills, err)
	}
}

// Issue 17 item 11: a full disk is one convo error on every backend. The
// server raises SQLSTATE 53100 disk_full when it cannot extend a file; a
// trigger raises the same code here, without filling a disk.
func TestDiskFullIsErrStorageFull(t *testing.T) {
	store := newStore(t, testPool(t))
	ctx := t.Context()
	sess, err := store.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	schema := `"` + store.Schema() + `"`
	for _, sql := range []string{
		`CREATE FUNCTION ` + schema + `.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$`,
		`CREATE TRIGGER disk_full BEFORE INSERT ON ` + store.q.messages + ` FOR EACH ROW EXECUTE FUNCTION ` + schema + `.disk_full()`,
	} {
		if _, err := store.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	err = sess.AddMessages(ctx, texts("full", 3))
	if !errors.Is(err, session.ErrStorageFull) {
		t.Fatalf("append on a full disk: %v, want session.ErrStorageFull", err)
	}
	if got, err := sess.GetMessages(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("after the failed append: %d messages, %v", len(got), err)
	}
}
