package postgres

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

// TestFeedOrderUnderContention has 12 writers change one session at once
// (appends of one message and of more than a chunk, pops, clears and
// replaces), then watches the feed from the start: the session's changes
// must come in version order, each one version after the one before, from
// the create (version 0) to the session's final version, so none is lost,
// repeated or out of order. Every change moves the version by exactly one
// (session.Change). Each writer gets its xid when it first writes; before
// the per-session advisory lock, a writer that got its xid early and then
// waited for the session row committed after writers with later xids, and
// about 300 of 721 changes came out of order.
func TestFeedOrderUnderContention(t *testing.T) {
	pool := testPool(t)
	s := startFeed(t, newStore(t, pool))
	s.chunkRows = 2 // the larger appends below: three chunks in one transaction
	ctx := t.Context()
	if _, err := s.Create(ctx, "hot"); err != nil {
		t.Fatal(err)
	}
	const writers, ops = 12, 60
	var changes atomic.Int64
	changes.Add(1) // the create
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			ss, err := s.Load(ctx, "hot")
			if err != nil {
				t.Error(err)
				return
			}
			for i := range ops {
				text := fmt.Sprint(g, "-", i)
				switch {
				case i%20 == 7:
					m, err := ss.PopMessage(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if m != nil {
						changes.Add(1)
					}
					continue
				case i%30 == 11 && g == 0:
					err = ss.Clear(ctx)
				case i%30 == 13:
					_, v, err := ss.(session.Versioned).Snapshot(ctx, session.Limit(0))
					if err != nil {
						t.Error(err)
						return
					}
					_, err = ss.(session.Rewriter).ReplaceMessages(ctx, v, []message.Message{message.NewUserMessage(text)})
					if errors.Is(err, session.ErrConflict) {
						continue
					}
				case i%20 == 3:
					// More messages than one statement takes: the
					// transaction of several chunks (addMany).
					msgs := make([]message.Message, 5)
					for k := range msgs {
						msgs[k] = message.NewUserMessage(fmt.Sprint(text, "-", k))
					}
					err = ss.AddMessages(ctx, msgs)
				default:
					err = ss.AddMessages(ctx, []message.Message{message.NewUserMessage(text)})
				}
				if err != nil {
					t.Error(err)
					return
				}
				changes.Add(1)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ss, err := s.Load(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	_, final, err := ss.(session.Versioned).Snapshot(ctx, session.Limit(0))
	if err != nil {
		t.Fatal(err)
	}
	want := changes.Load()
	if final != want-1 {
		t.Fatalf("session at version %d after %d changes (create included)", final, want)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seq, err := s.Watch(wctx, session.WatchQuery{SessionID: "hot"})
	if err != nil {
		t.Fatal(err)
	}
	next, bad := int64(0), 0
	for c, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != next {
			bad++
			if bad <= 10 {
				t.Errorf("change %s (%s) has version %d, want %d", c.Cursor, c.Kind, c.Version, next)
			}
		}
		next = c.Version + 1
		if c.Version == final {
			break
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d changes out of version order", bad, want)
	}
}
