package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// BenchmarkFork measures what a fork costs in the SQLite store, which
// shares the parent's message bytes (schema version 7: each inherited
// message gets a row of its own without parts, referring to the row that
// holds them), for a parent of 1,000 and of 10,000 messages of about 1 KB
// (the turns of BenchmarkAppendTurn), forked at its last message. In the
// same loop, fork by fork:
//
//   - raw: a copy made with the driver alone, in one transaction (a
//     sessions row, then INSERT ... SELECT of the parent's rows, bytes
//     included): the floor of a copy made in the database, and what the
//     store's Fork did until schema version 7;
//   - read: GetMessages of the whole parent (what a reader of the session
//     pays anyway);
//   - read+append: a copy through Go, GetMessages then AddMessages into a
//     new session, what a caller without Fork would do;
//   - index: IndexSearch after the fork (the fork's rows enter the
//     full-text index at the next search, like appended ones);
//   - last 20: GetMessages(20) of the fork and of the parent, alternately
//     (a fork's reads take the parts from the rows it shares);
//   - delete: Delete of a session of n messages that has a fork (the raw
//     copy, forked outside the timing), whose rows hand their parts on to
//     the fork's, and Delete of one that has none (the read+append copy),
//     in alternating order.
//
// Reported: ms per operation of each, and fork/raw, fork/read,
// fork/read+append, last20 fork/parent and delete forked/unforked (under 1
// is faster). Forks are deleted after each iteration, outside the timings.
// Reproduce with
//
//	go test -run '^$' -bench Fork -benchtime 10x -count 3 ./sqlite
func BenchmarkFork(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db := openFile(b, filepath.Join(b.TempDir(), "fork.db"))
			// One connection for all: SQLite's page cache is per connection,
			// and a write by one empties the others', so with a pool the
			// baseline would read the parent cold and the store warm.
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`PRAGMA journal_mode=WAL`); err != nil {
				b.Fatal(err)
			}
			st, err := sqlite.Open(ctx, db)
			if err != nil {
				b.Fatal(err)
			}
			p, err := st.Create(ctx, "parent")
			if err != nil {
				b.Fatal(err)
			}
			for i := range n / 4 {
				if err := p.AddMessages(ctx, benchTurn(i)); err != nil {
					b.Fatal(err)
				}
			}
			msgs, err := p.GetMessages(ctx, session.Limit(1))
			if err != nil {
				b.Fatal(err)
			}
			last := msgs[0].ID
			if _, err := st.IndexSearch(ctx); err != nil {
				b.Fatal(err)
			}
			var forkT, rawT, readT, copyT, indexT, lastFT, lastPT, delFT, delT time.Duration
			b.ResetTimer()
			for i := range b.N {
				var fk session.Session
				var copied int64
				var all []message.Message
				fork := func() {
					var err error
					if fk, err = st.Fork(ctx, "parent", last, "fork", session.CreateOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				raw := func() {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := tx.Exec(`INSERT INTO sessions (id, created_at, updated_at, incarnation) VALUES ('raw', 1, 1, 1)`); err != nil {
						b.Fatal(err)
					}
					res, err := tx.Exec(`INSERT INTO messages (session_id, seq, id, role, parts, model, usage, created_at)
						SELECT 'raw', seq, id, role, parts, model, usage, created_at FROM messages WHERE session_id = 'parent' AND seq <= ? ORDER BY seq`, n)
					if err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
					copied, _ = res.RowsAffected()
				}
				// Fork and raw run in alternating order, so that neither
				// always pays for the other's checkpoint.
				first, second := fork, raw
				if i%2 == 1 {
					first, second = raw, fork
				}
				t0 := time.Now()
				first()
				t1 := time.Now()
				second()
				t2 := time.Now()
				if i%2 == 0 {
					forkT, rawT = forkT+t1.Sub(t0), rawT+t2.Sub(t1)
				} else {
					rawT, forkT = rawT+t1.Sub(t0), forkT+t2.Sub(t1)
				}
				t2 = time.Now()
				if _, err := st.IndexSearch(ctx); err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				all, err := p.GetMessages(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				cp, err := st.Create(ctx, "copy")
				if err != nil {
					b.Fatal(err)
				}
				if err := cp.AddMessages(ctx, all); err != nil {
					b.Fatal(err)
				}
				t5 := time.Now()
				for range 10 {
					t0 := time.Now()
					if m, err := fk.GetMessages(ctx, session.Limit(20)); err != nil || len(m) != 20 {
						b.Fatal(len(m), err)
					}
					t1 := time.Now()
					if m, err := p.GetMessages(ctx, session.Limit(20)); err != nil || len(m) != 20 {
						b.Fatal(len(m), err)
					}
					lastFT, lastPT = lastFT+t1.Sub(t0), lastPT+time.Since(t1)
				}
				b.StopTimer()
				if _, err := st.Fork(ctx, "raw", last, "rawfork", session.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				del := func(id string) time.Duration {
					t0 := time.Now()
					if err := st.Delete(ctx, id); err != nil {
						b.Fatal(err)
					}
					return time.Since(t0)
				}
				if i%2 == 0 {
					delFT += del("raw")
					delT += del("copy")
				} else {
					delT += del("copy")
					delFT += del("raw")
				}
				b.StopTimer()
				if copied != int64(n) || len(all) != n {
					b.Fatalf("iteration %d: raw copied %d rows, read %d messages; want %d", i, copied, len(all), n)
				}
				if got, err := fk.GetMessages(ctx, nil); err != nil || len(got) != n {
					b.Fatalf("iteration %d: fork holds %d messages, %v; want %d", i, len(got), err, n)
				}
				if got, err := st.Load(ctx, "rawfork"); err != nil {
					b.Fatal(err)
				} else if m, err := got.GetMessages(ctx, nil); err != nil || len(m) != n {
					b.Fatalf("iteration %d: the raw copy's fork holds %d messages after the copy was deleted, %v; want %d", i, len(m), err, n)
				}
				for _, id := range []string{"fork", "rawfork"} {
					if err := st.Delete(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				indexT += t3.Sub(t2)
				readT += t4.Sub(t3)
				copyT += t5.Sub(t3)
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(forkT), "fork-ms/op")
			b.ReportMetric(ms(rawT), "raw-ms/op")
			b.ReportMetric(ms(readT), "read-ms/op")
			b.ReportMetric(ms(copyT), "read+append-ms/op")
			b.ReportMetric(ms(indexT), "index-ms/op")
			b.ReportMetric(float64(forkT)/float64(rawT), "fork/raw")
			b.ReportMetric(float64(forkT)/float64(readT), "fork/read")
			b.ReportMetric(float64(forkT)/float64(copyT), "fork/read+append")
			b.ReportMetric(float64(lastFT.Microseconds())/10/float64(b.N), "fork-last20-us/op")
			b.ReportMetric(float64(lastFT)/float64(lastPT), "last20-fork/parent")
			b.ReportMetric(ms(delFT), "delete-forked-ms/op")
			b.ReportMetric(ms(delT), "delete-unforked-ms/op")
			b.ReportMetric(float64(delFT)/float64(delT), "delete-forked/unforked")
		})
	}
}
