package sessiontest

import (
	"testing"

	"github.com/convo-dev/convo/session"
)

// testEmptyResults checks that every read with nothing to return gives a
// non-nil empty slice: callers that print JSON get [] rather than null, and
// code that tells "no answer" from "empty answer" by nil is not misled. The
// rest of the suite compares with nil and empty as equal; this area does
// not.
func testEmptyResults(t *testing.T, s *suite) {
	t.Run("GetMessages_of_an_empty_session_is_non_nil", func(t *testing.T) {
		_, sess := s.withSession(t)
		for _, c := range []struct {
			name  string
			limit *int
		}{{"nil", nil}, {"-1", session.Limit(-1)}, {"0", session.Limit(0)}, {"5", session.Limit(5)}} {
			got := get(t, sess, c.limit)
			if got == nil || len(got) != 0 {
				t.Errorf("GetMessages(limit %s) of an empty session = %#v, want a non-nil empty slice", c.name, got)
			}
		}
	})
	t.Run("GetMessages_limit_0_of_a_full_session_is_non_nil", func(t *testing.T) {
		_, sess := s.withSession(t)
		add(t, sess, users("m", 2)...)
		if got := get(t, sess, session.Limit(0)); got == nil || len(got) != 0 {
			t.Errorf("GetMessages(0) = %#v, want a non-nil empty slice", got)
		}
	})
	t.Run("Snapshot_of_an_empty_session_is_non_nil", func(t *testing.T) {
		_, sess := s.withSession(t)
		v, ok := sess.(session.Versioned)
		if !ok {
			t.Skip("session does not implement session.Versioned")
		}
		for _, limit := range []*int{nil, session.Limit(0), session.Limit(3)} {
			got, _, err := v.Snapshot(t.Context(), limit)
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			if got == nil || len(got) != 0 {
				t.Errorf("Snapshot of an empty session = %#v, want a non-nil empty slice", got)
			}
		}
	})
	t.Run("List_with_no_session_is_non_nil", func(t *testing.T) {
		st := s.store(t)
		l, ok := st.(session.Lister)
		if !ok {
			t.Skip("store does not implement session.Lister")
		}
		for _, q := range []session.ListQuery{{}, {Owner: "nobody"}} {
			page, err := l.List(t.Context(), q)
			if err != nil {
				t.Fatalf("List(%+v): %v", q, err)
			}
			if page.Sessions == nil || len(page.Sessions) != 0 {
				t.Errorf("List(%+v) of an empty store: Sessions = %#v, want a non-nil empty slice", q, page.Sessions)
			}
		}
	})
	t.Run("Search_with_no_hit_is_non_nil", func(t *testing.T) {
		st, sr := s.searcher(t)
		add(t, create(t, st, "s1"), users("hello", 1)...)
		for _, text := range []string{"zyxwvutsrq", "", "  "} {
			hits, err := sr.Search(t.Context(), session.SearchQuery{Text: text})
			if err != nil {
				t.Fatalf("Search(%q): %v", text, err)
			}
			if hits == nil || len(hits) != 0 {
				t.Errorf("Search(%q) with no hit = %#v, want a non-nil empty slice", text, hits)
			}
		}
	})
}
