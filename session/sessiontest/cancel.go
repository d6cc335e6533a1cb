package sessiontest

import (
	"context"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// canceledErr fails t unless err reports the cancellation.
func canceledErr(t *testing.T, what string, err error) {
	t.Helper()
	isErr(t, what+" with a cancelled context", err, context.Canceled)
}

func testCancel(t *testing.T, s *suite) {
	// setup returns a store with session "s1" holding m-0, m-1.
	setup := func(t *testing.T) (session.Store, session.Session, []message.Message) {
		st, sess := s.withSession(t)
		msgs := users("m", 2)
		add(t, sess, msgs...)
		return st, sess, msgs
	}
	t.Run("Exists_gives_an_error", func(t *testing.T) {
		st, _, _ := setup(t)
		_, err := st.Exists(cancelled(t), "s1")
		canceledErr(t, "Exists", err)
	})
	t.Run("Create_gives_an_error_and_creates_nothing", func(t *testing.T) {
		st, _, _ := setup(t)
		_, err := st.Create(cancelled(t), "s2")
		canceledErr(t, "Create", err)
		if exists(t, st, "s2") {
			t.Error("Create with a cancelled context created the session")
		}
	})
	t.Run("Load_gives_an_error", func(t *testing.T) {
		st, _, _ := setup(t)
		_, err := st.Load(cancelled(t), "s1")
		canceledErr(t, "Load", err)
	})
	t.Run("Delete_gives_an_error_and_deletes_nothing", func(t *testing.T) {
		st, _, msgs := setup(t)
		err := st.Delete(cancelled(t), "s1")
		canceledErr(t, "Delete", err)
		if !exists(t, st, "s1") {
			t.Fatal("Delete with a cancelled context deleted the session")
		}
		sameMessages(t, "after a cancelled Delete", msgs, all(t, load(t, st, "s1")))
	})
	t.Run("LoadOrCreate_gives_an_error_and_creates_nothing", func(t *testing.T) {
		st, _, _ := setup(t)
		_, err := session.LoadOrCreate(cancelled(t), st, "s2")
		canceledErr(t, "session.LoadOrCreate", err)
		if exists(t, st, "s2") {
			t.Error("LoadOrCreate with a cancelled context created the session")
		}
	})
	t.Run("GetMessages_gives_an_error", func(t *testing.T) {
		_, sess, _ := setup(t)
		_, err := sess.GetMessages(cancelled(t), nil)
		canceledErr(t, "GetMessages", err)
	})
	t.Run("AddMessages_gives_an_error_and_stores_nothing", func(t *testing.T) {
		_, sess, msgs := setup(t)
		err := sess.AddMessages(cancelled(t), users("new", 2))
		canceledErr(t, "AddMessages", err)
		sameMessages(t, "after a cancelled AddMessages", msgs, all(t, sess))
	})
	t.Run("PopMessage_gives_an_error_and_removes_nothing", func(t *testing.T) {
		_, sess, msgs := setup(t)
		m, err := sess.PopMessage(cancelled(t))
		canceledErr(t, "PopMessage", err)
		if m != nil {
			t.Errorf("cancelled PopMessage returned message %q", m.Content())
		}
		sameMessages(t, "after a cancelled PopMessage", msgs, all(t, sess))
	})
	t.Run("Clear_gives_an_error_and_removes_nothing", func(t *testing.T) {
		_, sess, msgs := setup(t)
		err := sess.Clear(cancelled(t))
		canceledErr(t, "Clear", err)
		sameMessages(t, "after a cancelled Clear", msgs, all(t, sess))
	})
}
