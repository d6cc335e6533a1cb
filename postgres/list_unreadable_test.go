package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/session"
)

// Issue 17 item 5: a session whose stored metadata is JSON but not an
// object of strings stopped every listing. List lists it with what could
// be read and names it in ListPage.Unreadable.
func TestListSurvivesCorruptMetadata(t *testing.T) {
	st := newStore(t, testPool(t))
	for _, id := range []string{"a", "b", "c"} {
		if _, err := st.CreateWith(t.Context(), id, session.CreateOptions{Owner: "o", Metadata: map[string]string{"k": id}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.pool.Exec(t.Context(), `UPDATE `+st.q.sessions+` SET metadata = '[1, 2]' WHERE id = 'b'`); err != nil {
		t.Fatal(err)
	}
	page, err := st.List(t.Context(), session.ListQuery{Limit: 10})
	if err != nil {
		t.Fatalf("List with one corrupt row: %v", err)
	}
	if len(page.Sessions) != 3 || len(page.Unreadable) != 1 || !errors.Is(page.Unreadable[0], session.ErrCorrupt) || !strings.Contains(page.Unreadable[0].Error(), `"b"`) {
		t.Fatalf("List = %d sessions, unreadable %v; want 3 sessions and one ErrCorrupt naming b", len(page.Sessions), page.Unreadable)
	}
	page, err = st.List(t.Context(), session.ListQuery{Limit: 1})
	if err != nil || len(page.Unreadable) != 0 {
		t.Errorf("first page of one (c): %v, unreadable %v; want none (b is past the page)", err, page.Unreadable)
	}
}
