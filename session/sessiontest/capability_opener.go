package sessiontest

import (
	"context"
	"fmt"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func (s *suite) opener(t *testing.T) (session.Store, session.Opener) {
	t.Helper()
	st := s.store(t)
	o, ok := st.(session.Opener)
	if !ok {
		t.Skip("store does not implement session.Opener")
	}
	return st, o
}

func testOpener(t *testing.T, s *suite) {
	s.opener(t)
	t.Run("Open_of_a_missing_id_creates_it", func(t *testing.T) {
		st, o := s.opener(t)
		sess, err := o.Open(t.Context(), "s1")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if sess.ID() != "s1" {
			t.Errorf("ID() = %q", sess.ID())
		}
		if !exists(t, st, "s1") {
			t.Error("Exists after Open = false")
		}
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("opened new session holds %d messages", len(got))
		}
	})
	t.Run("Open_of_an_existing_id_loads_it_unchanged", func(t *testing.T) {
		st, o := s.opener(t)
		msgs := users("m", 2)
		add(t, create(t, st, "s1"), msgs...)
		sess, err := o.Open(t.Context(), "s1")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		sameMessages(t, "opened existing session", msgs, all(t, sess))
	})
	t.Run("Open_of_an_invalid_id_gives_ErrInvalidID", func(t *testing.T) {
		_, o := s.opener(t)
		for _, id := range []string{"", "a\x00b", "\xff"} {
			_, err := o.Open(t.Context(), id)
			isErr(t, fmt.Sprintf("Open(%q)", id), err, session.ErrInvalidID)
		}
	})
	t.Run("Open_by_16_goroutines_gives_one_session", func(t *testing.T) {
		st, o := s.opener(t)
		concurrently(t, 16, func(ctx context.Context, i int) {
			sess, err := o.Open(ctx, "shared")
			if err != nil {
				t.Errorf("goroutine %d: Open: %v", i, err)
				return
			}
			if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprint(i))}); err != nil {
				t.Errorf("goroutine %d: AddMessages: %v", i, err)
			}
		})
		if got := all(t, load(t, st, "shared")); len(got) != 16 {
			t.Errorf("session holds %d messages, want 16", len(got))
		}
	})
	t.Run("Open_with_a_cancelled_context_gives_an_error_and_creates_nothing", func(t *testing.T) {
		st, o := s.opener(t)
		_, err := o.Open(cancelled(t), "s1")
		canceledErr(t, "Open", err)
		if exists(t, st, "s1") {
			t.Error("a cancelled Open created the session")
		}
	})
}
