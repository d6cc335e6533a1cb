package feedtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// WatchedStore is a store with a change feed.
type WatchedStore interface {
	session.Store
	session.Watcher
}

// StartRacingWriters is the test of a dormant feed's start under load,
// shared by the SQLite and PostgreSQL stores (their StartFeed). Each of
// sessions, loaded from a store of its own (as a process of its own),
// appends one message at a time as fast as it can; after settle, start
// starts the feed, and settle later the writers stop. Then st watches from
// the oldest change: every append begun after start returned must be
// there, and each session's changes must be one unbroken run of versions
// ending at the session's version, each the append of the message at that
// position. A write that read the feed as dormant but committed after it
// started would leave a hole. A writer that the database kept waiting
// throughout, none of whose appends began after the start, may have
// nothing recorded; at least one writer must.
func StartRacingWriters(t *testing.T, st WatchedStore, sessions []session.Session, start func(context.Context) error, settle time.Duration) {
	t.Helper()
	ctx := t.Context()
	var started, stop atomic.Bool
	var wg sync.WaitGroup
	after := make([][]string, len(sessions)) // ids of the appends begun after start returned
	count := make([]int, len(sessions))
	for w, sess := range sessions {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				begun := started.Load()
				m := message.NewUserMessage(fmt.Sprintf("%s-%d", sess.ID(), i))
				if err := sess.AddMessages(ctx, []message.Message{m}); err != nil {
					t.Error(err)
					return
				}
				count[w]++
				if begun {
					after[w] = append(after[w], m.ID)
				}
			}
		})
	}
	time.Sleep(settle)
	err := start(ctx)
	started.Store(true)
	time.Sleep(settle)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("starting the feed: %v", err)
	}
	if t.Failed() {
		return
	}
	marker, err := st.Create(ctx, "marker")
	if err != nil {
		t.Fatal(err)
	}
	if err := marker.AddMessages(ctx, []message.Message{message.NewUserMessage("end")}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a watchdog
	defer cancel()
	seq, err := st.Watch(wctx, session.WatchQuery{})
	if err != nil {
		t.Fatal(err)
	}
	delivered := map[string][]session.Change{}
	for c, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		if c.SessionID == "marker" && c.Kind == session.ChangeAppend {
			break
		}
		delivered[c.SessionID] = append(delivered[c.SessionID], c)
	}
	recorded := 0
	for w, ws := range sessions {
		id := ws.ID()
		cs := delivered[id]
		sess, err := st.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		msgs, version, err := sess.(session.Versioned).Snapshot(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			if len(after[w]) > 0 {
				t.Errorf("%s: no change recorded (%d appends, %d after the start)", id, count[w], len(after[w]))
			}
			continue
		}
		var ids []string
		for i, c := range cs {
			if c.Kind != session.ChangeAppend || len(c.Messages) != 1 {
				t.Fatalf("%s: change %d is %s with %d messages", id, i, c.Kind, len(c.Messages))
			}
			if want := version - int64(len(cs)-1-i); c.Version != want {
				t.Errorf("%s: change %d has version %d, want %d (the run must end at the session's version %d)", id, i, c.Version, want, version)
				break
			}
			ids = append(ids, c.Messages[0].ID)
		}
		var tail []string
		for _, m := range msgs[len(msgs)-min(len(msgs), len(cs)):] {
			tail = append(tail, m.ID)
		}
		if !slices.Equal(ids, tail) {
			t.Errorf("%s: the recorded appends are not the session's last %d messages", id, len(cs))
		}
		for _, m := range after[w] {
			if !slices.Contains(ids, m) {
				t.Errorf("%s: message %s, appended after the feed started, is not in the feed", id, m)
				break
			}
		}
		recorded += len(cs)
		t.Logf("%s: %d appends, %d begun after the start, %d recorded", id, count[w], len(after[w]), len(cs))
	}
	if recorded == 0 {
		t.Error("nothing recorded")
	}
}
