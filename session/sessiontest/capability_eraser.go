package sessiontest

import (
	"slices"
	"testing"

	"github.com/convo-dev/convo/session"
)

func (s *suite) eraser(t *testing.T) (session.Store, session.OwnerEraser, session.Describer) {
	t.Helper()
	st := s.store(t)
	e, ok := st.(session.OwnerEraser)
	if !ok {
		t.Skip("store does not implement session.OwnerEraser")
	}
	d, ok := st.(session.Describer)
	if !ok {
		t.Skip("store implements session.OwnerEraser but not session.Describer: the suite cannot give sessions owners")
	}
	return st, e, d
}

func testOwnerEraser(t *testing.T, s *suite) {
	s.eraser(t)
	// setup gives alice sessions a1 (2 messages) and a2 (1), bob b1 (2),
	// and an ownerless n1 (1).
	setup := func(t *testing.T) (session.Store, session.OwnerEraser, map[string]session.Session) {
		st, e, d := s.eraser(t)
		handles := map[string]session.Session{}
		for _, c := range []struct {
			id, owner string
			n         int
		}{{"a1", "alice", 2}, {"a2", "alice", 1}, {"b1", "bob", 2}, {"n1", "", 1}} {
			handles[c.id] = createWith(t, d, c.id, session.CreateOptions{Owner: c.owner})
			add(t, handles[c.id], users(c.id+" okapi", c.n)...)
		}
		return st, e, handles
	}
	t.Run("deletes_exactly_the_owners_sessions_and_reports_them", func(t *testing.T) {
		st, e, h := setup(t)
		r, err := e.DeleteOwner(t.Context(), "alice")
		if err != nil {
			t.Fatalf("DeleteOwner: %v", err)
		}
		if !slices.Equal(r.SessionIDs, []string{"a1", "a2"}) || r.Messages != 3 {
			t.Errorf("report = %+v, want sessions [a1 a2] (in id order) and 3 messages", r)
		}
		for _, id := range []string{"a1", "a2"} {
			if exists(t, st, id) {
				t.Errorf("%s still exists", id)
			}
			_, err := h[id].GetMessages(t.Context(), nil)
			isErr(t, "GetMessages on an erased session", err, session.ErrNotFound)
		}
		sameTexts(t, "bob's session", []string{"b1 okapi-0", "b1 okapi-1"}, all(t, load(t, st, "b1")))
		sameTexts(t, "ownerless session", []string{"n1 okapi-0"}, all(t, load(t, st, "n1")))
		if sr, ok := st.(session.Searcher); ok {
			hits, err := sr.Search(t.Context(), session.SearchQuery{Text: "okapi"})
			if err == nil {
				for _, hit := range hits {
					if hit.SessionID == "a1" || hit.SessionID == "a2" {
						t.Errorf("search still finds message %q of erased session %q", hit.MessageID, hit.SessionID)
					}
				}
			}
		}
	})
	t.Run("unknown_owner_deletes_nothing", func(t *testing.T) {
		st, e, _ := setup(t)
		r, err := e.DeleteOwner(t.Context(), "carol")
		if err != nil {
			t.Fatalf("DeleteOwner: %v", err)
		}
		if len(r.SessionIDs) != 0 || r.Messages != 0 {
			t.Errorf("report for an owner with no sessions = %+v", r)
		}
		for _, id := range []string{"a1", "a2", "b1", "n1"} {
			if !exists(t, st, id) {
				t.Errorf("%s was deleted", id)
			}
		}
	})
	t.Run("cancelled_context_gives_an_error_and_deletes_nothing", func(t *testing.T) {
		st, e, _ := setup(t)
		_, err := e.DeleteOwner(cancelled(t), "alice")
		canceledErr(t, "DeleteOwner", err)
		if !exists(t, st, "a1") || !exists(t, st, "a2") {
			t.Error("a cancelled DeleteOwner deleted sessions")
		}
	})
}
