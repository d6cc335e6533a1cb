package sqlite_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// Issue 17 item 5: one session whose stored metadata cannot be decoded
// stopped every listing (convo ls, the viewer's list). List now lists it
// with what could be read and names it in ListPage.Unreadable, and pages
// on past it.
func TestListSurvivesCorruptMetadata(t *testing.T) {
	db := newDB(t)
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := st.CreateWith(t.Context(), id, session.CreateOptions{Owner: "o", Metadata: map[string]string{"k": id}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE sessions SET metadata = '{"k": ' WHERE id = 'b'`); err != nil {
		t.Fatal(err)
	}
	page, err := st.List(t.Context(), session.ListQuery{Limit: 10})
	if err != nil {
		t.Fatalf("List with one corrupt row: %v", err)
	}
	if len(page.Sessions) != 3 || len(page.Unreadable) != 1 || !errors.Is(page.Unreadable[0], session.ErrCorrupt) || !strings.Contains(page.Unreadable[0].Error(), `"b"`) {
		t.Fatalf("List = %d sessions, unreadable %v; want 3 sessions and one ErrCorrupt naming b", len(page.Sessions), page.Unreadable)
	}
	var seen []string
	var bad int
	q := session.ListQuery{Limit: 1}
	for range 5 {
		page, err := st.List(t.Context(), q)
		if err != nil {
			t.Fatalf("List page: %v", err)
		}
		for _, in := range page.Sessions {
			seen = append(seen, in.ID)
		}
		bad += len(page.Unreadable)
		if q.Cursor = page.Next; q.Cursor == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "c,b,a" || bad != 1 {
		t.Errorf("pages of one: %v, %d unreadable; want c,b,a and 1 (reported once, on its own page)", seen, bad)
	}
}
