package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// oldSchema returns the queries of schema and the statements that make
// in it the tables of schema version v, recorded as such, as a release of
// that version left them.
func oldSchema(t *testing.T, schema string, v int) (*queries, []string) {
	t.Helper()
	q := newQueries(schema, "")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("{{sessions}}", q.sessions, "{{messages}}", q.messages, "{{quarantine}}", q.quarantine,
		"{{search_index}}", q.searchIndex, "{{changes}}", q.changes, "{{feed_state}}", q.feedState,
		"{{feed_notify}}", q.feedNotify, "{{feed_listeners}}", q.feedListeners, "{{fork_handover}}", q.forkHandover,
		"{{prefix}}", "")
	stmts := []string{q.createSchema, q.createMigrations}
	for _, m := range ms[:v] {
		stmts = append(stmts, r.Replace(m.SQL), fmt.Sprintf(`INSERT INTO %s (version, applied_at) VALUES (%d, 1)`, q.migrations, m.Version))
	}
	return q, stmts
}

// TestForkAfterUpgradeFromVersion3 makes a schema of version 3 (before
// forks) with a session in it, opens it with the current code (which adds
// version 4's columns in place), and checks that the old session is no fork
// and can be forked.
func TestForkAfterUpgradeFromVersion3(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, pool)
	q, stmts := oldSchema(t, schema, 3)
	stmts = append(stmts,
		`INSERT INTO `+q.sessions+` (id, owner, created_at, updated_at, next_seq, message_count, incarnation) VALUES ('old', 'acme', 1, 1, 4, 3, 1)`,
		`INSERT INTO `+q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
			SELECT 'old', i, 'm' || i, 'user', json_build_array(json_build_object('type', 'text', 'text', 'message ' || i)), i,
				('message ' || i)::tsvector
			FROM generate_series(1, 3) AS i`,
	)
	for _, sql := range stmts {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	s, err := Open(ctx, pool, WithSchema(schema))
	if err != nil {
		t.Fatalf("open version 3: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
		t.Fatalf("schema version %d, %v; want %d", v, err, LatestSchemaVersion())
	}
	in, err := s.Info(ctx, "old")
	if err != nil || in.ParentID != "" || in.ForkMessageID != "" || in.MessageCount != 3 {
		t.Fatalf("Info of a session of version 3: %+v, %v", in, err)
	}
	fk, err := s.Fork(ctx, "old", "m2", "fork", session.CreateOptions{})
	if err != nil {
		t.Fatalf("fork after upgrade: %v", err)
	}
	got, err := fk.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []message.Message{
		{ID: "m1", Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "message 1"}}, CreatedAt: 1},
		{ID: "m2", Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "message 2"}}, CreatedAt: 2},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("fork of an upgraded session (-want +got):\n%s", diff)
	}
	if in, err := s.Info(ctx, "fork"); err != nil || in.ParentID != "old" || in.ForkMessageID != "m2" || in.Owner != "acme" || in.MessageCount != 2 {
		t.Errorf("Info of the fork: %+v, %v", in, err)
	}
}

// rowStates tells how each row of session id holds its bytes, by seq:
// "own" or "from <session>".
func rowStates(t *testing.T, s *Store, id string) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT parts IS NOT NULL, tsv IS NOT NULL, COALESCE(shared_from, '') FROM `+s.q.messages+`
		WHERE session_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var parts, tsv bool
		var from string
		if err := rows.Scan(&parts, &tsv, &from); err != nil {
			t.Fatal(err)
		}
		switch {
		case parts && tsv && from == "":
			out = append(out, "own")
		case !parts && !tsv && from != "":
			out = append(out, "from "+from)
		default:
			out = append(out, fmt.Sprintf("parts %v, tsv %v, from %q", parts, tsv, from))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readAll returns every message of session id.
func readAll(t *testing.T, s *Store, id string) []message.Message {
	t.Helper()
	sess, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := sess.GetMessages(t.Context(), nil)
	if err != nil {
		t.Fatalf("read %q: %v", id, err)
	}
	return msgs
}

// states(n1, s1, n2, s2, ...) is n1 times s1, then n2 times s2, ...
func states(parts ...any) []string {
	var out []string
	for i := 0; i < len(parts); i += 2 {
		for range parts[i].(int) {
			out = append(out, parts[i+1].(string))
		}
	}
	return out
}

// TestForkSharesBytes checks how forks hold their messages in the tables
// (migrations/0008_fork_sharing.sql): a fork's inherited rows borrow their
// bytes from the row that owns them (a fork of a fork from the first
// owner, not from its parent's borrowed row), and whatever deletes an owner
// row hands its bytes to the rows that borrow them first: a pop, a clear,
// a quarantine, a delete of the session, an owner's erasure; forks deleted
// in the same statement as their parent get nothing. The conformance suite
// checks what callers see; this checks that no bytes were copied where
// none had to be.
func TestForkSharesBytes(t *testing.T) {
	s := newStore(t, testPool(t))
	ctx := t.Context()
	create := func(id, owner string, n int) []message.Message {
		t.Helper()
		sess, err := s.CreateWith(ctx, id, session.CreateOptions{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		var msgs []message.Message
		for i := range n {
			msgs = append(msgs, message.NewUserMessage(fmt.Sprintf("%s message %d, a wombat", id, i)))
		}
		if err := sess.AddMessages(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	fork := func(parent, at, id, owner string) session.Session {
		t.Helper()
		f, err := s.Fork(ctx, parent, at, id, session.CreateOptions{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	check := func(what, id string, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, rowStates(t, s, id)); diff != "" {
			t.Errorf("%s: rows of %q (-want +got):\n%s", what, id, diff)
		}
	}
	read := func(id string) []message.Message { t.Helper(); return readAll(t, s, id) }

	pm := create("p", "alice", 6)
	f := fork("p", pm[3].ID, "f", "bob")
	check("fork", "f", states(4, "from p"))
	if err := f.AddMessages(ctx, []message.Message{message.NewUserMessage("f's own")}); err != nil {
		t.Fatal(err)
	}
	fm := read("f")
	fork("f", fm[4].ID, "g", "carol") // a fork of a fork
	check("fork of a fork", "g", append(states(4, "from p"), "from f"))
	fork("p", pm[5].ID, "h", "alice") // the parent's owner: erased with it
	check("second fork", "h", states(6, "from p"))
	gm := read("g")

	// Pops of the parent hand the popped row's bytes to its borrowers.
	pp, err := s.Load(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := pp.PopMessage(ctx); err != nil || m == nil || m.ID != pm[5].ID {
		t.Fatalf("PopMessage of the parent: %v, %v", m, err)
	}
	check("second fork after the parent's pop", "h", append(states(5, "from p"), "own"))
	// A quarantine in the fork takes the borrowed bytes with it.
	if err := s.Quarantine(ctx, "h", pm[4].ID, "test"); err != nil {
		t.Fatal(err)
	}
	qr, err := s.Quarantined(ctx, "h")
	if err != nil || len(qr) != 1 {
		t.Fatalf("Quarantined(h): %v, %v", qr, err)
	}
	if got, err := message.UnmarshalParts(qr[0].Parts); err != nil || cmp.Diff(pm[4].Parts, got) != "" {
		t.Errorf("quarantined row of the fork holds %s (%v), want the parent's parts", qr[0].Parts, err)
	}
	check("second fork after a quarantine", "h", append(states(4, "from p"), "own"))

	// Erasing alice deletes p and h in one statement: f gets p's bytes, h
	// gets none (it is gone), g keeps borrowing from f its own row and gets
	// its copy of p's.
	r, err := s.DeleteOwner(ctx, "alice")
	if err != nil || len(r.SessionIDs) != 2 {
		t.Fatalf("DeleteOwner(alice): %+v, %v", r, err)
	}
	check("fork after its parent was erased", "f", states(5, "own"))
	check("fork of a fork after its grandparent was erased", "g", append(states(4, "own"), "from f"))
	if diff := cmp.Diff(gm, read("g"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("fork of a fork after its grandparent was erased (-want +got):\n%s", diff)
	}
	// Clearing f hands its last row to g.
	if err := f.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	check("fork of a fork after its parent was cleared", "g", states(5, "own"))
	if diff := cmp.Diff(gm, read("g"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("fork of a fork after its parent was cleared (-want +got):\n%s", diff)
	}
}

// TestForkAfterUpgradeFromVersion7 makes a schema of version 7, whose
// forks copied their rows, with a parent and a fork, opens it with the
// current code, and checks that the old fork reads as before and that a
// fork of it borrows from it and outlives it.
func TestForkAfterUpgradeFromVersion7(t *testing.T) {
	pool := testPool(t)
	ctx := t.Context()
	schema := newSchema(t, pool)
	q, stmts := oldSchema(t, schema, 7)
	stmts = append(stmts,
		`INSERT INTO `+q.sessions+` (id, owner, created_at, updated_at, next_seq, message_count, incarnation) VALUES ('old', 'acme', 1, 1, 4, 3, 1)`,
		`INSERT INTO `+q.sessions+` (id, owner, created_at, updated_at, next_seq, message_count, incarnation, parent_id, fork_message_id)
			VALUES ('oldfork', 'acme', 2, 2, 3, 2, 2, 'old', 'm2')`,
		`INSERT INTO `+q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
			SELECT s, i, 'm' || i, 'user', json_build_array(json_build_object('type', 'text', 'text', 'message ' || i)), i,
				('message ' || i)::tsvector
			FROM generate_series(1, 3) AS i, unnest(ARRAY['old', 'oldfork']) AS s WHERE s = 'old' OR i <= 2`,
	)
	for _, sql := range stmts {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	s, err := Open(ctx, pool, WithSchema(schema))
	if err != nil {
		t.Fatalf("open version 7: %v", err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
		t.Fatalf("schema version %d, %v; want %d", v, err, LatestSchemaVersion())
	}
	want := []message.Message{
		{ID: "m1", Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "message 1"}}, CreatedAt: 1},
		{ID: "m2", Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "message 2"}}, CreatedAt: 2},
	}
	if diff := cmp.Diff(want, readAll(t, s, "oldfork"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("a fork of version 7 (-want +got):\n%s", diff)
	}
	if _, err := s.Fork(ctx, "oldfork", "m2", "new", session.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(states(2, "from oldfork"), rowStates(t, s, "new")); diff != "" {
		t.Errorf("rows of a fork of an upgraded fork (-want +got):\n%s", diff)
	}
	for _, id := range []string{"old", "oldfork"} {
		if err := s.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, readAll(t, s, "new"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the new fork after its upgraded ancestors were deleted (-want +got):\n%s", diff)
	}
	hits, err := s.Search(ctx, session.SearchQuery{Text: "message", SessionID: "new"})
	if err != nil || len(hits) != 2 {
		t.Errorf("search of the new fork after its ancestors were deleted: %d hits, %v; want 2", len(hits), err)
	}
}

// BenchmarkFork measures what a fork costs in the PostgreSQL store, which
// copies only the headers of the parent's rows, each borrowing its bytes
// (migrations/0008_fork_sharing.sql), for a parent of 1,000 and of 10,000
// messages of about 1 KB (the turns of BenchmarkAppendTurn) and of 1,000
// messages of 16 KB (kb=16), forked at its last message. In the same loop, fork by fork, in alternating order where
// two are compared:
//
//   - raw: a copy of the rows, bytes and search terms included, with pgx
//     alone, in one transaction (a sessions row, then INSERT ... SELECT):
//     what a fork cost before version 8, and the floor of any copy made in
//     the server;
//   - read: GetMessages of the whole parent, and of the whole fork (whose
//     rows look their bytes up in the parent's);
//   - last 20: GetMessages(20) of the fork and of the parent, alternating;
//   - read+append: a copy through Go, GetMessages then AddMessages into a
//     new session, what a caller without Fork would do.
//
// Reported: ms per operation of each (µs for last 20), fork/raw, fork/read
// and fork/read+append (under 1 is faster), fork-read/read and
// fork-last20/last20. Forks are deleted after each iteration, outside the
// timings. Reproduce with
//
//	CONVO_TEST_POSTGRES=... go test -run '^$' -bench 'Fork$' -benchtime 10x -count 3 ./postgres
func BenchmarkFork(b *testing.B) {
	for _, c := range []struct{ n, kb int }{{1000, 1}, {10000, 1}, {1000, 16}} {
		name := fmt.Sprintf("messages=%d", c.n)
		if c.kb != 1 {
			name += fmt.Sprintf(",kb=%d", c.kb)
		}
		n := c.n
		b.Run(name, func(b *testing.B) {
			s := benchStore(b, 0)
			ctx := context.Background()
			p := benchParent(b, s, "parent", n, c.kb)
			msgs, err := p.GetMessages(ctx, session.Limit(1))
			if err != nil {
				b.Fatal(err)
			}
			last := msgs[0].ID
			rawSQL := []string{
				`INSERT INTO ` + s.q.sessions + ` (id, created_at, updated_at, incarnation) VALUES ('raw', 1, 1, 1)`,
				`INSERT INTO ` + s.q.messages + ` (session_id, seq, id, role, parts, model, usage, created_at, tsv)
					SELECT 'raw', seq, id, role, parts, model, usage, created_at, tsv FROM ` + s.q.messages + ` WHERE session_id = 'parent'`,
			}
			var forkT, rawT, readT, forkReadT, last20T, forkLast20T, copyT time.Duration
			b.ResetTimer()
			for i := range b.N {
				var fk session.Session
				var copied int64
				fork := func() {
					var err error
					if fk, err = s.Fork(ctx, "parent", last, "fork", session.CreateOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				raw := func() {
					tx, err := s.pool.Begin(ctx)
					if err != nil {
						b.Fatal(err)
					}
					defer tx.Rollback(ctx)
					if _, err := tx.Exec(ctx, rawSQL[0]); err != nil {
						b.Fatal(err)
					}
					tag, err := tx.Exec(ctx, rawSQL[1])
					if err != nil {
						b.Fatal(err)
					}
					if err := tx.Commit(ctx); err != nil {
						b.Fatal(err)
					}
					copied = tag.RowsAffected()
				}
				d1, d2 := alternate(i, fork, raw)
				forkT, rawT = forkT+d1, rawT+d2
				var all, forkAll []message.Message
				d1, d2 = alternate(i, func() {
					if all, err = p.GetMessages(ctx, nil); err != nil {
						b.Fatal(err)
					}
				}, func() {
					if forkAll, err = fk.GetMessages(ctx, nil); err != nil {
						b.Fatal(err)
					}
				})
				readT, forkReadT = readT+d1, forkReadT+d2
				for range 20 {
					d1, d2 = alternate(i, func() {
						if _, err := p.GetMessages(ctx, session.Limit(20)); err != nil {
							b.Fatal(err)
						}
					}, func() {
						if _, err := fk.GetMessages(ctx, session.Limit(20)); err != nil {
							b.Fatal(err)
						}
					})
					last20T, forkLast20T = last20T+d1, forkLast20T+d2
				}
				t2 := time.Now()
				if all, err = p.GetMessages(ctx, nil); err != nil {
					b.Fatal(err)
				}
				cp, err := s.Create(ctx, "copy")
				if err != nil {
					b.Fatal(err)
				}
				if err := cp.AddMessages(ctx, all); err != nil {
					b.Fatal(err)
				}
				copyT += time.Since(t2)
				b.StopTimer()
				if copied != int64(n) || len(all) != n || len(forkAll) != n {
					b.Fatalf("iteration %d: raw copied %d rows, read %d and %d messages; want %d", i, copied, len(all), len(forkAll), n)
				}
				for _, id := range []string{"fork", "raw", "copy"} {
					if err := s.Delete(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(forkT), "fork-ms/op")
			b.ReportMetric(ms(rawT), "raw-ms/op")
			b.ReportMetric(ms(readT), "read-ms/op")
			b.ReportMetric(ms(forkReadT), "fork-read-ms/op")
			b.ReportMetric(ms(last20T)*1000/20, "last20-µs/op")
			b.ReportMetric(ms(forkLast20T)*1000/20, "fork-last20-µs/op")
			b.ReportMetric(ms(copyT), "read+append-ms/op")
			b.ReportMetric(float64(forkT)/float64(rawT), "fork/raw")
			b.ReportMetric(float64(forkT)/float64(readT), "fork/read")
			b.ReportMetric(float64(forkT)/float64(copyT), "fork/read+append")
			b.ReportMetric(float64(forkReadT)/float64(readT), "fork-read/read")
			b.ReportMetric(float64(forkLast20T)/float64(last20T), "fork-last20/last20")
		})
	}
}

// benchParent makes the session id of n messages: turns of benchTurn for
// kb 1, else of messages of kb KB of pseudo-random words (which
// PostgreSQL's TOAST compression does not shrink much).
func benchParent(b *testing.B, s *Store, id string, n, kb int) session.Session {
	b.Helper()
	p, err := s.Create(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(kb)))
	word := func() string {
		w := make([]byte, 3+rng.IntN(6))
		for i := range w {
			w[i] = byte('a' + rng.IntN(26))
		}
		return string(w)
	}
	for i := range n / 4 {
		turn := benchTurn(i)
		if kb != 1 {
			for j := range turn {
				var t strings.Builder
				for t.Len() < kb<<10 {
					t.WriteString(word())
					t.WriteByte(' ')
				}
				turn[j] = message.NewMessage(turn[j].Role, message.Text{Text: t.String()})
			}
		}
		if err := p.AddMessages(context.Background(), turn); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// alternate runs first and second, first first in even iterations i and
// second first in odd ones, and returns how long each took.
func alternate(i int, first, second func()) (d1, d2 time.Duration) {
	a, c := first, second
	if i%2 == 1 {
		a, c = second, first
	}
	t0 := time.Now()
	a()
	t1 := time.Now()
	c()
	t2 := time.Now()
	if i%2 == 1 {
		return t2.Sub(t1), t1.Sub(t0)
	}
	return t1.Sub(t0), t2.Sub(t1)
}

// BenchmarkForkParentDelete measures what deleting a parent costs while a
// fork borrows its bytes: the delete copies them into the fork's rows
// (the hand-over of migrations/0008_fork_sharing.sql). Each iteration
// makes two sessions of n messages of about 1 KB (copies of one made
// once, outside the timings), forks one at its last message, and deletes
// both, alternating which goes first. Reported: ms per delete of each and
// forked/plain. Reproduce with
//
//	CONVO_TEST_POSTGRES=... go test -run '^$' -bench ForkParentDelete -benchtime 10x -count 3 ./postgres
func BenchmarkForkParentDelete(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			s := benchStore(b, 0)
			ctx := context.Background()
			tmpl := benchParent(b, s, "template", n, 1)
			msgs, err := tmpl.GetMessages(ctx, session.Limit(1))
			if err != nil {
				b.Fatal(err)
			}
			last := msgs[0].ID // clones keep the ids
			clone := func(id string) {
				b.Helper()
				if _, err := s.Create(ctx, id); err != nil {
					b.Fatal(err)
				}
				if _, err := s.pool.Exec(ctx, `INSERT INTO `+s.q.messages+` (session_id, seq, id, role, parts, model, usage, created_at, tsv)
					SELECT $1, seq, id, role, parts, model, usage, created_at, tsv FROM `+s.q.messages+` WHERE session_id = 'template'`, id); err != nil {
					b.Fatal(err)
				}
				if _, err := s.pool.Exec(ctx, `UPDATE `+s.q.sessions+` SET next_seq = $2::bigint + 1, message_count = $2 WHERE id = $1`, id, n); err != nil {
					b.Fatal(err)
				}
			}
			var forkedT, plainT time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				clone("forked")
				clone("plain")
				if _, err := s.Fork(ctx, "forked", last, "fork", session.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				d1, d2 := alternate(i, func() {
					if err := s.Delete(ctx, "forked"); err != nil {
						b.Fatal(err)
					}
				}, func() {
					if err := s.Delete(ctx, "plain"); err != nil {
						b.Fatal(err)
					}
				})
				forkedT, plainT = forkedT+d1, plainT+d2
				b.StopTimer()
				var owned int
				if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.q.messages+` WHERE session_id = 'fork' AND parts IS NOT NULL`).Scan(&owned); err != nil || owned != n {
					b.Fatalf("iteration %d: the fork owns %d rows after its parent's delete, %v; want %d", i, owned, err, n)
				}
				if err := s.Delete(ctx, "fork"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(forkedT), "forked-delete-ms/op")
			b.ReportMetric(ms(plainT), "plain-delete-ms/op")
			b.ReportMetric(float64(forkedT)/float64(plainT), "forked/plain")
		})
	}
}
