package sessiontest

import (
	"fmt"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func testAddMessages(t *testing.T, s *suite) {
	t.Run("order_within_a_call_is_kept", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 10)
		add(t, sess, msgs...)
		sameMessages(t, "after one call of 10", msgs, all(t, sess))
	})
	t.Run("order_across_calls_is_kept", func(t *testing.T) {
		_, sess := s.withSession(t)
		var want []message.Message
		for c := range 5 {
			msgs := users(fmt.Sprintf("call%d", c), 3)
			add(t, sess, msgs...)
			want = append(want, msgs...)
		}
		sameMessages(t, "after 5 calls of 3", want, all(t, sess))
	})
	t.Run("order_does_not_follow_CreatedAt", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 4)
		// Newest timestamp first, and two equal timestamps: the store
		// must keep append order, not sort by time.
		msgs[0].CreatedAt, msgs[1].CreatedAt = 4_000_000_000_000_000_000, 3_000_000_000_000_000_000
		msgs[2].CreatedAt, msgs[3].CreatedAt = 1_000_000_000_000_000_000, 1_000_000_000_000_000_000
		add(t, sess, msgs[:2]...)
		add(t, sess, msgs[2:]...)
		sameMessages(t, "messages with decreasing CreatedAt", msgs, all(t, sess))
		sameMessages(t, "last 3", msgs[1:], get(t, sess, session.Limit(3)))
	})
	t.Run("order_does_not_follow_message_ID", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 4)
		for i, id := range []string{"zz", "yy", "b", "a"} {
			msgs[i].ID = id
		}
		add(t, sess, msgs[:3]...)
		add(t, sess, msgs[3:]...)
		sameMessages(t, "messages with decreasing IDs", msgs, all(t, sess))
		sameMessages(t, "last 2", msgs[2:], get(t, sess, session.Limit(2)))
	})
	t.Run("empty_call_is_a_noop", func(t *testing.T) {
		_, sess := s.withSession(t)
		msgs := users("m", 2)
		add(t, sess, msgs...)
		if err := sess.AddMessages(t.Context(), nil); err != nil {
			t.Errorf("AddMessages(nil): %v", err)
		}
		if err := sess.AddMessages(t.Context(), []message.Message{}); err != nil {
			t.Errorf("AddMessages(empty slice): %v", err)
		}
		sameMessages(t, "after empty calls", msgs, all(t, sess))
	})
	t.Run("empty_call_on_new_session_is_a_noop", func(t *testing.T) {
		_, sess := s.withSession(t)
		if err := sess.AddMessages(t.Context(), nil); err != nil {
			t.Errorf("AddMessages(nil): %v", err)
		}
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("after an empty call the session holds %d messages", len(got))
		}
	})
}
