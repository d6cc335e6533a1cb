package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/convo-dev/convo/internal/feedtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// The change feed starts when it is first watched (schema version 8,
// migrations/0008_feed_starts_when_watched.sql; StartFeed).

// feedKinds returns the feed's changes as "kind session", in seq order,
// without TrimFeed's 'trimmed' marker rows.
func feedKinds(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT kind, session_id FROM changes WHERE kind <> 'trimmed' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, id string
		if err := rows.Scan(&kind, &id); err != nil {
			t.Fatal(err)
		}
		out = append(out, kind+" "+id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// everyWrite makes, through st, every kind of write that records a change,
// on sessions whose ids start with p, and returns the changes the feed
// records for them when it has started, as feedKinds gives them.
func everyWrite(t *testing.T, st *sqlite.Store, p string) []string {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a, err := st.CreateWith(ctx, p+"a", session.CreateOptions{Owner: p + "owner"})
	must(err)
	one, two := message.NewUserMessage("one"), message.NewAssistantMessage("two")
	must(a.AddMessages(ctx, []message.Message{one, two}))
	_, err = a.PopMessage(ctx)
	must(err)
	_, err = st.Fork(ctx, p+"a", one.ID, p+"fork", session.CreateOptions{Owner: p + "forks"})
	must(err)
	must(st.Quarantine(ctx, p+"a", one.ID, "test"))
	_, version, err := a.(session.Versioned).Snapshot(ctx, nil)
	must(err)
	_, err = a.(session.Rewriter).ReplaceMessages(ctx, version, []message.Message{message.NewUserMessage("three")})
	must(err)
	must(a.Clear(ctx))
	title := "title"
	must(st.UpdateInfo(ctx, p+"a", session.InfoUpdate{Title: &title}))
	must(st.SetUpdatedAt(ctx, p+"a", time.Now().UnixNano())) // records nothing
	_, err = st.Open(ctx, p+"b")
	must(err)
	must(st.Delete(ctx, p+"b"))
	_, err = st.DeleteOwner(ctx, p+"owner")
	must(err)
	_, err = st.Prune(ctx, session.PruneQuery{UpdatedBefore: time.Now().UnixNano() + 1, Owner: p + "forks"})
	must(err)
	return []string{"create " + p + "a", "append " + p + "a", "remove " + p + "a", "create " + p + "fork",
		"remove " + p + "a", "replace " + p + "a", "clear " + p + "a", "info " + p + "a", "create " + p + "b", "delete " + p + "b",
		"delete " + p + "a", "delete " + p + "fork"}
}

// TestFeedStartsDormant: a new database's writes, of every kind, record
// nothing until the first Watch, which starts the feed; from then on every
// write records, also through a store on another *sql.DB (another
// process) that had written while the feed was dormant, and a watch from
// the oldest change starts at the first change after the start. A
// read-only store cannot start a dormant feed and says so.
func TestFeedStartsDormant(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "convo.db")
	db := openFile(t, path)
	s, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(ctx, openFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	everyWrite(t, s, "d1-")
	everyWrite(t, other, "d2-")
	if got := feedKinds(t, db); len(got) != 0 {
		t.Fatalf("a dormant feed holds %q, want nothing", got)
	}
	ro, err := sqlite.Open(ctx, openFile(t, path), sqlite.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Watch(ctx, session.WatchQuery{}); !errors.Is(err, session.ErrReadOnly) {
		t.Errorf("Watch of a read-only store on a dormant feed: %v, want an error matching session.ErrReadOnly", err)
	}
	if err := ro.StartFeed(ctx); !errors.Is(err, session.ErrReadOnly) {
		t.Errorf("StartFeed of a read-only store on a dormant feed: %v, want an error matching session.ErrReadOnly", err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a watchdog
	defer cancel()
	seq, err := s.Watch(wctx, session.WatchQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := everyWrite(t, other, "o-")
	if got := feedKinds(t, db); !slices.Equal(got, want) {
		t.Errorf("the feed after the start holds %q, want %q (every write of the other store)", got, want)
	}
	for c, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind != session.ChangeCreate || c.SessionID != "o-a" {
			t.Errorf("first change from the oldest: %s %s, want the create of o-a", c.Kind, c.SessionID)
		}
		break
	}
	// A store opened since records too, and so does the one that started
	// the feed.
	late, err := sqlite.Open(ctx, openFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Create(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "starter"); err != nil {
		t.Fatal(err)
	}
	if got := feedKinds(t, db); len(got) < 2 || !slices.Equal(got[len(got)-2:], []string{"create late", "create starter"}) {
		t.Errorf("the feed holds %q, want it to end with the creates of late and starter", got)
	}
	if err := ro.StartFeed(ctx); err != nil {
		t.Errorf("StartFeed of a read-only store once the feed started: %v", err)
	}
	if _, err := ro.Watch(ctx, session.WatchQuery{After: session.WatchFromNow}); err != nil {
		t.Errorf("Watch of a read-only store once the feed started: %v", err)
	}
}

// TestStartFeedRacingWriters starts the feed while 4 writers, each on a
// *sql.DB of its own (as 4 processes), append as fast as they can
// (feedtest.StartRacingWriters): every append begun after StartFeed
// returned is in the feed, and each session's recorded appends are one
// unbroken run of versions up to the last.
func TestStartFeedRacingWriters(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "convo.db")
	s, err := sqlite.Open(ctx, openFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	var sessions []session.Session
	for w := range 4 {
		st, err := sqlite.Open(ctx, openFile(t, path))
		if err != nil {
			t.Fatal(err)
		}
		sess, err := st.Create(ctx, fmt.Sprintf("w%d", w))
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, sess)
	}
	feedtest.StartRacingWriters(t, s, sessions, s.StartFeed, 200*time.Millisecond)
}

// TestUpgradeKeepsAStartedFeed: a database upgraded from version 7 whose
// feed recorded changes, or discarded some (a 'trimmed' marker row, or a
// trimmed position), keeps recording, since a consumer may hold a cursor
// into it; one whose feed is empty and was never trimmed starts dormant.
func TestUpgradeKeepsAStartedFeed(t *testing.T) {
	for _, c := range []struct {
		name   string
		sql    string // run on the fixture of version 7 before the upgrade
		active bool
	}{
		{"with_changes", ``, true},
		{"empty", `DELETE FROM changes`, false},
		{"trimmed_marker", `DELETE FROM changes; INSERT INTO changes (seq, session_id, owner, incarnation, kind, version, first_seq, last_seq, at)
			VALUES (7, '', '', 0, 'trimmed', 0, 0, -1, 0)`, true},
		{"trimmed_to", `DELETE FROM changes; UPDATE feed_state SET trimmed_to = 7`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "v7.db")
			copyFile(t, filepath.Join("testdata", "schema-v7.db"), path)
			db := openFile(t, path)
			if c.sql != "" {
				if _, err := db.ExecContext(ctx, c.sql); err != nil {
					t.Fatal(err)
				}
			}
			st, err := sqlite.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			var active bool
			if err := db.QueryRowContext(ctx, `SELECT active FROM feed_state`).Scan(&active); err != nil {
				t.Fatal(err)
			}
			if active != c.active {
				t.Errorf("feed active %v after the upgrade, want %v", active, c.active)
			}
			before := len(feedKinds(t, db))
			if _, err := st.Create(ctx, "new"); err != nil {
				t.Fatal(err)
			}
			if got, want := len(feedKinds(t, db))-before, map[bool]int{true: 1, false: 0}[c.active]; got != want {
				t.Errorf("a create recorded %d changes, want %d", got, want)
			}
		})
	}
}
