package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/internal/searchtext"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

func openSearchStore(t *testing.T) (*sqlite.Store, *sql.DB) {
	t.Helper()
	db := openFile(t, filepath.Join(t.TempDir(), "convo.db"))
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return st, db
}

func mark(t *testing.T, db *sql.DB) (indexedTo int64) {
	t.Helper()
	if err := db.QueryRow(`SELECT indexed_to FROM search_state`).Scan(&indexedTo); err != nil {
		t.Fatal(err)
	}
	return indexedTo
}

func searchIDs(t *testing.T, st *sqlite.Store, q string) []string {
	t.Helper()
	hits, err := st.Search(t.Context(), session.SearchQuery{Text: q, Limit: session.MaxListLimit})
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.MessageID)
	}
	return ids
}

func addText(t *testing.T, s session.Session, texts ...string) []message.Message {
	t.Helper()
	var msgs []message.Message
	for _, x := range texts {
		msgs = append(msgs, message.NewUserMessage(x))
	}
	if err := s.AddMessages(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// Appends leave the index alone; IndexSearch brings it up to date; a search
// finds indexed and unindexed messages alike.
func TestAppendsDoNotIndex(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	addText(t, s, "one kiwi", "two kiwi")
	if m := mark(t, db); m != 0 {
		t.Fatalf("mark after appends = %d, want 0 (appends do not index)", m)
	}
	n, err := st.IndexSearch(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("IndexSearch = %d, %v; want 2", n, err)
	}
	if m := mark(t, db); m != 2 {
		t.Fatalf("mark after IndexSearch = %d, want 2", m)
	}
	addText(t, s, "three kiwi")
	if got := searchIDs(t, st, "kiwi"); len(got) != 3 {
		t.Errorf("kiwi: %d hits, want 3 (two indexed, one not)", len(got))
	}
	if n, err := st.IndexSearch(t.Context()); err != nil || n != 1 {
		t.Fatalf("second IndexSearch = %d, %v; want 1", n, err)
	}
}

// A deletion at the top of the table lowers the mark, so that the rowid
// SQLite gives the next message (the largest plus one, which is the deleted
// one's) is indexed rather than assumed indexed.
func TestRowidReuseAfterPop(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	addText(t, s, "alpha", "popped")
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PopMessage(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m := mark(t, db); m != 1 {
		t.Errorf("mark after popping the top row = %d, want 1", m)
	}
	b := addText(t, s, "beta")
	var rowid int64
	if err := db.QueryRow(`SELECT rowid FROM messages WHERE id = ?`, b[0].ID).Scan(&rowid); err != nil {
		t.Fatal(err)
	}
	if rowid != 2 {
		t.Logf("the new row got rowid %d (SQLite reused 2 in earlier versions)", rowid)
	}
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, st, "beta"); len(got) != 1 || got[0] != b[0].ID {
		t.Errorf("beta: hits %q, want the new message", got)
	}
	if got := searchIDs(t, st, "popped"); len(got) != 0 {
		t.Errorf("popped: hits %q, want none", got)
	}
}

// Parts changed in place by another writer are taken out of the index and
// matched in Go until they are indexed again.
func TestPartsChangedInPlace(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	m := addText(t, s, "original walrus")
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, err := message.MarshalParts([]message.Part{message.Text{Text: "replaced narwhal"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE messages SET parts = ? WHERE id = ?`, string(p), m[0].ID); err != nil {
		t.Fatal(err)
	}
	for range 2 { // before and after indexing again
		if got := searchIDs(t, st, "walrus"); len(got) != 0 {
			t.Errorf("walrus: hits %q after the text was replaced", got)
		}
		if got := searchIDs(t, st, "narwhal"); len(got) != 1 {
			t.Errorf("narwhal: hits %q, want the message", got)
		}
		if n, err := st.IndexSearch(t.Context()); err != nil {
			t.Fatal(err)
		} else if n > 1 {
			t.Errorf("IndexSearch indexed %d messages, want at most 1", n)
		}
	}
}

// Candidates the index proposes that do not match the stored text (a stale
// index: an older release wrote the rows, or they were changed behind the
// store's back) do not take the places of hits: a page holds Limit hits
// whenever that many messages match.
func TestStaleCandidatesDoNotShortenThePage(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	stale := addText(t, s, slices.Repeat([]string{"nothing here"}, 20)...)
	want := addText(t, s, "an okapi among many other words of a longer text",
		"a second okapi among many other words of a longer text",
		"a third okapi among many other words of a longer text")
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Make the index claim "okapi" for the stale rows, ranked above the
	// real ones (short, and the word three times).
	for _, m := range stale {
		var row int64
		if err := db.QueryRow(`SELECT rowid FROM messages WHERE id = ?`, m.ID).Scan(&row); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DELETE FROM messages_search WHERE rowid = ?`, row); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO messages_search (rowid, terms) VALUES (?, 'okapi okapi okapi')`, row); err != nil {
			t.Fatal(err)
		}
	}
	for limit := 1; limit <= len(want); limit++ {
		hits, err := st.Search(t.Context(), session.SearchQuery{Text: "okapi", Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != limit {
			t.Errorf("Limit %d: %d hits, want %d", limit, len(hits), limit)
		}
		for _, h := range hits {
			if !slices.ContainsFunc(want, func(m message.Message) bool { return m.ID == h.MessageID }) {
				t.Errorf("Limit %d: hit %s is not a message with okapi", limit, h.MessageID)
			}
		}
	}
}

// An index built by other rules (another release) is not used: the search
// matches in Go, and indexing starts afresh.
func TestIndexOfOtherRulesIsRebuilt(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	addText(t, s, "東京の天気")
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Pretend the index holds other terms under other rules.
	if _, err := db.Exec(`INSERT INTO messages_search (messages_search) VALUES ('delete-all')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE search_state SET rules = 999`); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, st, "東京"); len(got) != 1 {
		t.Errorf("東京 under other rules: %d hits, want 1", len(got))
	}
	// The search, which may write, indexed the message again by the
	// current rules.
	var rules int
	if err := db.QueryRow(`SELECT rules FROM search_state`).Scan(&rules); err != nil || rules == 999 || mark(t, db) != 1 {
		t.Errorf("after the search: rules %d (%v), mark %d; want the index rebuilt", rules, err, mark(t, db))
	}
	if got := searchIDs(t, st, "天気"); len(got) != 1 {
		t.Errorf("天気 after reindexing: %d hits, want 1", len(got))
	}
}

// A search with a backlog larger than it matches in Go indexes it first, in
// batches, and finds all of it.
func TestSearchIndexesALargeBacklog(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i := range 2500 {
		texts = append(texts, fmt.Sprintf("backlog item %d", i))
	}
	addText(t, s, texts...)
	if got := searchIDs(t, st, "backlog"); len(got) != session.MaxListLimit {
		t.Errorf("backlog: %d hits, want %d (the limit)", len(got), session.MaxListLimit)
	}
	if m := mark(t, db); m != 2500 {
		t.Errorf("mark after the search = %d, want 2500", m)
	}
	if got := searchIDs(t, st, `"item 2499"`); len(got) != 1 {
		t.Errorf(`"item 2499": %d hits, want 1`, len(got))
	}
}

// Every search is bounded by WithSearchTimeout (issue 17 item 3), indexing
// of the backlog included; a search stopped by it leaves the index
// consistent, and the next search finds everything.
func TestSearchTimeout(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "convo.db")
	db := openFile(t, path)
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	// A backlog of 4,000 unindexed messages: indexing it takes tens of
	// milliseconds at least, far above the 1 ms bound below.
	var texts []string
	for i := range 4000 {
		texts = append(texts, fmt.Sprintf("kiwi number %d with some words to index %d", i, i*7))
	}
	addText(t, s, texts...)

	for _, d := range []time.Duration{time.Nanosecond, time.Millisecond} {
		bounded, err := sqlite.Open(ctx, db, sqlite.WithSearchTimeout(d))
		if err != nil {
			t.Fatal(err)
		}
		_, err = bounded.Search(ctx, session.SearchQuery{Text: "kiwi"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WithSearchTimeout(%v): Search = %v, want an error matching context.DeadlineExceeded", d, err)
		}
		t.Logf("WithSearchTimeout(%v): %v", d, err)
	}
	// The default bound (30 s) lets it finish, and nothing was lost.
	hits, err := st.Search(ctx, session.SearchQuery{Text: "kiwi", Limit: session.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != session.MaxListLimit {
		t.Fatalf("after stopped searches: %d hits, want %d", len(hits), session.MaxListLimit)
	}
	if n, err := st.IndexSearch(ctx); err != nil || n != 0 {
		t.Fatalf("IndexSearch after a finished search = %d, %v; want 0 (all indexed)", n, err)
	}
	// 0 removes the bound.
	unbounded, err := sqlite.Open(ctx, db, sqlite.WithSearchTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	if hits := searchIDs(t, unbounded, `"kiwi number 3999"`); len(hits) != 1 {
		t.Fatalf("unbounded search: %d hits, want 1", len(hits))
	}
}

// An index built before lone and last characters of scripts without
// spaces were cut to searchtext.MaxTermBytes holds such a character whole
// (here a Thai consonant with 300 vowel marks): a phrase through it still
// finds the message, without rebuilding the index.
func TestIndexOfUncutCharactersStillFinds(t *testing.T) {
	st, db := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	heavy := "ข" + strings.Repeat("\u0e31", 300)
	text := "ก" + heavy + " x"
	msgs := addText(t, s, text, "other x")
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The terms the earlier release indexed: the pair cut as now, the
	// last character whole.
	old := searchtext.Tokens(text)[0].Term + " " + heavy + " x"
	var row int64
	if err := db.QueryRow(`SELECT rowid FROM messages WHERE id = ?`, msgs[0].ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM messages_search WHERE rowid = ?`, row); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO messages_search (rowid, terms) VALUES (?, ?)`, row, old); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, st, `"`+text+`"`); !slices.Equal(got, []string{msgs[0].ID}) {
		t.Errorf("the phrase finds %q, want the message %q", got, msgs[0].ID)
	}
}

// A word of 97 to 100 bytes (a hash, a long identifier) that is not one
// character of a script without spaces was never indexed longer than it is,
// so the index query must not match it as a prefix: the query takes a page
// of limit rows from the index and checks each in Go, and longer words that
// start with it, dropped there, took the places of the messages that hold
// it, so that a search with a limit missed them (the memory store finds
// them).
func TestLongWordIsNotAPrefixInTheIndex(t *testing.T) {
	st, _ := openSearchStore(t)
	s, err := st.Create(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	word := strings.Repeat("q", searchtext.MaxTermBytes-2) // 98 bytes: never cut
	addText(t, s, word+"z", word+"zz", word+"y", word+"yy")
	want := addText(t, s, "a longer message that holds the word "+word+" once, among many other words of its own")
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(t.Context(), session.SearchQuery{Text: word, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].MessageID != want[0].ID {
		t.Errorf("Search(%d-byte word, Limit 2) = %+v, want the one message %q that holds it", len(word), hits, want[0].ID)
	}
}
