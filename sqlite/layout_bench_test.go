package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// BenchmarkAppendLayouts is the study behind docs/performance.md's "Why
// the store misses target (a)": it appends the same 4-message turns, with
// the driver alone and raw SQL, into candidate table layouts, and through
// the store itself, all interleaved turn by turn with the bare baseline
// (issue 11's a: one transaction, a prepared INSERT per message into a
// table with only a primary key). The order of the layouts rotates from
// turn to turn. For each layout it reports its throughput as a fraction
// of the bare baseline's ("-vs-bare": total times, checkpoints included;
// issue 11's target is >= 0.9), the same from median turn times
// ("-median-vs-bare": steadier on a loaded machine, checkpoints left out),
// and the WAL frames (pages) one turn writes, counted in a separate pass
// with checkpoints off ("-frames/turn"). Reproduce with
//
//	go test -run '^$' -bench AppendLayouts -benchtime 500x -count 5 ./sqlite
//
// The layouts, each with the statements the store runs on an append
// (one multi-row INSERT ... SELECT joined with the session row, the
// session row's UPDATE, the change feed's INSERT) unless named otherwise:
//
//   - v6: the store's schema version 6: messages in a rowid table with
//     UNIQUE (session_id, seq) and UNIQUE (session_id, id); sessions with
//     two updated_at indexes for listing by activity; the feed's table;
//   - v6-trigger: the same, the feed's row written by a trigger on the
//     session row's UPDATE (two statements from Go instead of three);
//   - v6-nofeed, v6-nolist: v6 without the feed's row, without the two
//     listing indexes;
//   - clustered: sessions keyed by an INTEGER key, messages clustered on
//     INTEGER PRIMARY KEY = key<<32 | seq (a session's rows in seq order;
//     last-N a range scan) with one secondary UNIQUE (session_key, id);
//   - clustered-nofeed, clustered-nolist-nofeed: the same without the
//     feed's row, and without the listing indexes as well;
//   - clustered-floor: the clustered messages table and its id index
//     alone, no session row, no feed: what any layout that keeps
//     idempotent retries (a unique message id per session) must write;
//   - without-rowid: messages WITHOUT ROWID keyed by (session_key, seq),
//     with UNIQUE (session_key, id);
//   - bare-multirow: the bare table, one 4-row INSERT per turn;
//   - store: Session.AddMessages on the store, default configuration.
func BenchmarkAppendLayouts(b *testing.B) {
	for _, sync := range []string{"NORMAL", "FULL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			ls := appendLayouts()
			turns := make([][]message.Message, b.N)
			raws := make([][]rawRow, b.N)
			for i := range b.N {
				turns[i], raws[i] = benchTurn(i), rawTurn(i)
			}
			appenders := make([]func(turn int) error, len(ls)+1)
			for i, l := range ls {
				appenders[i] = l.open(b, filepath.Join(dir, l.name+".db"), benchDSN(filepath.Join(dir, l.name+".db"), sync), raws)
			}
			storeDB, err := sql.Open("sqlite", benchDSN(filepath.Join(dir, "store.db"), sync))
			if err != nil {
				b.Fatal(err)
			}
			defer storeDB.Close()
			s := benchStoreSession(b, storeDB)
			appenders[len(ls)] = func(turn int) error { return s.AddMessages(ctx, turns[turn]) }
			times := make([][]time.Duration, len(appenders))
			b.ResetTimer()
			for i := range b.N {
				for k := range appenders {
					j := (k + i) % len(appenders)
					t0 := time.Now()
					if err := appenders[j](i); err != nil {
						b.Fatal(err)
					}
					times[j] = append(times[j], time.Since(t0))
				}
			}
			b.StopTimer()
			median := func(ts []time.Duration) float64 {
				ts = slices.Clone(ts)
				slices.Sort(ts)
				return float64(ts[len(ts)/2])
			}
			total := func(ts []time.Duration) float64 {
				var t time.Duration
				for _, d := range ts {
					t += d
				}
				return float64(t)
			}
			bare, bareTotal := median(times[0]), total(times[0])
			b.ReportMetric(bare, "bare-median-ns/turn")
			b.ReportMetric(bareTotal/float64(b.N), "bare-ns/turn")
			for j := 1; j < len(appenders); j++ {
				name := "store"
				if j < len(ls) {
					name = ls[j].name
				}
				b.ReportMetric(bareTotal/total(times[j]), name+"-vs-bare")
				b.ReportMetric(bare/median(times[j]), name+"-median-vs-bare")
			}
			// WAL frames per turn, in files of their own with
			// checkpoints off, so the WAL holds every frame written.
			const frameTurns = 200
			for _, l := range ls {
				path := filepath.Join(dir, "frames-"+l.name+".db")
				app := l.open(b, path, benchDSN(path, sync)+"&_pragma=wal_autocheckpoint(0)", raws)
				b.ReportMetric(walFrames(b, path, frameTurns, app), l.name+"-frames/turn")
			}
			path := filepath.Join(dir, "frames-store.db")
			db, err := sql.Open("sqlite", benchDSN(path, sync)+"&_pragma=wal_autocheckpoint(0)")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fs := benchStoreSession(b, db)
			b.ReportMetric(walFrames(b, path, frameTurns, func(turn int) error { return fs.AddMessages(ctx, turns[turn]) }), "store-frames/turn")
		})
	}
}

func benchStoreSession(b *testing.B, db *sql.DB) session.Session {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	s, err := st.Create(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// walFrames runs turns appends through app and returns the WAL frames each
// wrote on average (the WAL must not be checkpointed meanwhile).
func walFrames(b *testing.B, path string, turns int, app func(turn int) error) float64 {
	size := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for i := range min(turns, b.N) {
		if err := app(i); err != nil {
			b.Fatal(err)
		}
	}
	const frame = 4096 + 24 // the default page size plus a frame header
	return float64(size()-before) / frame / float64(min(turns, b.N))
}

// appendLayout is a table layout and the statements that append a turn to
// it, for BenchmarkAppendLayouts.
type appendLayout struct {
	name  string
	ddl   []string
	stmts []string
	// turn appends rows, the turn'th turn, in tx with the prepared stmts.
	turn func(tx *sql.Tx, stmts []*sql.Stmt, rows []rawRow, turn int) error
}

// open creates the layout in a new file and returns a function that
// appends turn i of raws in a transaction of its own.
func (l appendLayout) open(b *testing.B, path, dsn string, raws [][]rawRow) func(int) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for _, d := range l.ddl {
		if _, err := db.Exec(d); err != nil {
			b.Fatalf("%s: %v", l.name, err)
		}
	}
	var stmts []*sql.Stmt
	for _, q := range l.stmts {
		st, err := db.Prepare(q)
		if err != nil {
			b.Fatalf("%s: %v", l.name, err)
		}
		b.Cleanup(func() { st.Close() })
		stmts = append(stmts, st)
	}
	return func(i int) error {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		if err := l.turn(tx, stmts, raws[i], i); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", l.name, err)
		}
		return tx.Commit()
	}
}

// The schemas of BenchmarkAppendLayouts (sessions and messages as in
// migrations/0001_init.sql and 0004_forks.sql, the feed as in 0006).
const (
	layoutSessionCols = `owner TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '', metadata TEXT,
		created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0,
		next_seq INTEGER NOT NULL DEFAULT 1, message_count INTEGER NOT NULL DEFAULT 0, incarnation INTEGER NOT NULL,
		parent_id TEXT NOT NULL DEFAULT '', fork_message_id TEXT NOT NULL DEFAULT ''`
	layoutMessageCols = `id TEXT NOT NULL, role TEXT NOT NULL, parts TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',
		usage TEXT, created_at INTEGER NOT NULL`
	layoutV6 = `CREATE TABLE sessions (id TEXT NOT NULL PRIMARY KEY, ` + layoutSessionCols + `);
		CREATE TABLE messages (session_id TEXT NOT NULL, seq INTEGER NOT NULL, ` + layoutMessageCols + `,
			UNIQUE (session_id, seq), UNIQUE (session_id, id));
		INSERT INTO sessions (id, created_at, updated_at, incarnation) VALUES ('bench', 0, 0, 1)`
	layoutClustered = `CREATE TABLE sessions (key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ` + layoutSessionCols + `);
		CREATE TABLE messages (k INTEGER PRIMARY KEY, session_key INTEGER NOT NULL, ` + layoutMessageCols + `);
		CREATE UNIQUE INDEX messages_id ON messages (session_key, id);
		INSERT INTO sessions (key, id, created_at, updated_at, incarnation) VALUES (7, 'bench', 0, 0, 1)`
	layoutWithoutRowid = `CREATE TABLE sessions (key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ` + layoutSessionCols + `);
		CREATE TABLE messages (session_key INTEGER NOT NULL, seq INTEGER NOT NULL, ` + layoutMessageCols + `,
			PRIMARY KEY (session_key, seq)) WITHOUT ROWID;
		CREATE UNIQUE INDEX messages_id ON messages (session_key, id);
		INSERT INTO sessions (key, id, created_at, updated_at, incarnation) VALUES (7, 'bench', 0, 0, 1)`
	layoutListing = `CREATE INDEX sessions_updated ON sessions (updated_at DESC, id DESC);
		CREATE INDEX sessions_owner_updated ON sessions (owner, updated_at DESC, id DESC)`
	layoutFeed = `CREATE TABLE changes (seq INTEGER PRIMARY KEY, session_id TEXT NOT NULL, owner TEXT NOT NULL,
		incarnation INTEGER NOT NULL, kind TEXT NOT NULL, version INTEGER NOT NULL, first_seq INTEGER NOT NULL,
		last_seq INTEGER NOT NULL, removed TEXT, at INTEGER NOT NULL)`
	layoutBare = `CREATE TABLE messages (id TEXT NOT NULL PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
		parts TEXT NOT NULL, created_at INTEGER NOT NULL)`
)

// layoutValues is n rows of cols anonymous parameters.
func layoutValues(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// layoutAppend is how a layout with a session row appends: the store's
// statements, with the session found by keyCol = key.
func layoutAppend(name, schema, keyCol string, key any, listing, feed, byTrigger bool) appendLayout {
	ddl := []string{schema, layoutFeed}
	if listing {
		ddl = append(ddl, layoutListing)
	}
	var insert string
	switch schema {
	case layoutV6:
		insert = `INSERT OR IGNORE INTO messages (session_id, seq, id, role, parts, model, usage, created_at)
			SELECT s.id, s.next_seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7`
	case layoutClustered:
		insert = `INSERT OR IGNORE INTO messages (k, session_key, id, role, parts, model, usage, created_at)
			SELECT (s.key << 32) + s.next_seq + v.column1, s.key, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7`
	case layoutWithoutRowid:
		insert = `INSERT OR IGNORE INTO messages (session_key, seq, id, role, parts, model, usage, created_at)
			SELECT s.key, s.next_seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7`
	}
	insert += ` FROM (VALUES ` + layoutValues(4, 7) + `) AS v JOIN sessions AS s ON s.` + keyCol + ` = ? AND s.incarnation = ?`
	touch := `UPDATE sessions SET next_seq = next_seq + ?, version = version + ?, message_count = message_count + ?,
		updated_at = MAX(updated_at + 1, ?) WHERE ` + keyCol + ` = ? AND incarnation = ?`
	record := `INSERT INTO changes (session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at)
		SELECT id, owner, incarnation, ?1, version, next_seq - ?2, next_seq - 1, ?3, ?4 FROM sessions WHERE ` + keyCol + ` = ?5`
	if byTrigger {
		ddl = append(ddl, `CREATE TRIGGER sessions_feed AFTER UPDATE OF next_seq ON sessions BEGIN
			INSERT INTO changes (session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at)
			VALUES (new.id, new.owner, new.incarnation, 'append', new.version, old.next_seq, new.next_seq - 1, NULL, new.updated_at); END`)
	}
	return appendLayout{name: name, ddl: ddl, stmts: []string{insert, touch, record},
		turn: func(tx *sql.Tx, st []*sql.Stmt, rows []rawRow, _ int) error {
			args := make([]any, 0, 7*len(rows)+2)
			for i, r := range rows {
				args = append(args, int64(i), r.id, r.role, string(r.parts), "", nil, r.created)
			}
			res, err := tx.Stmt(st[0]).Exec(append(args, key, 1)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != int64(len(rows)) {
				return fmt.Errorf("inserted %d rows of %d (%v)", n, len(rows), err)
			}
			now := time.Now().UnixNano()
			if _, err := tx.Stmt(st[1]).Exec(len(rows), 1, len(rows), now, key, 1); err != nil {
				return err
			}
			if feed && !byTrigger {
				_, err = tx.Stmt(st[2]).Exec("append", len(rows), nil, now, key)
			}
			return err
		}}
}

func appendLayouts() []appendLayout {
	bare := appendLayout{name: "bare", ddl: []string{layoutBare},
		stmts: []string{`INSERT INTO messages (id, session_id, role, parts, created_at) VALUES (?, ?, ?, ?, ?)`},
		turn: func(tx *sql.Tx, st []*sql.Stmt, rows []rawRow, _ int) error {
			ins := tx.Stmt(st[0])
			for _, r := range rows {
				if _, err := ins.Exec(r.id, "bench", r.role, r.parts, r.created); err != nil {
					return err
				}
			}
			return nil
		}}
	return []appendLayout{
		bare,
		layoutAppend("v6", layoutV6, "id", "bench", true, true, false),
		layoutAppend("v6-trigger", layoutV6, "id", "bench", true, true, true),
		layoutAppend("v6-nofeed", layoutV6, "id", "bench", true, false, false),
		layoutAppend("v6-nolist", layoutV6, "id", "bench", false, true, false),
		layoutAppend("clustered", layoutClustered, "key", 7, true, true, false),
		layoutAppend("clustered-nofeed", layoutClustered, "key", 7, true, false, false),
		layoutAppend("clustered-nolist-nofeed", layoutClustered, "key", 7, false, false, false),
		{name: "clustered-floor", ddl: []string{layoutClustered},
			stmts: []string{`INSERT INTO messages (k, session_key, id, role, parts, model, usage, created_at) VALUES ` + layoutValues(4, 8)},
			turn: func(tx *sql.Tx, st []*sql.Stmt, rows []rawRow, turn int) error {
				args := make([]any, 0, 8*len(rows))
				for i, r := range rows {
					args = append(args, int64(7)<<32+int64(len(rows)*turn+i+1), 7, r.id, r.role, string(r.parts), "", nil, r.created)
				}
				_, err := tx.Stmt(st[0]).Exec(args...)
				return err
			}},
		layoutAppend("without-rowid", layoutWithoutRowid, "key", 7, true, true, false),
		{name: "bare-multirow", ddl: bare.ddl,
			stmts: []string{`INSERT INTO messages (id, session_id, role, parts, created_at) VALUES ` + layoutValues(4, 5)},
			turn: func(tx *sql.Tx, st []*sql.Stmt, rows []rawRow, _ int) error {
				args := make([]any, 0, 5*len(rows))
				for _, r := range rows {
					args = append(args, r.id, "bench", r.role, string(r.parts), r.created)
				}
				_, err := tx.Stmt(st[0]).Exec(args...)
				return err
			}},
	}
}

// BenchmarkEncodeTurn measures what an append of BenchmarkAppendTurn's
// 4-message turn spends in Go before any SQL: validating each message and
// encoding its parts as JSON, which the raw baselines are handed done.
func BenchmarkEncodeTurn(b *testing.B) {
	turn := benchTurn(1)
	for range b.N {
		for _, m := range turn {
			if err := m.Validate(); err != nil {
				b.Fatal(err)
			}
			if _, err := message.MarshalParts(m.Parts); err != nil {
				b.Fatal(err)
			}
		}
	}
}
