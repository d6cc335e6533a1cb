package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestEveryWriteNotifies registers a listener, LISTENs on the feed's
// channel, and makes each kind of write in turn, waiting out the store's
// notifyEvery window before each: each write must send a notification.
// Since schema version 7 the writer sends the NOTIFY (before, a trigger on
// changes did): a write path that forgot to fails here. (Whether a watch
// then delivers the change is the business of the watch tests; here the
// channel is read directly, so no other test's open transaction, which
// holds back what a watch may deliver, can delay it.)
func TestEveryWriteNotifies(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	w := startFeed(t, newStore(t, pool))
	conn := listenFeed(t, w)
	if _, err := pool.Exec(ctx, w.q.feedListen, "test", time.Hour.Nanoseconds()); err != nil {
		t.Fatal(err)
	}
	wait := func(d time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_, err := conn.Conn().WaitForNotification(wctx)
		return err == nil
	}
	var s1 session.Session
	var kept []message.Message // s1's messages
	user := func(text string) message.Message { return message.NewUserMessage(text) }
	steps := []struct {
		name string
		do   func() error
	}{
		{"create", func() (err error) {
			s1, err = w.CreateWith(ctx, "s1", session.CreateOptions{Owner: "acme"})
			return err
		}},
		{"open", func() error { _, err := w.Open(ctx, "s2"); return err }},
		{"append", func() error {
			kept = []message.Message{user("a"), user("b")}
			return s1.AddMessages(ctx, kept)
		}},
		{"append after a stored id (the full statement)", func() error {
			m := user("c")
			kept = append(kept, m)
			return s1.AddMessages(ctx, []message.Message{kept[0], m})
		}},
		{"append in chunks (a transaction)", func() error {
			w.chunkRows = 2
			defer func() { w.chunkRows = defaultChunkRows }()
			return s1.AddMessages(ctx, []message.Message{user("d"), user("e"), user("f")})
		}},
		{"replace", func() error {
			_, v, err := s1.(session.Versioned).Snapshot(ctx, session.Limit(0))
			if err != nil {
				return err
			}
			kept = []message.Message{user("r1"), user("r2"), user("r3"), user("r4")}
			_, err = s1.(session.Rewriter).ReplaceMessages(ctx, v, kept)
			return err
		}},
		{"pop", func() error { _, err := s1.PopMessage(ctx); return err }},
		{"update info (session.ChangeInfo)", func() error {
			title := "renamed"
			return w.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &title})
		}},
		{"quarantine", func() error {
			return w.Quarantine(ctx, "s1", kept[2].ID, "test")
		}},
		{"fork", func() error {
			_, err := w.Fork(ctx, "s1", kept[0].ID, "s3", session.CreateOptions{})
			return err
		}},
		{"clear", func() error { return s1.Clear(ctx) }},
		{"delete", func() error { return w.Delete(ctx, "s2") }},
		{"delete owner", func() error {
			_, err := w.DeleteOwner(ctx, "acme") // s1 and its fork s3
			return err
		}},
		{"create for prune", func() error { _, err := w.Create(ctx, "s4"); return err }},
		{"prune", func() error {
			_, err := w.Prune(ctx, session.PruneQuery{UpdatedBefore: time.Now().Add(time.Hour).UnixNano()})
			return err
		}},
	}
	for _, st := range steps {
		time.Sleep(notifyEvery + 10*time.Millisecond)
		for wait(10 * time.Millisecond) { // a notification of the step before
		}
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !wait(10 * time.Second) {
			t.Errorf("%s: no notification within 10 s", st.name)
		}
	}
}

// listenFeed returns a connection of the pool that LISTENs on the feed's
// channel of s, released when t ends.
func listenFeed(t *testing.T, s *Store) *pgxpool.Conn {
	t.Helper()
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), `UNLISTEN *`)
		conn.Release()
	})
	var oid int64
	if err := conn.QueryRow(ctx, s.q.feedOid, s.q.changes).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`LISTEN "convo_feed_%d"`, oid)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestNoNotificationWithoutListener checks that a write sends no NOTIFY
// while no listener is registered: a LISTEN on the feed's channel from a
// plain connection (not registered in feed_listeners) hears nothing from
// an append, and hears the next append once a listener is registered.
func TestNoNotificationWithoutListener(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	s := startFeed(t, newStore(t, pool))
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	conn := listenFeed(t, s)
	heard := func() bool {
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		_, err := conn.Conn().WaitForNotification(wctx)
		return err == nil
	}
	time.Sleep(notifyEvery)
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("unheard")}); err != nil {
		t.Fatal(err)
	}
	if heard() {
		t.Error("an append notified while no listener was registered")
	}
	if _, err := pool.Exec(ctx, s.q.feedListen, "test", time.Minute.Nanoseconds()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(notifyEvery)
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("heard")}); err != nil {
		t.Fatal(err)
	}
	if !heard() {
		t.Error("an append did not notify a registered listener")
	}
}

// TestUpgradeFromVersion6DropsTheTrigger makes a schema of version 6 (the
// NOTIFY trigger on changes) with a session and a recorded change, opens
// it with the current code, and checks that the trigger and its function
// are gone, that the change recorded before is still delivered, and that
// an append made after the upgrade follows it.
func TestUpgradeFromVersion6DropsTheTrigger(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, pool)
	q, stmts := oldSchema(t, schema, 6)
	stmts = append(stmts,
		`INSERT INTO `+q.sessions+` (id, owner, created_at, updated_at, next_seq, message_count, incarnation) VALUES ('old', 'acme', 1, 1, 1, 0, 1)`,
		`INSERT INTO `+q.changes+` (session_id, owner, incarnation, kind, version, first_seq, last_seq, at) VALUES ('old', 'acme', 1, 'create', 0, 1, 0, 1)`,
	)
	for _, sql := range stmts {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	const triggers = `SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal`
	const functions = `SELECT count(*) FROM pg_proc WHERE proname = 'feed_notify' AND pronamespace = to_regnamespace($1)`
	count := func(sql, arg string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql, arg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n, f := count(triggers, q.changes), count(functions, `"`+schema+`"`); n != 1 || f != 1 {
		t.Fatalf("version 6 fixture: %d triggers, %d feed_notify functions; want 1 and 1", n, f)
	}
	s, err := Open(ctx, pool, WithSchema(schema))
	if err != nil {
		t.Fatalf("open version 6: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
		t.Fatalf("schema version %d, %v; want %d", v, err, LatestSchemaVersion())
	}
	if n, f := count(triggers, q.changes), count(functions, `"`+schema+`"`); n != 0 || f != 0 {
		t.Errorf("after the upgrade: %d triggers on changes, %d feed_notify functions; want none", n, f)
	}
	old, err := s.Load(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.AddMessages(ctx, []message.Message{message.NewUserMessage("after")}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a watchdog
	defer cancel()
	seq, err := s.Watch(wctx, session.WatchQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []session.ChangeKind
	for c, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.Kind)
		if len(got) == 2 {
			break
		}
	}
	if got[0] != session.ChangeCreate || got[1] != session.ChangeAppend {
		t.Errorf("feed after the upgrade: %v; want the create recorded at version 6, then the append", got)
	}
}
