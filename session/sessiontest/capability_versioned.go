package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// versioned returns a fresh store and session "s1" as a Versioned, or skips.
func (s *suite) versioned(t *testing.T) (session.Store, session.Versioned) {
	t.Helper()
	st, sess := s.withSession(t)
	v, ok := sess.(session.Versioned)
	if !ok {
		t.Skip("sessions of this store do not implement session.Versioned")
	}
	return st, v
}

func version(t *testing.T, v session.Versioned) int64 {
	t.Helper()
	_, n, err := v.Snapshot(t.Context(), session.Limit(0))
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return n
}

func testVersioned(t *testing.T, s *suite) {
	s.versioned(t) // skips the whole area when not implemented
	t.Run("empty_AddMessagesAt_succeeds_whatever_the_version_and_changes_nothing", func(t *testing.T) {
		_, v := s.versioned(t)
		add(t, v, users("m", 2)...)
		cur := version(t, v)
		for _, exp := range []int64{0, cur, cur + 5} {
			got, err := v.AddMessagesAt(t.Context(), exp, nil)
			if err != nil || got != cur {
				t.Errorf("AddMessagesAt(%d, nil) = %d, %v; want %d, nil (an empty call stores nothing, so it cannot conflict)", exp, got, err, cur)
			}
		}
		if n := version(t, v); n != cur {
			t.Errorf("version moved from %d to %d after empty calls", cur, n)
		}
	})
	t.Run("new_session_is_at_version_0", func(t *testing.T) {
		_, v := s.versioned(t)
		if n := version(t, v); n != 0 {
			t.Errorf("version of a new session = %d, want 0", n)
		}
	})
	t.Run("Snapshot_returns_messages_and_version", func(t *testing.T) {
		_, v := s.versioned(t)
		msgs := users("m", 3)
		add(t, v, msgs...)
		got, n, err := v.Snapshot(t.Context(), nil)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		sameMessages(t, "Snapshot(nil)", msgs, got)
		if n <= 0 {
			t.Errorf("version after an append = %d, want > 0", n)
		}
		got, _, err = v.Snapshot(t.Context(), session.Limit(2))
		if err != nil {
			t.Fatalf("Snapshot(2): %v", err)
		}
		sameMessages(t, "Snapshot(2)", msgs[1:], got)
		got, _, err = v.Snapshot(t.Context(), session.Limit(0))
		if err != nil || len(got) != 0 {
			t.Errorf("Snapshot(0) = %d messages, %v; want none", len(got), err)
		}
	})
	t.Run("AddMessages_increases_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		prev := version(t, v)
		for i := range 3 {
			add(t, v, users(fmt.Sprint(i), 2)...)
			n := version(t, v)
			if n <= prev {
				t.Errorf("version after append %d = %d, want more than %d", i, n, prev)
			}
			prev = n
		}
	})
	t.Run("empty_AddMessages_keeps_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		add(t, v, users("m", 1)...)
		before := version(t, v)
		add(t, v)
		if n := version(t, v); n != before {
			t.Errorf("version after an empty AddMessages = %d, want %d", n, before)
		}
	})
	t.Run("retry_of_stored_messages_keeps_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		msgs := users("m", 2)
		add(t, v, msgs...)
		before := version(t, v)
		add(t, v, msgs...)
		if n := version(t, v); n != before {
			t.Errorf("version after a retry that stored nothing = %d, want %d", n, before)
		}
	})
	t.Run("PopMessage_increases_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		add(t, v, users("m", 2)...)
		before := version(t, v)
		if _, err := v.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		if n := version(t, v); n <= before {
			t.Errorf("version after PopMessage = %d, want more than %d", n, before)
		}
	})
	t.Run("PopMessage_on_empty_keeps_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		add(t, v, users("m", 1)...)
		if _, err := v.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		before := version(t, v)
		if _, err := v.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage on empty: %v", err)
		}
		if n := version(t, v); n != before {
			t.Errorf("version after PopMessage of an empty session = %d, want %d", n, before)
		}
	})
	t.Run("Clear_increases_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		add(t, v, users("m", 2)...)
		before := version(t, v)
		if err := v.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		if n := version(t, v); n <= before {
			t.Errorf("version after Clear = %d, want more than %d", n, before)
		}
	})
	t.Run("AddMessagesAt_current_version_stores_and_returns_the_new_version", func(t *testing.T) {
		_, v := s.versioned(t)
		first := users("a", 2)
		add(t, v, first...)
		cur := version(t, v)
		more := users("b", 2)
		n, err := v.AddMessagesAt(t.Context(), cur, more)
		if err != nil {
			t.Fatalf("AddMessagesAt(current version %d): %v", cur, err)
		}
		if n <= cur {
			t.Errorf("AddMessagesAt returned version %d, want more than %d", n, cur)
		}
		if got := version(t, v); got != n {
			t.Errorf("Snapshot version %d differs from the %d AddMessagesAt returned", got, n)
		}
		sameMessages(t, "after AddMessagesAt", append(first, more...), all(t, v))
	})
	t.Run("AddMessagesAt_stale_version_gives_ErrConflict_and_stores_nothing", func(t *testing.T) {
		_, v := s.versioned(t)
		first := users("a", 1)
		add(t, v, first...)
		stale := version(t, v)
		second := users("b", 1)
		add(t, v, second...)
		_, err := v.AddMessagesAt(t.Context(), stale, users("late", 2))
		isErr(t, "AddMessagesAt(stale version)", err, session.ErrConflict)
		sameMessages(t, "after a conflicting AddMessagesAt", append(first, second...), all(t, v))
	})
	t.Run("AddMessagesAt_future_version_gives_ErrConflict", func(t *testing.T) {
		_, v := s.versioned(t)
		cur := version(t, v)
		_, err := v.AddMessagesAt(t.Context(), cur+100, users("m", 1))
		isErr(t, "AddMessagesAt(future version)", err, session.ErrConflict)
		if got := all(t, v); len(got) != 0 {
			t.Errorf("a conflicting AddMessagesAt stored %d messages", len(got))
		}
	})
	t.Run("AddMessagesAt_retry_of_stored_messages_succeeds_whatever_the_version", func(t *testing.T) {
		_, v := s.versioned(t)
		msgs := users("m", 2)
		if _, err := v.AddMessagesAt(t.Context(), 0, msgs); err != nil {
			t.Fatalf("AddMessagesAt(0): %v", err)
		}
		later := users("later", 1)
		add(t, v, later...)
		cur := version(t, v)
		n, err := v.AddMessagesAt(t.Context(), 0, msgs) // the answer was "lost": retry
		if err != nil {
			t.Fatalf("retry of stored messages at an old version: %v, want success", err)
		}
		if n != cur {
			t.Errorf("retry returned version %d, want the current %d", n, cur)
		}
		sameMessages(t, "after the retry", append(msgs, later...), all(t, v))
	})
	t.Run("AddMessagesAt_invalid_message_gives_ErrInvalidMessage", func(t *testing.T) {
		_, v := s.versioned(t)
		msgs := users("m", 2)
		msgs[1].Role = ""
		_, err := v.AddMessagesAt(t.Context(), 0, msgs)
		isErr(t, "AddMessagesAt with an empty role", err, session.ErrInvalidMessage)
		if got := all(t, v); len(got) != 0 {
			t.Errorf("the failed call stored %d messages", len(got))
		}
	})
	t.Run("AddMessagesAt_race_from_one_version_exactly_one_wins", func(t *testing.T) {
		st, v := s.versioned(t)
		for round := range 10 {
			base := version(t, v)
			calls := [2][]message.Message{users(fmt.Sprintf("r%d-g0", round), 2), users(fmt.Sprintf("r%d-g1", round), 2)}
			var errs [2]error
			concurrently(t, 2, func(ctx context.Context, g int) {
				h, err := st.Load(ctx, "s1")
				if err != nil {
					errs[g] = err
					return
				}
				_, errs[g] = h.(session.Versioned).AddMessagesAt(ctx, base, calls[g])
			})
			wins := 0
			winner := -1
			for g, err := range errs {
				switch {
				case err == nil:
					wins++
					winner = g
				case !errors.Is(err, session.ErrConflict):
					t.Fatalf("round %d, goroutine %d: AddMessagesAt: %v, want nil or ErrConflict", round, g, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d of 2 AddMessagesAt calls from version %d succeeded, want exactly 1", round, wins, base)
			}
			got := all(t, v)
			sameMessages(t, fmt.Sprintf("round %d: the last messages", round), calls[winner], got[max(0, len(got)-2):])
			if len(got) != 2*(round+1) {
				t.Fatalf("round %d: session holds %d messages, want %d", round, len(got), 2*(round+1))
			}
		}
	})
	t.Run("Snapshot_during_appends_pairs_messages_with_their_version", func(t *testing.T) {
		st, _ := s.versioned(t)
		var mu sync.Mutex
		seen := map[int64]int{} // version -> message count
		var writing atomic.Int32
		writing.Store(4)
		concurrently(t, 8, func(ctx context.Context, i int) {
			h, err := st.Load(ctx, "s1")
			if err != nil {
				t.Errorf("goroutine %d: Load: %v", i, err)
				return
			}
			if i < 4 {
				defer writing.Add(-1)
				for c := range 10 {
					if err := h.AddMessages(ctx, writerCall(i, c)); err != nil {
						t.Errorf("writer %d: AddMessages: %v", i, err)
						return
					}
				}
				return
			}
			for reads := 0; reads < 1000 && writing.Load() > 0; reads++ {
				msgs, v, err := h.(session.Versioned).Snapshot(ctx, nil)
				if err != nil {
					t.Errorf("reader %d: Snapshot: %v", i, err)
					return
				}
				mu.Lock()
				if n, ok := seen[v]; ok && n != len(msgs) {
					t.Errorf("Snapshot gave version %d with %d messages and, another time, with %d", v, n, len(msgs))
				}
				seen[v] = len(msgs)
				mu.Unlock()
			}
		})
		versions := slices.Sorted(maps.Keys(seen))
		for i := 1; i < len(versions); i++ {
			if seen[versions[i]] < seen[versions[i-1]] {
				t.Errorf("version %d has %d messages, fewer than the %d of older version %d, with appends only",
					versions[i], seen[versions[i]], seen[versions[i-1]], versions[i-1])
			}
		}
	})
	t.Run("recreated_session_starts_empty_at_version_0", func(t *testing.T) {
		st, v := s.versioned(t)
		add(t, v, users("m", 3)...)
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		again, ok := create(t, st, "s1").(session.Versioned)
		if !ok {
			t.Fatal("re-created session is not Versioned")
		}
		got, n, err := again.Snapshot(t.Context(), nil)
		if err != nil || n != 0 || len(got) != 0 {
			t.Errorf("re-created session: Snapshot = %d messages, version %d, %v; want none, 0, nil", len(got), n, err)
		}
	})
	t.Run("cancelled_context_gives_an_error_and_stores_nothing", func(t *testing.T) {
		_, v := s.versioned(t)
		_, _, err := v.Snapshot(cancelled(t), nil)
		canceledErr(t, "Snapshot", err)
		_, err = v.AddMessagesAt(cancelled(t), 0, users("m", 1))
		canceledErr(t, "AddMessagesAt", err)
		if got, n, err := v.Snapshot(t.Context(), nil); err != nil || n != 0 || len(got) != 0 {
			t.Errorf("after a cancelled AddMessagesAt: Snapshot = %d messages, version %d, %v", len(got), n, err)
		}
	})
}
