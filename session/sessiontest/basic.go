package sessiontest

import (
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func testGetMessages(t *testing.T, s *suite) {
	// three returns a session holding m-0, m-1, m-2 (added in one call
	// each) and those messages.
	three := func(t *testing.T) (session.Session, []message.Message) {
		_, sess := s.withSession(t)
		msgs := users("m", 3)
		for _, m := range msgs {
			add(t, sess, m)
		}
		return sess, msgs
	}
	t.Run("new_session_returns_none", func(t *testing.T) {
		_, sess := s.withSession(t)
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("got %d messages, want 0", len(got))
		}
	})
	t.Run("limit_nil_returns_all_oldest_first", func(t *testing.T) {
		sess, msgs := three(t)
		sameMessages(t, "GetMessages(nil)", msgs, get(t, sess, nil))
	})
	t.Run("limit_negative_returns_all", func(t *testing.T) {
		sess, msgs := three(t)
		sameMessages(t, "GetMessages(-1)", msgs, get(t, sess, session.Limit(-1)))
		sameMessages(t, "GetMessages(-100)", msgs, get(t, sess, session.Limit(-100)))
	})
	t.Run("limit_0_returns_none", func(t *testing.T) {
		sess, _ := three(t)
		if got := get(t, sess, session.Limit(0)); len(got) != 0 {
			t.Errorf("GetMessages(0) returned %d messages, want 0: %q", len(got), texts(got))
		}
	})
	t.Run("limit_n_returns_last_n_oldest_first", func(t *testing.T) {
		sess, msgs := three(t)
		sameMessages(t, "GetMessages(2)", msgs[1:], get(t, sess, session.Limit(2)))
		sameMessages(t, "GetMessages(1)", msgs[2:], get(t, sess, session.Limit(1)))
	})
	t.Run("limit_equal_to_count_returns_all", func(t *testing.T) {
		sess, msgs := three(t)
		sameMessages(t, "GetMessages(3)", msgs, get(t, sess, session.Limit(3)))
	})
	t.Run("limit_above_count_returns_all", func(t *testing.T) {
		sess, msgs := three(t)
		sameMessages(t, "GetMessages(4)", msgs, get(t, sess, session.Limit(4)))
		sameMessages(t, "GetMessages(1000000)", msgs, get(t, sess, session.Limit(1000000)))
	})
	t.Run("limit_on_empty_session_returns_none", func(t *testing.T) {
		_, sess := s.withSession(t)
		for _, n := range []int{-1, 0, 1, 5} {
			if got := get(t, sess, session.Limit(n)); len(got) != 0 {
				t.Errorf("GetMessages(%d) on an empty session returned %d messages", n, len(got))
			}
		}
	})
	t.Run("reads_do_not_change_the_session", func(t *testing.T) {
		sess, msgs := three(t)
		for range 3 {
			get(t, sess, session.Limit(1))
			get(t, sess, nil)
		}
		sameMessages(t, "after repeated reads", msgs, all(t, sess))
	})
}

func testPopMessage(t *testing.T, s *suite) {
	t.Run("empty_session_returns_nil_nil", func(t *testing.T) {
		_, sess := s.withSession(t)
		m, err := sess.PopMessage(t.Context())
		if err != nil || m != nil {
			t.Errorf("PopMessage on an empty session = %v, %v; want nil, nil", m, err)
		}
	})
	t.Run("returns_newest_and_removes_it", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 3)
		add(t, sess, msgs...)
		m, err := sess.PopMessage(t.Context())
		if err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		if m == nil {
			t.Fatal("PopMessage returned nil from a session of 3 messages")
		}
		sameMessages(t, "popped message", msgs[2:], []message.Message{*m})
		sameMessages(t, "after PopMessage", msgs[:2], all(t, sess))
	})
	t.Run("pops_newest_first_until_empty", func(t *testing.T) {
		_, sess := s.withSession(t)
		add(t, sess, users("m", 3)...)
		var popped []message.Message
		for range 3 {
			m, err := sess.PopMessage(t.Context())
			if err != nil || m == nil {
				t.Fatalf("PopMessage = %v, %v", m, err)
			}
			popped = append(popped, *m)
		}
		sameTexts(t, "popped in turn", []string{"m-2", "m-1", "m-0"}, popped)
		m, err := sess.PopMessage(t.Context())
		if err != nil || m != nil {
			t.Errorf("PopMessage on the emptied session = %v, %v; want nil, nil", m, err)
		}
	})
	t.Run("append_after_pop_keeps_order", func(t *testing.T) {
		_, sess := s.withSession(t)
		add(t, sess, users("m", 3)...)
		if _, err := sess.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		add(t, sess, message.NewUserMessage("new"))
		sameTexts(t, "after pop and append", []string{"m-0", "m-1", "new"}, all(t, sess))
	})
}

func testClear(t *testing.T, s *suite) {
	t.Run("keeps_the_session_and_empties_it", func(t *testing.T) {
		st, sess := s.withSession(t)
		add(t, sess, users("m", 3)...)
		if err := sess.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		if !exists(t, st, "s1") {
			t.Error("Exists after Clear = false, want true")
		}
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("after Clear the handle reads %d messages, want 0", len(got))
		}
		if got := all(t, load(t, st, "s1")); len(got) != 0 {
			t.Errorf("after Clear a loaded handle reads %d messages, want 0", len(got))
		}
	})
	t.Run("empty_session_is_ok", func(t *testing.T) {
		_, sess := s.withSession(t)
		if err := sess.Clear(t.Context()); err != nil {
			t.Errorf("Clear of an empty session: %v", err)
		}
	})
	t.Run("append_after_clear_works", func(t *testing.T) {
		_, sess := s.withSession(t)
		add(t, sess, users("old", 2)...)
		if err := sess.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		add(t, sess, users("new", 2)...)
		sameTexts(t, "after clear and append", []string{"new-0", "new-1"}, all(t, sess))
	})
}

func testIsolation(t *testing.T, s *suite) {
	two := func(t *testing.T) (session.Store, session.Session, session.Session) {
		st := s.store(t)
		a, b := create(t, st, "a"), create(t, st, "b")
		add(t, a, users("a", 2)...)
		add(t, b, users("b", 3)...)
		return st, a, b
	}
	t.Run("sessions_do_not_share_messages", func(t *testing.T) {
		_, a, b := two(t)
		sameTexts(t, "session a", []string{"a-0", "a-1"}, all(t, a))
		sameTexts(t, "session b", []string{"b-0", "b-1", "b-2"}, all(t, b))
	})
	t.Run("pop_and_clear_touch_only_their_session", func(t *testing.T) {
		_, a, b := two(t)
		if _, err := a.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		sameTexts(t, "b after pop of a", []string{"b-0", "b-1", "b-2"}, all(t, b))
		if err := a.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		sameTexts(t, "b after clear of a", []string{"b-0", "b-1", "b-2"}, all(t, b))
	})
	t.Run("delete_touches_only_its_session", func(t *testing.T) {
		st, _, b := two(t)
		if err := st.Delete(t.Context(), "a"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if !exists(t, st, "b") {
			t.Fatal("Delete of a removed b")
		}
		sameTexts(t, "b after delete of a", []string{"b-0", "b-1", "b-2"}, all(t, b))
	})
	t.Run("same_message_id_stored_in_each_session", func(t *testing.T) {
		st := s.store(t)
		a, b := create(t, st, "a"), create(t, st, "b")
		m := message.NewUserMessage("shared")
		add(t, a, m)
		add(t, b, m)
		sameMessages(t, "session a", []message.Message{m}, all(t, a))
		sameMessages(t, "session b", []message.Message{m}, all(t, b))
	})
	t.Run("ids_differing_only_in_case_are_distinct", func(t *testing.T) {
		st := s.store(t)
		lower := create(t, st, "user-1")
		add(t, lower, message.NewUserMessage("lower"))
		upper, err := st.Create(t.Context(), "USER-1")
		if err != nil {
			t.Fatalf(`Create("USER-1") after "user-1": %v`, err)
		}
		if got := all(t, upper); len(got) != 0 {
			t.Errorf(`"USER-1" reads %d messages of "user-1"`, len(got))
		}
	})
	t.Run("id_prefixes_are_distinct", func(t *testing.T) {
		st := s.store(t)
		a := create(t, st, "ab")
		add(t, a, message.NewUserMessage("ab"))
		if exists(t, st, "a") || exists(t, st, "abc") {
			t.Error(`Exists("a") or Exists("abc") is true when only "ab" exists`)
		}
	})
}

func testAliasing(t *testing.T, s *suite) {
	t.Run("changing_the_appended_slice_does_not_change_the_store", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := []message.Message{message.NewMessage(message.RoleUser,
			message.Text{Text: "original"},
			message.Binary{MIMEType: "application/octet-stream", Data: []byte{1, 2, 3}},
		)}
		add(t, sess, msgs...)
		w := msgs[0]
		w.Parts = []message.Part{message.Text{Text: "original"},
			message.Binary{MIMEType: "application/octet-stream", Data: []byte{1, 2, 3}}}
		want := []message.Message{w}
		msgs[0].Parts[1].(message.Binary).Data[0] = 99
		msgs[0].Parts[0] = message.Text{Text: "changed"}
		msgs[0].Model = "changed"
		sameMessages(t, "after changing the caller's slice", want, all(t, sess))
	})
	t.Run("changing_a_returned_message_does_not_change_the_store", func(t *testing.T) {
		_, sess := s.withSession(t)
		m := message.NewMessage(message.RoleUser,
			message.Text{Text: "original"},
			message.Binary{MIMEType: "application/octet-stream", Data: []byte{1, 2, 3}})
		add(t, sess, m)
		got := all(t, sess)
		got[0].Parts[1].(message.Binary).Data[0] = 99
		got[0].Parts[0] = message.Text{Text: "changed"}
		w := m
		w.Parts = []message.Part{message.Text{Text: "original"},
			message.Binary{MIMEType: "application/octet-stream", Data: []byte{1, 2, 3}}}
		sameMessages(t, "after changing a returned message", []message.Message{w}, all(t, sess))
	})
}
