package sessiontest

import (
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func testExists(t *testing.T, s *suite) {
	t.Run("missing_id_is_false", func(t *testing.T) {
		st := s.store(t)
		if exists(t, st, "nope") {
			t.Error(`Exists("nope") on an empty store = true, want false`)
		}
	})
	t.Run("created_id_is_true", func(t *testing.T) {
		st := s.store(t)
		create(t, st, "s1")
		if !exists(t, st, "s1") {
			t.Error(`Exists("s1") after Create = false, want true`)
		}
		if exists(t, st, "s2") {
			t.Error(`Exists("s2") = true, but only "s1" was created`)
		}
	})
	t.Run("deleted_id_is_false", func(t *testing.T) {
		st := s.store(t)
		create(t, st, "s1")
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if exists(t, st, "s1") {
			t.Error(`Exists("s1") after Delete = true, want false`)
		}
	})
}

func testCreate(t *testing.T, s *suite) {
	t.Run("returns_empty_session_with_the_id", func(t *testing.T) {
		st := s.store(t)
		sess := create(t, st, "s1")
		if sess.ID() != "s1" {
			t.Errorf("ID() = %q, want %q", sess.ID(), "s1")
		}
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("new session holds %d messages, want 0", len(got))
		}
	})
	t.Run("existing_id_gives_ErrExists", func(t *testing.T) {
		st := s.store(t)
		create(t, st, "s1")
		sess, err := st.Create(t.Context(), "s1")
		isErr(t, `second Create("s1")`, err, session.ErrExists)
		if err == nil && sess != nil {
			t.Error("second Create returned a session")
		}
	})
	t.Run("existing_id_keeps_its_messages", func(t *testing.T) {
		st := s.store(t)
		sess := create(t, st, "s1")
		add(t, sess, users("m", 2)...)
		if _, err := st.Create(t.Context(), "s1"); err == nil {
			t.Fatal(`second Create("s1") succeeded`)
		}
		sameTexts(t, "after failed Create", []string{"m-0", "m-1"}, all(t, load(t, st, "s1")))
	})
}

func testLoad(t *testing.T, s *suite) {
	t.Run("missing_id_gives_ErrNotFound", func(t *testing.T) {
		st := s.store(t)
		sess, err := st.Load(t.Context(), "nope")
		isErr(t, `Load("nope")`, err, session.ErrNotFound)
		if err == nil && sess != nil {
			t.Error("Load of a missing id returned a session")
		}
	})
	t.Run("missing_id_is_not_created", func(t *testing.T) {
		st := s.store(t)
		_, _ = st.Load(t.Context(), "nope")
		if exists(t, st, "nope") {
			t.Error(`Exists("nope") = true after a Load of the missing id`)
		}
	})
	t.Run("returns_the_session_with_its_messages", func(t *testing.T) {
		st, sess := s.withSession(t)
		msgs := users("m", 3)
		add(t, sess, msgs...)
		loaded := load(t, st, "s1")
		if loaded.ID() != "s1" {
			t.Errorf("ID() = %q, want %q", loaded.ID(), "s1")
		}
		sameMessages(t, "loaded session", msgs, all(t, loaded))
	})
	t.Run("handles_share_state", func(t *testing.T) {
		st, a := s.withSession(t)
		b := load(t, st, "s1")
		add(t, a, message.NewUserMessage("via a"))
		add(t, b, message.NewUserMessage("via b"))
		sameTexts(t, "read via a", []string{"via a", "via b"}, all(t, a))
		sameTexts(t, "read via b", []string{"via a", "via b"}, all(t, b))
	})
}

func testDelete(t *testing.T, s *suite) {
	t.Run("removes_the_session", func(t *testing.T) {
		st, sess := s.withSession(t)
		add(t, sess, users("m", 2)...)
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if exists(t, st, "s1") {
			t.Error("Exists after Delete = true")
		}
		_, err := st.Load(t.Context(), "s1")
		isErr(t, "Load after Delete", err, session.ErrNotFound)
	})
	t.Run("missing_id_is_not_an_error", func(t *testing.T) {
		st := s.store(t)
		if err := st.Delete(t.Context(), "nope"); err != nil {
			t.Errorf(`Delete("nope") = %v, want nil`, err)
		}
		create(t, st, "s1")
		for i := range 2 {
			if err := st.Delete(t.Context(), "s1"); err != nil {
				t.Errorf("Delete #%d of s1 = %v, want nil", i+1, err)
			}
		}
	})
	t.Run("deleted_session_handle_gives_ErrNotFound", func(t *testing.T) {
		st, sess := s.withSession(t)
		add(t, sess, users("m", 2)...)
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		checkGone(t, st, sess, false)
	})
	t.Run("recreated_session_is_empty", func(t *testing.T) {
		st, sess := s.withSession(t)
		add(t, sess, users("m", 3)...)
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		again := create(t, st, "s1")
		if got := all(t, again); len(got) != 0 {
			t.Errorf("re-created session holds %d messages, want 0: %q", len(got), texts(got))
		}
	})
	t.Run("old_handle_after_recreate_gives_ErrNotFound", func(t *testing.T) {
		st, old := s.withSession(t)
		add(t, old, message.NewUserMessage("before"))
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		fresh := create(t, st, "s1")
		add(t, fresh, message.NewUserMessage("after"))
		checkGone(t, st, old, true)
		sameTexts(t, "re-created session after calls on the old handle", []string{"after"}, all(t, fresh))
	})
}

// checkGone checks that every method of sess, whose session was deleted,
// fails with ErrNotFound and that none of them writes to the store. If
// recreated, the test made a new session with the same id.
func checkGone(t *testing.T, st session.Store, sess session.Session, recreated bool) {
	t.Helper()
	ctx := t.Context()
	_, err := sess.GetMessages(ctx, nil)
	isErr(t, "GetMessages on a deleted session", err, session.ErrNotFound)
	err = sess.AddMessages(ctx, []message.Message{message.NewUserMessage("ghost")})
	isErr(t, "AddMessages on a deleted session", err, session.ErrNotFound)
	err = sess.AddMessages(ctx, nil)
	isErr(t, "empty AddMessages on a deleted session", err, session.ErrNotFound)
	_, err = sess.PopMessage(ctx)
	isErr(t, "PopMessage on a deleted session", err, session.ErrNotFound)
	err = sess.Clear(ctx)
	isErr(t, "Clear on a deleted session", err, session.ErrNotFound)
	if v, ok := sess.(session.Versioned); ok {
		_, _, err = v.Snapshot(ctx, nil)
		isErr(t, "Snapshot on a deleted session", err, session.ErrNotFound)
		_, err = v.AddMessagesAt(ctx, 0, []message.Message{message.NewUserMessage("ghost")})
		isErr(t, "AddMessagesAt on a deleted session", err, session.ErrNotFound)
	}
	if !recreated {
		if exists(t, st, sess.ID()) {
			t.Error("calls on a deleted session's handle brought the session back")
		}
		return
	}
	for _, m := range all(t, load(t, st, sess.ID())) {
		if m.Content() == "ghost" {
			t.Error("AddMessages on a deleted session's handle wrote into the session re-created with its id")
		}
	}
}
