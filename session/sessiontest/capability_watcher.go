package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func (s *suite) watcher(t *testing.T) (session.Store, session.Watcher) {
	t.Helper()
	st := s.store(t)
	w, ok := st.(session.Watcher)
	if !ok {
		t.Skip("store does not implement session.Watcher")
	}
	// A store that has the method but no feed in its configuration (such
	// as a PostgreSQL store on Citus) says so with ErrNotSupported.
	if _, err := w.Watch(t.Context(), session.WatchQuery{After: session.WatchFromNow}); errors.Is(err, session.ErrNotSupported) {
		t.Skipf("Watch: %v", err)
	}
	return st, w
}

// feedItem is one pair a watch yielded.
type feedItem struct {
	c   session.Change
	err error
}

// feedReader ranges over a watch in a goroutine, so that a test can wait
// for each change under the watchdog.
type feedReader struct {
	ch     chan feedItem
	cancel context.CancelFunc
	once   sync.Once
}

// watch starts a watch with q and a reader over it; the watch is stopped
// when the test ends.
func watch(t *testing.T, w session.Watcher, q session.WatchQuery) *feedReader {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	seq, err := w.Watch(ctx, q)
	if err != nil {
		cancel()
		t.Fatalf("Watch(%+v): %v", q, err)
	}
	r := &feedReader{ch: make(chan feedItem), cancel: cancel}
	go func() {
		defer close(r.ch)
		for c, err := range seq {
			r.ch <- feedItem{c, err}
		}
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// next returns the next change, failing t if the watch yields an error,
// ends, or yields nothing within the watchdog's time.
func (r *feedReader) next(t *testing.T) session.Change {
	t.Helper()
	timer := time.NewTimer(watchdogTimeout)
	defer timer.Stop()
	select {
	case it, ok := <-r.ch:
		if !ok {
			t.Fatal("the watch ended; want another change")
		}
		if it.err != nil {
			t.Fatalf("the watch yielded error %v; want another change", it.err)
		}
		return it.c
	case <-timer.C:
		t.Fatalf("watchdog: no change delivered within %v", watchdogTimeout)
	}
	return session.Change{}
}

// stop cancels the watch and waits for it to end, returning the error of
// its last pair (nil if it ended without one).
func (r *feedReader) stop(t *testing.T) error {
	t.Helper()
	var last error
	r.once.Do(func() {
		r.cancel()
		timer := time.NewTimer(watchdogTimeout)
		defer timer.Stop()
		for {
			select {
			case it, ok := <-r.ch:
				if !ok {
					return
				}
				last = it.err
			case <-timer.C:
				t.Errorf("watchdog: the watch did not end within %v of its context being cancelled", watchdogTimeout)
				return
			}
		}
	})
	return last
}

// expectChange checks c's session, kind and messages (by text); a nil
// texts checks for no message.
func expectChange(t *testing.T, what string, c session.Change, id string, kind session.ChangeKind, texts_ []string) {
	t.Helper()
	if c.SessionID != id || c.Kind != kind {
		t.Fatalf("%s: got a %q change of %q, want a %q change of %q", what, c.Kind, c.SessionID, kind, id)
	}
	if c.Cursor == "" {
		t.Errorf("%s: change has an empty Cursor", what)
	}
	if c.At == 0 {
		t.Errorf("%s: change has no time (At = 0)", what)
	}
	if got := texts(c.Messages); !slices.Equal(got, texts_) {
		t.Errorf("%s: messages %q, want %q", what, got, texts_)
	}
}

// expectInfoChange checks that c is a ChangeInfo of session id (with
// owner, unless owner is ""), with no messages and none removed, at
// version (the session's: UpdateInfo does not advance it).
func expectInfoChange(t *testing.T, what string, c session.Change, id, owner string, version int64) {
	t.Helper()
	expectChange(t, what, c, id, session.ChangeInfo, nil)
	if len(c.Removed) != 0 {
		t.Errorf("%s: change removed %q, want nothing", what, c.Removed)
	}
	if owner != "" && c.Owner != owner {
		t.Errorf("%s: change of owner %q, want %q", what, c.Owner, owner)
	}
	if c.Version != version {
		t.Errorf("%s: change at version %d, session at %d (UpdateInfo does not advance it)", what, c.Version, version)
	}
}

func testWatcher(t *testing.T, s *suite) {
	s.watcher(t) // skips the whole area when not implemented
	t.Run("session_feed_delivers_every_kind_of_change_in_order", func(t *testing.T) {
		st, w := s.watcher(t)
		r := watch(t, w, session.WatchQuery{SessionID: "s1"})
		sess := create(t, st, "s1")
		c := r.next(t)
		expectChange(t, "after Create", c, "s1", session.ChangeCreate, nil)
		if c.Version != 0 {
			t.Errorf("create change at version %d, want 0", c.Version)
		}
		cursors := map[string]bool{c.Cursor: true}
		last := c.Version
		// step checks that the next change is the one the write just made,
		// at a version above the last one and equal to the session's.
		step := func(what string, kind session.ChangeKind, want []string) session.Change {
			t.Helper()
			c := r.next(t)
			expectChange(t, "after "+what, c, "s1", kind, want)
			if cursors[c.Cursor] {
				t.Errorf("after %s: cursor %q was delivered before", what, c.Cursor)
			}
			cursors[c.Cursor] = true
			if c.Version <= last {
				t.Errorf("after %s: version %d, want above the previous change's %d", what, c.Version, last)
			}
			last = c.Version
			if v, ok := sess.(session.Versioned); ok {
				if n := version(t, v); n != c.Version {
					t.Errorf("after %s: change at version %d, session at %d", what, c.Version, n)
				}
			}
			return c
		}
		msgs := users("m", 3)
		add(t, sess, msgs[:2]...)
		got := step("AddMessages of 2", session.ChangeAppend, []string{"m-0", "m-1"})
		sameMessages(t, "the append's messages", msgs[:2], got.Messages)
		add(t, sess, msgs[2])
		step("AddMessages of 1", session.ChangeAppend, []string{"m-2"})
		if d, ok := st.(session.Describer); ok {
			title := "renamed"
			if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Title: &title}); err != nil {
				t.Fatalf("UpdateInfo: %v", err)
			}
			c := r.next(t)
			// At the previous change's version, which is the session's.
			expectInfoChange(t, "after UpdateInfo", c, "s1", "", last)
			if v := info(t, d, "s1").Version; v != last {
				t.Errorf("after UpdateInfo: session at version %d, want %d (UpdateInfo does not advance it)", v, last)
			}
			if cursors[c.Cursor] {
				t.Errorf("after UpdateInfo: cursor %q was delivered before", c.Cursor)
			}
			cursors[c.Cursor] = true
		}
		add(t, sess, msgs[2]) // a retry stores nothing: no change
		if _, err := sess.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		got = step("PopMessage", session.ChangeRemove, nil)
		if !slices.Equal(got.Removed, []string{msgs[2].ID}) {
			t.Errorf("pop change removed %q, want [%q]", got.Removed, msgs[2].ID)
		}
		if q, ok := st.(session.Quarantiner); ok {
			if err := q.Quarantine(t.Context(), "s1", msgs[0].ID, "test"); err != nil {
				t.Fatalf("Quarantine: %v", err)
			}
			got = step("Quarantine", session.ChangeRemove, nil)
			if !slices.Equal(got.Removed, []string{msgs[0].ID}) {
				t.Errorf("quarantine change removed %q, want [%q]", got.Removed, msgs[0].ID)
			}
		}
		if err := sess.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		step("Clear", session.ChangeClear, nil)
		if rw, ok := sess.(session.Rewriter); ok {
			if _, err := rw.ReplaceMessages(t.Context(), last, users("r", 2)); err != nil {
				t.Fatalf("ReplaceMessages: %v", err)
			}
			step("ReplaceMessages", session.ChangeReplace, []string{"r-0", "r-1"})
		}
		if err := st.Delete(t.Context(), "s1"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		c = r.next(t)
		expectChange(t, "after Delete", c, "s1", session.ChangeDelete, nil)
		if err := st.Delete(t.Context(), "s1"); err != nil { // deleting a missing session: no change
			t.Fatalf("Delete of a missing session: %v", err)
		}
		sess = create(t, st, "s1")
		c = r.next(t)
		expectChange(t, "after Create again", c, "s1", session.ChangeCreate, nil)
		add(t, sess, message.NewUserMessage("again"))
		c = r.next(t)
		expectChange(t, "after AddMessages to the new session", c, "s1", session.ChangeAppend, []string{"again"})
	})
	t.Run("UpdateInfo_delivers_one_ChangeInfo_at_the_sessions_version", func(t *testing.T) {
		st, w := s.watcher(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store implements session.Watcher but not session.Describer")
		}
		a := createWith(t, d, "a", session.CreateOptions{Owner: "alice", Title: "old"})
		createWith(t, d, "b", session.CreateOptions{Owner: "bob"})
		add(t, a, users("m", 2)...)
		va, vb := info(t, d, "a").Version, info(t, d, "b").Version
		everything := watch(t, w, session.WatchQuery{After: session.WatchFromNow})
		ofA := watch(t, w, session.WatchQuery{SessionID: "a", After: session.WatchFromNow})
		ofAlice := watch(t, w, session.WatchQuery{Owner: "alice", After: session.WatchFromNow})
		title, same := "new", "new"
		updates := []struct {
			what string
			u    session.InfoUpdate
		}{
			{"UpdateInfo of the title", session.InfoUpdate{Title: &title}},
			// The stores do not compare: setting the values already there
			// is a change too (see ChangeInfo).
			{"UpdateInfo to the same title", session.InfoUpdate{Title: &same}},
			{"UpdateInfo of the metadata", session.InfoUpdate{Metadata: map[string]string{"k": "v"}}},
		}
		for _, u := range updates {
			if err := d.UpdateInfo(t.Context(), "a", u.u); err != nil {
				t.Fatalf("%s: %v", u.what, err)
			}
		}
		bt := "bob's"
		if err := d.UpdateInfo(t.Context(), "b", session.InfoUpdate{Title: &bt}); err != nil {
			t.Fatalf("UpdateInfo of b: %v", err)
		}
		if a2, b2 := info(t, d, "a").Version, info(t, d, "b").Version; a2 != va || b2 != vb {
			t.Errorf("after UpdateInfo: a at version %d, b at %d; want %d and %d, as before (UpdateInfo does not advance it)", a2, b2, va, vb)
		}
		add(t, a, message.NewUserMessage("marker"))
		for _, f := range []struct {
			name string
			r    *feedReader
			bToo bool
		}{{"the whole store's feed", everything, true}, {"a's feed", ofA, false}, {"alice's feed", ofAlice, false}} {
			cursors := map[string]bool{}
			for _, u := range updates {
				c := f.r.next(t)
				expectInfoChange(t, f.name+": after "+u.what, c, "a", "alice", va)
				if cursors[c.Cursor] {
					t.Errorf("%s: after %s: cursor %q was delivered before", f.name, u.what, c.Cursor)
				}
				cursors[c.Cursor] = true
			}
			if f.bToo {
				expectInfoChange(t, f.name+": after UpdateInfo of b", f.r.next(t), "b", "bob", vb)
			}
			// Exactly one change per UpdateInfo: the next one is the append.
			expectChange(t, f.name+": after the UpdateInfo calls", f.r.next(t), "a", session.ChangeAppend, []string{"marker"})
		}
		if got := info(t, d, "a"); got.Title != "new" || got.Metadata["k"] != "v" {
			t.Errorf("Info after the changes: title %q, metadata %v; want \"new\", map[k:v]", got.Title, got.Metadata)
		}
	})
	t.Run("a_failed_UpdateInfo_delivers_nothing", func(t *testing.T) {
		st, w := s.watcher(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store implements session.Watcher but not session.Describer")
		}
		sess := create(t, st, "s1")
		create(t, st, "gone")
		if err := st.Delete(t.Context(), "gone"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		r := watch(t, w, session.WatchQuery{After: session.WatchFromNow})
		title := "t"
		for _, id := range []string{"nope", "gone"} {
			err := d.UpdateInfo(t.Context(), id, session.InfoUpdate{Title: &title})
			isErr(t, fmt.Sprintf("UpdateInfo(%q) of a missing session", id), err, session.ErrNotFound)
		}
		err := d.UpdateInfo(cancelled(t), "s1", session.InfoUpdate{Title: &title})
		canceledErr(t, "UpdateInfo with a cancelled context", err)
		add(t, sess, message.NewUserMessage("marker"))
		expectChange(t, "after the failed UpdateInfo calls", r.next(t), "s1", session.ChangeAppend, []string{"marker"})
	})
	t.Run("SetUpdatedAt_delivers_nothing", func(t *testing.T) {
		st, w := s.watcher(t)
		imp, ok := st.(session.Importer)
		if !ok {
			t.Skip("store implements session.Watcher but not session.Importer")
		}
		sess := create(t, st, "s1")
		r := watch(t, w, session.WatchQuery{After: session.WatchFromNow})
		// As the agent's lease renewal does, every few seconds: a change
		// for each would flood the feed.
		for i := range 3 {
			if err := imp.SetUpdatedAt(t.Context(), "s1", time.Now().UnixNano()+int64(i)); err != nil {
				t.Fatalf("SetUpdatedAt: %v", err)
			}
		}
		add(t, sess, message.NewUserMessage("marker"))
		expectChange(t, "after SetUpdatedAt", r.next(t), "s1", session.ChangeAppend, []string{"marker"})
	})
	t.Run("session_feed_holds_only_that_session", func(t *testing.T) {
		st, w := s.watcher(t)
		a, b := create(t, st, "a"), create(t, st, "b")
		r := watch(t, w, session.WatchQuery{SessionID: "a", After: session.WatchFromNow})
		add(t, b, message.NewUserMessage("b-1"))
		add(t, a, message.NewUserMessage("a-1"))
		add(t, b, message.NewUserMessage("b-2"))
		add(t, a, message.NewUserMessage("a-2"))
		expectChange(t, "first", r.next(t), "a", session.ChangeAppend, []string{"a-1"})
		expectChange(t, "second", r.next(t), "a", session.ChangeAppend, []string{"a-2"})
	})
	t.Run("WatchFromNow_starts_after_what_is_committed", func(t *testing.T) {
		st, w := s.watcher(t)
		sess := create(t, st, "s1")
		add(t, sess, message.NewUserMessage("before"))
		r := watch(t, w, session.WatchQuery{After: session.WatchFromNow})
		add(t, sess, message.NewUserMessage("after"))
		expectChange(t, "first change", r.next(t), "s1", session.ChangeAppend, []string{"after"})
	})
	t.Run("empty_After_starts_at_the_oldest_change", func(t *testing.T) {
		st, w := s.watcher(t)
		sess := create(t, st, "s1")
		add(t, sess, message.NewUserMessage("one"))
		r := watch(t, w, session.WatchQuery{})
		expectChange(t, "first change", r.next(t), "s1", session.ChangeCreate, nil)
		expectChange(t, "second change", r.next(t), "s1", session.ChangeAppend, []string{"one"})
	})
	t.Run("resume_from_a_cursor_loses_and_repeats_nothing", func(t *testing.T) {
		st, w := s.watcher(t)
		sess := create(t, st, "s1")
		for i := range 3 {
			add(t, sess, message.NewUserMessage(fmt.Sprintf("m-%d", i)))
		}
		r := watch(t, w, session.WatchQuery{SessionID: "s1"})
		r.next(t) // create
		r.next(t) // m-0
		cur := r.next(t).Cursor
		if err := r.stop(t); !errors.Is(err, context.Canceled) {
			t.Errorf("a stopped watch ended with %v, want an error matching context.Canceled", err)
		}
		for i := 3; i < 6; i++ { // while no consumer runs
			add(t, sess, message.NewUserMessage(fmt.Sprintf("m-%d", i)))
		}
		r = watch(t, w, session.WatchQuery{SessionID: "s1", After: cur})
		for i := 2; i < 6; i++ {
			expectChange(t, "resumed", r.next(t), "s1", session.ChangeAppend, []string{fmt.Sprintf("m-%d", i)})
		}
		add(t, sess, message.NewUserMessage("marker"))
		expectChange(t, "after the resumed changes", r.next(t), "s1", session.ChangeAppend, []string{"marker"})
	})
	t.Run("concurrent_writers_lose_and_repeat_nothing_in_commit_order", func(t *testing.T) {
		st, w := s.watcher(t)
		const writers, appends = 4, 10
		sessions := make([]session.Session, writers)
		for i := range sessions {
			sessions[i] = create(t, st, fmt.Sprintf("w%d", i))
		}
		r := watch(t, w, session.WatchQuery{After: session.WatchFromNow})
		concurrently(t, writers, func(ctx context.Context, i int) {
			for j := range appends {
				if err := sessions[i].AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprintf("w%d-%d", i, j))}); err != nil {
					t.Errorf("AddMessages: %v", err)
					return
				}
			}
		})
		seen := map[string][]string{}
		cursors := map[string]bool{}
		for range writers * appends {
			c := r.next(t)
			if c.Kind != session.ChangeAppend || len(c.Messages) != 1 || cursors[c.Cursor] {
				t.Fatalf("got %q change of %q with %d messages, cursor %q (seen before: %v); want one new append of one message", c.Kind, c.SessionID, len(c.Messages), c.Cursor, cursors[c.Cursor])
			}
			cursors[c.Cursor] = true
			seen[c.SessionID] = append(seen[c.SessionID], c.Messages[0].Content())
		}
		for i := range writers {
			id := fmt.Sprintf("w%d", i)
			want := make([]string, appends)
			for j := range want {
				want[j] = fmt.Sprintf("%s-%d", id, j)
			}
			if !slices.Equal(seen[id], want) {
				t.Errorf("session %s: the feed delivered %q, want %q in order", id, seen[id], want)
			}
		}
		add(t, sessions[0], message.NewUserMessage("marker"))
		expectChange(t, "after every append", r.next(t), "w0", session.ChangeAppend, []string{"marker"})
	})
	t.Run("replaying_the_feed_gives_the_stored_messages", func(t *testing.T) {
		st, w := s.watcher(t)
		r := watch(t, w, session.WatchQuery{SessionID: "s1"})
		sess := create(t, st, "s1")
		add(t, sess, users("a", 3)...)
		if _, err := sess.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		add(t, sess, users("b", 2)...)
		if err := sess.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		add(t, sess, users("c", 2)...)
		if _, err := sess.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		add(t, sess, message.NewUserMessage("marker"))
		var model []message.Message
		for {
			c := r.next(t)
			model = apply(model, c)
			if len(model) > 0 && model[len(model)-1].Content() == "marker" {
				break
			}
		}
		sameMessages(t, "messages rebuilt from the feed", all(t, sess), model)
	})
	t.Run("owner_feed_holds_the_owners_sessions", func(t *testing.T) {
		st, w := s.watcher(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store implements session.Watcher but not session.Describer: the suite cannot give sessions owners")
		}
		r := watch(t, w, session.WatchQuery{Owner: "alice"})
		a1 := createWith(t, d, "a1", session.CreateOptions{Owner: "alice"})
		b1 := createWith(t, d, "b1", session.CreateOptions{Owner: "bob"})
		a2 := createWith(t, d, "a2", session.CreateOptions{Owner: "alice"})
		add(t, b1, message.NewUserMessage("bob's"))
		add(t, a2, message.NewUserMessage("a2's"))
		add(t, a1, message.NewUserMessage("a1's"))
		for _, want := range []struct {
			id   string
			kind session.ChangeKind
			msgs []string
		}{{"a1", session.ChangeCreate, nil}, {"a2", session.ChangeCreate, nil}, {"a2", session.ChangeAppend, []string{"a2's"}}, {"a1", session.ChangeAppend, []string{"a1's"}}} {
			c := r.next(t)
			expectChange(t, "owner feed", c, want.id, want.kind, want.msgs)
			if c.Owner != "alice" {
				t.Errorf("owner feed: change of owner %q, want alice", c.Owner)
			}
		}
		if e, ok := st.(session.OwnerEraser); ok {
			if _, err := e.DeleteOwner(t.Context(), "alice"); err != nil {
				t.Fatalf("DeleteOwner: %v", err)
			}
			var deleted []string
			for range 2 {
				c := r.next(t)
				expectChange(t, "after DeleteOwner", c, c.SessionID, session.ChangeDelete, nil)
				deleted = append(deleted, c.SessionID)
			}
			slices.Sort(deleted)
			if !slices.Equal(deleted, []string{"a1", "a2"}) {
				t.Errorf("DeleteOwner: the feed deleted %q, want [a1 a2]", deleted)
			}
		}
	})
	t.Run("a_fork_is_created_with_its_history", func(t *testing.T) {
		st, w := s.watcher(t)
		f, ok := st.(session.Forker)
		if !ok {
			t.Skip("store implements session.Watcher but not session.Forker")
		}
		parent := create(t, st, "p")
		msgs := users("m", 3)
		add(t, parent, msgs...)
		r := watch(t, w, session.WatchQuery{SessionID: "f", After: session.WatchFromNow})
		if _, err := f.Fork(t.Context(), "p", msgs[1].ID, "f", session.CreateOptions{}); err != nil {
			t.Fatalf("Fork: %v", err)
		}
		c := r.next(t)
		expectChange(t, "after Fork", c, "f", session.ChangeCreate, []string{"m-0", "m-1"})
		if c.Version != 0 {
			t.Errorf("fork's create change at version %d, want 0", c.Version)
		}
	})
	t.Run("cancelling_the_context_ends_the_watch", func(t *testing.T) {
		st, w := s.watcher(t)
		r := watch(t, w, session.WatchQuery{After: session.WatchFromNow})
		add(t, create(t, st, "s1"), message.NewUserMessage("x"))
		r.next(t)
		canceledErr(t, "the last pair of a cancelled watch", r.stop(t))
		_, err := w.Watch(cancelled(t), session.WatchQuery{})
		canceledErr(t, "Watch with a cancelled context", err)
	})
	t.Run("breaking_out_of_the_loop_stops_the_watch", func(t *testing.T) {
		st, w := s.watcher(t)
		seq, err := w.Watch(t.Context(), session.WatchQuery{})
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		create(t, st, "s1")
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, err := range seq {
				if err != nil {
					t.Errorf("watch yielded %v", err)
				}
				break
			}
		}()
		timer := time.NewTimer(watchdogTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			t.Fatalf("watchdog: range over the watch did not return within %v of a break", watchdogTimeout)
		}
	})
	t.Run("bad_queries_give_typed_errors", func(t *testing.T) {
		_, w := s.watcher(t)
		for _, after := range []string{"x", "-1", "1.5", "99999999999"} {
			_, err := w.Watch(t.Context(), session.WatchQuery{After: after})
			isErr(t, fmt.Sprintf("Watch(After: %q)", after), err, session.ErrBadCursor)
		}
		_, err := w.Watch(t.Context(), session.WatchQuery{SessionID: "bad\x00id"})
		isErr(t, "Watch(SessionID: invalid)", err, session.ErrInvalidID)
	})
	t.Run("a_cursor_behind_the_kept_history_gives_ErrFeedGap", func(t *testing.T) {
		st, w := s.watcher(t)
		tr, ok := st.(session.FeedTrimmer)
		if !ok {
			t.Skip("store does not implement session.FeedTrimmer: the suite cannot discard history")
		}
		sess := create(t, st, "s1")
		r := watch(t, w, session.WatchQuery{})
		first := r.next(t).Cursor
		add(t, sess, message.NewUserMessage("one"))
		lastC := r.next(t).Cursor
		r.stop(t)
		// A watch that has started but not read yet when the history goes.
		ctx, cancel := context.WithTimeout(t.Context(), watchdogTimeout)
		defer cancel()
		pending, err := w.Watch(ctx, session.WatchQuery{After: first})
		if err != nil {
			t.Fatalf("Watch(After: first): %v", err)
		}
		n, err := tr.TrimFeed(t.Context(), math.MaxInt64)
		if err != nil || n < 2 {
			t.Fatalf("TrimFeed(all) = %d, %v; want at least the 2 changes made", n, err)
		}
		for _, after := range []string{first, ""} {
			_, err := w.Watch(t.Context(), session.WatchQuery{After: after})
			var gap *session.FeedGapError
			if !errors.Is(err, session.ErrFeedGap) || !errors.As(err, &gap) {
				t.Errorf("Watch(After: %q) after the history was discarded: %v, want a *session.FeedGapError matching ErrFeedGap", after, err)
			}
		}
		for c, err := range pending {
			if !errors.Is(err, session.ErrFeedGap) {
				t.Errorf("a watch behind the discarded history yielded %+v, %v; want ErrFeedGap", c, err)
			}
			break
		}
		// Nothing was lost after the newest change: resuming there works.
		r = watch(t, w, session.WatchQuery{After: lastC})
		add(t, sess, message.NewUserMessage("two"))
		expectChange(t, "resumed at the newest change", r.next(t), "s1", session.ChangeAppend, []string{"two"})
	})
	if s.opts.Twin != nil {
		t.Run("a_watch_sees_changes_made_through_another_instance", func(t *testing.T) {
			st, w := s.watcher(t)
			twin := s.opts.Twin(t, st)
			r := watch(t, w, session.WatchQuery{SessionID: "s1"})
			sess := create(t, twin, "s1")
			expectChange(t, "twin's create", r.next(t), "s1", session.ChangeCreate, nil)
			for i := range 3 {
				add(t, sess, message.NewUserMessage(fmt.Sprintf("t-%d", i)))
				expectChange(t, "twin's append", r.next(t), "s1", session.ChangeAppend, []string{fmt.Sprintf("t-%d", i)})
			}
		})
	}
}

// apply returns msgs after change c.
func apply(msgs []message.Message, c session.Change) []message.Message {
	switch c.Kind {
	case session.ChangeAppend:
		return append(msgs, c.Messages...)
	case session.ChangeRemove:
		return slices.DeleteFunc(msgs, func(m message.Message) bool { return slices.Contains(c.Removed, m.ID) })
	case session.ChangeClear, session.ChangeDelete:
		return nil
	case session.ChangeReplace, session.ChangeCreate:
		return slices.Clone(c.Messages)
	}
	return msgs
}
