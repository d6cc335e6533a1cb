package sessiontest

import (
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func (s *suite) rewriter(t *testing.T) (session.Store, session.Rewriter) {
	t.Helper()
	st, sess := s.withSession(t)
	r, ok := sess.(session.Rewriter)
	if !ok {
		t.Skip("sessions of this store do not implement session.Rewriter")
	}
	return st, r
}

func testRewriter(t *testing.T, s *suite) {
	s.rewriter(t)
	t.Run("ReplaceMessages_replaces_the_whole_history_and_bumps_the_version", func(t *testing.T) {
		_, r := s.rewriter(t)
		add(t, r, users("old", 5)...)
		v := version(t, r)
		repl := append(users("new", 3), message.Message{Role: message.RoleAssistant, Parts: []message.Part{message.Text{Text: "no id yet"}}})
		nv, err := r.ReplaceMessages(t.Context(), v, repl)
		if err != nil {
			t.Fatalf("ReplaceMessages: %v", err)
		}
		if nv <= v {
			t.Errorf("version after ReplaceMessages = %d, want > %d", nv, v)
		}
		if repl[3].ID == "" || repl[3].CreatedAt == 0 {
			t.Errorf("ReplaceMessages did not fill in the ID and CreatedAt of the caller's message: %+v", repl[3])
		}
		sameMessages(t, "after ReplaceMessages", repl, all(t, r))
		if got := version(t, r); got != nv {
			t.Errorf("Snapshot version = %d, ReplaceMessages returned %d", got, nv)
		}
		// Appends continue after the replaced history, and the old ids
		// are free again.
		old := users("old", 1)
		add(t, r, old...)
		sameMessages(t, "append after ReplaceMessages", append(repl, old...), all(t, r))
	})
	t.Run("ReplaceMessages_at_a_stale_version_fails_with_ErrConflict_and_changes_nothing", func(t *testing.T) {
		_, r := s.rewriter(t)
		before := users("m", 2)
		add(t, r, before...)
		v := version(t, r)
		add(t, r, users("later", 1)...)
		want := all(t, r)
		_, err := r.ReplaceMessages(t.Context(), v, users("x", 1))
		isErr(t, "ReplaceMessages at a stale version", err, session.ErrConflict)
		sameMessages(t, "after a refused ReplaceMessages", want, all(t, r))
	})
	t.Run("ReplaceMessages_with_an_invalid_message_changes_nothing", func(t *testing.T) {
		_, r := s.rewriter(t)
		want := users("m", 2)
		add(t, r, want...)
		bad := append(users("x", 1), message.Message{Parts: []message.Part{message.Text{Text: "no role"}}})
		_, err := r.ReplaceMessages(t.Context(), version(t, r), bad)
		isErr(t, "ReplaceMessages with a message without role", err, session.ErrInvalidMessage)
		sameMessages(t, "after a refused ReplaceMessages", want, all(t, r))
	})
	t.Run("ReplaceMessages_with_an_empty_list_empties_the_session", func(t *testing.T) {
		st, r := s.rewriter(t)
		add(t, r, users("m", 2)...)
		if _, err := r.ReplaceMessages(t.Context(), version(t, r), nil); err != nil {
			t.Fatalf("ReplaceMessages(nil): %v", err)
		}
		if got := all(t, r); len(got) != 0 {
			t.Errorf("%d messages after ReplaceMessages(nil), want 0", len(got))
		}
		if !exists(t, st, r.ID()) {
			t.Errorf("ReplaceMessages(nil) deleted the session")
		}
	})
	t.Run("ReplaceMessages_on_a_deleted_session_gives_ErrNotFound", func(t *testing.T) {
		st, r := s.rewriter(t)
		v := version(t, r)
		if err := st.Delete(t.Context(), r.ID()); err != nil {
			t.Fatal(err)
		}
		_, err := r.ReplaceMessages(t.Context(), v, users("m", 1))
		isErr(t, "ReplaceMessages on a deleted session", err, session.ErrNotFound)
	})
	t.Run("ReplaceMessages_with_a_cancelled_context_changes_nothing", func(t *testing.T) {
		_, r := s.rewriter(t)
		want := users("m", 2)
		add(t, r, want...)
		_, err := r.ReplaceMessages(cancelled(t), version(t, r), users("x", 1))
		canceledErr(t, "ReplaceMessages", err)
		sameMessages(t, "after a cancelled ReplaceMessages", want, all(t, r))
	})
}
