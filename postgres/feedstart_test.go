package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/feedtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The change feed starts when it is first watched (schema version 9,
// migrations/0009_feed_starts_when_watched.sql; StartFeed).

// feedRows returns how many changes the feed table holds.
func feedRows(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+s.q.changes).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFeedStartsDormant: a new database's writes record nothing until the
// first Watch, which starts the feed; from then on every write records,
// and a watch from the oldest change starts at the first change after.
// A read-only store cannot start a dormant feed and says so.
func TestFeedStartsDormant(t *testing.T) {
	pool := testPool(t)
	s := newStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("before")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.PopMessage(ctx); err != nil {
		t.Fatal(err)
	}
	title := "dormant"
	if err := s.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUpdatedAt(ctx, "s1", time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	if n := feedRows(t, s); n != 0 {
		t.Fatalf("a dormant feed holds %d changes, want none", n)
	}
	ro, err := Open(ctx, pool, WithSchema(s.Schema()), WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Watch(ctx, session.WatchQuery{}); !errors.Is(err, session.ErrReadOnly) {
		t.Errorf("Watch of a read-only store on a dormant feed: %v, want an error matching session.ErrReadOnly", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seq, err := s.Watch(wctx, session.WatchQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.feedStarted.Load() {
		t.Error("Watch returned before the feed started")
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("after")}); err != nil {
		t.Fatal(err)
	}
	c := firstChange(t, seq)
	if c.Kind != session.ChangeAppend || len(c.Messages) != 1 || c.Messages[0].Content() != "after" || c.Version != 3 {
		t.Errorf("first change: %s v%d %v; want the append of \"after\" at version 3", c.Kind, c.Version, c.Messages)
	}
	// Another store on the same database (another process) records too,
	// without a watch of its own.
	other, err := Open(ctx, newPool(t, nil), WithSchema(s.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	title = "started"
	if err := other.UpdateInfo(ctx, "s2", session.InfoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if err := other.SetUpdatedAt(ctx, "s2", time.Now().UnixNano()); err != nil { // records nothing
		t.Fatal(err)
	}
	if n := feedRows(t, s); n != 3 {
		t.Errorf("the feed holds %d changes after the start, want 3 (the append, the other store's create and UpdateInfo)", n)
	}
	if _, err := ro.Watch(ctx, session.WatchQuery{After: session.WatchFromNow}); err != nil {
		t.Errorf("Watch of a read-only store once the feed started: %v", err)
	}
}

// TestStartFeedRacingWriters starts the feed while 8 writers, each on a
// pool of its own (as 8 processes), append as fast as they can
// (feedtest.StartRacingWriters): every append begun after StartFeed
// returned is in the feed, and each session's recorded appends are one
// unbroken run of versions up to the last.
func TestStartFeedRacingWriters(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	var sessions []session.Session
	for w := range 8 {
		st, err := Open(ctx, newPool(t, func(c *pgxpool.Config) { c.MaxConns = 1 }), WithSchema(s.Schema()))
		if err != nil {
			t.Fatal(err)
		}
		sess, err := st.Create(ctx, fmt.Sprintf("w%d", w))
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, sess)
	}
	feedtest.StartRacingWriters(t, s, sessions, s.StartFeed, 300*time.Millisecond)
}

// TestUpgradeKeepsAStartedFeed: a database upgraded from version 8 whose
// feed recorded changes keeps recording (a consumer may hold a cursor into
// it), and so does one that a watch of a version-8 process is listening
// to (registered in feed_listeners): that watch cannot start the feed, and
// would miss every write of this release's processes; one whose feed is
// empty, never trimmed and not listened to starts dormant.
func TestUpgradeKeepsAStartedFeed(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	for _, c := range []struct {
		name      string
		rows      bool
		listening bool
		active    bool
	}{{"with_changes", true, false, true}, {"empty_watched", false, true, true}, {"empty", false, false, false}} {
		t.Run(c.name, func(t *testing.T) {
			schema := newSchema(t, pool)
			q, stmts := oldSchema(t, schema, 8)
			if c.rows {
				stmts = append(stmts, `INSERT INTO `+q.changes+` (session_id, owner, incarnation, kind, version, first_seq, last_seq, at)
					VALUES ('gone', '', 1, 'create', 0, 1, 0, 1)`)
			}
			if c.listening {
				stmts = append(stmts, `INSERT INTO `+q.feedListeners+` (token, expires_at)
					VALUES ('v8-watch', (extract(epoch FROM now()) * 1000000000)::bigint + 30000000000)`)
			}
			for _, sql := range stmts {
				if _, err := pool.Exec(ctx, sql); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
			}
			s, err := Open(ctx, pool, WithSchema(schema))
			if err != nil {
				t.Fatal(err)
			}
			var active bool
			if err := pool.QueryRow(ctx, `SELECT active FROM `+s.q.feedState).Scan(&active); err != nil {
				t.Fatal(err)
			}
			if active != c.active {
				t.Errorf("feed active %v after the upgrade, want %v", active, c.active)
			}
			before := feedRows(t, s)
			if _, err := s.Create(ctx, "new"); err != nil {
				t.Fatal(err)
			}
			if got, want := feedRows(t, s)-before, map[bool]int{true: 1, false: 0}[c.active]; got != want {
				t.Errorf("a create recorded %d changes, want %d", got, want)
			}
		})
	}
}

// TestStartFeedWaitsForWriters: StartFeed does not return while a
// transaction that wrote sessions (a write that may have read the feed as
// dormant) is still open, so that no unrecorded change commits after it
// returns; it waits in rounds of lockTimeout, letting other writers
// through in between, and returns once that transaction ends.
func TestStartFeedWaitsForWriters(t *testing.T) {
	pool := testPool(t)
	s := newStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE `+s.q.sessions+` SET title = 'held' WHERE id = 'busy'`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.StartFeed(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("StartFeed returned (%v) while a transaction writing sessions was open", err)
	case <-time.After(3 * lockTimeout):
	}
	// Other sessions' writers get through between the rounds.
	other, err := s.Load(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*lockTimeout)
	defer cancel()
	if err := other.AddMessages(wctx, []message.Message{message.NewUserMessage("through")}); err != nil {
		t.Errorf("an append while StartFeed waited: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("StartFeed did not return after the transaction ended")
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("recorded")}); err != nil {
		t.Fatal(err)
	}
	if n := feedRows(t, s); n != 1 {
		t.Errorf("the feed holds %d changes after the start and one append, want 1", n)
	}
}

// TestStartFeedWithRepeatableReadWriters: a writer whose connections
// begin their transactions in REPEATABLE READ (default_transaction_isolation
// set on its pool) takes its snapshot when the statement is bound, before
// it locks sessions (postgres.c, exec_bind_message: the snapshot is pushed
// before GetCachedPlan takes the plan's locks; in REPEATABLE READ it is
// the transaction's snapshot for the whole statement), so an append that
// waits for StartFeed's SHARE lock reads the feed as dormant and commits,
// unrecorded, after the feed started. Here a transaction stands for
// StartFeed's own between its lock and its commit (the same statements):
// the writer, blocked behind it, must still record its change. (Such a
// store starts the feed when it is opened, startFeedUnlessReadCommitted;
// with READ COMMITTED instead this writer's snapshot is taken after the
// lock, and it records.)
func TestStartFeedWithRepeatableReadWriters(t *testing.T) {
	pool := testPool(t)
	s := newStore(t, pool)
	ctx := t.Context()
	if _, err := s.Create(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	rr, err := Open(ctx, newPool(t, func(c *pgxpool.Config) {
		c.MaxConns = 1
		c.ConnConfig.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	}), WithSchema(s.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	x, err := rr.Load(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	// The connection has prepared the append (a first use would prepare
	// it in a transaction of its own, waiting for the lock there).
	if err := x.AddMessages(ctx, []message.Message{message.NewUserMessage("early")}); err != nil {
		t.Fatal(err)
	}
	before := feedRows(t, s)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, sql := range []string{`LOCK TABLE ` + s.q.sessions + ` IN SHARE MODE`, s.q.startFeed} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- x.AddMessages(ctx, []message.Message{message.NewUserMessage("late")}) }()
	// Wait until the append waits for the lock (or has finished).
	for waiting := false; !waiting; {
		select {
		case err := <-done:
			done <- err
			waiting = true
			continue
		case <-time.After(5 * time.Millisecond):
		}
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE relation = $1::regclass AND mode = 'RowExclusiveLock' AND NOT granted)`, s.q.sessions).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil { // the feed has started
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := feedRows(t, s) - before; n != 1 {
		t.Errorf("the feed holds %d changes from an append that committed once the feed had started, want 1", n)
	}
}

// TestStartFeedGivesUp: while a transaction writing sessions stays open,
// StartFeed gives up after its patience, with an error saying why, and
// leaves the feed dormant; writers keep working meanwhile and after.
func TestStartFeedGivesUp(t *testing.T) {
	pool := testPool(t)
	s := newStore(t, pool)
	s.feedStartPatience = 2 * time.Second
	ctx := t.Context()
	sess, err := s.Create(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE `+s.q.sessions+` SET title = 'idle in transaction' WHERE id = 'busy'`); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = s.StartFeed(ctx)
	if err == nil || !strings.Contains(err.Error(), "stayed open") {
		t.Fatalf("StartFeed with a transaction left open: %v, want an error saying a transaction stayed open", err)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("StartFeed gave up after %v, want about its patience (2 s)", d)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if active, err := s.feedActive(ctx); err != nil || active {
		t.Errorf("feed active %v, %v after StartFeed gave up; want dormant", active, err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("after")}); err != nil {
		t.Fatal(err)
	}
	if err := s.StartFeed(ctx); err != nil {
		t.Fatalf("StartFeed once the transaction ended: %v", err)
	}
}
