package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/feedtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// firstChange returns the first pair seq yields, failing t after a minute
// (a watchdog: the change is expected within the poll interval).
func firstChange(t *testing.T, seq func(func(session.Change, error) bool)) session.Change {
	t.Helper()
	got := make(chan session.Change, 1)
	go func() {
		for c, err := range seq {
			if err != nil {
				t.Errorf("watch: %v", err)
			}
			got <- c
			return
		}
	}()
	select {
	case c := <-got:
		return c
	case <-time.After(time.Minute):
		t.Fatal("watchdog: no change within a minute")
	}
	return session.Change{}
}

// TestFeedAfterUpgradeFromVersion5 makes a schema of version 5 (before the
// feed) with a session in it, opens it with the current code (which adds
// version 6's tables), and checks that the feed starts empty and records
// the writes made from then on.
func TestFeedAfterUpgradeFromVersion5(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, pool)
	q, stmts := oldSchema(t, schema, 5)
	stmts = append(stmts,
		`INSERT INTO `+q.sessions+` (id, owner, created_at, updated_at, next_seq, message_count, incarnation) VALUES ('old', 'acme', 1, 1, 2, 1, 1)`,
		`INSERT INTO `+q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
			VALUES ('old', 1, 'm1', 'user', '[{"type":"text","text":"before"}]', 1, 'before'::tsvector)`,
	)
	for _, sql := range stmts {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	s, err := Open(ctx, pool, WithSchema(schema))
	if err != nil {
		t.Fatalf("open version 5: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
		t.Fatalf("schema version %d, %v; want %d", v, err, LatestSchemaVersion())
	}
	feed, err := s.Watch(ctx, session.WatchQuery{})
	if err != nil {
		t.Fatalf("Watch after upgrade: %v", err)
	}
	old, err := s.Load(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.AddMessages(ctx, []message.Message{message.NewUserMessage("after")}); err != nil {
		t.Fatal(err)
	}
	c := firstChange(t, feed)
	if c.Kind != session.ChangeAppend || c.SessionID != "old" || c.Owner != "acme" || len(c.Messages) != 1 || c.Messages[0].Content() != "after" {
		t.Errorf("first change after upgrade: %+v; want the append of \"after\" to old", c)
	}
}

// TestFeedWaitsForOlderTransactions holds a transaction open that records
// a change (so its xid is older than the append that commits meanwhile):
// the feed delivers neither until it commits, then both, in xid order.
// A feed ordered by a plain sequence number would deliver the append at
// once, move its cursor past the open transaction's row, and lose it.
func TestFeedWaitsForOlderTransactions(t *testing.T) {
	s := startFeed(t, newStore(t, testPool(t)))
	ctx := t.Context()
	if _, err := s.Create(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	sess, err := s.Create(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	seq, err := s.Watch(ctx, session.WatchQuery{After: session.WatchFromNow})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, s.q.lockSessionRow, "held"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, s.q.recordChange, "held", string(session.ChangeClear), int64(0), nil, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("later xid, committed first")}); err != nil {
		t.Fatal(err)
	}
	changes := make(chan session.Change, 2)
	go func() {
		n := 0
		for c, err := range seq {
			if err != nil {
				return
			}
			changes <- c
			if n++; n == 2 {
				return
			}
		}
	}()
	// Give a broken feed time to deliver the append early (the watch is
	// woken by its NOTIFY at once); nothing is asserted about time.
	time.Sleep(300 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		select {
		case c := <-changes:
			got = append(got, fmt.Sprintf("%s %s", c.Kind, c.SessionID))
		case <-time.After(time.Minute):
			t.Fatalf("watchdog: changes so far %q", got)
		}
	}
	if want := "clear held,append s1"; strings.Join(got, ",") != want {
		t.Errorf("feed delivered %q, want %q (xid order)", got, want)
	}
}

const feedChildEnv = "CONVO_TEST_PG_FEED_CHILD"

// TestFeedChild is the child process of TestFeedAcrossProcesses.
func TestFeedChild(t *testing.T) {
	role := os.Getenv(feedChildEnv)
	if role == "" {
		t.Skip("runs only as a child of TestFeedAcrossProcesses")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("CONVO_TEST_PG_FEED_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := Open(ctx, pool, WithSchema(os.Getenv("CONVO_TEST_PG_FEED_SCHEMA")))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(os.Getenv("CONVO_TEST_PG_FEED_N"))
	if err != nil {
		t.Fatal(err)
	}
	switch role {
	case "append":
		sess, err := s.Load(ctx, "feed")
		if err != nil {
			t.Fatal(err)
		}
		name := os.Getenv("CONVO_TEST_PG_FEED_NAME")
		for i := range n {
			time.Sleep(2 * time.Millisecond) // so that consumers follow live, too
			if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprintf("%s-%d", name, i))}); err != nil {
				t.Fatal(err)
			}
		}
	case "consume":
		seq, err := s.Watch(ctx, session.WatchQuery{SessionID: "feed", After: os.Getenv("CONVO_TEST_PG_FEED_AFTER")})
		if err != nil {
			t.Fatal(err)
		}
		if err := feedtest.Follow(os.Stdout, seq, n); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFeedAcrossProcesses is issue 15's test of the change feed on
// PostgreSQL: writer processes append to a session while consumer
// processes follow its feed, each stopping after a few messages and the
// next resuming from the cursor the last printed. Together they see every
// message exactly once, in each writer's order.
func TestFeedAcrossProcesses(t *testing.T) {
	if os.Getenv(feedChildEnv) != "" {
		t.Skip("already in a child process")
	}
	pool := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, pool)
	s, err := Open(ctx, pool, WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	startFeed(t, s)
	if _, err := s.Create(ctx, "feed"); err != nil {
		t.Fatal(err)
	}
	url := testURL(t)
	child := func(role string, env ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFeedChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), append(env, feedChildEnv+"="+role, "CONVO_TEST_PG_FEED_URL="+url, "CONVO_TEST_PG_FEED_SCHEMA="+schema)...)
		return cmd
	}
	const writers, perWriter, perConsumer = 2, 50, 20
	var wg sync.WaitGroup
	for w := range writers {
		cmd := child("append", fmt.Sprintf("CONVO_TEST_PG_FEED_NAME=w%d", w), fmt.Sprintf("CONVO_TEST_PG_FEED_N=%d", perWriter))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("writer w%d: %v\n%s", w, err, out)
			}
		}()
	}
	seen, cursor, runs := feedtest.Consume(t, writers*perWriter, perConsumer, func(after string, n int) ([]byte, error) {
		cmd := child("consume", "CONVO_TEST_PG_FEED_AFTER="+after, fmt.Sprintf("CONVO_TEST_PG_FEED_N=%d", n))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() }) // a consumer that misses a message waits forever
		defer timer.Stop()
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		return out, err
	})
	wg.Wait()
	feedtest.CheckOrder(t, seen, writers, perWriter)
	// Nothing is left over after the last cursor.
	seq, err := s.Watch(ctx, session.WatchQuery{SessionID: "feed", After: cursor})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Load(ctx, "feed")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("marker")}); err != nil {
		t.Fatal(err)
	}
	if c := firstChange(t, seq); c.Kind != session.ChangeAppend || len(c.Messages) != 1 || c.Messages[0].Content() != "marker" {
		t.Errorf("after the last consumer's cursor: %+v; want the marker's append", c)
	}
	t.Logf("%d writer processes, %d messages, %d consumer processes", writers, writers*perWriter, runs)
}

// BenchmarkAppendFeedCost appends 4-message turns to two stores, one whose
// appends record their change in the feed and one whose append statement
// has the record cut out, and reports the ratio of their times: what the
// feed costs an append. "sequential" alternates turn by turn; "8_writers"
// runs rounds of 8 concurrent writers on each store in turn. The
// "_watched" variants keep a watch running on the feed store, so that its
// writers also NOTIFY, which takes a lock at commit that every notifying
// transaction of the cluster shares, and the watch reads every change on
// the same machine; "8_writers_notifying" registers a listener that reads
// nothing, to tell the two costs apart.
func BenchmarkAppendFeedCost(b *testing.B) {
	with := benchStore(b, 16)
	without := benchStore(b, 16)
	cut := func(q string) string {
		i := strings.Index(q, "), rec AS (")
		j := strings.Index(q, "), ins AS (")
		if i < 0 || j < i {
			b.Fatal("appendFresh has no rec CTE to cut")
		}
		return q[:i] + q[j:]
	}
	without.q.appendFresh = cut(without.q.appendFresh)
	for n := 1; n < len(without.q.appendFreshRows); n++ {
		without.q.appendFreshRows[n] = cut(without.q.appendFreshRows[n])
	}
	ctx := context.Background()
	var ids atomic.Int64
	watched := func(b *testing.B) {
		wctx, cancel := context.WithCancel(ctx)
		seq, err := with.Watch(wctx, session.WatchQuery{After: session.WatchFromNow})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range seq {
			}
		}()
		b.Cleanup(func() { cancel(); <-done })
		time.Sleep(200 * time.Millisecond) // let the listener register
	}
	sequential := func(b *testing.B) {
		n := ids.Add(1)
		a, err := with.Create(ctx, fmt.Sprintf("bench-%d", n))
		if err != nil {
			b.Fatal(err)
		}
		c, err := without.Create(ctx, fmt.Sprintf("bench-%d", n))
		if err != nil {
			b.Fatal(err)
		}
		var withT, withoutT time.Duration
		b.ResetTimer()
		for i := range b.N {
			first, second := a, c
			if i%2 == 1 {
				first, second = c, a
			}
			t0 := time.Now()
			if err := first.AddMessages(ctx, benchTurn(2*i)); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := second.AddMessages(ctx, benchTurn(2*i+1)); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if first == a {
				withT, withoutT = withT+t1.Sub(t0), withoutT+t2.Sub(t1)
			} else {
				withT, withoutT = withT+t2.Sub(t1), withoutT+t1.Sub(t0)
			}
		}
		b.ReportMetric(float64(withoutT.Nanoseconds())/float64(b.N), "nofeed-ns/turn")
		b.ReportMetric(float64(withT.Nanoseconds())/float64(b.N), "feed-ns/turn")
		b.ReportMetric(float64(withT)/float64(withoutT), "feed-vs-nofeed")
	}
	concurrent := func(b *testing.B) {
		const writers, turns = 8, 20
		run := func(st *Store) time.Duration {
			n := ids.Add(1)
			var wg sync.WaitGroup
			t0 := time.Now()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sess, err := st.Create(ctx, fmt.Sprintf("w%d-%d", w, n))
					if err != nil {
						b.Error(err)
						return
					}
					for i := range turns {
						if err := sess.AddMessages(ctx, benchTurn(i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			return time.Since(t0)
		}
		rounds := max(1, b.N/(writers*turns))
		var withT, withoutT time.Duration
		b.ResetTimer()
		for r := range rounds {
			if r%2 == 0 {
				withT += run(with)
				withoutT += run(without)
			} else {
				withoutT += run(without)
				withT += run(with)
			}
		}
		b.ReportMetric(float64(withoutT.Nanoseconds())/float64(rounds*writers*turns), "nofeed-ns/turn")
		b.ReportMetric(float64(withT.Nanoseconds())/float64(rounds*writers*turns), "feed-ns/turn")
		b.ReportMetric(float64(withT)/float64(withoutT), "feed-vs-nofeed")
	}
	b.Run("sequential", sequential)
	b.Run("8_writers", concurrent)
	// A listener registered, but no watch reading: what NOTIFY costs the
	// writers, without a consumer's reads competing for the machine.
	b.Run("8_writers_notifying", func(b *testing.B) {
		if _, err := with.pool.Exec(ctx, with.q.feedListen, "bench", time.Hour.Nanoseconds()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { with.pool.Exec(ctx, with.q.feedUnlisten, "bench") })
		concurrent(b)
	})
	b.Run("sequential_watched", func(b *testing.B) { watched(b); sequential(b) })
	b.Run("8_writers_watched", func(b *testing.B) { watched(b); concurrent(b) })
}

// TestReadOnlyStoreWatches opens a read-only store beside a writable one:
// it cannot register as a listener, so writers do not notify it, and its
// watch finds their changes by polling; TrimFeed is refused.
func TestReadOnlyStoreWatches(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	w := startFeed(t, newStore(t, pool))
	ro, err := Open(ctx, pool, WithSchema(w.opts.schema), WithReadOnly(), WithFeedPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	seq, err := ro.Watch(ctx, session.WatchQuery{After: session.WatchFromNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if c := firstChange(t, seq); c.Kind != session.ChangeCreate || c.SessionID != "s1" {
		t.Errorf("read-only watch: %+v, want the create of s1", c)
	}
	if _, err := ro.TrimFeed(ctx, time.Now().UnixNano()); !errors.Is(err, session.ErrReadOnly) {
		t.Errorf("TrimFeed on a read-only store: %v, want session.ErrReadOnly", err)
	}
}

// TestUpdateInfoRecordsInItsStatement: UpdateInfo's change is recorded in
// the statement that updates the session, so a change that cannot be
// recorded (here a trigger refuses it) leaves the title as it was, and an
// update of a missing session records nothing.
func TestUpdateInfoRecordsInItsStatement(t *testing.T) {
	s := startFeed(t, newStore(t, testPool(t)))
	ctx := t.Context()
	if _, err := s.CreateWith(ctx, "s1", session.CreateOptions{Title: "old"}); err != nil {
		t.Fatal(err)
	}
	title := "new"
	if err := s.UpdateInfo(ctx, "nope", session.InfoUpdate{Title: &title}); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("UpdateInfo of a missing session: %v, want session.ErrNotFound", err)
	}
	schema := `"` + s.Schema() + `"`
	for _, sql := range []string{
		`CREATE FUNCTION ` + schema + `.refuse_info() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'no info changes'; END $$`,
		`CREATE TRIGGER refuse_info BEFORE INSERT ON ` + s.q.changes + ` FOR EACH ROW WHEN (NEW.kind = 'info') EXECUTE FUNCTION ` + schema + `.refuse_info()`,
	} {
		if _, err := s.pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &title}); err == nil {
		t.Error("UpdateInfo succeeded although its change could not be recorded")
	}
	if in, err := s.Info(ctx, "s1"); err != nil || in.Title != "old" {
		t.Errorf("after the failed UpdateInfo: title %q, %v; want \"old\" unchanged", in.Title, err)
	}
	if _, err := s.pool.Exec(ctx, `DROP TRIGGER refuse_info ON `+s.q.changes); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	if err := s.pool.QueryRow(ctx, `SELECT array_agg(kind || ' ' || session_id ORDER BY xid, id) FROM `+s.q.changes).Scan(&kinds); err != nil {
		t.Fatal(err)
	}
	if want := []string{"create s1", "info s1"}; !slices.Equal(kinds, want) {
		t.Errorf("the feed holds %q, want %q", kinds, want)
	}
}
