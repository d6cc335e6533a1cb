package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/sqlite"
)

// TestSearchIndexFlag checks search on a SQLite store whose full-text index
// was never filled (an application that never searched): a plain search
// says on stderr that it reads every unindexed message and changes
// nothing; search --index fills the index (it writes), after which no
// message is left to read one by one and the hits are the same.
func TestSearchIndexFlag(t *testing.T) {
	defer func(n int64) { backlogNote = n }(backlogNote)
	backlogNote = 1
	url := "sqlite:" + filepath.Join(t.TempDir(), "convo.db")
	seed(t, url, "", demoSessions(t))
	backlog := func() int64 {
		t.Helper()
		b, err := openBackend(t.Context(), url, "", true, true)
		if err != nil {
			t.Fatal(err)
		}
		defer b.close()
		n, err := b.store.(*sqlite.Store).SearchBacklog(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := backlog()
	if before == 0 {
		t.Fatal("a seeded store that never searched has no backlog")
	}
	plain := runInProcess(t, "", "--db", url, "search", "paris")
	if plain.err != nil {
		t.Fatal(plain.err)
	}
	if !strings.Contains(plain.stderr, "not in the full-text index yet") || !strings.Contains(plain.stderr, "search --index") {
		t.Errorf("search over %d unindexed messages says nothing about them; stderr:\n%s", before, plain.stderr)
	}
	if got := backlog(); got != before {
		t.Errorf("a plain search changed the backlog from %d to %d: it must not write", before, got)
	}
	indexed := runInProcess(t, "", "--db", url, "search", "--index", "paris")
	if indexed.err != nil {
		t.Fatal(indexed.err)
	}
	if got := backlog(); got != 0 {
		t.Errorf("after search --index, %d messages are not indexed", got)
	}
	// The same hits; their order may differ (the index ranks by bm25, a
	// search in Go by how often the words occur).
	lines := func(s string) []string { l := strings.Split(s, "\n"); slices.Sort(l); return l }
	if !slices.Equal(lines(indexed.stdout), lines(plain.stdout)) || !strings.Contains(indexed.stdout, "*Paris*") {
		t.Errorf("hits differ after indexing:\nbefore:\n%s\nafter:\n%s", plain.stdout, indexed.stdout)
	}
	again := runInProcess(t, "", "--db", url, "search", "paris")
	if again.err != nil || strings.Contains(again.stderr, "not in the full-text index") {
		t.Errorf("a search after indexing: %v; stderr:\n%s", again.err, again.stderr)
	}
}
