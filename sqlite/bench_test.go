package sqlite_test

// Benchmarks of the store against a raw-driver baseline measured in the same
// run, interleaved operation by operation so that the machine's noise hits
// both alike. Each reports ns per operation for the baseline and the store
// and their ratio as custom metrics. Reproduce with
//
//	go test -run '^$' -bench . -benchtime 2000x -count 5 ./sqlite
//
// See docs/performance.md for the figures and the settings.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// benchDSN is a file DSN for modernc with WAL and the given synchronous
// level, as docs/performance.md recommends.
func benchDSN(path, sync string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")&_pragma=busy_timeout(10000)"
}

// benchTurn returns a 4-message turn of about 1 KB per message.
func benchTurn(n int) []message.Message {
	text := func(i int) string {
		return fmt.Sprintf("turn %d message %d: ", n, i) + strings.Repeat("lorem ipsum dolor sit amet ", 36)
	}
	call := fmt.Sprintf("call_%d", n)
	return []message.Message{
		message.NewUserMessage(text(0)),
		message.NewMessage(message.RoleAssistant, message.ToolCall{ID: call, Name: "search", Input: json.RawMessage(`{"query":"` + text(1) + `"}`)}),
		message.NewMessage(message.RoleTool, message.ToolResult{CallID: call, Name: "search", Content: text(2)}),
		message.NewAssistantMessage(text(3)),
	}
}

type rawRow struct {
	id, role string
	parts    []byte
	created  int64
}

// rawTurn is benchTurn's rows with parts already encoded: the baseline does
// not pay for encoding, the store does.
func rawTurn(n int) []rawRow {
	msgs := benchTurn(n)
	rows := make([]rawRow, len(msgs))
	for i, m := range msgs {
		p, err := message.MarshalParts(m.Parts)
		if err != nil {
			panic(err)
		}
		rows[i] = rawRow{id: m.ID, role: string(m.Role), parts: p, created: m.CreatedAt}
	}
	return rows
}

// BenchmarkAppendTurn appends 4-message turns through the store (its
// default configuration: full-text search on) and, in the same loop, turn
// by turn, with the driver alone into four more files:
//
//   - bare: one transaction, a prepared INSERT per message into a table
//     with only a primary key (issue 11's baseline a; target: the store at
//     >= 0.9 of its throughput, "store-vs-bare");
//   - autocommit: one autocommit INSERT per message into the same kind of
//     table, the pattern of the session stores convo replaces (baseline b;
//     target: >= 2x, "store-vs-autocommit");
//   - raw+session: one transaction, a prepared INSERT per message into
//     the store's own tables, plus the one UPDATE of the session row that
//     the store makes so that sessions can be listed by activity and
//     written with optimistic concurrency (baseline c, "store-vs-raw+session");
//   - raw+session+v1-triggers: the same with the full-text index of schema
//     version 1, an FTS5 table kept by a trigger on every insert (what
//     search cost on every append until version 3).
//
// After the loop it indexes everything the store appended (IndexSearch, as
// a later search would) and reports that cost per message beside the v1
// triggers' cost per message, and the amortised cost of an append plus its
// indexing.
func BenchmarkAppendTurn(b *testing.B) {
	for _, sync := range []string{"NORMAL", "FULL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			open := func(name string) *sql.DB {
				db, err := sql.Open("sqlite", benchDSN(filepath.Join(dir, name), sync))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { db.Close() })
				return db
			}
			withTables := func(name string) *sql.DB {
				db := open(name)
				// The store creates the tables, the same in every file.
				if _, err := sqlite.SessionStore(ctx, db, sqlite.WithFullTextSearch(false)); err != nil {
					b.Fatal(err)
				}
				return db
			}
			storeDB := open("store.db")
			st, err := sqlite.Open(ctx, storeDB)
			if err != nil {
				b.Fatal(err)
			}
			s, err := st.Create(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			bare := newBareAppender(b, open("bare.db"), true)
			auto := newBareAppender(b, open("autocommit.db"), false)
			touch := newRawAppender(b, withTables("touch.db"), true)
			v1DB := withTables("v1.db")
			addV1Triggers(b, v1DB)
			v1 := newRawAppender(b, v1DB, true)
			turns := make([][]message.Message, b.N)
			raws := make([][]rawRow, b.N)
			for i := range b.N {
				turns[i], raws[i] = benchTurn(i), rawTurn(i)
			}
			var bareT, autoT, touchT, v1T, storeT time.Duration
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				bare.append(raws[i])
				t1 := time.Now()
				auto.append(raws[i])
				t2 := time.Now()
				touch.append(raws[i])
				t3 := time.Now()
				v1.append(raws[i])
				t4 := time.Now()
				if err := s.AddMessages(ctx, turns[i]); err != nil {
					b.Fatal(err)
				}
				t5 := time.Now()
				bareT += t1.Sub(t0)
				autoT += t2.Sub(t1)
				touchT += t3.Sub(t2)
				v1T += t4.Sub(t3)
				storeT += t5.Sub(t4)
			}
			b.StopTimer()
			t0 := time.Now()
			n, err := st.IndexSearch(ctx)
			if err != nil || n != 4*b.N {
				b.Fatalf("IndexSearch = %d, %v; want %d", n, err, 4*b.N)
			}
			indexT := time.Since(t0)
			perTurn := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
			b.ReportMetric(perTurn(bareT), "bare-ns/turn")
			b.ReportMetric(perTurn(autoT), "autocommit-ns/turn")
			b.ReportMetric(perTurn(touchT), "raw+session-ns/turn")
			b.ReportMetric(perTurn(v1T), "v1-triggers-ns/turn")
			b.ReportMetric(perTurn(storeT), "store-ns/turn")
			b.ReportMetric(float64(bareT)/float64(storeT), "store-vs-bare")
			b.ReportMetric(float64(autoT)/float64(storeT), "store-vs-autocommit")
			b.ReportMetric(float64(touchT)/float64(storeT), "store-vs-raw+session")
			// The baselines against each other: target b (2x autocommit)
			// asks the store to run at 2/bare-vs-autocommit of bare, which
			// is more than bare itself wherever bare-vs-autocommit < 2.
			b.ReportMetric(float64(autoT)/float64(bareT), "bare-vs-autocommit")
			// Per message: the index's cost (batched, later) and the v1
			// triggers' (on every append).
			b.ReportMetric(float64(indexT.Nanoseconds())/float64(4*b.N), "index-ns/msg")
			b.ReportMetric(float64((v1T-touchT).Nanoseconds())/float64(4*b.N), "v1-trigger-ns/msg")
			b.ReportMetric(float64((storeT+indexT).Nanoseconds())/float64(4*b.N), "store+index-ns/msg")
			b.ReportMetric(float64(v1T.Nanoseconds())/float64(4*b.N), "raw+v1-triggers-ns/msg")
		})
	}
}

// bareAppender inserts turns into a table with only a primary key: in one
// transaction with a prepared INSERT per message (tx), or with one
// autocommit INSERT per message.
type bareAppender struct {
	b   *testing.B
	db  *sql.DB
	ins *sql.Stmt
	tx  bool
}

func newBareAppender(b *testing.B, db *sql.DB, tx bool) *bareAppender {
	if _, err := db.Exec(`CREATE TABLE messages (id TEXT NOT NULL PRIMARY KEY, session_id TEXT NOT NULL,
		role TEXT NOT NULL, parts TEXT NOT NULL, created_at INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	ins, err := db.Prepare(`INSERT INTO messages (id, session_id, role, parts, created_at) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ins.Close() })
	return &bareAppender{b: b, db: db, ins: ins, tx: tx}
}

func (a *bareAppender) append(rows []rawRow) {
	if !a.tx {
		for _, r := range rows {
			if _, err := a.db.Exec(`INSERT INTO messages (id, session_id, role, parts, created_at) VALUES (?, ?, ?, ?, ?)`,
				r.id, "bench", r.role, r.parts, r.created); err != nil {
				a.b.Fatal(err)
			}
		}
		return
	}
	tx, err := a.db.Begin()
	if err != nil {
		a.b.Fatal(err)
	}
	ins := tx.Stmt(a.ins)
	for _, r := range rows {
		if _, err := ins.Exec(r.id, "bench", r.role, r.parts, r.created); err != nil {
			a.b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		a.b.Fatal(err)
	}
}

// addV1Triggers adds schema version 1's full-text index to db: an FTS5
// table and the trigger that filled it on every insert, extracting the text
// with json_each (copied from the release that had them).
func addV1Triggers(b *testing.B, db *sql.DB) {
	const textOf = `CASE WHEN json_valid(new.parts) THEN (SELECT group_concat(COALESCE(json_extract(j.value, '$.text'), json_extract(j.value, '$.content'), ''), char(10))
	FROM json_each(new.parts) AS j WHERE json_extract(j.value, '$.type') IN ('text', 'reasoning', 'tool_result')) ELSE '' END`
	for _, q := range []string{
		`CREATE VIRTUAL TABLE messages_fts USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')`,
		`CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
			INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, ` + textOf + `); END`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
}

// rawAppender appends turns with the driver alone.
type rawAppender struct {
	b           *testing.B
	db          *sql.DB
	ins, update *sql.Stmt
	seq         int
}

func newRawAppender(b *testing.B, db *sql.DB, touchSession bool) *rawAppender {
	if _, err := db.Exec(`INSERT INTO sessions (id, created_at, updated_at, incarnation) VALUES ('bench', 0, 0, 1)`); err != nil {
		b.Fatal(err)
	}
	a := &rawAppender{b: b, db: db}
	var err error
	a.ins, err = db.Prepare(`INSERT INTO messages (session_id, seq, id, role, parts, model, usage, created_at) VALUES (?, ?, ?, ?, ?, '', NULL, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.ins.Close() })
	if touchSession {
		a.update, err = db.Prepare(`UPDATE sessions SET updated_at = ?, version = version + 1, next_seq = next_seq + ?,
			message_count = message_count + ? WHERE id = ?`)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.update.Close() })
	}
	return a
}

func (a *rawAppender) append(rows []rawRow) {
	tx, err := a.db.Begin()
	if err != nil {
		a.b.Fatal(err)
	}
	ins := tx.Stmt(a.ins)
	for _, r := range rows {
		a.seq++
		if _, err := ins.Exec("bench", a.seq, r.id, r.role, r.parts, r.created); err != nil {
			a.b.Fatal(err)
		}
	}
	if a.update != nil {
		if _, err := tx.Stmt(a.update).Exec(time.Now().UnixNano(), len(rows), len(rows), "bench"); err != nil {
			a.b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		a.b.Fatal(err)
	}
}

// reportPair reports the mean time per operation of the baseline and the
// store, and the store's throughput as a fraction of the baseline's.
func reportPair(b *testing.B, raw, store time.Duration) {
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(store.Nanoseconds())/float64(b.N), "store-ns/op")
	b.ReportMetric(float64(raw)/float64(store), "throughput-vs-raw")
}

// readFixture is a database with one 100,000-message session, one
// 1,000-message session and 100 sessions of 100 messages, their rows
// interleaved in the file as real traffic leaves them.
type readFixture struct {
	db *sql.DB
	st session.Store
}

func newReadFixture(b *testing.B) *readFixture {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "read.db")
	db, err := sql.Open("sqlite", benchDSN(path, "NORMAL"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	st, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	big, err := st.Create(ctx, "big")
	if err != nil {
		b.Fatal(err)
	}
	mid, err := st.Create(ctx, "mid")
	if err != nil {
		b.Fatal(err)
	}
	small := make([]session.Session, 100)
	for i := range small {
		if small[i], err = st.Create(ctx, fmt.Sprintf("small-%03d", i)); err != nil {
			b.Fatal(err)
		}
	}
	// 25 rounds: each adds 4,000 messages to big, 40 to mid and 4 to each
	// small session.
	for round := range 25 {
		var batch []message.Message
		for t := range 1000 {
			batch = append(batch, benchTurn(round*1000+t)...)
		}
		if err := big.AddMessages(ctx, batch); err != nil {
			b.Fatal(err)
		}
		var midBatch []message.Message
		for t := range 10 {
			midBatch = append(midBatch, benchTurn(t)...)
		}
		if err := mid.AddMessages(ctx, midBatch); err != nil {
			b.Fatal(err)
		}
		for _, s := range small {
			if err := s.AddMessages(ctx, benchTurn(round)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := db.Exec(`ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	return &readFixture{db: db, st: st}
}

// BenchmarkLastN reads the last 20 messages of the 100,000-message session
// and of a random 100-message session, alternately; the ratio is how much
// longer the long session takes (1.0 = flat in session length).
func BenchmarkLastN(b *testing.B) {
	f := newReadFixture(b)
	ctx := context.Background()
	big, err := f.st.Load(ctx, "big")
	if err != nil {
		b.Fatal(err)
	}
	small := make([]session.Session, 100)
	for i := range small {
		if small[i], err = f.st.Load(ctx, fmt.Sprintf("small-%03d", i)); err != nil {
			b.Fatal(err)
		}
	}
	limit := session.Limit(20)
	q, err := f.db.Prepare(`SELECT seq, id, role, parts, model, created_at FROM messages WHERE session_id = ? ORDER BY seq DESC LIMIT 20`)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	var bigT, smallT, rawT time.Duration
	b.ResetTimer()
	for range b.N {
		s := small[rand.IntN(len(small))]
		tr := time.Now()
		if n := rawRead(b, q, "big"); n != 20 {
			b.Fatal(n)
		}
		rawT += time.Since(tr)
		t0 := time.Now()
		msgs, err := s.GetMessages(ctx, limit)
		if err != nil || len(msgs) != 20 {
			b.Fatal(len(msgs), err)
		}
		t1 := time.Now()
		msgs, err = big.GetMessages(ctx, limit)
		if err != nil || len(msgs) != 20 {
			b.Fatal(len(msgs), err)
		}
		t2 := time.Now()
		smallT += t1.Sub(t0)
		bigT += t2.Sub(t1)
	}
	b.StopTimer()
	b.ReportMetric(float64(smallT.Nanoseconds())/float64(b.N), "last20-of-100-ns/op")
	b.ReportMetric(float64(bigT.Nanoseconds())/float64(b.N), "last20-of-100k-ns/op")
	b.ReportMetric(float64(bigT)/float64(smallT), "100k-vs-100")
	b.ReportMetric(float64(rawT.Nanoseconds())/float64(b.N), "raw-last20-of-100k-ns/op")
}

// rawRead runs q (a prepared SELECT of seq, id, role, parts, model,
// created_at) for session id and decodes each row's parts with
// encoding/json, as an application reading the table itself would.
func rawRead(b *testing.B, q *sql.Stmt, id string) int {
	rows, err := q.Query(id)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []rawMessage
	for rows.Next() {
		var m rawMessage
		var parts []byte
		if err := rows.Scan(&m.seq, &m.id, &m.role, &parts, &m.model, &m.createdAt); err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(parts, &m.parts); err != nil {
			b.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return len(out)
}

// rawPart is what an application reading the rows itself would decode the
// parts into: the same fields, no interface values.
type rawPart struct {
	Type    string `json:"type"`
	Text    string `json:"text,omitempty"`
	ID      string `json:"id,omitempty"`
	CallID  string `json:"call_id,omitempty"`
	Name    string `json:"name,omitempty"`
	Input   string `json:"input,omitempty"`
	Content string `json:"content,omitempty"`
}

type rawMessage struct {
	seq             int64
	id, role, model string
	parts           []rawPart
	createdAt       int64
}

// BenchmarkReadSession reads the whole 1,000-message session through the
// store and with a raw SELECT plus a JSON decode of each row's parts,
// alternately.
func BenchmarkReadSession(b *testing.B) {
	f := newReadFixture(b)
	ctx := context.Background()
	mid, err := f.st.Load(ctx, "mid")
	if err != nil {
		b.Fatal(err)
	}
	q, err := f.db.Prepare(`SELECT seq, id, role, parts, model, created_at FROM messages WHERE session_id = ? ORDER BY seq`)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	var rawT, storeT time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if n := rawRead(b, q, "mid"); n != 1000 {
			b.Fatal(n)
		}
		t1 := time.Now()
		msgs, err := mid.GetMessages(ctx, nil)
		if err != nil || len(msgs) != 1000 {
			b.Fatal(len(msgs), err)
		}
		t2 := time.Now()
		rawT += t1.Sub(t0)
		storeT += t2.Sub(t1)
	}
	b.StopTimer()
	reportPair(b, rawT, storeT)
}
