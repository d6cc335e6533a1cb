package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// Shape of the concurrent-writer checks.
const (
	writers        = 8
	callsPerWriter = 25
	msgsPerCall    = 4
)

// writerCall returns the messages of call c of writer g: texts "g/c/i".
func writerCall(g, c int) []message.Message {
	msgs := make([]message.Message, msgsPerCall)
	for i := range msgs {
		msgs[i] = message.NewUserMessage(fmt.Sprintf("%d/%d/%d", g, c, i))
	}
	return msgs
}

// checkInterleaving checks msgs written by writerCall: every call's
// messages are there once, contiguous and in order, and each writer's calls
// are in its order. It reports at most a few errors.
func checkInterleaving(t *testing.T, msgs []message.Message, nWriters, nCalls int) {
	t.Helper()
	if want := nWriters * nCalls * msgsPerCall; len(msgs) != want {
		t.Errorf("session holds %d messages, want %d", len(msgs), want)
	}
	nextCall := make([]int, nWriters)
	errs := 0
	fail := func(format string, args ...any) {
		if errs < 5 {
			t.Errorf(format, args...)
		}
		errs++
	}
	for i := 0; i < len(msgs); {
		var g, c, k int
		if _, err := fmt.Sscanf(msgs[i].Content(), "%d/%d/%d", &g, &c, &k); err != nil || g < 0 || g >= nWriters {
			fail("message %d: unexpected text %q", i, msgs[i].Content())
			i++
			continue
		}
		if k != 0 {
			fail("message %d (%q) does not start a call: a call was split or interleaved", i, msgs[i].Content())
			i++
			continue
		}
		if c != nextCall[g] {
			fail("message %d: writer %d's call %d comes where its call %d should", i, g, c, nextCall[g])
		}
		nextCall[g] = c + 1
		for k := range msgsPerCall {
			want := fmt.Sprintf("%d/%d/%d", g, c, k)
			if i+k >= len(msgs) || msgs[i+k].Content() != want {
				got := "(end)"
				if i+k < len(msgs) {
					got = msgs[i+k].Content()
				}
				fail("message %d = %q, want %q: the messages of one call are not contiguous and in order", i+k, got, want)
				break
			}
		}
		i += msgsPerCall
	}
	for g, n := range nextCall {
		if n != nCalls {
			fail("writer %d: %d of its %d calls found", g, n, nCalls)
		}
	}
}

func testConcurrency(t *testing.T, s *suite) {
	t.Run("LoadOrCreate_by_16_goroutines_on_a_new_id_all_succeed_and_keep_every_message", func(t *testing.T) {
		st := s.store(t)
		const n = 16
		sessions := make([]session.Session, n)
		concurrently(t, n, func(ctx context.Context, i int) {
			sess, err := session.LoadOrCreate(ctx, st, "shared")
			if err != nil {
				t.Errorf("goroutine %d: LoadOrCreate: %v", i, err)
				return
			}
			sessions[i] = sess
		})
		if t.Failed() {
			return
		}
		concurrently(t, n, func(ctx context.Context, i int) {
			if sessions[i].ID() != "shared" {
				t.Errorf("goroutine %d: ID() = %q", i, sessions[i].ID())
			}
			if err := sessions[i].AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprint(i))}); err != nil {
				t.Errorf("goroutine %d: AddMessages: %v", i, err)
			}
		})
		got := all(t, load(t, st, "shared"))
		seen := map[string]bool{}
		for _, m := range got {
			seen[m.Content()] = true
		}
		for i := range n {
			if !seen[fmt.Sprint(i)] {
				t.Errorf("the message of goroutine %d is missing: every goroutine must have the same session", i)
			}
		}
		if len(got) != n {
			t.Errorf("session holds %d messages, want %d", len(got), n)
		}
	})
	t.Run("Create_by_16_goroutines_on_one_id_exactly_one_succeeds_others_get_ErrExists", func(t *testing.T) {
		st := s.store(t)
		var ok atomic.Int32
		concurrently(t, 16, func(ctx context.Context, i int) {
			_, err := st.Create(ctx, "race")
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, session.ErrExists):
				t.Errorf("goroutine %d: Create: %v, want nil or ErrExists", i, err)
			}
		})
		if n := ok.Load(); n != 1 {
			t.Errorf("%d of 16 concurrent Creates succeeded, want exactly 1", n)
		}
	})
	t.Run("8_writers_on_one_session_lose_nothing_and_never_interleave_a_call", func(t *testing.T) {
		st, _ := s.withSession(t)
		concurrently(t, writers, func(ctx context.Context, g int) {
			sess, err := st.Load(ctx, "s1")
			if err != nil {
				t.Errorf("writer %d: Load: %v", g, err)
				return
			}
			for c := range callsPerWriter {
				if err := sess.AddMessages(ctx, writerCall(g, c)); err != nil {
					t.Errorf("writer %d, call %d: AddMessages: %v", g, c, err)
					return
				}
			}
		})
		checkInterleaving(t, all(t, load(t, st, "s1")), writers, callsPerWriter)
	})
	t.Run("8_writers_on_their_own_sessions_lose_nothing", func(t *testing.T) {
		st := s.store(t)
		for g := range writers {
			create(t, st, fmt.Sprintf("w%d", g))
		}
		concurrently(t, writers, func(ctx context.Context, g int) {
			sess, err := st.Load(ctx, fmt.Sprintf("w%d", g))
			if err != nil {
				t.Errorf("writer %d: Load: %v", g, err)
				return
			}
			for c := range callsPerWriter {
				// Each writer writes as writer 0 of its own session.
				if err := sess.AddMessages(ctx, writerCall(0, c)); err != nil {
					t.Errorf("writer %d, call %d: AddMessages: %v", g, c, err)
					return
				}
			}
		})
		for g := range writers {
			checkInterleaving(t, all(t, load(t, st, fmt.Sprintf("w%d", g))), 1, callsPerWriter)
		}
	})
	t.Run("readers_during_writes_see_only_whole_calls", func(t *testing.T) {
		st, _ := s.withSession(t)
		var writing atomic.Int32
		writing.Store(4)
		concurrently(t, 8, func(ctx context.Context, i int) {
			sess, err := st.Load(ctx, "s1")
			if err != nil {
				t.Errorf("goroutine %d: Load: %v", i, err)
				return
			}
			if i < 4 { // writers
				defer writing.Add(-1)
				for c := range 10 {
					if err := sess.AddMessages(ctx, writerCall(i, c)); err != nil {
						t.Errorf("writer %d: AddMessages: %v", i, err)
						return
					}
				}
				return
			}
			for reads := 0; reads < 1000 && writing.Load() > 0; reads++ {
				msgs, err := sess.GetMessages(ctx, nil)
				if err != nil {
					t.Errorf("reader %d: GetMessages: %v", i, err)
					return
				}
				if len(msgs)%msgsPerCall != 0 {
					t.Errorf("reader %d saw %d messages: part of a call was visible", i, len(msgs))
					return
				}
			}
		})
		checkInterleaving(t, all(t, load(t, st, "s1")), 4, 10)
	})
	t.Run("8_goroutines_popping_get_each_message_once", func(t *testing.T) {
		st, sess := s.withSession(t)
		want := users("m", 40)
		add(t, sess, want...)
		var mu sync.Mutex
		popped := map[string]int{}
		concurrently(t, 8, func(ctx context.Context, i int) {
			h, err := st.Load(ctx, "s1")
			if err != nil {
				t.Errorf("goroutine %d: Load: %v", i, err)
				return
			}
			for range 5 {
				m, err := h.PopMessage(ctx)
				if err != nil || m == nil {
					t.Errorf("goroutine %d: PopMessage = %v, %v", i, m, err)
					return
				}
				mu.Lock()
				popped[m.Content()]++
				mu.Unlock()
			}
		})
		for _, m := range want {
			if popped[m.Content()] != 1 {
				t.Errorf("message %q popped %d times, want once", m.Content(), popped[m.Content()])
			}
		}
		if got := all(t, sess); len(got) != 0 {
			t.Errorf("after 40 pops the session still holds %d messages", len(got))
		}
	})
}
