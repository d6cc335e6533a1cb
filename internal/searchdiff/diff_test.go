package searchdiff

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/convo-dev/convo/internal/searchtext"
	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// vocabulary is what texts and queries are made of: few enough words that
// random queries often match, in every script and form searchtext treats
// apart (see its package documentation): NFC and NFD diacritics, case and
// full case folding, NFKC forms (full width, half-width kana, ligatures,
// squared CJK), scripts written without spaces, marks kept as spelling,
// right-to-left scripts, emoji with joiners and modifiers, zero-width
// characters, and words that look like FTS5 or tsquery operators.
var vocabulary = []string{
	// Latin, with diacritics in NFC and NFD forms, case, folding.
	"kiwi", "Kiwi", "KIWI", "apple", "apples", "conf", "configuration", "confident",
	"café", "cafe\u0301", "CAFÉ", "cafe", "naïve", "naive", "Straße", "STRASSE", "strasse",
	"résumé", "re\u0301sume\u0301", "Zürich", "Tiếng", "Việt", "New", "York", "new", "yorkshire",
	"e-mail", "snake_case", "3.14", "2024", "x", "a", "I",
	// Operators of FTS5 and tsquery, as words.
	"AND", "OR", "NOT", "NEAR", "and", "or", "not", "near",
	// Scripts written without spaces.
	"東京", "東京都", "京都", "都庁", "東", "京", "紅葉", "日本語", "ひらがな", "が", "か", "カタカナ", "ｶﾀｶﾅ", "ｶﾞ",
	"서울", "서울에서", "한국어", "ภาษาไทย", "สวัสดี", "ไทย", "ສະບາຍດີ", "ខ្មែរ", "မြန်မာ", "㍻", "平成", "㈱",
	// Other scripts.
	"العربية", "العَرَبِيَّة", "שָׁלוֹם", "שלום", "हिन्दी", "हिंदी", "नमस्ते", "Москва", "москва", "Ёлка", "елка",
	"Ελλάδα", "ελλαδα", "ΟΔΥΣΣΕΥΣ", "Ἀθῆναι",
	// Compatibility forms.
	"ＡＢＣ", "abc", "ｋｉｗｉ", "ﬁnance", "finance", "①", "½", "Ⅻ", "ｶ", "ﾞ",
	// Emoji, joiners, zero-width characters.
	"🎉", "👨\u200d👩\u200d👧", "👍🏽", "ki\u200dwi", "ki\u200bwi", "ki\u200cwi", "\u200d", "\ufeff", "e\u0301\u0301",
	// Terms longer than MaxTermBytes: long words, long runs, and single
	// characters that carry many marks.
	strings.Repeat("kiwi", 30), strings.Repeat("東京", 30), strings.Repeat("हिन्दी", 10),
	"ก" + strings.Repeat("\u0e31", 50), "東" + strings.Repeat("\u0301", 50), "a" + strings.Repeat("\u0301", 50) + "b",
	// A single character past PostgreSQL's 2,047 bytes for a lexeme.
	"ข" + strings.Repeat("\u0e31", 700),
	// Words just under MaxTermBytes, each the start of the next: never
	// cut, so a search for one must not match the longer ones.
	strings.Repeat("q", searchtext.MaxTermBytes-3), strings.Repeat("q", searchtext.MaxTermBytes-2),
	strings.Repeat("q", searchtext.MaxTermBytes-1),
}

// separators go between the words of a text.
var separators = []string{" ", " ", " ", "\n", "\t", ", ", ". ", "-", "_", "", "　", "\u00a0", " / ", "'", "\"", "\x02", "\x03", "…"}

// syntax is text that a query engine might read as an operator.
var syntax = []string{`"`, `*`, `-`, `^`, `:`, `(`, `)`, `+`, `'`, `\`, `{`, `}`, `&`, `|`, `!`, `<->`, `<2>`, `:*`, `NEAR(`,
	`col:`, `terms:`, `*"`, `""`, `"*"`, `.`, `,`, `;`, `@@`, `%`, `_`, `\'`, `''`, `::`, "\x00", "\x02", "\x03", "\xff", "\u0301"}

// genText returns a short random text of vocabulary words.
func genText(r *mrand.Rand) string {
	var b strings.Builder
	n := 1 + r.IntN(8)
	for i := range n {
		if i > 0 {
			b.WriteString(separators[r.IntN(len(separators))])
		}
		b.WriteString(vocabulary[r.IntN(len(vocabulary))])
	}
	return b.String()
}

// genQuery returns a random query: words, pieces of words and of texts,
// prefixes, phrases, and text that looks like syntax, in random amounts.
func genQuery(r *mrand.Rand, texts []string) string {
	switch r.IntN(20) {
	case 0:
		return ""
	case 1: // punctuation only
		var b strings.Builder
		for range 1 + r.IntN(5) {
			b.WriteString(syntax[r.IntN(len(syntax))])
		}
		return b.String()
	case 2: // very long: past MaxQueryTerms and MaxTermBytes
		var b strings.Builder
		for range 50 + r.IntN(100) {
			b.WriteString(vocabulary[r.IntN(len(vocabulary))])
			b.WriteString(" ")
		}
		b.WriteString(strings.Repeat(vocabulary[r.IntN(len(vocabulary))], 40))
		return b.String()
	case 3: // a piece of a stored text, as it is
		if len(texts) > 0 {
			return runeSlice(r, texts[r.IntN(len(texts))])
		}
	case 4: // a piece of a stored text, quoted
		if len(texts) > 0 {
			return `"` + runeSlice(r, texts[r.IntN(len(texts))]) + `"`
		}
	}
	var b strings.Builder
	clauses := 1
	switch n := r.IntN(10); {
	case n >= 9:
		clauses = 3 + r.IntN(2)
	case n >= 6:
		clauses = 2
	}
	for i := range clauses {
		if i > 0 {
			b.WriteString([]string{" ", " ", "  ", "\t", "　", "\u00a0"}[r.IntN(6)])
		}
		b.WriteString(genClause(r, texts))
	}
	return b.String()
}

// genClause returns one clause of a query, of words drawn from the
// vocabulary or from texts.
func genClause(r *mrand.Rand, texts []string) string {
	word := func() string {
		w := vocabulary[r.IntN(len(vocabulary))]
		if len(texts) > 0 && r.IntN(2) == 0 {
			if f := strings.Fields(texts[r.IntN(len(texts))]); len(f) > 0 {
				w = f[r.IntN(len(f))]
			}
		}
		switch r.IntN(6) {
		case 0:
			w = runeSlice(r, w)
		case 1:
			w = strings.ToUpper(w)
		}
		return w
	}
	switch r.IntN(12) {
	case 0, 1, 2:
		return word()
	case 3, 4: // a prefix
		w := word()
		if n := utf8.RuneCountInString(w); n > 1 {
			w = string([]rune(w)[:1+r.IntN(n)])
		}
		return w + strings.Repeat("*", 1+r.IntN(2))
	case 5, 6: // a phrase, maybe a prefix, maybe unbalanced
		var b strings.Builder
		b.WriteString(`"`)
		for i := range 1 + r.IntN(3) {
			if i > 0 {
				b.WriteString(separators[r.IntN(len(separators))])
			}
			b.WriteString(word())
		}
		if r.IntN(5) > 0 {
			b.WriteString(`"`)
		}
		if r.IntN(3) == 0 {
			b.WriteString("*")
		}
		return b.String()
	case 7: // syntax around a word
		return syntax[r.IntN(len(syntax))] + word() + syntax[r.IntN(len(syntax))]
	case 8: // an operator between words
		return word() + " " + []string{"AND", "OR", "NOT", "NEAR", "NEAR/2", "-", "+", "|", "&", "!", "<->"}[r.IntN(11)] + " " + word()
	case 9: // * in odd places
		w := word()
		i := r.IntN(len(w) + 1)
		for i > 0 && !utf8.RuneStart(w[i%len(w)]) && i < len(w) {
			i--
		}
		return w[:i] + "*" + w[i:]
	case 10: // column filter, initial token, negation
		return []string{"terms:", "^", "-", "col:", "{terms}:", "NOT "}[r.IntN(6)] + word()
	}
	return syntax[r.IntN(len(syntax))]
}

// runeSlice returns a random run of s's characters.
func runeSlice(r *mrand.Rand, s string) string {
	rs := []rune(s)
	if len(rs) == 0 {
		return s
	}
	i := r.IntN(len(rs))
	j := i + 1 + r.IntN(len(rs)-i)
	return string(rs[i:j])
}

// sqliteDriver is the database/sql driver of the SQLite store:
// modernc.org/sqlite, or mattn/go-sqlite3 with -tags sqlite_fts5 (see
// driver_mattn_test.go).
var sqliteDriver = "sqlite"

// engine is one Searcher under test.
type engine struct {
	name  string
	store session.Store
	// view marks a store that reads another's database: it is not
	// written through.
	view bool
}

// world is the same sessions and messages in every engine, and what the
// searchable text of each message is.
type world struct {
	engines []engine
	sqlite  *sqlite.Store
	texts   map[hitKey]string
	owners  map[string]string // session id → owner
	all     []string          // every text, to draw queries from
	nextID  int
	// checked and matched count the queries checked and those that
	// matched a message, to show how often random queries match.
	checked, matched int
}

type hitKey struct{ session, message string }

// newWorld opens a memory store, a SQLite store in a temporary file and,
// when a server is configured, a PostgreSQL store in a schema of its own.
func newWorld(tb testing.TB) *world {
	tb.Helper()
	ctx := context.Background()
	w := &world{texts: map[hitKey]string{}, owners: map[string]string{}}
	w.engines = append(w.engines, engine{name: "memory", store: session.NewMemoryStore()})

	path := filepath.Join(tb.TempDir(), "convo.db")
	db, err := sql.Open(sqliteDriver, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	w.sqlite, err = sqlite.Open(ctx, db)
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	w.engines = append(w.engines, engine{name: "sqlite", store: w.sqlite})
	// A read-only store on the same file never indexes: it reads the
	// index the other builds and matches the rest in Go.
	ro, err := sql.Open(sqliteDriver, "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ro.Close() })
	rst, err := sqlite.Open(ctx, ro, sqlite.WithReadOnly())
	if err != nil {
		tb.Fatalf("sqlite.Open read-only: %v", err)
	}
	w.engines = append(w.engines, engine{name: "sqlite read-only", store: rst, view: true})

	if url := postgresURL(tb); url != "" {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			tb.Fatalf("CONVO_TEST_POSTGRES: %v", err)
		}
		cfg.MaxConns = 4
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			tb.Fatalf("connect to PostgreSQL: %v", err)
		}
		tb.Cleanup(pool.Close)
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema := "convo_searchdiff_" + hex.EncodeToString(b[:])
		if fuzzing() {
			// A fuzzing worker is killed at the end, before its cleanup
			// runs: its schema names its process, and the next run drops
			// those of processes that are gone.
			dropStaleSchemas(tb, pool)
			schema = fmt.Sprintf("convo_searchdiff_pid%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+sqlident.Quote(schema)+" CASCADE"); err != nil {
				tb.Errorf("drop test schema %s: %v", schema, err)
			}
		})
		st, err := postgres.Open(ctx, pool, postgres.WithSchema(schema))
		if err != nil {
			tb.Fatalf("postgres.Open: %v", err)
		}
		w.engines = append(w.engines, engine{name: "postgres", store: st})
	}
	return w
}

// fuzzing reports whether go test runs with -fuzz.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// dropStaleSchemas drops the schemas of fuzzing workers (see newWorld)
// whose process has ended.
func dropStaleSchemas(tb testing.TB, pool *pgxpool.Pool) {
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'convo\_searchdiff\_pid%'`)
	if err != nil {
		tb.Fatalf("list schemas: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("list schemas: %v", err)
	}
	for _, name := range names {
		var pid int
		if _, err := fmt.Sscanf(name, "convo_searchdiff_pid%d_", &pid); err != nil {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
			continue // still running
		}
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+sqlident.Quote(name)+" CASCADE"); err != nil {
			tb.Logf("drop stale schema %s: %v", name, err)
		}
	}
}

// postgresURL returns the server to test against, as the postgres
// package's tests choose it: CONVO_TEST_POSTGRES; under CI=true, the
// server CI starts (.ci/start-postgres.sh), which must answer; otherwise
// none, and the PostgreSQL store is left out with a note.
func postgresURL(tb testing.TB) string {
	if u := os.Getenv("CONVO_TEST_POSTGRES"); u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	tb.Log("PostgreSQL left out: no server configured; to include it, start PostgreSQL (for example with .ci/start-postgres.sh) and set " +
		"CONVO_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	return ""
}

// writable returns the engines that are written through.
func (w *world) writable() []engine {
	var out []engine
	for _, e := range w.engines {
		if !e.view {
			out = append(out, e)
		}
	}
	return out
}

// create creates the session id, owned by owner, in every engine.
func (w *world) create(tb testing.TB, id, owner string) {
	tb.Helper()
	for _, e := range w.writable() {
		if _, err := e.store.(session.Describer).CreateWith(context.Background(), id, session.CreateOptions{Owner: owner}); err != nil {
			tb.Fatalf("%s: create %q: %v", e.name, id, err)
		}
	}
	w.owners[id] = owner
}

// add appends one message per text to the session id in every engine,
// with the same ids. A text becomes a user, assistant (with reasoning) or
// tool message, so that every part searchtext.Text reads is searched.
func (w *world) add(tb testing.TB, id string, texts ...string) []message.Message {
	tb.Helper()
	var msgs []message.Message
	for i, text := range texts {
		var m message.Message
		switch i % 3 {
		case 0:
			m = message.NewUserMessage(text)
		case 1:
			half := len(text) / 2
			for half > 0 && !utf8.RuneStart(text[half]) {
				half--
			}
			m = message.NewMessage(message.RoleAssistant, message.Reasoning{Text: text[:half]}, message.Text{Text: text[half:]})
		case 2:
			m = message.NewMessage(message.RoleTool, message.ToolResult{CallID: "c", Name: "f", Content: text})
		}
		w.nextID++
		m.ID = fmt.Sprintf("m%05d", w.nextID)
		msgs = append(msgs, m)
		w.texts[hitKey{id, m.ID}] = searchtext.Text(m.Parts)
		if len(w.all) < 10000 { // a long fuzzing run appends without end
			w.all = append(w.all, text)
		}
	}
	for _, e := range w.writable() {
		s, err := e.store.Load(context.Background(), id)
		if err != nil {
			tb.Fatalf("%s: load %q: %v", e.name, id, err)
		}
		if err := s.AddMessages(context.Background(), msgs); err != nil {
			tb.Fatalf("%s: append to %q: %v", e.name, id, err)
		}
	}
	return msgs
}

// fork forks parent at the message at into id, in every engine.
func (w *world) fork(tb testing.TB, parent, at, id string, msgs []message.Message) {
	tb.Helper()
	for _, e := range w.writable() {
		if _, err := session.Fork(context.Background(), e.store, parent, at, id, session.CreateOptions{}); err != nil {
			tb.Fatalf("%s: fork %q: %v", e.name, parent, err)
		}
	}
	w.owners[id] = w.owners[parent]
	for _, m := range msgs {
		w.texts[hitKey{id, m.ID}] = w.texts[hitKey{parent, m.ID}]
		if m.ID == at {
			break
		}
	}
}

// remove deletes the session id from every engine.
func (w *world) remove(tb testing.TB, id string) {
	tb.Helper()
	for _, e := range w.writable() {
		if err := e.store.Delete(context.Background(), id); err != nil {
			tb.Fatalf("%s: delete %q: %v", e.name, id, err)
		}
	}
	for k := range w.texts {
		if k.session == id {
			delete(w.texts, k)
		}
	}
	delete(w.owners, id)
}

// index builds the SQLite store's FTS5 index.
func (w *world) index(tb testing.TB) {
	tb.Helper()
	if _, err := w.sqlite.IndexSearch(context.Background()); err != nil {
		tb.Fatalf("IndexSearch: %v", err)
	}
}

// check runs sq on every engine and reports where one differs from
// searchtext's matcher over the world's texts, fails, returns a hit twice,
// or returns a snippet that is not a highlighted excerpt of the match.
func (w *world) check(tb testing.TB, phase string, sq session.SearchQuery) {
	tb.Helper()
	q := searchtext.Parse(sq.Text)
	want := map[hitKey]bool{}
	for k, text := range w.texts {
		if sq.SessionID != "" && k.session != sq.SessionID || sq.Owner != "" && w.owners[k.session] != sq.Owner {
			continue
		}
		if q.Match(text) {
			want[k] = true
		}
	}
	w.checked++
	if len(want) > 0 {
		w.matched++
	}
	sq.Limit = session.MaxListLimit
	invalid := sq.SessionID != "" && session.ValidateID(sq.SessionID) != nil
	for _, e := range w.engines {
		hits, err := e.store.(session.Searcher).Search(context.Background(), sq)
		if invalid {
			if !errors.Is(err, session.ErrInvalidID) {
				tb.Errorf("%s (%s): Search(%+q, session %+q) = %d hits, %v; want an error matching session.ErrInvalidID", e.name, phase, sq.Text, sq.SessionID, len(hits), err)
			}
			continue
		}
		if err != nil {
			tb.Errorf("%s (%s): Search(%+q, owner %q, session %q): %v", e.name, phase, sq.Text, sq.Owner, sq.SessionID, err)
			continue
		}
		if hits == nil {
			tb.Errorf("%s (%s): Search(%+q) = nil, want a non-nil empty slice", e.name, phase, sq.Text)
		}
		got := map[hitKey]bool{}
		for _, h := range hits {
			k := hitKey{h.SessionID, h.MessageID}
			if got[k] {
				tb.Errorf("%s (%s): Search(%+q) returned %v twice", e.name, phase, sq.Text, k)
			}
			got[k] = true
			text, ok := w.texts[k]
			if !ok {
				tb.Errorf("%s (%s): Search(%+q) returned %v, which is not stored", e.name, phase, sq.Text, k)
				continue
			}
			if err := checkSnippet(q, text, h.Snippet); err != nil {
				tb.Errorf("%s (%s): Search(%+q) on %+q: snippet %+q: %v", e.name, phase, sq.Text, text, h.Snippet, err)
			}
		}
		for k := range want {
			if !got[k] {
				tb.Errorf("%s (%s): Search(%+q, owner %q, session %q) missed %v: %+q (terms %q; FTS5 %s; tsquery %s)",
					e.name, phase, sq.Text, sq.Owner, sq.SessionID, k, w.texts[k], searchtext.Terms(w.texts[k]), q.FTS5(), q.TSQuery())
			}
		}
		for k := range got {
			if !want[k] && w.texts[k] != "" {
				tb.Errorf("%s (%s): Search(%+q, owner %q, session %q) found %v, which does not match: %+q (terms %q)",
					e.name, phase, sq.Text, sq.Owner, sq.SessionID, k, w.texts[k], searchtext.Terms(w.texts[k]))
			}
		}
		// A page smaller than the matches is full, of matches only: an
		// engine that took a page of candidates and then dropped some in
		// its check would return fewer (which engine ranks which first
		// differs, so only the count and the membership are compared).
		if len(want) < 2 {
			continue
		}
		small := sq
		small.Limit = len(want) / 2
		page, err := e.store.(session.Searcher).Search(context.Background(), small)
		if err != nil {
			tb.Errorf("%s (%s): Search(%+q, limit %d): %v", e.name, phase, sq.Text, small.Limit, err)
			continue
		}
		if len(page) != small.Limit {
			tb.Errorf("%s (%s): Search(%+q, owner %q, session %q, limit %d) = %d hits, want %d (of the %d that match; FTS5 %s; tsquery %s)",
				e.name, phase, sq.Text, sq.Owner, sq.SessionID, small.Limit, len(page), small.Limit, len(want), q.FTS5(), q.TSQuery())
		}
		for _, h := range page {
			if k := (hitKey{h.SessionID, h.MessageID}); !want[k] && w.texts[k] != "" {
				tb.Errorf("%s (%s): Search(%+q, limit %d) found %v, which does not match", e.name, phase, sq.Text, small.Limit, k)
			}
		}
	}
}

// checkSnippet checks a hit's snippet against the text it came from: it is
// an excerpt of the text (without the highlight markers the text held),
// with "…" where it was cut; it highlights at least one span; markers are
// balanced; every highlighted span on its own matches a clause of q; and
// where the excerpt can be placed in the text, every span starts and ends
// where a term of the text does (it never highlights part of a word).
func checkSnippet(q searchtext.Query, text, snippet string) error {
	var plain strings.Builder
	var segs []string
	var segAt []int
	rest := snippet
	for {
		i := strings.Index(rest, session.HighlightStart)
		if i < 0 {
			if strings.Contains(rest, session.HighlightEnd) {
				return fmt.Errorf("an end marker without a start")
			}
			plain.WriteString(rest)
			break
		}
		if strings.Contains(rest[:i], session.HighlightEnd) {
			return fmt.Errorf("an end marker without a start")
		}
		plain.WriteString(rest[:i])
		rest = rest[i+len(session.HighlightStart):]
		j := strings.Index(rest, session.HighlightEnd)
		if j < 0 {
			return fmt.Errorf("a start marker without an end")
		}
		seg := rest[:j]
		if strings.Contains(seg, session.HighlightStart) {
			return fmt.Errorf("nested start markers")
		}
		if seg == "" {
			return fmt.Errorf("an empty highlight")
		}
		segs = append(segs, seg)
		segAt = append(segAt, plain.Len())
		plain.WriteString(seg)
		rest = rest[j+len(session.HighlightEnd):]
	}
	if len(segs) == 0 {
		return fmt.Errorf("nothing highlighted")
	}
	clean := strings.NewReplacer(session.HighlightStart, "", session.HighlightEnd, "").Replace(text)
	for _, seg := range segs {
		if clean != text {
			// The markers the text held were removed, which may join
			// two words of a span: it cannot be matched on its own.
			break
		}
		ok := false
		for _, c := range q.Clauses {
			if (searchtext.Query{Clauses: []searchtext.Clause{c}}).Match(seg) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("highlight %+q matches no clause of the query", seg)
		}
	}
	body, cut := plain.String(), 0
	if strings.HasPrefix(body, "…") && !strings.HasPrefix(clean, body) {
		body, cut = strings.TrimPrefix(body, "…"), len("…")
	}
	if strings.HasSuffix(body, "…") && !strings.Contains(clean, body) {
		body = strings.TrimSuffix(body, "…")
	}
	if !strings.Contains(clean, body) {
		return fmt.Errorf("not an excerpt of the text")
	}
	if clean != text {
		return nil // offsets in clean are not offsets in text
	}
	// The excerpt may occur in the text more than once: one of its places
	// must put every highlight on terms.
	toks := searchtext.Tokens(text)
	var bad error
	for from := 0; ; {
		i := strings.Index(text[from:], body)
		if i < 0 {
			return bad
		}
		at := from + i
		if bad = spansOnTerms(toks, segs, segAt, at-cut); bad == nil {
			return nil
		}
		_, size := utf8.DecodeRuneInString(text[at:])
		from = at + max(size, 1)
	}
}

// spansOnTerms reports whether each highlighted segment, at off+segAt[i]
// in the text, starts where a term starts and ends where one ends (or
// where the first character of a bigram does).
func spansOnTerms(toks []searchtext.Token, segs []string, segAt []int, off int) error {
	for i, seg := range segs {
		start := off + segAt[i]
		end := start + len(seg)
		if !slices.ContainsFunc(toks, func(t searchtext.Token) bool { return t.Start == start }) {
			return fmt.Errorf("highlight %+q starts at %d, where no term starts", seg, start)
		}
		if !slices.ContainsFunc(toks, func(t searchtext.Token) bool {
			return t.End == end || t.Kind == searchtext.Bigram && t.FirstEnd == end
		}) {
			return fmt.Errorf("highlight %+q ends at %d, where no term ends", seg, end)
		}
	}
	return nil
}

// randomQuery returns a query with, now and then, an owner or session
// filter.
func (w *world) randomQuery(r *mrand.Rand) session.SearchQuery {
	sq := session.SearchQuery{Text: genQuery(r, w.all)}
	switch r.IntN(20) {
	case 0:
		sq.SessionID = []string{"\xff", strings.Repeat("s", session.MaxIDLength+1), "s\x00", "nosuch"}[r.IntN(4)]
	case 1, 2:
		sq.Owner = []string{"alice", "bob", "nobody"}[r.IntN(3)]
	case 3, 4:
		ids := make([]string, 0, len(w.owners))
		for id := range w.owners {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		sq.SessionID = ids[r.IntN(len(ids))]
	}
	return sq
}

// populate fills w with sessions of random texts, and a fork.
func (w *world) populate(tb testing.TB, r *mrand.Rand, perSession int) {
	tb.Helper()
	var first []message.Message
	for i, owner := range []string{"alice", "alice", "bob"} {
		id := fmt.Sprintf("s%d", i+1)
		w.create(tb, id, owner)
		texts := make([]string, perSession)
		for j := range texts {
			texts[j] = genText(r)
		}
		msgs := w.add(tb, id, texts...)
		if i == 0 {
			first = msgs
		}
	}
	w.fork(tb, "s1", first[len(first)/2].ID, "s1-fork", first)
	w.add(tb, "s1-fork", genText(r), genText(r))
}

// regressions are queries and texts that once went wrong; each runs in
// every mode.
var regressions = []struct{ query, text string }{
	// A Thai consonant with 700 vowel marks, alone or last in its run,
	// was a 2,103-byte term: PostgreSQL refused the append ("word is too
	// long") and the query ("word is too long in tsquery"); the memory
	// and SQLite stores found it.
	{"ข" + strings.Repeat("\u0e31", 700), "ข" + strings.Repeat("\u0e31", 700)},
	{`"ก` + "ข" + strings.Repeat("\u0e31", 700) + ` x"`, "ก" + "ข" + strings.Repeat("\u0e31", 700) + " x"},
	// A word of 98 bytes (never cut) was a prefix term in the FTS5 and
	// tsquery queries: the short messages of the longer words that start
	// with it took the page of candidates, the check in Go dropped them,
	// and a search with a limit missed the messages that hold the word.
	{q98, "a longer message that holds the word " + q98 + " once, among many other words"},
	{q98, "another longer message with the word " + q98 + " in it, and more words after it"},
	{q98, q98 + "z"}, {q98, q98 + "zz"}, {q98, q98 + "y"}, {q98, q98 + "yy"},
}

// q98 is a word of MaxTermBytes-2 bytes.
var q98 = strings.Repeat("q", searchtext.MaxTermBytes-2)

// TestSearchAgreesAcrossEngines runs random queries over random texts on
// every store and checks each answer against searchtext's matcher: first
// with the SQLite store's messages unindexed (matched in Go), then indexed
// (found by FTS5).
func TestSearchAgreesAcrossEngines(t *testing.T) {
	seed := uint64(20261126)
	if s := os.Getenv("CONVO_SEARCHDIFF_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("CONVO_SEARCHDIFF_SEED: %v", err)
		}
	}
	t.Logf("seed %d (set CONVO_SEARCHDIFF_SEED to repeat)", seed)
	r := mrand.New(mrand.NewPCG(seed, 0))
	w := newWorld(t)
	w.populate(t, r, 30)
	w.create(t, "regress", "carol")
	var regTexts []string
	for _, rc := range regressions {
		regTexts = append(regTexts, rc.text)
	}
	if len(regTexts) > 0 {
		w.add(t, "regress", regTexts...)
	}
	queries := make([]session.SearchQuery, 200)
	for i := range queries {
		queries[i] = w.randomQuery(r)
	}
	for _, rc := range regressions {
		queries = append(queries, session.SearchQuery{Text: rc.query})
	}
	// The phases: nothing indexed (SQLite matches every message in Go);
	// everything indexed (FTS5 finds them); the fork's parent deleted, so
	// that the fork's rows receive the text they shared (SQLite lists
	// them as pending and matches them in Go; PostgreSQL indexes them
	// anew); indexed again; and with more messages appended than a
	// search matches in Go (the SQLite store's search indexes them
	// first; the read-only one matches them in Go).
	for _, phase := range []string{"unindexed", "indexed", "parent deleted", "reindexed", "backlog"} {
		switch phase {
		case "indexed", "reindexed":
			w.index(t)
		case "parent deleted":
			w.remove(t, "s1")
		case "backlog":
			texts := make([]string, 300) // more than the 256 sqlite.Search matches in Go
			for i := range texts {
				texts[i] = genText(r)
			}
			w.add(t, "s2", texts...)
		}
		for _, sq := range queries {
			if sq.SessionID == "s1" {
				sq.SessionID = "s1-fork"
			}
			w.check(t, phase, sq)
			if t.Failed() && testing.Short() {
				return
			}
		}
		if phase == "backlog" {
			if n, err := w.sqlite.IndexSearch(context.Background()); n != 0 || err != nil {
				t.Errorf("after the searches, IndexSearch indexed %d messages (%v): the searches did not index the backlog first", n, err)
			}
		}
	}
	t.Logf("%d queries checked on %d engines, %d matched a message", w.checked, len(w.engines), w.matched)
	if w.matched < w.checked/8 {
		t.Errorf("only %d of %d queries matched: the vocabulary no longer makes matches common", w.matched, w.checked)
	}
}

// FuzzSearchAgrees appends the fuzzer's text (one message per line, a few
// at most) to a new session of every store and checks the fuzzer's query
// against them, the session alone and everything stored, before and after
// the SQLite index is built. Run it with
//
//	go test ./internal/searchdiff -run '^$' -fuzz FuzzSearchAgrees -fuzztime 5m -fuzzminimizetime 1x
//
// with CONVO_TEST_POSTGRES set to include PostgreSQL, and with -tags
// sqlite_fts5 (and cgo) to run SQLite on mattn/go-sqlite3. Minimizing each
// new input (60 s by default) takes most of a run otherwise: the engines'
// code gives the fuzzer many new paths, each of which it minimizes; 1x
// gave about ten times the executions.
func FuzzSearchAgrees(f *testing.F) {
	r := mrand.New(mrand.NewPCG(1, 2))
	w := newWorld(f)
	w.populate(f, r, 10)
	w.index(f)
	for range 40 {
		f.Add(genQuery(r, w.all), genText(r)+"\n"+genText(r))
	}
	for _, rc := range regressions {
		f.Add(rc.query, rc.text)
	}
	n := 0
	f.Fuzz(func(t *testing.T, query, text string) {
		// Stored text is valid UTF-8 without NUL (message text
		// round-trips through JSON, and PostgreSQL text holds no NUL);
		// the query is taken as it comes.
		text = strings.ReplaceAll(strings.ToValidUTF8(text, "\uFFFD"), "\x00", "")
		lines := strings.Split(text, "\n")
		if len(lines) > 4 {
			lines = lines[:4]
		}
		n++
		id := fmt.Sprintf("f%d", n)
		w.create(t, id, "fuzz")
		defer w.remove(t, id)
		w.add(t, id, lines...)
		for _, phase := range []string{"unindexed", "indexed"} {
			if phase == "indexed" {
				w.index(t)
			}
			w.check(t, phase, session.SearchQuery{Text: query, SessionID: id})
			w.check(t, phase, session.SearchQuery{Text: query})
		}
	})
}
