package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
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
