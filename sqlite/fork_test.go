package sqlite_test

import (
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// shareState reports, for the rows of session id, how many hold parts of
// their own (src NULL) and how many share another row's, and the sum of
// the bytes of parts they hold.
func shareState(t *testing.T, db *sql.DB, id string) (own, shared, bytes int64) {
	t.Helper()
	err := db.QueryRow(`SELECT count(*) FILTER (WHERE src IS NULL), count(*) FILTER (WHERE src IS NOT NULL),
		COALESCE(sum(length(CAST(parts AS BLOB))), 0) FROM messages WHERE session_id = ?`, id).Scan(&own, &shared, &bytes)
	if err != nil {
		t.Fatal(err)
	}
	return own, shared, bytes
}

// checkReferences fails t unless every row that shares parts refers to a
// row that exists and holds its own (no dangling reference, no chain).
func checkReferences(t *testing.T, db *sql.DB) {
	t.Helper()
	var bad int
	err := db.QueryRow(`SELECT count(*) FROM messages AS m WHERE m.src IS NOT NULL AND NOT EXISTS
		(SELECT 1 FROM messages AS o WHERE o.session_id = m.src AND o.seq = m.seq AND o.src IS NULL)`).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d rows refer to a row that is missing or holds no parts", bad)
	}
}

func messagesOf(t *testing.T, st *sqlite.Store, id string) []message.Message {
	t.Helper()
	s, err := st.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%q): %v", id, err)
	}
	msgs, err := s.GetMessages(t.Context(), nil)
	if err != nil {
		t.Fatalf("GetMessages(%q): %v", id, err)
	}
	return msgs
}

func sameMsgs(t *testing.T, what string, want, got []message.Message) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// newForkFamily makes p (owner alice) with five messages, f1 a fork of p at
// its fourth (owner alice), f2 a fork of f1 at its third (owner bob), and
// returns p's messages.
func newForkFamily(t *testing.T, st *sqlite.Store) []message.Message {
	t.Helper()
	ctx := t.Context()
	p, err := st.CreateWith(ctx, "p", session.CreateOptions{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	pm := addText(t, p, "the first axolotl", "a second axolotl", "third", "fourth axolotl", "fifth")
	pm = messagesOf(t, st, "p")
	if _, err := st.Fork(ctx, "p", pm[3].ID, "f1", session.CreateOptions{Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Fork(ctx, "f1", pm[2].ID, "f2", session.CreateOptions{Owner: "bob"}); err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestForkSharesParts: a fork's rows hold no parts, and refer to the rows
// that do, a fork of a fork to the same rows as its parent.
func TestForkSharesParts(t *testing.T) {
	st, db := openSearchStore(t)
	pm := newForkFamily(t, st)
	if own, shared, n := shareState(t, db, "f1"); own != 0 || shared != 4 || n != 0 {
		t.Errorf("f1 holds %d rows with parts, %d sharing, %d bytes of parts; want 0, 4, 0", own, shared, n)
	}
	var refs []string
	rows, err := db.Query(`SELECT src FROM messages WHERE session_id = 'f2' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var src string
		if err := rows.Scan(&src); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, src)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refs, []string{"p", "p", "p"}) {
		t.Errorf("the rows of a fork of a fork refer to %q, want p's rows", refs)
	}
	checkReferences(t, db)
	sameMsgs(t, "f1", pm[:4], messagesOf(t, st, "f1"))
	sameMsgs(t, "f2", pm[:3], messagesOf(t, st, "f2"))
	// Every read path: last n, a range, the change feed's fork record.
	f1, err := st.Load(t.Context(), "f1")
	if err != nil {
		t.Fatal(err)
	}
	last, err := f1.GetMessages(t.Context(), session.Limit(2))
	if err != nil {
		t.Fatal(err)
	}
	sameMsgs(t, "last 2 of f1", pm[2:4], last)
	es, err := f1.(session.Ranger).Range(t.Context(), session.RangeQuery{After: 1, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var ranged []message.Message
	for _, e := range es {
		ranged = append(ranged, e.Message)
	}
	sameMsgs(t, "a range of f1", pm[1:3], ranged)
}

// TestForkSurvivesItsAncestors: every way a row that others share can go
// hands its parts on, and leaves no reference dangling.
func TestForkSurvivesItsAncestors(t *testing.T) {
	ctx := t.Context()
	t.Run("delete", func(t *testing.T) {
		st, db := openSearchStore(t)
		pm := newForkFamily(t, st)
		if err := st.Delete(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		sameMsgs(t, "f1 after p was deleted", pm[:4], messagesOf(t, st, "f1"))
		sameMsgs(t, "f2 after p was deleted", pm[:3], messagesOf(t, st, "f2"))
		// The parts were written once: f1 holds them, f2 refers to f1.
		if own, shared, _ := shareState(t, db, "f1"); own != 4 || shared != 0 {
			t.Errorf("f1 after p was deleted: %d rows with parts, %d sharing; want 4, 0", own, shared)
		}
		if own, shared, _ := shareState(t, db, "f2"); own != 0 || shared != 3 {
			t.Errorf("f2 after p was deleted: %d rows with parts, %d sharing; want 0, 3", own, shared)
		}
		if err := st.Delete(ctx, "f1"); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		sameMsgs(t, "f2 after p and f1 were deleted", pm[:3], messagesOf(t, st, "f2"))
	})
	t.Run("owner_erased_with_parent_and_fork", func(t *testing.T) {
		// One bulk delete takes p and f1 (alice's); f2 (bob's) stays.
		st, db := openSearchStore(t)
		pm := newForkFamily(t, st)
		rep, err := st.DeleteOwner(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.SessionIDs, []string{"f1", "p"}) {
			t.Errorf("DeleteOwner(alice) deleted %q, want [f1 p]", rep.SessionIDs)
		}
		checkReferences(t, db)
		sameMsgs(t, "f2 after alice was erased", pm[:3], messagesOf(t, st, "f2"))
		var left int
		if err := db.QueryRow(`SELECT count(*) FROM messages WHERE session_id IN ('p', 'f1') OR src IN ('p', 'f1')`).Scan(&left); err != nil || left != 0 {
			t.Errorf("%d rows of, or referring to, the erased sessions are left (%v)", left, err)
		}
	})
	t.Run("pop_clear_quarantine", func(t *testing.T) {
		st, db := openSearchStore(t)
		pm := newForkFamily(t, st)
		p, err := st.Load(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		// A pop of an inherited message in the fork returns it whole.
		f1, err := st.Load(ctx, "f1")
		if err != nil {
			t.Fatal(err)
		}
		popped, err := f1.PopMessage(ctx)
		if err != nil || popped == nil {
			t.Fatalf("PopMessage of f1: %v, %v", popped, err)
		}
		sameMsgs(t, "message popped from f1", pm[3:4], []message.Message{*popped})
		// Quarantining a shared row in the fork moves the shared parts.
		if err := st.Quarantine(ctx, "f1", pm[0].ID, "test"); err != nil {
			t.Fatal(err)
		}
		q, err := st.Quarantined(ctx, "f1")
		if err != nil || len(q) != 1 {
			t.Fatalf("Quarantined(f1) = %v, %v", q, err)
		}
		if ps, err := message.UnmarshalParts(q[0].Parts); err != nil || message.NewMessage(message.RoleUser, ps...).Content() != "the first axolotl" {
			t.Errorf("quarantined row of f1 holds %q (%v), want the shared parts", q[0].Parts, err)
		}
		// The parent's rows go from the top, then all at once.
		for range 3 {
			if _, err := p.PopMessage(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkReferences(t, db)
		if err := p.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		sameMsgs(t, "f1 after p was popped and cleared", pm[1:3], messagesOf(t, st, "f1"))
		sameMsgs(t, "f2 after p was popped and cleared", pm[:3], messagesOf(t, st, "f2"))
	})
	t.Run("replace", func(t *testing.T) {
		st, db := openSearchStore(t)
		pm := newForkFamily(t, st)
		p, err := st.Load(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		r := p.(session.Rewriter)
		_, v, err := p.(session.Versioned).Snapshot(ctx, session.Limit(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReplaceMessages(ctx, v, []message.Message{message.NewUserMessage("new")}); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		sameMsgs(t, "f1 after p was replaced", pm[:4], messagesOf(t, st, "f1"))
	})
	t.Run("parts_changed_in_place", func(t *testing.T) {
		// Another program rewrites a shared row, then a sharing one.
		st, db := openSearchStore(t)
		pm := newForkFamily(t, st)
		if _, err := db.Exec(`UPDATE messages SET parts = '[{"type":"text","text":"changed"}]' WHERE session_id = 'p' AND seq = 1`); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		sameMsgs(t, "f1 after p's first row changed in place", pm[:4], messagesOf(t, st, "f1"))
		if _, err := db.Exec(`UPDATE messages SET parts = '[{"type":"text","text":"mine"}]' WHERE session_id = 'f2' AND seq = 2`); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		got := messagesOf(t, st, "f2")
		if len(got) != 3 || got[1].Content() != "mine" {
			t.Errorf("f2 after its second row changed in place: %v", got)
		}
		sameMsgs(t, "f1 after f2's row changed in place", pm[:4], messagesOf(t, st, "f1"))
	})
	t.Run("vacuum", func(t *testing.T) {
		// References name rows by (session, seq), which VACUUM keeps
		// (it may renumber the rowids of a table without an INTEGER
		// PRIMARY KEY: https://sqlite.org/lang_vacuum.html).
		st, db := openSearchStore(t)
		pm := newForkFamily(t, st)
		if _, err := db.Exec(`DELETE FROM messages WHERE session_id = 'p' AND seq = 5`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`VACUUM`); err != nil {
			t.Fatal(err)
		}
		sameMsgs(t, "f1 after VACUUM", pm[:4], messagesOf(t, st, "f1"))
		if err := st.Delete(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		checkReferences(t, db)
		sameMsgs(t, "f2 after VACUUM and deleting p", pm[:3], messagesOf(t, st, "f2"))
	})
}

// TestForkSearchAndErasure: a fork's inherited text is indexed and found in
// the fork; when the row it shares goes, the fork is still found; erased
// text is found nowhere.
func TestForkSearchAndErasure(t *testing.T) {
	ctx := t.Context()
	st, db := openSearchStore(t)
	newForkFamily(t, st)
	if _, err := st.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(q session.SearchQuery) map[string]int {
		t.Helper()
		hits, err := st.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, h := range hits {
			n[h.SessionID]++
			if h.Snippet == "" {
				t.Errorf("hit %+v has no snippet", h)
			}
		}
		return n
	}
	want := map[string]int{"p": 3, "f1": 3, "f2": 2}
	if got := count(session.SearchQuery{Text: "axolotl", Limit: 100}); !cmp.Equal(got, want) {
		t.Errorf("axolotl hits by session: %v, want %v", got, want)
	}
	if err := st.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	delete(want, "p")
	if got := count(session.SearchQuery{Text: "axolotl", Limit: 100}); !cmp.Equal(got, want) {
		t.Errorf("axolotl hits by session after p was deleted: %v, want %v", got, want)
	}
	if _, err := st.IndexSearch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteOwner(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteOwner(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := count(session.SearchQuery{Text: "axolotl", Limit: 100}); len(got) != 0 {
		t.Errorf("axolotl hits after every session was erased: %v", got)
	}
	var entries int
	if err := db.QueryRow(`SELECT count(*) FROM messages_search`).Scan(&entries); err != nil || entries != 0 {
		t.Errorf("the index holds %d entries after every session was erased (%v)", entries, err)
	}
}

// TestStaleSearchTriggerIsReplacedAndIndexKept: a database whose AFTER
// UPDATE trigger of the index is schema version 6's (which also re-indexes
// a fork's row that receives the parts it shared) gets this release's at
// open, and keeps its index.
func TestStaleSearchTriggerIsReplacedAndIndexKept(t *testing.T) {
	st, db := openSearchStore(t)
	newForkFamily(t, st)
	if _, err := st.IndexSearch(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := mark(t, db)
	const v6 = `CREATE TRIGGER "messages_search_au" AFTER UPDATE OF parts ON "messages"
		WHEN old.rowid <= (SELECT indexed_to FROM "search_state") BEGIN
			DELETE FROM "messages_search" WHERE rowid = old.rowid;
			INSERT OR IGNORE INTO "search_pending" (row) VALUES (old.rowid);
		END`
	if _, err := db.Exec(`DROP TRIGGER "messages_search_au"; ` + v6); err != nil {
		t.Fatal(err)
	}
	st2, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	var text string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'messages_search_au'`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "new.src") {
		t.Errorf("the trigger after open is still version 6's: %s", text)
	}
	if after := mark(t, db); after != before || before == 0 {
		t.Errorf("index mark %d before open, %d after: want it kept", before, after)
	}
	// Deleting the parent hands its parts on without re-indexing the
	// fork's rows.
	if err := st2.Delete(t.Context(), "p"); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := db.QueryRow(`SELECT count(*) FROM search_pending`).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("%d rows to re-index after the parent was deleted (%v), want 0", pending, err)
	}
}
