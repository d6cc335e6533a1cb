package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// A viewer follows a session live: it starts a watch at the end of the
// feed, reads the history, and then shows each change as it is committed,
// here by another store on the same file (another process would do the
// same; its commits are found within the poll interval).
func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "convo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	open := func() *sqlite.Store {
		db, err := sql.Open("sqlite", filepath.Join(dir, "chat.db"))
		if err != nil {
			log.Fatal(err)
		}
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			log.Fatal(err)
		}
		return st
	}
	viewer, writer := open(), open()
	s, err := writer.Create(ctx, "user-123")
	if err != nil {
		log.Fatal(err)
	}
	if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("hello")}); err != nil {
		log.Fatal(err)
	}

	changes, err := viewer.Watch(ctx, session.WatchQuery{SessionID: "user-123", After: session.WatchFromNow})
	if err != nil {
		log.Fatal(err)
	}
	vs, err := viewer.Load(ctx, "user-123")
	if err != nil {
		log.Fatal(err)
	}
	history, version, err := vs.(session.Versioned).Snapshot(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("history:", len(history), "message(s) at version", version)

	go func() {
		if err := s.AddMessages(ctx, []message.Message{message.NewAssistantMessage("hi!")}); err != nil {
			log.Fatal(err)
		}
	}()
	for c, err := range changes {
		if err != nil {
			log.Fatal(err)
		}
		if c.Version <= version {
			continue // already in the history
		}
		fmt.Println(c.Kind, c.Messages[0].Role, c.Messages[0].Content())
		break
	}
	// Output:
	// history: 1 message(s) at version 1
	// append assistant hi!
}

// BenchmarkAppendFeedCost appends 4-message turns to two stores, one with
// the change feed's record and one without it (SetFeedRecording), turn by
// turn in one loop, and reports the ratio: what the feed costs an append.
// Reproduce with
//
//	go test -run '^$' -bench AppendFeedCost -benchtime 2000x -count 5 ./sqlite
func BenchmarkAppendFeedCost(b *testing.B) {
	for _, sync := range []string{"NORMAL", "FULL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			store := func(name string, feed bool) session.Session {
				db, err := sql.Open("sqlite", benchDSN(filepath.Join(dir, name), sync))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { db.Close() })
				st, err := sqlite.Open(ctx, db)
				if err != nil {
					b.Fatal(err)
				}
				sqlite.SetFeedRecording(st, feed)
				if feed {
					// A new database's feed is dormant until started.
					if err := st.StartFeed(ctx); err != nil {
						b.Fatal(err)
					}
				}
				s, err := st.Create(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				return s
			}
			with, without := store("feed.db", true), store("nofeed.db", false)
			turns := make([][]message.Message, 2*b.N)
			for i := range turns {
				turns[i] = benchTurn(i)
			}
			var withT, withoutT time.Duration
			b.ResetTimer()
			for i := range b.N {
				// Alternate which goes first, so that neither always
				// follows the other's fsync.
				a, c := with, without
				if i%2 == 1 {
					a, c = without, with
				}
				t0 := time.Now()
				if err := a.AddMessages(ctx, turns[2*i]); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := c.AddMessages(ctx, turns[2*i+1]); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				if a == with {
					withT, withoutT = withT+t1.Sub(t0), withoutT+t2.Sub(t1)
				} else {
					withT, withoutT = withT+t2.Sub(t1), withoutT+t1.Sub(t0)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(withoutT.Nanoseconds())/float64(b.N), "nofeed-ns/turn")
			b.ReportMetric(float64(withT.Nanoseconds())/float64(b.N), "feed-ns/turn")
			b.ReportMetric(float64(withT)/float64(withoutT), "feed-vs-nofeed")
		})
	}
}

// TestFeedNumberingSurvivesTrimAndUpgrade takes the version 5 fixture
// (whose changes table had AUTOINCREMENT), discards its whole feed as
// TrimFeed did then (sqlite_sequence kept the newest seq), and opens it
// with the current code: the changes made afterwards get seqs above every
// one handed out before, so a consumer's old cursor neither repeats nor
// misses anything; then the same after a TrimFeed of everything.
func TestFeedNumberingSurvivesTrimAndUpgrade(t *testing.T) {
	// A watchdog: a change that the watch skips would be waited for forever.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "v5.db")
	copyFile(t, filepath.Join("testdata", "schema-v5.db"), path)
	db := openFile(t, path)
	var head int64
	if err := db.QueryRow(`SELECT MAX(seq) FROM changes`).Scan(&head); err != nil || head < 2 {
		t.Fatalf("fixture's newest change: %d, %v", head, err)
	}
	cursor := strconv.FormatInt(head, 10) // a consumer that had read everything
	if _, err := db.Exec(`DELETE FROM changes; UPDATE feed_state SET trimmed_to = ?`, head); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(ctx, "user-123")
	if err != nil {
		t.Fatal(err)
	}
	for round, trim := range []bool{false, true} {
		if trim {
			if _, err := st.TrimFeed(ctx, math.MaxInt64); err != nil {
				t.Fatal(err)
			}
		}
		feed, err := st.Watch(ctx, session.WatchQuery{After: cursor})
		if err != nil {
			t.Fatalf("round %d: Watch(After: %s): %v", round, cursor, err)
		}
		text := fmt.Sprintf("after round %d", round)
		if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage(text)}); err != nil {
			t.Fatal(err)
		}
		for c, err := range feed {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			n, _ := strconv.ParseInt(c.Cursor, 10, 64)
			if c.Kind != session.ChangeAppend || len(c.Messages) != 1 || c.Messages[0].Content() != text || n <= head {
				t.Errorf("round %d: got %q change at %s with %d messages; want the append of %q above %d", round, c.Kind, c.Cursor, len(c.Messages), text, head)
			}
			cursor, head = c.Cursor, n
			break
		}
	}
}

// TestReadOnlyStoreWatches follows, from a read-only store on its own
// *sql.DB (so no in-process wake-up reaches it), what a writable store
// commits: the watch finds it by polling. TrimFeed is refused.
func TestReadOnlyStoreWatches(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "convo.db")
	w, err := sqlite.Open(ctx, openFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	ro, err := sqlite.Open(ctx, openFile(t, path), sqlite.WithReadOnly(), sqlite.WithFeedPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a watchdog
	defer cancel()
	// A read-only store cannot start the feed of a new database; the
	// writable one can.
	if _, err := ro.Watch(wctx, session.WatchQuery{After: session.WatchFromNow}); !errors.Is(err, session.ErrReadOnly) {
		t.Errorf("read-only watch of a dormant feed: %v, want session.ErrReadOnly", err)
	}
	if err := w.StartFeed(ctx); err != nil {
		t.Fatal(err)
	}
	seq, err := ro.Watch(wctx, session.WatchQuery{After: session.WatchFromNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	for c, err := range seq {
		if err != nil || c.Kind != session.ChangeCreate || c.SessionID != "s1" {
			t.Errorf("read-only watch: %+v, %v; want the create of s1", c, err)
		}
		break
	}
	if _, err := ro.TrimFeed(ctx, time.Now().UnixNano()); !errors.Is(err, session.ErrReadOnly) {
		t.Errorf("TrimFeed on a read-only store: %v, want session.ErrReadOnly", err)
	}
	// A poll interval that is not positive is refused before any I/O.
	if _, err := sqlite.Open(ctx, openFile(t, path), sqlite.WithFeedPollInterval(0)); err == nil {
		t.Error("WithFeedPollInterval(0) was accepted")
	}
}

// TestUpdateInfoRecordsInItsTransaction: UpdateInfo's change is recorded
// in the transaction that updates the session, so a change that cannot be
// recorded (here a trigger refuses it) leaves the title as it was, and an
// update of a missing session records nothing.
func TestUpdateInfoRecordsInItsTransaction(t *testing.T) {
	ctx := t.Context()
	db := openFile(t, filepath.Join(t.TempDir(), "convo.db"))
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.StartFeed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateWith(ctx, "s1", session.CreateOptions{Title: "old"}); err != nil {
		t.Fatal(err)
	}
	title := "new"
	if err := st.UpdateInfo(ctx, "nope", session.InfoUpdate{Title: &title}); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("UpdateInfo of a missing session: %v, want session.ErrNotFound", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER refuse_info BEFORE INSERT ON changes WHEN NEW.kind = 'info'
		BEGIN SELECT RAISE(ABORT, 'no info changes'); END`); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &title}); err == nil {
		t.Error("UpdateInfo succeeded although its change could not be recorded")
	}
	if in, err := st.Info(ctx, "s1"); err != nil || in.Title != "old" {
		t.Errorf("after the failed UpdateInfo: title %q, %v; want \"old\" unchanged", in.Title, err)
	}
	if _, err := db.ExecContext(ctx, `DROP TRIGGER refuse_info`); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateInfo(ctx, "s1", session.InfoUpdate{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if got, want := feedKinds(t, db), []string{"create s1", "info s1"}; !slices.Equal(got, want) {
		t.Errorf("the feed holds %q, want %q", got, want)
	}
}
