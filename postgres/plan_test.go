package postgres

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestGenericPlansStayIndexed runs the append and the last-n read of a
// 20,000-message session under PostgreSQL's generic plan, as a prepared
// statement gets after a few executions, planned while the tables were
// nearly empty and kept as they grew, and checks how many pages each touches: an index
// lookup touches a handful whatever the session's length, a plan that scans
// the session touches hundreds. Page counts, unlike times, do not depend on
// the machine's load.
func TestGenericPlansStayIndexed(t *testing.T) {
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 2 })
	s := newStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	inc := sess.(*pgSession).inc
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, sql := range []string{
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE convo_append AS ` + s.q.append,
		`PREPARE convo_append_fresh AS ` + s.q.appendFresh,
		`PREPARE convo_append_rows AS ` + s.q.appendFreshRows[1],
		`PREPARE convo_last_n AS ` + s.q.lastN,
		`PREPARE convo_pop AS ` + s.q.popDelete,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql[:min(len(sql), 40)], err)
		}
	}
	defer conn.Exec(ctx, `DEALLOCATE ALL; RESET plan_cache_mode`)
	// Plan while the session is small: the generic plan is made at the
	// first execution and kept.
	small, err := s.Create(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	sinc := small.(*pgSession).inc
	for i := range 3 {
		for _, sql := range []string{
			fmt.Sprintf(`EXECUTE convo_append('small', %d, NULL, ARRAY['s%d'], ARRAY['user'], ARRAY['[]']::json[], ARRAY[''],
				ARRAY[NULL]::json[], ARRAY[1]::bigint[], ARRAY['a'], 1, 1)`, sinc, i),
			fmt.Sprintf(`EXECUTE convo_append_fresh('small', %d, NULL, ARRAY['f%d'], ARRAY['user'], ARRAY['[]']::json[], ARRAY[''],
				ARRAY[NULL]::json[], ARRAY[1]::bigint[], ARRAY['a'], 1, 1)`, sinc, i),
			fmt.Sprintf(`EXECUTE convo_append_rows('small', %d, NULL, 1, 1, 'r%d', 'user', '[]', '', NULL, 1, 'a')`, sinc, i),
			fmt.Sprintf(`EXECUTE convo_last_n('small', %d, 20)`, sinc),
			fmt.Sprintf(`EXECUTE convo_pop('small', %d, 1)`, sinc),
		} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
	}
	const n = 20000
	if _, err := pool.Exec(ctx, `INSERT INTO `+s.q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
		SELECT 'big', i, 'm' || i, 'user', '[{"type":"text","text":"x"}]', i, to_tsvector('simple', 'x') FROM generate_series(1, $1::bigint) AS i`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+s.q.sessions+` SET next_seq = $1::bigint + 1, message_count = $1 WHERE id = 'big'`, n); err != nil {
		t.Fatal(err)
	}
	pages := func(name, explain string) {
		t.Helper()
		var out []byte
		if err := conn.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+explain).Scan(&out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		type node struct {
			Hit      int64  `json:"Shared Hit Blocks"`
			Read     int64  `json:"Shared Read Blocks"`
			Relation string `json:"Parent Relationship"`
			Subplan  string `json:"Subplan Name"`
			Plans    []node
		}
		var plan []struct{ Plan node }
		if err := json.Unmarshal(out, &plan); err != nil || len(plan) != 1 {
			t.Fatalf("%s: plan %s: %v", name, out, err)
		}
		total := plan[0].Plan.Hit + plan[0].Plan.Read
		// The WITH item that hands a row's bytes over to forks (handover
		// in queries.go) is read by no one, and PostgreSQL runs such an
		// item after the main query, outside its counters: add its own.
		for _, c := range plan[0].Plan.Plans {
			if c.Relation == "InitPlan" && c.Subplan == "CTE handover" {
				total += c.Hit + c.Read
			}
		}
		t.Logf("%s touches %d pages", name, total)
		// The session's rows fill over 150 pages and its index entries
		// dozens more; an indexed plan touches a few per row it returns.
		if total > 120 {
			t.Errorf("%s touches %d pages of a %d-message session: its generic plan scans the session\n%s", name, total, n, out)
		}
	}
	ids := `ARRAY['m5', 'new1', 'new2', 'new3']`
	pages("append", fmt.Sprintf(`EXECUTE convo_append('big', %d, NULL, %s, ARRAY['user','user','user','user'],
		ARRAY['[]','[]','[]','[]']::json[], ARRAY['','','',''], ARRAY[NULL,NULL,NULL,NULL]::json[], ARRAY[1,2,3,4]::bigint[],
		ARRAY['a','b','c','d'], 1, 1)`, inc, ids))
	pages("append (fresh ids)", fmt.Sprintf(`EXECUTE convo_append_fresh('big', %d, NULL, ARRAY['fresh1', 'fresh2', 'fresh3', 'fresh4'],
		ARRAY['user','user','user','user'], ARRAY['[]','[]','[]','[]']::json[], ARRAY['','','',''],
		ARRAY[NULL,NULL,NULL,NULL]::json[], ARRAY[1,2,3,4]::bigint[], ARRAY['a','b','c','d'], 4, 1)`, inc))
	pages("append (fresh ids, VALUES)", fmt.Sprintf(`EXECUTE convo_append_rows('big', %d, NULL, 1, 1, 'fresh5', 'user', '[]', '', NULL, 1, 'a')`, inc))
	pages("last 20", fmt.Sprintf(`EXECUTE convo_last_n('big', %d, 20)`, inc))
	// A fork of the whole session borrows every row's bytes: its last 20
	// look up 20 owner rows, and the parent's pop hands one row over.
	newest, err := sess.GetMessages(ctx, session.Limit(1))
	if err != nil {
		t.Fatal(err)
	}
	fk, err := s.Fork(ctx, "big", newest[0].ID, "bigfork", session.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pages("last 20 of a fork", fmt.Sprintf(`EXECUTE convo_last_n('bigfork', %d, 20)`, fk.(*pgSession).inc))
	pages("pop of a forked session", fmt.Sprintf(`EXECUTE convo_pop('big', %d, 1)`, inc))
	var owns bool
	if err := pool.QueryRow(ctx, `SELECT parts IS NOT NULL FROM `+s.q.messages+` WHERE session_id = 'bigfork' ORDER BY seq DESC LIMIT 1`).Scan(&owns); err != nil || !owns {
		t.Errorf("the fork's newest row owns its bytes after the parent's pop: %v, %v; want true", owns, err)
	}
}

// TestAppendGetsAGenericPlan checks that PostgreSQL, in its default
// plan_cache_mode, moves the statements of an ordinary append
// (appendFreshRows for a turn of 4, appendFresh for a call of 20) to a
// generic plan after their first executions on a connection, as pgx's
// statement cache lets it. A
// change to the statement that makes the planner's estimates favour custom
// plans would have it planned at every call, adding the planner's work to
// every append (dropping a CTE from the full statement did: in
// BenchmarkAppendTurn the store fell from 0.94-0.98 of the raw baselines,
// which kept their generic plans, to 0.67-0.72), and nothing else would
// notice.
func TestAppendGetsAGenericPlan(t *testing.T) {
	for _, started := range []bool{false, true} {
		t.Run(map[bool]string{false: "feed_dormant", true: "feed_started"}[started], func(t *testing.T) {
			pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
			s := newStore(t, pool)
			rows, arrays := s.q.appendFreshRowsDormant[4], s.q.appendFreshDormant
			if started {
				startFeed(t, s)
				rows, arrays = s.q.appendFreshRows[4], s.q.appendFresh
			}
			ctx := t.Context()
			sess, err := s.Create(ctx, "plans")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 12 {
				if err := sess.AddMessages(ctx, benchTurn(i)); err != nil {
					t.Fatal(err)
				}
				var call []message.Message
				for k := range 5 {
					call = append(call, benchTurn(100*i+k)...)
				}
				if err := sess.AddMessages(ctx, call); err != nil {
					t.Fatal(err)
				}
			}
			// One connection: the statements were prepared, and planned, on the
			// connection this query runs on.
			for name, sql := range map[string]string{"append of 4 (VALUES)": rows, "append of 20 (arrays)": arrays} {
				var generic, custom int64
				if err := pool.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`,
					sql).Scan(&generic, &custom); err != nil {
					t.Fatalf("%s: the statement is not among the connection's prepared statements: %v", name, err)
				}
				t.Logf("%s: %d generic plans, %d custom plans", name, generic, custom)
				if generic == 0 {
					t.Errorf("%s ran %d times with a custom plan and never with a generic one: it is planned at every call", name, custom)
				}
			}
		})
	}
}

// TestLastNGetsAGenericPlan checks that reading the last n messages runs on
// a generic plan after its first executions on a connection, in a table
// whose statistics say sessions are long (one 5,000-message session). With
// the limit bound as a parameter, the generic plan assumed a tenth of the
// session's rows and looked costlier than one planned for the actual limit,
// so PostgreSQL planned the read at every call: the planning cost more than
// the read, and BenchmarkLast20VsRaw measured 1.25-1.30 times the raw query.
func TestLastNGetsAGenericPlan(t *testing.T) {
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
	s := newStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "long")
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	if _, err := pool.Exec(ctx, `INSERT INTO `+s.q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
		SELECT 'long', i, 'm' || i, 'user', '[{"type":"text","text":"x"}]', i, to_tsvector('simple', 'x') FROM generate_series(1, $1::bigint) AS i`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE `+s.q.sessions+` SET next_seq = $1::bigint + 1, message_count = $1 WHERE id = 'long'`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE `+s.q.messages); err != nil {
		t.Fatal(err)
	}
	for range 12 {
		msgs, err := sess.GetMessages(ctx, session.Limit(20))
		if err != nil || len(msgs) != 20 || msgs[0].ID != "m4981" || msgs[19].ID != "m5000" {
			t.Fatalf("GetMessages(20): %d messages, %v", len(msgs), err)
		}
	}
	// One connection: the statement was prepared, and planned, on the
	// connection this query runs on.
	rows, err := pool.Query(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE starts_with(statement, $1)`,
		s.q.lastNHead)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for rows.Next() {
		var generic, custom int64
		if err := rows.Scan(&generic, &custom); err != nil {
			t.Fatal(err)
		}
		found++
		t.Logf("last n: %d generic plans, %d custom plans", generic, custom)
		if generic == 0 {
			t.Errorf("the last-n read ran %d times with a custom plan and never with a generic one: it is planned at every call", custom)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if found != 1 {
		t.Errorf("%d last-n statements among the connection's prepared statements, want 1", found)
	}
}
