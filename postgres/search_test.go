package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/searchtext"
	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// searchCorpus is text in many scripts. The rules it exercises are
// searchtext's (NFKC, case folding, diacritics, character pairs in scripts
// written without spaces; see that package for their sources); here they
// must hold in PostgreSQL as in the reference, the in-memory store.
var searchCorpus = []string{
	"The weather in 東京都 is sunny today",
	"私は東京に住んでいます。",
	"北京和上海是中国的大城市",
	"서울에서 만나요",
	"ภาษาไทยเป็นภาษาที่สวยงาม",
	"Un café crème, s'il vous plaît",
	"CAFE au lait and a croissant",
	"Ελλάδα is Greece; ΕΛΛΆΔΑ in capitals",
	"Straße or STRASSE in Zürich",
	"ＡＢＣ full-width and the ﬁnance ligature",
	"snake_case identifiers and e-mail addresses, version 3.14",
	"configuration of the confident confederation",
	"New York is not new to york",
	"Tiếng Việt có dấu",
	"हिन्दी भाषा",
	"العَرَبِيَّة لغة جميلة",
	"operators & | ! <-> :* ' \\ ( ) are text here",
	"カタカナのテスト、ガギグ",
	"a tool result with a long word " + strings.Repeat("x", 300),
}

var searchQueries = []string{
	"東京", "京都", "東", "東京都", "住んで", "上海", "中国的", "서울", "서울에서", "ภาษา", "สวย", "ไทย",
	"café", "cafe", "CAFÉ", "crème", "creme", "Ελλάδα", "ελλαδα", "strasse", "straße", "zurich", "abc", "finance",
	"snake_case", "snake", "e-mail", "3.14", "conf*", "confi*", "\"new york\"", "\"york is\"", "\"new yor\"*",
	"new york", "tiếng", "tieng", "हिन्दी", "العربية", "& | !", "'", "<->", "text & here", "x*",
	strings.Repeat("x", 300), "カタカナ", "ガギ", "か", "weather sunny", "weather rainy", "\"sunny weather\"",
	"*", "\"\"", "nothing-matches-this", "in",
}

// TestSearchMatchesTheReference stores the corpus in PostgreSQL and in the
// memory store and checks that every query finds the same messages with
// the same snippets in both.
func TestSearchMatchesTheReference(t *testing.T) {
	s := newStore(t, nil)
	mem := session.NewMemoryStore()
	ctx := t.Context()
	ps, err := s.Create(ctx, "corpus")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mem.Create(ctx, "corpus")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []message.Message
	for i, text := range searchCorpus {
		m := message.NewUserMessage(text)
		m.ID = fmt.Sprintf("m%02d", i)
		msgs = append(msgs, m)
	}
	if err := ps.AddMessages(ctx, slices.Clone(msgs)); err != nil {
		t.Fatal(err)
	}
	if err := ms.AddMessages(ctx, slices.Clone(msgs)); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, query := range searchQueries {
		sq := session.SearchQuery{Text: query, Limit: 100}
		got, err := s.Search(ctx, sq)
		if err != nil {
			t.Fatalf("Search(%q): %v", query, err)
		}
		want, err := mem.Search(ctx, sq)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := snippets(got), snippets(want); !slices.Equal(a, b) {
			t.Errorf("Search(%q):\n got  %q\n want %q (memory store)", query, a, b)
		}
		if len(got) > 0 {
			found++
		}
	}
	// Most queries are meant to find something: a store that finds
	// nothing must not pass by agreeing with itself.
	if found < len(searchQueries)*3/4 {
		t.Errorf("only %d of %d queries found anything", found, len(searchQueries))
	}
}

// snippets returns "message id: snippet" of each hit, sorted.
func snippets(hits []session.SearchHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.MessageID + ": " + h.Snippet
	}
	slices.Sort(out)
	return out
}

// TestSearchScripts checks the cases issue 11 names, one by one: a
// two-character word inside a Japanese sentence, Thai, diacritics both
// ways, and that the snippet highlights the match.
func TestSearchScripts(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{
		message.NewUserMessage("明日は東京へ行きます"),
		message.NewUserMessage("ฉันชอบกินข้าวผัด"),
		message.NewUserMessage("Un café, s'il vous plaît"),
		message.NewUserMessage("plain cafe"),
	}); err != nil {
		t.Fatal(err)
	}
	hl := func(s string) string { return session.HighlightStart + s + session.HighlightEnd }
	for _, tc := range []struct {
		query string
		want  []string // snippets
	}{
		{"東京", []string{"明日は" + hl("東京") + "へ行きます"}},
		{"ข้าวผัด", []string{"ฉันชอบกิน" + hl("ข้าวผัด")}},
		{"café", []string{"Un " + hl("café") + ", s'il vous plaît", "plain " + hl("cafe")}},
		{"CAFE", []string{"Un " + hl("café") + ", s'il vous plaît", "plain " + hl("cafe")}},
		{"plait", []string{"Un café, s'il vous " + hl("plaît")}},
	} {
		hits, err := s.Search(ctx, session.SearchQuery{Text: tc.query})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Snippet)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q) snippets %q, want %q", tc.query, got, tc.want)
		}
	}
}

// TestSearchQueryIsNotSyntax: tsquery operators in a query are text, and
// the query reaches PostgreSQL as one bound value, so no input makes the
// search fail with a syntax error or match by an operator.
func TestSearchQueryIsNotSyntax(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{
		message.NewUserMessage("alpha beta"), message.NewUserMessage("gamma"),
	}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"alpha | gamma", "!alpha", "alpha & !beta", "alpha <-> gamma", "alpha:*", "alpha:A", "'alpha' | 'gamma'",
		`alpha\' | 'gamma`, "(alpha | gamma)", "alpha <2> beta", "gamma' | 'alpha", "\x00", "'; DROP TABLE x; --",
	} {
		hits, err := s.Search(ctx, session.SearchQuery{Text: q})
		if err != nil {
			t.Errorf("Search(%q): %v", q, err)
			continue
		}
		want := session.NewMemoryStore()
		ws, _ := want.Create(ctx, "s")
		_ = ws.AddMessages(ctx, []message.Message{message.NewUserMessage("alpha beta"), message.NewUserMessage("gamma")})
		wh, _ := want.Search(ctx, session.SearchQuery{Text: q})
		if len(hits) != len(wh) {
			t.Errorf("Search(%q): %d hits, the memory store finds %d", q, len(hits), len(wh))
		}
	}
}

// TestReindexUpgradesVersion1 creates a database of schema version 1 (its
// migration, rows whose tsv is to_tsvector('simple', text) as version 1
// wrote them), opens it, and checks that the store migrated and rewrote
// the index: 東京 inside a sentence and café/cafe are found afterwards, and
// every row holds what an append writes now. Then it marks the index old
// again, runs one batch (a reindex that crashed after it) and checks that
// the next open completes it.
func TestReindexUpgradesVersion1(t *testing.T) {
	reindexFromVersion1(t, testPool(t), nil)
}

// reindexFromVersion1 is TestReindexUpgradesVersion1 on pool: setup runs
// right after the version-1 tables are created, before any row is stored,
// and opts are given to every Open. It returns the schema of the tables.
func reindexFromVersion1(t *testing.T, pool *pgxpool.Pool, setup []string, opts ...Option) string {
	ctx := t.Context()
	schema := newSchema(t, pool)
	q := newQueries(schema, "")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("{{sessions}}", q.sessions, "{{messages}}", q.messages, "{{prefix}}", "")
	n := 2*reindexBatch + 7
	stmts := []string{q.createSchema, q.createMigrations, r.Replace(ms[0].SQL)}
	for _, sql := range setup {
		stmts = append(stmts, r.Replace(sql))
	}
	// n messages over four sessions (over several shards on Citus).
	stmts = append(stmts,
		`INSERT INTO `+q.migrations+` (version, applied_at) VALUES (1, 1)`,
		`INSERT INTO `+q.sessions+` (id, created_at, updated_at, next_seq, message_count, incarnation)
			SELECT 'old-' || k, 1, 1, `+fmt.Sprint(n+1)+`, (SELECT count(*) FROM generate_series(1, `+fmt.Sprint(n)+`) AS i WHERE i % 4 = k), 1
			FROM generate_series(0, 3) AS k`,
		`INSERT INTO `+q.messages+` (session_id, seq, id, role, parts, created_at, tsv)
			SELECT 'old-' || i % 4, i, 'm' || i, 'user', json_build_array(json_build_object('type', 'text', 'text', t)), i,
				to_tsvector('simple', t)
			FROM generate_series(1, `+fmt.Sprint(n)+`) AS i,
				LATERAL (SELECT CASE i WHEN 4 THEN '明日は東京へ行きます' WHEN `+fmt.Sprint(reindexBatch+2)+`
					THEN 'Un café, s''il vous plaît' ELSE 'message ' || i || ' about nothing' END) AS x(t)`)
	for _, sql := range stmts {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var before int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+q.messages+` WHERE tsv @@ '東京'::tsquery OR tsv @@ 'cafe'::tsquery`).Scan(&before); err != nil || before != 0 {
		t.Fatalf("version 1 rows match 東京 or cafe already (%d, %v): the fixture does not test the upgrade", before, err)
	}
	check := func(s *Store) {
		t.Helper()
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != LatestSchemaVersion() {
			t.Fatalf("schema version %d, %v; want %d", v, err, LatestSchemaVersion())
		}
		var version int
		if err := pool.QueryRow(ctx, s.q.searchIndexVersion).Scan(&version); err != nil || version != searchtext.Version {
			t.Fatalf("search index version %d, %v; want %d", version, err, searchtext.Version)
		}
		for _, q := range []string{"東京", "cafe", "café", "message 1000"} {
			hits, err := s.Search(ctx, session.SearchQuery{Text: q})
			if err != nil || len(hits) != 1 {
				t.Errorf("after the reindex Search(%q) = %d hits, %v; want 1", q, len(hits), err)
			}
		}
		// Every row holds the vector an append writes now.
		rows, err := pool.Query(ctx, `SELECT parts, tsv::text FROM `+s.q.messages)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var stale, total int
		for rows.Next() {
			var parts []byte
			var tsv string
			if err := rows.Scan(&parts, &tsv); err != nil {
				t.Fatal(err)
			}
			p, err := message.UnmarshalParts(parts)
			if err != nil {
				t.Fatal(err)
			}
			if tsv != canonicalTSVector(t, pool, searchVector(p)) {
				stale++
			}
			total++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if stale != 0 || total != n {
			t.Errorf("%d of %d rows keep an old search vector (want %d rows)", stale, total, n)
		}
	}
	s, err := Open(ctx, pool, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	check(s)

	// A reindex that stopped after its first batch.
	if _, err := pool.Exec(ctx, `UPDATE `+q.messages+` SET tsv = to_tsvector('simple', parts->0->>'text')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, s.q.recordSearchIndex, 0, "", 0); err != nil {
		t.Fatal(err)
	}
	// A read-only open rewrites nothing.
	if _, err := Open(ctx, pool, append([]Option{WithSchema(schema), WithReadOnly()}, opts...)...); err != nil {
		t.Fatalf("read-only open of a store whose index is old: %v", err)
	}
	var version int
	if err := pool.QueryRow(ctx, s.q.searchIndexVersion).Scan(&version); err != nil || version != 0 {
		t.Fatalf("after a read-only open the search index is at version %d, %v; want 0, untouched", version, err)
	}
	if done, err := s.reindexStep(ctx); err != nil || done {
		t.Fatalf("reindexStep = %v, %v; want one batch of several", done, err)
	}
	s2, err := Open(ctx, pool, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	check(s2)
	return schema
}

// canonicalTSVector returns vec as PostgreSQL prints it.
func canonicalTSVector(t *testing.T, pool *pgxpool.Pool, vec string) string {
	t.Helper()
	var out string
	if err := pool.QueryRow(t.Context(), `SELECT $1::tsvector::text`, vec).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkReindex measures the rewrite of the search index of version-1
// rows (reindex), in messages per second; docs/performance.md extrapolates
// it to millions of messages.
func BenchmarkReindex(b *testing.B) {
	pool := newPool(b, func(c *pgxpool.Config) { c.MaxConns = 2 })
	s := newStore(b, pool)
	ctx := context.Background()
	sess, err := s.Create(ctx, "old")
	if err != nil {
		b.Fatal(err)
	}
	const n = 20000
	for i := 0; i < n; i += 1000 {
		var batch []message.Message
		for t := range 250 {
			batch = append(batch, benchTurn(i+t)...)
		}
		if err := sess.AddMessages(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var total int
	for range b.N {
		b.StopTimer()
		if _, err := pool.Exec(ctx, s.q.recordSearchIndex, 0, "", 0); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.reindex(ctx); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
}

// Every search is bounded by WithSearchTimeout (issue 17 item 3): a search
// past it fails with an error matching context.DeadlineExceeded; the
// default bound lets an ordinary search finish, and 0 removes the bound.
func TestSearchTimeout(t *testing.T) {
	pool := testPool(t)
	s := newStore(t, pool)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("a kiwi in Tokyo")}); err != nil {
		t.Fatal(err)
	}
	bounded, err := Open(ctx, pool, WithSchema(s.opts.schema), WithSearchTimeout(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bounded.Search(ctx, session.SearchQuery{Text: "kiwi"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WithSearchTimeout(1ns): Search = %v, want an error matching context.DeadlineExceeded", err)
	}
	unbounded, err := Open(ctx, pool, WithSchema(s.opts.schema), WithSearchTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{s, unbounded} {
		hits, err := st.Search(ctx, session.SearchQuery{Text: "kiwi"})
		if err != nil || len(hits) != 1 {
			t.Fatalf("Search = %d hits, %v; want 1", len(hits), err)
		}
	}
}

// An index built before lone and last characters of scripts without
// spaces were cut to searchtext.MaxTermBytes holds such a character whole
// (here a Thai consonant with 300 vowel marks, 903 bytes, which PostgreSQL
// accepted; one past 2,047 bytes made the append fail): a phrase through it
// still finds the message, without reindexing.
func TestIndexOfUncutCharactersStillFinds(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	heavy := "ข" + strings.Repeat("\u0e31", 300)
	text := "ก" + heavy + " x"
	m := message.NewUserMessage(text)
	if err := sess.AddMessages(ctx, []message.Message{m, message.NewUserMessage("other x")}); err != nil {
		t.Fatal(err)
	}
	// The terms the earlier release indexed: the pair cut as now, the
	// last character whole.
	var old strings.Builder
	writeLexeme(&old, searchtext.Tokens(text)[0].Term)
	old.WriteString(":1 ")
	writeLexeme(&old, heavy)
	old.WriteString(":2 'x':3")
	if _, err := s.pool.Exec(ctx, `UPDATE `+sqlident.Quote(s.Schema())+`.messages SET tsv = $1::tsvector WHERE id = $2`, old.String(), m.ID); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, session.SearchQuery{Text: `"` + text + `"`})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].MessageID != m.ID {
		t.Errorf("the phrase finds %+v, want the message %q", hits, m.ID)
	}
}

// A word of 97 to 100 bytes that is not one character of a script without
// spaces is matched whole, not as a prefix: the search takes a page of
// limit rows and checks each in Go, and the longer words that start with
// it, dropped there, took the places of the messages that hold it.
func TestLongWordIsNotAPrefixInTheIndex(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	word := strings.Repeat("q", searchtext.MaxTermBytes-2) // 98 bytes: never cut
	var msgs []message.Message
	for _, text := range []string{word + "z", word + "zz", word + "y", word + "yy",
		"a longer message that holds the word " + word + " once, among many other words of its own"} {
		msgs = append(msgs, message.NewUserMessage(text))
	}
	if err := sess.AddMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, session.SearchQuery{Text: word, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := msgs[4].ID; len(hits) != 1 || hits[0].MessageID != want {
		t.Errorf("Search(%d-byte word, Limit 2) = %+v, want the one message %q that holds it", len(word), hits, want)
	}
}
