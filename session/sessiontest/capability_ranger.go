package sessiontest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// ranger returns a fresh store and session "s1" as a Ranger, or skips.
func (s *suite) ranger(t *testing.T) (session.Store, session.Ranger) {
	t.Helper()
	st, sess := s.withSession(t)
	r, ok := sess.(session.Ranger)
	if !ok {
		t.Skip("sessions of this store do not implement session.Ranger")
	}
	return st, r
}

func rangeOf(t *testing.T, r session.Ranger, q session.RangeQuery) []session.Entry {
	t.Helper()
	got, err := r.Range(t.Context(), q)
	if err != nil {
		t.Fatalf("Range(%+v): %v", q, err)
	}
	if got == nil {
		t.Fatalf("Range(%+v) = nil; want a non-nil slice", q)
	}
	return got
}

func entryMessages(es []session.Entry) []message.Message {
	out := make([]message.Message, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

func seqsOf(es []session.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// increasing fails t unless seqs strictly increase.
func increasing(t *testing.T, what string, seqs []int64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("%s: seqs %v do not increase", what, seqs)
		}
	}
}

func testRanger(t *testing.T, s *suite) {
	s.ranger(t) // skips the whole area when not implemented
	t.Run("Newest_pages_before_Before_walk_the_whole_history_oldest_first_per_page", func(t *testing.T) {
		_, r := s.ranger(t)
		msgs := users("m", 7)
		add(t, r, msgs...)
		var pages [][]session.Entry
		q := session.RangeQuery{Limit: 3, Newest: true}
		for range 5 {
			page := rangeOf(t, r, q)
			if len(page) == 0 {
				break
			}
			increasing(t, "a page", seqsOf(page))
			pages = append(pages, page)
			q.Before = page[0].Seq
		}
		if len(pages) != 3 || len(pages[0]) != 3 || len(pages[1]) != 3 || len(pages[2]) != 1 {
			t.Fatalf("pages of 3 from the newest over 7 messages: %d pages; want sizes 3, 3, 1", len(pages))
		}
		var all []session.Entry
		for _, p := range slices.Backward(pages) {
			all = append(all, p...)
		}
		increasing(t, "the pages together", seqsOf(all))
		sameMessages(t, "the pages, oldest page first", msgs, entryMessages(all))
	})
	t.Run("After_returns_the_oldest_messages_past_it", func(t *testing.T) {
		_, r := s.ranger(t)
		msgs := users("m", 6)
		add(t, r, msgs...)
		all := rangeOf(t, r, session.RangeQuery{Limit: 100})
		sameMessages(t, "Range with no bounds", msgs, entryMessages(all))
		got := rangeOf(t, r, session.RangeQuery{After: all[1].Seq, Limit: 2})
		sameMessages(t, "two after the second", msgs[2:4], entryMessages(got))
		got = rangeOf(t, r, session.RangeQuery{After: all[1].Seq, Before: all[4].Seq, Limit: 100})
		sameMessages(t, "strictly between the second and the fifth", msgs[2:4], entryMessages(got))
		if got := rangeOf(t, r, session.RangeQuery{After: all[5].Seq, Limit: 10}); len(got) != 0 {
			t.Errorf("Range after the newest = %d messages; want none (an empty, non-nil slice)", len(got))
		}
	})
	t.Run("Seq_is_never_reused_after_PopMessage_or_Clear", func(t *testing.T) {
		_, r := s.ranger(t)
		add(t, r, users("m", 3)...)
		before := rangeOf(t, r, session.RangeQuery{Limit: 10})
		if _, err := r.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		next := message.NewUserMessage("after the pop")
		add(t, r, next)
		got := rangeOf(t, r, session.RangeQuery{After: before[len(before)-1].Seq, Limit: 10})
		if len(got) != 1 || got[0].Message.ID != next.ID {
			t.Fatalf("Range after the last Seq seen before a pop and an append = %d messages; want the new one (a reader following a session by Seq must see it)", len(got))
		}
		if err := r.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		again := message.NewUserMessage("after the clear")
		add(t, r, again)
		got = rangeOf(t, r, session.RangeQuery{After: got[0].Seq, Limit: 10})
		if len(got) != 1 || got[0].Message.ID != again.ID {
			t.Errorf("Range after the last Seq seen before a Clear and an append = %d messages; want the new one", len(got))
		}
	})
	t.Run("limit_0_means_DefaultListLimit", func(t *testing.T) {
		_, r := s.ranger(t)
		add(t, r, users("m", session.DefaultListLimit+1)...)
		if got := rangeOf(t, r, session.RangeQuery{}); len(got) != session.DefaultListLimit {
			t.Errorf("Range with Limit 0 = %d messages; want DefaultListLimit (%d)", len(got), session.DefaultListLimit)
		}
	})
	t.Run("deleted_session_gives_ErrNotFound", func(t *testing.T) {
		st, r := s.ranger(t)
		add(t, r, users("m", 1)...)
		if err := st.Delete(t.Context(), r.ID()); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := r.Range(t.Context(), session.RangeQuery{Limit: 10}); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Range of a deleted session: %v; want ErrNotFound", err)
		}
	})
	t.Run("cancelled_context_gives_an_error", func(t *testing.T) {
		_, r := s.ranger(t)
		add(t, r, users("m", 2)...)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if got, err := r.Range(ctx, session.RangeQuery{Limit: 10}); err == nil {
			t.Errorf("Range with a cancelled context = %d messages, nil error; want an error", len(got))
		}
	})
}
