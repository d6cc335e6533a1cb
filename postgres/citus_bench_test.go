package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/session"
)

// BenchmarkCitus measures the store on the Citus cluster of
// CONVO_TEST_CITUS (tables distributed WithCitus, the cluster's default
// shard count) beside the same store on the plain PostgreSQL of
// CONVO_TEST_POSTGRES, in the same run: append, last-20 and the reads
// across shards alternate call by call; the 32 writers run on one, then
// the other, twice. Each reports both figures and citus-vs-plain, the
// Citus store's throughput as a fraction of the plain one's. Run it with
//
//	CONVO_TEST_POSTGRES=... CONVO_TEST_CITUS=... \
//	    go test -run '^$' -bench Citus -benchtime 500x ./postgres/
func BenchmarkCitus(b *testing.B) {
	open := func(b *testing.B, maxConns int32) (citus, plain *Store) {
		b.Helper()
		citus = newCitusStore(b, newCitusPool(b, maxConns, ""))
		plain = newStore(b, newPool(b, func(c *pgxpool.Config) { c.MaxConns = maxConns }))
		return citus, plain
	}
	ctx := context.Background()
	// alternate runs f on both stores b.N times, alternating which goes
	// first, and reports the time per call of each.
	alternate := func(b *testing.B, unit string, citus, plain func(i int) error) {
		b.Helper()
		var ct, pt time.Duration
		timed := func(f func(int) error, i int, d *time.Duration) {
			t0 := time.Now()
			if err := f(i); err != nil {
				b.Fatal(err)
			}
			*d += time.Since(t0)
		}
		for i := range 20 { // warm up: prepare statements, fill caches
			timed(citus, -1-i, new(time.Duration))
			timed(plain, -1-i, new(time.Duration))
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i%2 == 0 {
				timed(citus, i, &ct)
				timed(plain, i, &pt)
			} else {
				timed(plain, i, &pt)
				timed(citus, i, &ct)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(ct.Microseconds())/float64(b.N), "citus-µs/"+unit)
		b.ReportMetric(float64(pt.Microseconds())/float64(b.N), "plain-µs/"+unit)
		b.ReportMetric(float64(pt)/float64(ct), "citus-vs-plain")
	}

	b.Run("append_turn", func(b *testing.B) {
		c, p := open(b, 4)
		cs, err := c.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		ps, err := p.Create(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		alternate(b, "turn",
			func(i int) error { return cs.AddMessages(ctx, benchTurn(i)) },
			func(i int) error { return ps.AddMessages(ctx, benchTurn(i)) })
	})

	// Stores with 2,000 sessions of 2 owners, 10 messages each (one with
	// 1,000), filled by INSERT ... SELECT.
	filled := func(b *testing.B) (citus, plain *Store) {
		b.Helper()
		c, p := open(b, 4)
		for _, s := range []*Store{c, p} {
			for _, sql := range []string{
				`INSERT INTO ` + s.q.sessions + ` (id, owner, created_at, updated_at, incarnation, next_seq, message_count)
					SELECT 's' || i, CASE WHEN i % 2 = 0 THEN 'ann' ELSE 'bob' END, i, i, i,
						CASE WHEN i = 1 THEN 1001 ELSE 11 END, CASE WHEN i = 1 THEN 1000 ELSE 10 END
					FROM generate_series(1, 2000) AS i`,
				`INSERT INTO ` + s.q.messages + ` (session_id, seq, id, role, parts, created_at, tsv)
					SELECT 's' || i, j, 'm' || j, 'user',
						json_build_array(json_build_object('type', 'text', 'text', t)), j, to_tsvector('simple', t)
					FROM generate_series(1, 2000) AS i, generate_series(1, 10) AS j,
						LATERAL (SELECT CASE WHEN (i * 10 + j) % 97 = 0 THEN 'okapi ' ELSE '' END ||
							'message ' || j || ' ' || repeat('lorem ipsum ', 60) AS t) x`,
				`INSERT INTO ` + s.q.messages + ` (session_id, seq, id, role, parts, created_at, tsv)
					SELECT 's1', j, 'm' || j, 'user', '[{"type":"text","text":"long"}]', j, to_tsvector('simple', 'long')
					FROM generate_series(11, 1000) AS j`,
				`ANALYZE ` + s.q.sessions,
				`ANALYZE ` + s.q.messages,
			} {
				if _, err := s.pool.Exec(ctx, sql); err != nil {
					b.Fatal(err)
				}
			}
		}
		return c, p
	}

	b.Run("last20", func(b *testing.B) {
		c, p := filled(b)
		read := func(s *Store) func(int) error {
			return func(i int) error {
				sess, err := s.Load(ctx, "s1")
				if err != nil {
					return err
				}
				msgs, err := sess.GetMessages(ctx, session.Limit(20))
				if err == nil && len(msgs) != 20 {
					err = fmt.Errorf("read %d messages", len(msgs))
				}
				return err
			}
		}
		alternate(b, "read", read(c), read(p))
	})
	b.Run("list_page_of_50", func(b *testing.B) {
		c, p := filled(b)
		list := func(s *Store) func(int) error {
			return func(i int) error {
				q := session.ListQuery{Limit: 50}
				if i%2 != 0 {
					q.Owner = "ann"
				}
				page, err := s.List(ctx, q)
				if err == nil && len(page.Sessions) != 50 {
					err = fmt.Errorf("listed %d sessions", len(page.Sessions))
				}
				return err
			}
		}
		alternate(b, "page", list(c), list(p))
	})
	b.Run("search_top_20", func(b *testing.B) {
		c, p := filled(b)
		search := func(s *Store) func(int) error {
			return func(i int) error {
				hits, err := s.Search(ctx, session.SearchQuery{Text: "okapi", Limit: 20})
				if err == nil && len(hits) != 20 {
					err = fmt.Errorf("found %d hits", len(hits))
				}
				return err
			}
		}
		alternate(b, "search", search(c), search(p))
	})
	b.Run("32_writers", func(b *testing.B) {
		const writers = 32
		c, p := open(b, writers)
		rate := func(s *Store, round int) float64 {
			sessions := make([]session.Session, writers)
			for w := range sessions {
				var err error
				if sessions[w], err = s.Open(ctx, fmt.Sprintf("r%d-w%d", round, w)); err != nil {
					b.Fatal(err)
				}
			}
			turns := max(1, b.N/writers)
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			t0 := time.Now()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range turns {
						if err := sessions[w].AddMessages(ctx, benchTurn(i)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			d := time.Since(t0)
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			return float64(writers*turns*4) / d.Seconds()
		}
		b.ResetTimer()
		var cr, pr float64
		for round := range 2 {
			if round%2 == 0 {
				cr += rate(c, round)
				pr += rate(p, round)
			} else {
				pr += rate(p, round)
				cr += rate(c, round)
			}
		}
		b.StopTimer()
		b.ReportMetric(cr/2, "citus-msgs/s")
		b.ReportMetric(pr/2, "plain-msgs/s")
		b.ReportMetric(cr/pr, "citus-vs-plain")
	})
}
