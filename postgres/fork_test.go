package postgres

import (
	"context"
	"fmt"
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
		"{{feed_notify}}", q.feedNotify, "{{feed_listeners}}", q.feedListeners, "{{prefix}}", "")
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

// BenchmarkFork measures what a fork costs in the PostgreSQL store, which
// copies the parent's rows inside the server (session.Forker: rows are not
// shared), for a parent of 1,000 and of 10,000 messages of about 1 KB (the
// turns of BenchmarkAppendTurn), forked at its last message. In the same
// loop, fork by fork, in alternating order where two are compared:
//
//   - raw: the same work with pgx alone, in one transaction (a sessions
//     row, then INSERT ... SELECT of the parent's rows with their search
//     terms): the floor of a copy made in the server;
//   - read: GetMessages of the whole parent;
//   - read+append: a copy through Go, GetMessages then AddMessages into a
//     new session, what a caller without Fork would do.
//
// Reported: ms per operation of each, and fork/raw, fork/read and
// fork/read+append (under 1 is faster). Forks are deleted after each
// iteration, outside the timings. Reproduce with
//
//	CONVO_TEST_POSTGRES=... go test -run '^$' -bench Fork -benchtime 10x -count 3 ./postgres
func BenchmarkFork(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			s := benchStore(b, 0)
			ctx := context.Background()
			p, err := s.Create(ctx, "parent")
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
			rawSQL := []string{
				`INSERT INTO ` + s.q.sessions + ` (id, created_at, updated_at, incarnation) VALUES ('raw', 1, 1, 1)`,
				`INSERT INTO ` + s.q.messages + ` (session_id, seq, id, role, parts, model, usage, created_at, tsv)
					SELECT 'raw', seq, id, role, parts, model, usage, created_at, tsv FROM ` + s.q.messages + ` WHERE session_id = 'parent'`,
			}
			var forkT, rawT, readT, copyT time.Duration
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
				all, err := p.GetMessages(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				t3 := time.Now()
				cp, err := s.Create(ctx, "copy")
				if err != nil {
					b.Fatal(err)
				}
				if err := cp.AddMessages(ctx, all); err != nil {
					b.Fatal(err)
				}
				t4 := time.Now()
				b.StopTimer()
				if copied != int64(n) || len(all) != n {
					b.Fatalf("iteration %d: raw copied %d rows, read %d messages; want %d", i, copied, len(all), n)
				}
				if got, err := fk.GetMessages(ctx, nil); err != nil || len(got) != n {
					b.Fatalf("iteration %d: fork holds %d messages, %v; want %d", i, len(got), err, n)
				}
				for _, id := range []string{"fork", "raw", "copy"} {
					if err := s.Delete(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				readT += t3.Sub(t2)
				copyT += t4.Sub(t2)
			}
			b.StopTimer()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
			b.ReportMetric(ms(forkT), "fork-ms/op")
			b.ReportMetric(ms(rawT), "raw-ms/op")
			b.ReportMetric(ms(readT), "read-ms/op")
			b.ReportMetric(ms(copyT), "read+append-ms/op")
			b.ReportMetric(float64(forkT)/float64(rawT), "fork/raw")
			b.ReportMetric(float64(forkT)/float64(readT), "fork/read")
			b.ReportMetric(float64(forkT)/float64(copyT), "fork/read+append")
		})
	}
}
