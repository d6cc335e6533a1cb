package postgres

// Tests through a real PgBouncer (.ci/start-pgbouncer.sh starts one: Debian
// 12's PgBouncer 1.18.0, database "test" in transaction mode and
// "test_session", the same database, in session mode). The rules of
// PgBouncer they rest on, from its documentation:
//
//   - Transaction pooling gives a client a server connection only for the
//     length of a transaction, and LISTEN is "Never" supported in that mode
//     (https://www.pgbouncer.org/features.html, "SQL feature map for
//     pooling modes"); session pooling supports every feature.
//   - SET LOCAL, transaction-level advisory locks and ON COMMIT DROP
//     temporary tables live in one transaction, and so work in transaction
//     mode (same table: "ON COMMIT DROP temp tables: Yes").
//   - Protocol-level named prepared statements work in transaction mode
//     only from PgBouncer 1.21.0 on, with max_prepared_statements above 0
//     (https://www.pgbouncer.org/changelog.html, 1.21.0, "The one with
//     prepared statements"; https://www.pgbouncer.org/config.html#max_prepared_statements),
//     which 1.24.0 turned on by default (pgbouncer pull request #1144).
//   - Startup parameters other than client_encoding, DateStyle, TimeZone,
//     standard_conforming_strings and application_name are refused
//     ("unsupported startup parameter") unless ignore_startup_parameters
//     (or, from 1.20, track_extra_parameters) names them
//     (https://www.pgbouncer.org/config.html#ignore_startup_parameters).

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// defaultPgBouncerURL is the PgBouncer CI uses when CONVO_TEST_PGBOUNCER is
// unset (.ci/start-pgbouncer.sh starts it), in transaction mode.
const defaultPgBouncerURL = "postgres://postgres@127.0.0.1:6432/test?sslmode=disable"

// pgbouncerURL returns the URL of the test database through PgBouncer in
// transaction mode, from CONVO_TEST_PGBOUNCER. Without it the tests skip,
// except under CI=true, where they use defaultPgBouncerURL and fail if it
// does not answer.
func pgbouncerURL(tb testing.TB) string {
	tb.Helper()
	return envURL(tb, "CONVO_TEST_PGBOUNCER", defaultPgBouncerURL,
		"no PgBouncer configured; to run the tests through one, start it (for example with .ci/start-pgbouncer.sh)")
}

// bouncerPool returns a pool on rawURL (a PgBouncer), in pgx exec mode
// mode unless mode is "" (pgx's default, cache_statement), closed when tb
// ends.
func bouncerPool(tb testing.TB, rawURL, mode string, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	if mode != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			tb.Fatal(err)
		}
		q := u.Query()
		q.Set("default_query_exec_mode", mode)
		u.RawQuery = q.Encode()
		rawURL = u.String()
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		tb.Fatalf("PgBouncer URL: %v", err)
	}
	cfg.MaxConns = maxConns
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		tb.Fatalf("PgBouncer at %s:%d does not answer: %v (start it with .ci/start-pgbouncer.sh)", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// bouncerInfo is what PgBouncer's admin console says about itself.
type bouncerInfo struct {
	version [2]int // major, minor; 0, 0 if unknown
	config  map[string]string
}

// readBouncer asks the admin console (database "pgbouncer", which needs the
// URL's user in admin_users or stats_users) for the version and settings.
// It returns what it could read; the tests that need it say so.
func readBouncer(t *testing.T, rawURL string) bouncerInfo {
	t.Helper()
	info := bouncerInfo{config: map[string]string{}}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "pgbouncer"
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol // the console speaks only the simple protocol
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Logf("PgBouncer admin console: %v", err)
		return info
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var v string
	if err := conn.QueryRow(t.Context(), "SHOW VERSION").Scan(&v); err != nil {
		t.Logf("PgBouncer SHOW VERSION: %v", err)
		return info
	}
	if m := regexp.MustCompile(`PgBouncer (\d+)\.(\d+)`).FindStringSubmatch(v); m != nil {
		info.version[0], _ = strconv.Atoi(m[1])
		info.version[1], _ = strconv.Atoi(m[2])
	}
	rows, err := conn.Query(t.Context(), "SHOW CONFIG")
	if err != nil {
		t.Logf("PgBouncer SHOW CONFIG: %v", err)
		return info
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err == nil && len(vals) >= 2 {
			info.config[fmt.Sprint(vals[0])] = fmt.Sprint(vals[1])
		}
	}
	rows.Close()
	t.Logf("%s, pool_mode %s, max_prepared_statements %q", v, info.config["pool_mode"], info.config["max_prepared_statements"])
	return info
}

// keepsPreparedStatements reports whether PgBouncer keeps protocol-level
// prepared statements in transaction mode (1.21 or later with
// max_prepared_statements above 0), and whether the console told.
func (b bouncerInfo) keepsPreparedStatements() (keeps, known bool) {
	if b.version == [2]int{} {
		return false, false
	}
	if b.version[0] == 1 && b.version[1] < 21 {
		return false, true
	}
	n, err := strconv.Atoi(b.config["max_prepared_statements"])
	if err != nil {
		return false, false
	}
	return n > 0, true
}

// bouncerWorkload is what every test through PgBouncer runs on a store
// opened through it: everyStatement, then the statements that take
// transaction-scoped state (StartFeed's SET LOCAL lock_timeout and LOCK
// TABLE, the feed's advisory locks), a fork, an info update, an owner's
// erasure, and 8 writers appending to one session at once.
func bouncerWorkload(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	everyStatement(t, s)
	if err := s.StartFeed(ctx); err != nil {
		t.Fatalf("StartFeed: %v", err)
	}
	sess, err := s.CreateWith(ctx, "p", session.CreateOptions{Owner: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, texts("p", 3)); err != nil {
		t.Fatal(err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("GetMessages: %d, %v", len(got), err)
	}
	if _, err := s.Fork(ctx, "p", got[1].ID, "f", session.CreateOptions{}); err != nil {
		t.Fatalf("Fork: %v", err)
	}
	title := "through PgBouncer"
	if err := s.UpdateInfo(ctx, "p", session.InfoUpdate{Title: &title}); err != nil {
		t.Fatalf("UpdateInfo: %v", err)
	}
	const writers, calls = 8, 5
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				if err := sess.AddMessages(ctx, texts(fmt.Sprintf("w%d-%d", w, c), 2)); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent appends: %v", err)
	}
	if info, err := s.Info(ctx, "p"); err != nil || info.MessageCount != 3+writers*calls*2 || info.Title != title {
		t.Errorf("after the writers: %+v, %v; want %d messages titled %q", info, err, 3+writers*calls*2, title)
	}
	if r, err := s.DeleteOwner(ctx, "acme"); err != nil || len(r.SessionIDs) != 2 {
		t.Errorf("DeleteOwner: %+v, %v; want p and its fork f", r, err)
	}
}

// TestPgBouncerTransactionMode opens a store for the first time (so the
// migrations run) through PgBouncer in transaction mode, in each pgx exec
// mode that sends each statement whole in one round trip, and runs
// bouncerWorkload. (cache_describe describes a statement in a round trip
// of its own once, and then sends it whole each time.)
func TestPgBouncerTransactionMode(t *testing.T) {
	u := pgbouncerURL(t)
	for _, mode := range []string{"exec", "cache_describe", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			bouncerWorkload(t, newStore(t, bouncerPool(t, u, mode, 8)))
		})
	}
}

// TestPgBouncerRefusesDescribeExec: pgx's describe_exec prepares the
// unnamed statement in one round trip and executes it in the next, which
// PgBouncer in transaction mode may send to another server connection
// (the conformance suite through it failed with "unnamed prepared
// statement does not exist" and "bind message supplies 9 parameters, but
// prepared statement "" requires 1", and a Load reported a stored session
// missing). SessionStore and Upgrade refuse such a pool before any SQL of
// theirs runs; on a direct connection describe_exec works
// (TestQueryExecModes).
func TestPgBouncerRefusesDescribeExec(t *testing.T) {
	pool := bouncerPool(t, pgbouncerURL(t), "describe_exec", 2)
	schema := newSchema(t, pool)
	_, err := Open(t.Context(), pool, WithSchema(schema))
	if !errors.Is(err, errDescribeExecPooled) {
		t.Fatalf("Open with describe_exec through PgBouncer: %v; want %v", err, errDescribeExecPooled)
	}
	t.Logf("as a user sees it: %v", err)
	if _, err := Upgrade(t.Context(), pool, WithSchema(schema)); !errors.Is(err, errDescribeExecPooled) {
		t.Errorf("Upgrade with describe_exec through PgBouncer: %v; want %v", err, errDescribeExecPooled)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused open left schema %s: %d, %v", schema, n, err)
	}
}

// TestPgBouncerSessionMode runs bouncerWorkload through PgBouncer in
// session mode with pgx's default exec mode (prepared statements, which
// session pooling keeps), from CONVO_TEST_PGBOUNCER_SESSION, and checks
// that a watch's LISTEN works there.
func TestPgBouncerSessionMode(t *testing.T) {
	u := envURL(t, "CONVO_TEST_PGBOUNCER_SESSION", "postgres://postgres@127.0.0.1:6432/test_session?sslmode=disable",
		"no PgBouncer in session mode configured; .ci/start-pgbouncer.sh serves one")
	s := newStore(t, bouncerPool(t, u, "", 8))
	bouncerWorkload(t, s)
	waitListening(t, s, s.pool, WithFeedPollInterval(time.Minute))
}

// TestPgBouncerPreparedStatements runs the store through PgBouncer in
// transaction mode with pgx's default exec mode (cache_statement: named
// prepared statements), from two pools as two processes would. A PgBouncer
// that does not keep prepared statements (before 1.21, or
// max_prepared_statements = 0) makes calls fail: each failure must say
// what to do (poolerHint). One that keeps them must make none fail.
func TestPgBouncerPreparedStatements(t *testing.T) {
	u := pgbouncerURL(t)
	info := readBouncer(t, u)
	setup := newStore(t, bouncerPool(t, u, "exec", 2))
	var failures int
	for round := range 10 {
		pool := bouncerPool(t, u, "", 1)
		ctx := t.Context()
		err := func() error {
			s, err := Open(ctx, pool, WithSchema(setup.Schema()))
			if err != nil {
				return err
			}
			sess, err := s.Open(ctx, "s")
			if err != nil {
				return err
			}
			if err := sess.AddMessages(ctx, texts(fmt.Sprintf("r%d", round), 2)); err != nil {
				return err
			}
			_, err = sess.GetMessages(ctx, session.Limit(2))
			return err
		}()
		pool.Close()
		if err == nil {
			continue
		}
		failures++
		var pe *pooledStatementError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "add default_query_exec_mode=exec to the database URL") {
			t.Errorf("round %d: %v; want the error to explain the pooler", round, err)
		} else if failures == 1 {
			t.Logf("as a user sees it: %v", err)
		}
	}
	t.Logf("%d of 10 rounds (each a new pool, as a new process) failed", failures)
	switch keeps, known := info.keepsPreparedStatements(); {
	case !known:
		t.Logf("the admin console did not tell whether PgBouncer keeps prepared statements")
	case keeps && failures > 0:
		t.Errorf("%d of 10 rounds failed although PgBouncer keeps prepared statements", failures)
	case !keeps && failures == 0:
		t.Errorf("no round failed although PgBouncer keeps no prepared statements: the test no longer shows what it is for")
	}
}

// TestPgBouncerUpgrade upgrades the tables of github.com/joakimcarlsson/ai
// through PgBouncer in transaction mode: the upgrade's temporary tables are
// ON COMMIT DROP, inside its one transaction.
func TestPgBouncerUpgrade(t *testing.T) {
	bu, err := url.Parse(pgbouncerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	dbURL := newDatabase(t)
	restore(t, dbURL, "upstream-postgres-schema.sql")
	du, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	bu.Path = du.Path // PgBouncer's "*" entry serves every database
	pool := bouncerPool(t, bu.String(), "exec", 4)
	ctx := t.Context()
	rep, err := Upgrade(ctx, pool, WithSchema("chat"))
	if err != nil || !rep.Upgraded || rep.Sessions != 4 || rep.Messages != 8 {
		t.Fatalf("Upgrade through PgBouncer: %+v, %v; want 4 sessions and 8 messages upgraded", rep, err)
	}
	st, err := Open(ctx, pool, WithSchema("chat"))
	if err != nil {
		t.Fatal(err)
	}
	if hits, err := st.Search(ctx, session.SearchQuery{Text: "Stockholm"}); err != nil || len(hits) == 0 {
		t.Errorf("search after upgrade: %+v, %v", hits, err)
	}
	// DROP DATABASE ... WITH (FORCE) at cleanup ends PgBouncer's server
	// connections to it; close ours first.
	pool.Close()
}

// waitListening opens a store on pool over the tables of s (with more
// options), starts a watch of every change from now on it, and waits
// until its listener has heard its probe and registered in feed_listeners.
// It returns the watch's changes.
func waitListening(t *testing.T, s *Store, pool *pgxpool.Pool, more ...Option) <-chan session.Change {
	t.Helper()
	w, err := Open(t.Context(), pool, append([]Option{WithSchema(s.Schema()), WithTablePrefix(s.Prefix())}, more...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	seq, err := w.Watch(ctx, session.WatchQuery{After: session.WatchFromNow})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan session.Change, 64)
	go func() {
		for c, err := range seq {
			if err != nil {
				return
			}
			got <- c
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := w.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+w.q.feedListeners).Scan(&n); err != nil {
			t.Fatal(err)
		}
		switch {
		case w.hub.deaf.Load():
			t.Fatalf("the watch's listener did not hear its own probe: %v", errListenUndelivered)
		case n > 0:
			return got
		case time.Now().After(deadline):
			t.Fatal("the watch's listener did not register within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenerHearsItsProbe: on a direct connection the listener hears
// its probe and registers, so writers notify.
func TestListenerHearsItsProbe(t *testing.T) {
	s := startFeed(t, newStore(t, nil))
	waitListening(t, s, s.pool, WithFeedPollInterval(time.Minute))
}

// TestPgBouncerWatch: a watch through PgBouncer in transaction mode cannot
// LISTEN (the notifications reach whichever client holds the server
// connection next, or none). Its listener finds that out with its probe,
// does not register (so writers do not notify for nothing), and the watch
// polls: it still delivers every change, in order. A watch on a direct
// connection, of the same tables that writers through PgBouncer append
// to, is woken by their NOTIFY (sent inside their transactions, which
// transaction pooling supports) long before its poll.
func TestPgBouncerWatch(t *testing.T) {
	u := pgbouncerURL(t)
	s := startFeed(t, newStore(t, bouncerPool(t, u, "exec", 4), WithFeedPollInterval(100*time.Millisecond)))
	s.listenProbeTimeout = time.Second // a direct connection hears it in milliseconds
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("through PgBouncer the watch polls", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		seq, err := s.Watch(wctx, session.WatchQuery{SessionID: "s", After: session.WatchFromNow})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan session.Change, 16)
		go func() {
			for c, err := range seq {
				if err != nil {
					return
				}
				got <- c
			}
		}()
		deadline := time.Now().Add(s.listenProbeTimeout + 10*time.Second)
		for !s.hub.deaf.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the listener did not find that notifications do not reach it")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.q.feedListeners).Scan(&n); err != nil || n != 0 {
			t.Errorf("feed_listeners holds %d rows, %v; want none: writers would NOTIFY for a listener that cannot hear", n, err)
		}
		for i := range 3 {
			if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprintf("polled %d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			select {
			case c := <-got:
				if want := fmt.Sprintf("polled %d", i); c.Kind != session.ChangeAppend || len(c.Messages) != 1 || c.Messages[0].Content() != want {
					t.Errorf("change %d: %+v; want the append of %q", i, c, want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("change %d not delivered within 30 s", i)
			}
		}
	})

	t.Run("a direct watch hears writers through PgBouncer", func(t *testing.T) {
		direct := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 2 })
		// The poll interval is a minute: only the NOTIFY can wake it sooner.
		got := waitListening(t, s, direct, WithFeedPollInterval(time.Minute))
		time.Sleep(notifyEvery) // the writer's store may have notified just now
		start := time.Now()
		if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("notified")}); err != nil {
			t.Fatal(err)
		}
		var c session.Change
		select {
		case c = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("the direct watch got nothing within 30 s")
		}
		if len(c.Messages) != 1 || c.Messages[0].Content() != "notified" {
			t.Errorf("change: %+v; want the append of \"notified\"", c)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("delivered after %v; the NOTIFY did not wake the watch", d)
		}
	})
}

// TestWithSchemaNeedsNoSearchPath runs bouncerWorkload with every
// connection's search_path empty: through PgBouncer in transaction mode a
// session-level SET by another client of the pool stays on the server
// connection and reaches the next client (SET is "Never" supported in
// transaction pooling, https://www.pgbouncer.org/features.html; a pg_dump
// file, which empties search_path for the session, did that to the tests
// once), and a
// store opened WithSchema must not depend on it. Plain PostgreSQL suffices.
func TestWithSchemaNeedsNoSearchPath(t *testing.T) {
	pool := newPool(t, func(c *pgxpool.Config) {
		c.MaxConns = 8
		c.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, `SELECT pg_catalog.set_config('search_path', '', false)`)
			return err
		}
	})
	bouncerWorkload(t, newStore(t, pool))
}

// TestSearchPathLostIsRefused: a URL that sets search_path, when the
// session has another (PgBouncer with search_path in its
// ignore_startup_parameters drops the parameter without a word: measured
// with 1.18.0, https://www.pgbouncer.org/config.html#ignore_startup_parameters),
// must not make a store without WithSchema create its tables elsewhere.
// Simulated on plain PostgreSQL: the pool sends search_path and each new
// connection sets it back to public, as the dropped parameter leaves it.
func TestSearchPathLostIsRefused(t *testing.T) {
	admin := testPool(t)
	schema := newSchema(t, admin)
	if _, err := admin.Exec(t.Context(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	lost := newPool(t, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["search_path"] = schema
		c.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, `SET search_path = public`)
			return err
		}
	})
	_, err := Open(t.Context(), lost, WithTablePrefix("lost_"))
	if !errors.Is(err, errSearchPathLost) {
		t.Fatalf("Open without WithSchema, search_path lost: %v; want %v", err, errSearchPathLost)
	}
	t.Logf("as a user sees it: %v", err)
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'lost\_%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused open made %d tables, %v", n, err)
	}
	if _, err := Open(t.Context(), lost, WithSchema(schema), WithTablePrefix("lost_")); err != nil {
		t.Errorf("Open WithSchema needs no search_path: %v", err)
	}
	kept := newPool(t, func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["search_path"] = " " + schema + " , public" })
	if _, err := Open(t.Context(), kept, WithTablePrefix("kept_")); err != nil {
		t.Fatalf("Open with the search_path the URL sets: %v", err)
	}
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'kept_sessions'`, schema).Scan(&n); err != nil || n != 1 {
		t.Errorf("kept_sessions in %s: %d, %v", schema, n, err)
	}
}
