package drivertest

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// testSearchAcrossBuilds moves one database file between a SQLite build
// with FTS5 and one without. A build without FTS5 refuses a file that has
// the full-text index (it could not keep it in step, and dropping only the
// triggers would leave erased text searchable); after DropSearchIndex it
// opens the file, Search says why it cannot run, and appends work. Back with
// FTS5, the index is rebuilt and finds the messages appended meanwhile.
func testSearchAcrossBuilds(t *testing.T, d Driver) {
	if d.OpenWithoutFTS5 == nil {
		t.Skip("this driver test has no build without FTS5 to compare")
	}
	ctx := t.Context()
	dsn := d.FileDSN(filepath.Join(t.TempDir(), "convo.db"))
	withFTS := OpenStore(t, d, dsn)
	if _, err := withFTS.Search(ctx, session.SearchQuery{Text: "probe"}); err != nil {
		t.Fatalf("Search with FTS5: %v", err)
	}
	s, err := withFTS.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("the first capybara")}); err != nil {
		t.Fatal(err)
	}

	db, err := d.OpenWithoutFTS5(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlite.Open(ctx, db); !errors.Is(err, sqlite.ErrNoFTS5) {
		t.Fatalf("open a file with a full-text index without FTS5: %v, want ErrNoFTS5", err)
	}
	if err := withFTS.DropSearchIndex(ctx); err != nil {
		t.Fatal(err)
	}
	withFTS.DB().Close()

	without, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatalf("open without FTS5 after DropSearchIndex: %v", err)
	}
	_, err = without.Search(ctx, session.SearchQuery{Text: "capybara"})
	if !errors.Is(err, session.ErrNotSupported) || !errors.Is(err, sqlite.ErrNoFTS5) {
		t.Fatalf("Search without FTS5: %v, want ErrNotSupported and ErrNoFTS5", err)
	}
	s2, err := without.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.AddMessages(ctx, []message.Message{message.NewUserMessage("the second capybara")}); err != nil {
		t.Fatalf("append without FTS5: %v", err)
	}
	db.Close()

	again := OpenStore(t, d, dsn)
	hits, err := again.Search(ctx, session.SearchQuery{Text: "capybara"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 {
		t.Errorf("after reopening with FTS5: %d hits, want both messages (the index is rebuilt)", len(hits))
	}
}
