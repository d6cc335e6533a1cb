package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/sqlite"
)

// concurrentTurns is how many turns each writer appends per round.
const concurrentTurns = 50

// rawConcurrentDSN is benchDSN with BEGIN IMMEDIATE, which the raw baseline
// needs to have no busy errors (the store takes the lock with its first
// statement instead).
func rawConcurrentDSN(path, sync string) string {
	return benchDSN(path, sync) + "&_txlock=immediate"
}

// rawTurnWriter appends a turn to session id with the driver alone: one
// transaction, a prepared INSERT per message and the session-row update
// (baseline c, the same work as the store).
func rawTurnWriter(db *sql.DB, id string) (func(rows []rawRow) error, func(), error) {
	ins, err := db.Prepare(`INSERT INTO messages (session_id, seq, id, role, parts, model, usage, created_at) VALUES (?, ?, ?, ?, ?, '', NULL, ?)`)
	if err != nil {
		return nil, nil, err
	}
	upd, err := db.Prepare(`UPDATE sessions SET updated_at = ?, version = version + 1, next_seq = next_seq + ?, message_count = message_count + ? WHERE id = ?`)
	if err != nil {
		return nil, nil, err
	}
	if _, err := db.Exec(`INSERT INTO sessions (id, created_at, updated_at, incarnation) VALUES (?, 0, 0, 1)`, id); err != nil {
		return nil, nil, err
	}
	seq := 0
	return func(rows []rawRow) error {
			tx, err := db.Begin()
			if err != nil {
				return err
			}
			for _, r := range rows {
				seq++
				if _, err := tx.Stmt(ins).Exec(id, seq, r.id, r.role, r.parts, r.created); err != nil {
					tx.Rollback()
					return err
				}
			}
			if _, err := tx.Stmt(upd).Exec(time.Now().UnixNano(), len(rows), len(rows), id); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}, func() {
			ins.Close()
			upd.Close()
		}, nil
}

// BenchmarkConcurrentWriters has 8 goroutines append turns, each to its own
// session, through one store, and the same with the driver alone (baseline
// c in each goroutine) on another file, alternately round by round. It
// reports both times per round, their ratio and the busy errors of each
// (target: the store at >= 0.9 of the raw throughput, no busy error).
func BenchmarkConcurrentWriters(b *testing.B) {
	const writers = 8
	for _, sync := range []string{"NORMAL", "FULL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			storeDB, err := sql.Open("sqlite", benchDSN(filepath.Join(dir, "store.db"), sync))
			if err != nil {
				b.Fatal(err)
			}
			defer storeDB.Close()
			st, err := sqlite.Open(ctx, storeDB)
			if err != nil {
				b.Fatal(err)
			}
			rawDB, err := sql.Open("sqlite", rawConcurrentDSN(filepath.Join(dir, "raw.db"), sync))
			if err != nil {
				b.Fatal(err)
			}
			defer rawDB.Close()
			if _, err := sqlite.SessionStore(ctx, rawDB, sqlite.WithFullTextSearch(false)); err != nil {
				b.Fatal(err)
			}
			var rawW []func([]rawRow) error
			var storeS []interface {
				AddMessages(context.Context, []message.Message) error
			}
			for w := range writers {
				fn, closeFn, err := rawTurnWriter(rawDB, fmt.Sprintf("w%d", w))
				if err != nil {
					b.Fatal(err)
				}
				defer closeFn()
				rawW = append(rawW, fn)
				s, err := st.Create(ctx, fmt.Sprintf("w%d", w))
				if err != nil {
					b.Fatal(err)
				}
				storeS = append(storeS, s)
			}
			var rawT, storeT time.Duration
			var rawBusy, storeBusy, turn atomic.Int64
			run := func(fn func(w, n int) error, busy *atomic.Int64) time.Duration {
				var wg syncWaitGroup
				t0 := time.Now()
				for w := range writers {
					wg.Go(func() {
						for range concurrentTurns {
							n := int(turn.Add(1))
							if err := fn(w, n); err != nil {
								if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
									busy.Add(1)
									continue
								}
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(t0)
			}
			b.ResetTimer()
			for range b.N {
				rawT += run(func(w, n int) error { return rawW[w](rawTurn(n)) }, &rawBusy)
				storeT += run(func(w, n int) error { return storeS[w].AddMessages(ctx, benchTurn(n)) }, &storeBusy)
			}
			b.StopTimer()
			msgs := float64(b.N * writers * concurrentTurns * 4)
			b.ReportMetric(float64(rawT.Nanoseconds())/msgs, "raw-ns/msg")
			b.ReportMetric(float64(storeT.Nanoseconds())/msgs, "store-ns/msg")
			b.ReportMetric(float64(rawT)/float64(storeT), "store-vs-raw")
			b.ReportMetric(float64(rawBusy.Load()), "raw-busy-errors")
			b.ReportMetric(float64(storeBusy.Load()), "store-busy-errors")
		})
	}
}

type syncWaitGroup = sync.WaitGroup

// benchChildEnv makes the test binary a writer process of
// BenchmarkProcesses: "store|raw,<dsn>,<session>,<turns>".
const benchChildEnv = "CONVO_BENCH_WRITER"

// TestBenchWriterChild is the writer process of BenchmarkProcesses; it
// does nothing unless started by it.
func TestBenchWriterChild(t *testing.T) {
	spec := os.Getenv(benchChildEnv)
	if spec == "" {
		t.Skip("runs only as a child of BenchmarkProcesses")
	}
	f := strings.Split(spec, ",")
	mode, dsn, id := f[0], f[1], f[2]
	turns, _ := strconv.Atoi(f[3])
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var write func(n int) error
	if mode == "raw" {
		fn, closeFn, err := rawTurnWriter(db, id)
		if err != nil {
			t.Fatal(err)
		}
		defer closeFn()
		write = func(n int) error { return fn(rawTurn(n)) }
	} else {
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		s, err := st.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		write = func(n int) error { return s.AddMessages(ctx, benchTurn(n)) }
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	in.Scan() // go
	busy := 0
	t0 := time.Now()
	for n := range turns {
		if err := write(n); err != nil {
			if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
				busy++
				continue
			}
			t.Fatal(err)
		}
	}
	fmt.Printf("done %d %d\n", time.Since(t0).Nanoseconds(), busy)
}

// BenchmarkProcesses has 4 processes append turns to one file, each to its
// own session, through the store, and the same with the driver alone
// (baseline c) on another file, alternately round by round. Each process
// opens its database, then all start at once; a round's time is the
// slowest process's. Reports both, their ratio and the busy errors.
func BenchmarkProcesses(b *testing.B) {
	const procs, turns = 4, 100
	for _, sync := range []string{"NORMAL", "FULL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			storeDSN := benchDSN(filepath.Join(dir, "store.db"), sync)
			rawDSN := rawConcurrentDSN(filepath.Join(dir, "raw.db"), sync)
			for _, dsn := range []string{storeDSN, rawDSN} {
				db, err := sql.Open("sqlite", dsn)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sqlite.SessionStore(ctx, db); err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
			var rawT, storeT time.Duration
			var rawBusy, storeBusy int
			round := 0
			run := func(mode, dsn string) (time.Duration, int) {
				round++
				type child struct {
					cmd *exec.Cmd
					in  *os.File
					out *bufio.Scanner
				}
				var cs []child
				for p := range procs {
					cmd := exec.Command(os.Args[0], "-test.run=^TestBenchWriterChild$", "-test.count=1", "-test.v=false")
					cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,r%d-p%d,%d", benchChildEnv, mode, dsn, round, p, turns))
					inR, inW, err := os.Pipe()
					if err != nil {
						b.Fatal(err)
					}
					cmd.Stdin = inR
					out, err := cmd.StdoutPipe()
					if err != nil {
						b.Fatal(err)
					}
					cmd.Stderr = os.Stderr
					if err := cmd.Start(); err != nil {
						b.Fatal(err)
					}
					inR.Close()
					sc := bufio.NewScanner(out)
					for sc.Scan() && sc.Text() != "ready" {
					}
					cs = append(cs, child{cmd, inW, sc})
				}
				for _, c := range cs {
					fmt.Fprintln(c.in, "go")
				}
				var slowest time.Duration
				busy := 0
				for _, c := range cs {
					for c.out.Scan() {
						var ns int64
						var bz int
						if _, err := fmt.Sscanf(c.out.Text(), "done %d %d", &ns, &bz); err == nil {
							slowest = max(slowest, time.Duration(ns))
							busy += bz
						}
					}
					c.in.Close()
					if err := c.cmd.Wait(); err != nil {
						b.Fatalf("writer process: %v", err)
					}
				}
				return slowest, busy
			}
			b.ResetTimer()
			for range b.N {
				t, bz := run("raw", rawDSN)
				rawT, rawBusy = rawT+t, rawBusy+bz
				t, bz = run("store", storeDSN)
				storeT, storeBusy = storeT+t, storeBusy+bz
			}
			b.StopTimer()
			msgs := float64(b.N * procs * turns * 4)
			b.ReportMetric(float64(rawT.Nanoseconds())/msgs, "raw-ns/msg")
			b.ReportMetric(float64(storeT.Nanoseconds())/msgs, "store-ns/msg")
			b.ReportMetric(float64(rawT)/float64(storeT), "store-vs-raw")
			b.ReportMetric(float64(rawBusy), "raw-busy-errors")
			b.ReportMetric(float64(storeBusy), "store-busy-errors")
		})
	}
}
