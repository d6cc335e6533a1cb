package sessiontest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// forker returns a fresh store as a Forker, or skips.
func (s *suite) forker(t *testing.T) (session.Store, session.Forker) {
	t.Helper()
	st := s.store(t)
	f, ok := st.(session.Forker)
	if !ok {
		t.Skip("store does not implement session.Forker")
	}
	return st, f
}

func fork(t *testing.T, f session.Forker, parent, at, id string, opts session.CreateOptions) session.Session {
	t.Helper()
	sess, err := f.Fork(t.Context(), parent, at, id, opts)
	if err != nil {
		t.Fatalf("Fork(%q at %q into %q): %v", parent, at, id, err)
	}
	if sess == nil || sess.ID() != id {
		t.Fatalf("Fork(%q at %q into %q) returned session %v", parent, at, id, sess)
	}
	return sess
}

// forkParent makes session "p" holding rich() followed by four user
// messages, and returns it with its messages.
func forkParent(t *testing.T, st session.Store) (session.Session, []message.Message) {
	t.Helper()
	p := create(t, st, "p")
	msgs := append(rich(), users("p", 4)...)
	add(t, p, msgs...)
	return p, all(t, p)
}

// forkLink fails t unless the Info of id (when st is a Describer) records
// the fork's parent and fork point.
func forkLink(t *testing.T, st session.Store, id, parent, at string) {
	t.Helper()
	d, ok := st.(session.Describer)
	if !ok {
		return
	}
	in := info(t, d, id)
	if in.ParentID != parent || in.ForkMessageID != at {
		t.Errorf("Info(%q): ParentID %q, ForkMessageID %q; want %q, %q", id, in.ParentID, in.ForkMessageID, parent, at)
	}
}

// forkRacing runs 8 rounds of a fork of a 10-message parent at its 8th
// message while change (what the parent undergoes, in the past tense in
// failure messages) changes it: the fork must hold the 8 messages or fail
// with want and not exist.
func forkRacing(t *testing.T, s *suite, changed string, want error, change func(ctx context.Context, st session.Store, p session.Session) error) {
	st, f := s.forker(t)
	for round := range 8 {
		pid, fid := fmt.Sprintf("p%d", round), fmt.Sprintf("f%d", round)
		p := create(t, st, pid)
		add(t, p, users("m", 10)...)
		pm := all(t, p)
		var fk session.Session
		var forkErr, changeErr error
		concurrently(t, 2, func(ctx context.Context, i int) {
			if i == 0 {
				changeErr = change(ctx, st, p)
				return
			}
			fk, forkErr = f.Fork(ctx, pid, pm[7].ID, fid, session.CreateOptions{})
		})
		if changeErr != nil {
			t.Fatalf("round %d: the parent's change: %v", round, changeErr)
		}
		if forkErr != nil {
			isErr(t, "Fork of a parent "+changed+" concurrently", forkErr, want)
			if exists(t, st, fid) {
				t.Errorf("round %d: a failed Fork created the session", round)
			}
			continue
		}
		sameMessages(t, fmt.Sprintf("round %d: fork made while its parent was %s", round, changed), pm[:8], all(t, fk))
	}
}

func testForker(t *testing.T, s *suite) {
	s.forker(t)
	t.Run("fork_holds_the_history_up_to_and_including_the_message", func(t *testing.T) {
		st, f := s.forker(t)
		_, pm := forkParent(t, st)
		fk := fork(t, f, "p", pm[2].ID, "f", session.CreateOptions{})
		sameMessages(t, "fork at the third message", pm[:3], all(t, fk))
		sameMessages(t, "last 2 of the fork", pm[1:3], get(t, fk, session.Limit(2)))
		sameMessages(t, "the fork loaded again", pm[:3], all(t, load(t, st, "f")))
		forkLink(t, st, "f", "p", pm[2].ID)
		forkLink(t, st, "p", "", "")
		if d, ok := st.(session.Describer); ok {
			if n := info(t, d, "f").MessageCount; n != 3 {
				t.Errorf("Info of the fork: MessageCount %d, want 3", n)
			}
		}
	})
	t.Run("fork_at_the_first_and_at_the_last_message", func(t *testing.T) {
		st, f := s.forker(t)
		_, pm := forkParent(t, st)
		sameMessages(t, "fork at the first message", pm[:1], all(t, fork(t, f, "p", pm[0].ID, "first", session.CreateOptions{})))
		sameMessages(t, "fork at the last message", pm, all(t, fork(t, f, "p", pm[len(pm)-1].ID, "last", session.CreateOptions{})))
	})
	t.Run("fork_at_an_empty_message_ID_holds_no_message_and_keeps_the_link", func(t *testing.T) {
		st, f := s.forker(t)
		forkParent(t, st)
		fk := fork(t, f, "p", "", "f", session.CreateOptions{})
		if got := all(t, fk); len(got) != 0 {
			t.Errorf("fork before the first message holds %d messages, want 0", len(got))
		}
		forkLink(t, st, "f", "p", "")
	})
	t.Run("fork_and_parent_are_independent_afterwards", func(t *testing.T) {
		st, f := s.forker(t)
		p, pm := forkParent(t, st)
		fk := fork(t, f, "p", pm[3].ID, "f", session.CreateOptions{})
		own := users("fork", 2)
		add(t, fk, own...)
		sameMessages(t, "parent after appending to the fork", pm, all(t, p))
		more := users("parent", 2)
		add(t, p, more...)
		want := append(append([]message.Message{}, pm[:4]...), own...)
		sameMessages(t, "fork after appending to the parent", want, all(t, fk))
		// Popping in the fork goes down into what it inherited; the
		// parent keeps it.
		for range 3 {
			if _, err := fk.PopMessage(t.Context()); err != nil {
				t.Fatalf("PopMessage of the fork: %v", err)
			}
		}
		sameMessages(t, "fork after popping 3", pm[:3], all(t, fk))
		sameMessages(t, "parent after pops in the fork", append(append([]message.Message{}, pm...), more...), all(t, p))
		if err := fk.Clear(t.Context()); err != nil {
			t.Fatalf("Clear of the fork: %v", err)
		}
		sameMessages(t, "parent after clearing the fork", append(append([]message.Message{}, pm...), more...), all(t, p))
	})
	t.Run("a_popped_message_returned_by_the_parent_is_the_caller's_own", func(t *testing.T) {
		st, f := s.forker(t)
		p := create(t, st, "p")
		m := message.Message{ID: message.NewID(), Role: message.RoleUser, Parts: []message.Part{
			message.Binary{MIMEType: "application/octet-stream", Data: []byte{1, 2, 3}},
		}}
		add(t, p, m)
		fk := fork(t, f, "p", m.ID, "f", session.CreateOptions{})
		want := all(t, fk)
		popped, err := p.PopMessage(t.Context())
		if err != nil || popped == nil {
			t.Fatalf("PopMessage: %v, %v", popped, err)
		}
		popped.Parts[0].(message.Binary).Data[0] = 99 // the caller may scribble on what it got
		sameMessages(t, "fork after the parent's popped message was changed", want, all(t, fk))
	})
	parentChanges := []struct {
		name   string
		change func(t *testing.T, st session.Store, p session.Session)
	}{
		{"deleted", func(t *testing.T, st session.Store, p session.Session) {
			if err := st.Delete(t.Context(), "p"); err != nil {
				t.Fatalf("Delete of the parent: %v", err)
			}
		}},
		{"cleared", func(t *testing.T, st session.Store, p session.Session) {
			if err := p.Clear(t.Context()); err != nil {
				t.Fatalf("Clear of the parent: %v", err)
			}
		}},
		{"popped_below_the_fork_point", func(t *testing.T, st session.Store, p session.Session) {
			for range 6 {
				if _, err := p.PopMessage(t.Context()); err != nil {
					t.Fatalf("PopMessage of the parent: %v", err)
				}
			}
		}},
		{"popped_below_the_fork_point_then_given_new_messages_with_the_same_ids", func(t *testing.T, st session.Store, p session.Session) {
			// The popped messages' positions (and ids) are taken again by
			// messages of other content: the fork keeps what it inherited.
			var again []message.Message
			for range 6 {
				m, err := p.PopMessage(t.Context())
				if err != nil || m == nil {
					t.Fatalf("PopMessage of the parent: %v, %v", m, err)
				}
				again = append([]message.Message{message.NewUserMessage("new text of " + m.ID)}, again...)
				again[0].ID = m.ID
			}
			add(t, p, again...)
		}},
		{"deleted_then_created_again_with_the_same_messages_ids", func(t *testing.T, st session.Store, p session.Session) {
			old := all(t, p)
			if err := st.Delete(t.Context(), "p"); err != nil {
				t.Fatalf("Delete of the parent: %v", err)
			}
			p = create(t, st, "p")
			var again []message.Message
			for _, m := range old {
				n := message.NewUserMessage("new text of " + m.ID)
				n.ID = m.ID
				again = append(again, n)
			}
			add(t, p, again...)
		}},
		{"replaced", func(t *testing.T, st session.Store, p session.Session) {
			r, ok := p.(session.Rewriter)
			if !ok {
				t.Skip("sessions of this store do not implement session.Rewriter")
			}
			if _, err := r.ReplaceMessages(t.Context(), version(t, r), users("new", 2)); err != nil {
				t.Fatalf("ReplaceMessages of the parent: %v", err)
			}
		}},
		{"quarantined_an_inherited_row", func(t *testing.T, st session.Store, p session.Session) {
			q, ok := st.(session.Quarantiner)
			if !ok {
				t.Skip("store does not implement session.Quarantiner")
			}
			msgs := all(t, p)
			if err := q.Quarantine(t.Context(), "p", msgs[1].ID, "test"); err != nil {
				t.Fatalf("Quarantine in the parent: %v", err)
			}
		}},
		{"erased_with_its_owner", func(t *testing.T, st session.Store, p session.Session) {
			e, ok := st.(session.OwnerEraser)
			if !ok {
				t.Skip("store does not implement session.OwnerEraser")
			}
			r, err := e.DeleteOwner(t.Context(), "alice")
			if err != nil {
				t.Fatalf("DeleteOwner: %v", err)
			}
			if len(r.SessionIDs) != 1 || r.SessionIDs[0] != "p" {
				t.Errorf("DeleteOwner(alice) deleted %q, want [p]", r.SessionIDs)
			}
		}},
		{"pruned", func(t *testing.T, st session.Store, p session.Session) {
			pr, ok := st.(session.Pruner)
			if !ok {
				t.Skip("store does not implement session.Pruner")
			}
			fu, ok := updatedAt(t, st, "f")
			if !ok {
				t.Skip("store does not implement session.Describer: cannot tell parent and fork apart by time")
			}
			r, err := pr.Prune(t.Context(), session.PruneQuery{UpdatedBefore: fu})
			if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			if len(r.SessionIDs) != 1 || r.SessionIDs[0] != "p" {
				t.Errorf("Prune before the fork was made deleted %q, want [p]", r.SessionIDs)
			}
		}},
	}
	for _, c := range parentChanges {
		t.Run("parent_"+c.name+"_leaves_the_fork_intact", func(t *testing.T) {
			st, f := s.forker(t)
			var p session.Session
			if d, ok := st.(session.Describer); ok {
				p = createWith(t, d, "p", session.CreateOptions{Owner: "alice"})
			} else {
				p = create(t, st, "p")
			}
			add(t, p, append(rich(), users("p", 4)...)...)
			pm := all(t, p)
			clockTick()
			fk := fork(t, f, "p", pm[4].ID, "f", session.CreateOptions{Owner: "bob"})
			own := users("own", 1)
			add(t, fk, own...)
			want := append(append([]message.Message{}, pm[:5]...), own...)
			c.change(t, st, p)
			sameMessages(t, "fork after its parent was "+c.name, want, all(t, fk))
			sameMessages(t, "fork loaded again", want, all(t, load(t, st, "f")))
			forkLink(t, st, "f", "p", pm[4].ID)
			if _, err := fk.PopMessage(t.Context()); err != nil {
				t.Fatalf("PopMessage of the fork: %v", err)
			}
			sameMessages(t, "fork after a pop", pm[:5], all(t, fk))
		})
	}
	t.Run("fork_of_a_fork", func(t *testing.T) {
		st, f := s.forker(t)
		p, pm := forkParent(t, st)
		f1 := fork(t, f, "p", pm[5].ID, "f1", session.CreateOptions{})
		own := users("f1", 2)
		add(t, f1, own...)
		f1m := all(t, f1)
		f2 := fork(t, f, "f1", own[0].ID, "f2", session.CreateOptions{})
		sameMessages(t, "fork of a fork", f1m[:7], all(t, f2))
		forkLink(t, st, "f2", "f1", own[0].ID)
		// At a message f1 inherited from p.
		f3 := fork(t, f, "f1", pm[1].ID, "f3", session.CreateOptions{})
		sameMessages(t, "fork of a fork at an inherited message", pm[:2], all(t, f3))
		if err := st.Delete(t.Context(), "f1"); err != nil {
			t.Fatal(err)
		}
		if err := p.Clear(t.Context()); err != nil {
			t.Fatal(err)
		}
		sameMessages(t, "fork of a fork after both ancestors changed", f1m[:7], all(t, f2))
	})
	t.Run("a_fork_racing_pops_of_its_parent_holds_the_whole_prefix_or_is_not_made", func(t *testing.T) {
		forkRacing(t, s, "popped", session.ErrMessageNotFound, func(ctx context.Context, st session.Store, p session.Session) error {
			for range 5 { // the third pop removes the fork point
				if _, err := p.PopMessage(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	t.Run("forks_outlive_their_ancestors_deleted_in_any_order", func(t *testing.T) {
		for _, order := range [][]string{{"p", "f1"}, {"f1", "p"}} {
			t.Run("delete_"+order[0]+"_then_"+order[1], func(t *testing.T) {
				st, f := s.forker(t)
				_, pm := forkParent(t, st)
				f1 := fork(t, f, "p", pm[4].ID, "f1", session.CreateOptions{})
				own := users("f1", 2)
				add(t, f1, own...)
				f1m := all(t, f1)
				f2 := fork(t, f, "f1", own[1].ID, "f2", session.CreateOptions{})       // borrows from p and f1
				f3 := fork(t, f, "f1", pm[2].ID, "f3", session.CreateOptions{})        // from what f1 inherited
				f4 := fork(t, f, "p", pm[len(pm)-1].ID, "f4", session.CreateOptions{}) // a sibling of f1
				for _, id := range order {
					if err := st.Delete(t.Context(), id); err != nil {
						t.Fatalf("Delete(%q): %v", id, err)
					}
				}
				sameMessages(t, "fork of a fork after its ancestors were deleted", f1m, all(t, f2))
				sameMessages(t, "fork of a fork at an inherited message, after its ancestors were deleted", pm[:3], all(t, f3))
				sameMessages(t, "sibling after the parent and its sibling were deleted", pm, all(t, f4))
				sameMessages(t, "last 2 of the fork of a fork", f1m[len(f1m)-2:], get(t, f2, session.Limit(2)))
				// Each can still pop into what it inherited and append.
				if m, err := f2.PopMessage(t.Context()); err != nil || m == nil || m.ID != own[1].ID {
					t.Fatalf("PopMessage of the fork of a fork: %v, %v; want %q", m, err, own[1].ID)
				}
				add(t, f3, users("f3", 1)...)
				sameMessages(t, "fork of a fork after a pop", f1m[:len(f1m)-1], all(t, f2))
				sameMessages(t, "sibling after both changed", pm, all(t, f4))
			})
		}
	})
	t.Run("a_parent_erased_with_some_of_its_forks_leaves_the_others_intact", func(t *testing.T) {
		st, f := s.forker(t)
		e, ok := st.(session.OwnerEraser)
		if !ok {
			t.Skip("store does not implement session.OwnerEraser")
		}
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer: sessions have no owner")
		}
		p := createWith(t, d, "p", session.CreateOptions{Owner: "alice"})
		pm := append(rich(), users("p", 4)...)
		add(t, p, pm...)
		pm = all(t, p)
		fa := fork(t, f, "p", pm[3].ID, "fa", session.CreateOptions{}) // alice's, as the parent
		add(t, fa, users("fa", 1)...)
		fam := all(t, fa)
		fork(t, f, "p", pm[5].ID, "fb", session.CreateOptions{Owner: "bob"})
		fork(t, f, "fa", fam[4].ID, "fc", session.CreateOptions{Owner: "bob"}) // bob's fork of alice's fork
		r, err := e.DeleteOwner(t.Context(), "alice")
		if err != nil {
			t.Fatalf("DeleteOwner(alice): %v", err)
		}
		if len(r.SessionIDs) != 2 || r.SessionIDs[0] != "fa" || r.SessionIDs[1] != "p" {
			t.Errorf("DeleteOwner(alice) deleted %q, want [fa p]", r.SessionIDs)
		}
		sameMessages(t, "bob's fork of alice's session after alice was erased", pm[:6], all(t, load(t, st, "fb")))
		sameMessages(t, "bob's fork of alice's fork after alice was erased", fam, all(t, load(t, st, "fc")))
	})
	t.Run("the_fork_reads_by_range_as_its_parent_does", func(t *testing.T) {
		st, f := s.forker(t)
		p, pm := forkParent(t, st)
		pr, ok := p.(session.Ranger)
		if !ok {
			t.Skip("sessions of this store do not implement session.Ranger")
		}
		fk := fork(t, f, "p", pm[6].ID, "f", session.CreateOptions{})
		fr := fk.(session.Ranger)
		want := rangeOf(t, pr, session.RangeQuery{Before: 8})
		for _, when := range []string{"with its parent", "after its parent was deleted"} {
			if diff := cmp.Diff(want, rangeOf(t, fr, session.RangeQuery{}), cmpOpts...); diff != "" {
				t.Errorf("Range of the fork %s (-want +got):\n%s", when, diff)
			}
			if diff := cmp.Diff(want[4:], rangeOf(t, fr, session.RangeQuery{After: want[3].Seq}), cmpOpts...); diff != "" {
				t.Errorf("Range of the fork after a Seq %s (-want +got):\n%s", when, diff)
			}
			if diff := cmp.Diff(want[5:], rangeOf(t, fr, session.RangeQuery{Limit: 2, Newest: true}), cmpOpts...); diff != "" {
				t.Errorf("newest 2 by Range of the fork %s (-want +got):\n%s", when, diff)
			}
			if err := st.Delete(t.Context(), "p"); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("a_fork_racing_the_delete_of_its_parent_is_whole_or_not_made", func(t *testing.T) {
		forkRacing(t, s, "deleted", session.ErrNotFound, func(ctx context.Context, st session.Store, p session.Session) error {
			return st.Delete(ctx, p.ID())
		})
	})
	t.Run("a_fork_cut_short_by_its_context_is_whole_or_absent", func(t *testing.T) {
		st, f := s.forker(t)
		p := create(t, st, "p")
		add(t, p, users("m", 2000)...)
		pm := all(t, p)
		for i, d := range []time.Duration{0, 50 * time.Microsecond, 500 * time.Microsecond, 2 * time.Millisecond, 10 * time.Millisecond, time.Second} {
			fid := fmt.Sprintf("f%d", i)
			ctx, cancel := context.WithTimeout(t.Context(), d)
			_, err := f.Fork(ctx, "p", pm[len(pm)-1].ID, fid, session.CreateOptions{})
			cancel()
			if !exists(t, st, fid) {
				if err == nil {
					t.Errorf("Fork with a %v deadline returned no error and made no session", d)
				}
				continue
			}
			sameMessages(t, fmt.Sprintf("fork made under a %v deadline (error %v)", d, err), pm, all(t, load(t, st, fid)))
		}
	})
	t.Run("owner_title_and_metadata_come_from_the_parent_unless_given", func(t *testing.T) {
		st, f := s.forker(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer")
		}
		meta := map[string]string{"channel": "web"}
		p := createWith(t, d, "p", session.CreateOptions{Owner: "alice", Title: "Trip", Metadata: meta})
		m := users("m", 1)
		add(t, p, m...)
		fork(t, f, "p", m[0].ID, "same", session.CreateOptions{})
		sameInfo(t, "fork with zero options", session.Info{ID: "same", Owner: "alice", Title: "Trip", Metadata: meta,
			MessageCount: 1, ParentID: "p", ForkMessageID: m[0].ID}, info(t, d, "same"))
		other := session.CreateOptions{Owner: "bob", Title: "Retry", Metadata: map[string]string{"k": "v"}}
		fork(t, f, "p", m[0].ID, "other", other)
		sameInfo(t, "fork with options", session.Info{ID: "other", Owner: "bob", Title: "Retry", Metadata: other.Metadata,
			MessageCount: 1, ParentID: "p", ForkMessageID: m[0].ID}, info(t, d, "other"))
		if v := info(t, d, "same").Version; v != 0 {
			t.Errorf("a new fork's version is %d, want 0", v)
		}
	})
	t.Run("CreateWith_records_the_link_of_a_fork_made_elsewhere", func(t *testing.T) {
		st, _ := s.forker(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer")
		}
		// An import or a migration of a fork: the parent need not exist.
		createWith(t, d, "imported", session.CreateOptions{ParentID: "gone", ForkMessageID: "m9"})
		forkLink(t, st, "imported", "gone", "m9")
		createWith(t, d, "no-parent", session.CreateOptions{ForkMessageID: "m9"})
		forkLink(t, st, "no-parent", "", "")
		_, err := d.CreateWith(t.Context(), "bad-parent", session.CreateOptions{ParentID: "bad\x00id"})
		isErr(t, "CreateWith with an invalid ParentID", err, session.ErrInvalidID)
		if exists(t, st, "bad-parent") {
			t.Errorf("a refused CreateWith created the session")
		}
	})
	t.Run("retried_appends_in_the_fork_store_nothing_twice", func(t *testing.T) {
		st, f := s.forker(t)
		_, pm := forkParent(t, st)
		fk := fork(t, f, "p", pm[3].ID, "f", session.CreateOptions{})
		add(t, fk, pm[:4]...) // every inherited message, again
		add(t, fk, pm[2])
		sameMessages(t, "fork after appending inherited messages again", pm[:4], all(t, fk))
		own := users("own", 2)
		add(t, fk, own...)
		add(t, fk, own...)
		// A message after the fork point is new to the fork.
		add(t, fk, pm[4])
		want := append(append(append([]message.Message{}, pm[:4]...), own...), pm[4])
		sameMessages(t, "fork after retried appends", want, all(t, fk))
	})
	t.Run("a_fork_is_versioned_like_any_session", func(t *testing.T) {
		st, f := s.forker(t)
		_, pm := forkParent(t, st)
		v, ok := fork(t, f, "p", pm[0].ID, "f", session.CreateOptions{}).(session.Versioned)
		if !ok {
			t.Skip("sessions of this store do not implement session.Versioned")
		}
		at := version(t, v)
		nv, err := v.AddMessagesAt(t.Context(), at, users("x", 1))
		if err != nil {
			t.Fatalf("AddMessagesAt the fork's version: %v", err)
		}
		if nv <= at {
			t.Errorf("version after AddMessagesAt = %d, want > %d", nv, at)
		}
		_, err = v.AddMessagesAt(t.Context(), at, users("y", 1))
		isErr(t, "AddMessagesAt a stale version of the fork", err, session.ErrConflict)
	})
	t.Run("errors_create_nothing", func(t *testing.T) {
		st, f := s.forker(t)
		p, pm := forkParent(t, st)
		_, err := f.Fork(t.Context(), "p", "no-such-message", "f", session.CreateOptions{})
		isErr(t, "Fork at an unknown message", err, session.ErrMessageNotFound)
		_, err = f.Fork(t.Context(), "missing", pm[0].ID, "f", session.CreateOptions{})
		isErr(t, "Fork of a missing session", err, session.ErrNotFound)
		_, err = f.Fork(t.Context(), "p", pm[0].ID, "", session.CreateOptions{})
		isErr(t, "Fork into an empty id", err, session.ErrInvalidID)
		_, err = f.Fork(t.Context(), "", pm[0].ID, "f", session.CreateOptions{})
		isErr(t, "Fork of an empty id", err, session.ErrInvalidID)
		_, err = f.Fork(cancelled(t), "p", pm[0].ID, "f", session.CreateOptions{})
		canceledErr(t, "Fork", err)
		if exists(t, st, "f") {
			t.Errorf("a failed Fork created the session")
		}
		// A message popped from the parent is no fork point any more.
		last := pm[len(pm)-1]
		if _, err := p.PopMessage(t.Context()); err != nil {
			t.Fatal(err)
		}
		_, err = f.Fork(t.Context(), "p", last.ID, "f", session.CreateOptions{})
		isErr(t, "Fork at a popped message", err, session.ErrMessageNotFound)
		// A taken id is refused and left as it was.
		taken := create(t, st, "taken")
		mine := users("mine", 1)
		add(t, taken, mine...)
		_, err = f.Fork(t.Context(), "p", pm[0].ID, "taken", session.CreateOptions{})
		isErr(t, "Fork into a taken id", err, session.ErrExists)
		sameMessages(t, "the taken session", mine, all(t, taken))
		_, err = f.Fork(t.Context(), "p", pm[0].ID, "p", session.CreateOptions{})
		isErr(t, "Fork into the parent's own id", err, session.ErrExists)
		sameMessages(t, "the parent", pm[:len(pm)-1], all(t, p))
		if exists(t, st, "f") {
			t.Errorf("a failed Fork created the session")
		}
	})
	t.Run("the_fork_is_listed_with_its_parent_link", func(t *testing.T) {
		st, f := s.forker(t)
		l, ok := st.(session.Lister)
		if !ok {
			t.Skip("store does not implement session.Lister")
		}
		_, pm := forkParent(t, st)
		fork(t, f, "p", pm[1].ID, "f", session.CreateOptions{})
		rows := listAll(t, l, session.ListQuery{}, 10)
		if got := infoIDs(rows); len(got) != 2 || got[0] != "f" || got[1] != "p" {
			t.Fatalf("List: sessions %q, want [f p] (the fork is the newest)", got)
		}
		if r := rows[0]; r.ParentID != "p" || r.ForkMessageID != pm[1].ID || r.MessageCount != 2 {
			t.Errorf("List row of the fork: ParentID %q, ForkMessageID %q, MessageCount %d; want p, %q, 2",
				r.ParentID, r.ForkMessageID, r.MessageCount, pm[1].ID)
		}
		if r := rows[1]; r.ParentID != "" || r.ForkMessageID != "" {
			t.Errorf("List row of the parent: ParentID %q, ForkMessageID %q; want empty", r.ParentID, r.ForkMessageID)
		}
	})
	t.Run("search_finds_inherited_text_in_the_fork", func(t *testing.T) {
		st, f := s.forker(t)
		sr, ok := st.(session.Searcher)
		if !ok {
			t.Skip("store does not implement session.Searcher")
		}
		if _, err := sr.Search(t.Context(), session.SearchQuery{Text: "probe"}); err != nil {
			t.Skipf("search not supported by this store: %v", err)
		}
		p := create(t, st, "p")
		before, after := text("the axolotl before the fork"), text("an axolotl after the fork")
		add(t, p, before, after)
		fk := fork(t, f, "p", before.ID, "f", session.CreateOptions{})
		own := text("the fork's own axolotl")
		add(t, fk, own)
		hits := search(t, sr, session.SearchQuery{Text: "axolotl", SessionID: "f"})
		sameHits(t, "axolotl in the fork", []message.Message{before, own}, hits)
		for _, h := range hits {
			if h.SessionID != "f" {
				t.Errorf("a search scoped to the fork gave a hit in session %q", h.SessionID)
			}
			if h.MessageID == before.ID && h.Seq != 1 {
				t.Errorf("the inherited hit's Seq is %d, want 1 (its position)", h.Seq)
			}
		}
		sameHits(t, "axolotl in the parent", []message.Message{before, after}, search(t, sr, session.SearchQuery{Text: "axolotl", SessionID: "p"}))
		var inFork, inParent int
		for _, h := range search(t, sr, session.SearchQuery{Text: "axolotl"}) {
			switch {
			case h.SessionID == "f" && h.MessageID == before.ID:
				inFork++
			case h.SessionID == "p" && h.MessageID == before.ID:
				inParent++
			}
		}
		if inFork != 1 || inParent != 1 {
			t.Errorf("a search of every session found the inherited message %d times in the fork and %d in the parent, want 1 and 1", inFork, inParent)
		}
		if err := st.Delete(t.Context(), "p"); err != nil {
			t.Fatal(err)
		}
		sameHits(t, "axolotl in the fork after its parent was deleted", []message.Message{before, own},
			search(t, sr, session.SearchQuery{Text: "axolotl", SessionID: "f"}))
		sameHits(t, "axolotl everywhere after the parent was deleted", []message.Message{before, own},
			search(t, sr, session.SearchQuery{Text: "axolotl"}))
	})
	t.Run("ForkBefore_forks_before_the_message_and_returns_it", func(t *testing.T) {
		st, _ := s.forker(t)
		_, pm := forkParent(t, st)
		fk, m, err := session.ForkBefore(t.Context(), st, "p", pm[3].ID, "f", session.CreateOptions{})
		if err != nil {
			t.Fatalf("ForkBefore: %v", err)
		}
		sameMessages(t, "ForkBefore's fork", pm[:3], all(t, fk))
		sameMessages(t, "ForkBefore's message", pm[3:4], []message.Message{m})
		forkLink(t, st, "f", "p", pm[2].ID)
		first, m, err := session.ForkBefore(t.Context(), st, "p", pm[0].ID, "first", session.CreateOptions{})
		if err != nil {
			t.Fatalf("ForkBefore the first message: %v", err)
		}
		if got := all(t, first); len(got) != 0 || m.ID != pm[0].ID {
			t.Errorf("ForkBefore the first message: fork holds %d messages, message %q; want 0, %q", len(got), m.ID, pm[0].ID)
		}
		forkLink(t, st, "first", "p", "")
		_, _, err = session.ForkBefore(t.Context(), st, "p", "no-such-message", "g", session.CreateOptions{})
		isErr(t, "ForkBefore an unknown message", err, session.ErrMessageNotFound)
		if exists(t, st, "g") {
			t.Errorf("a failed ForkBefore created the session")
		}
	})
	t.Run("Fork_helper_reports_ErrNotSupported_for_a_store_without_it", func(t *testing.T) {
		_, err := session.Fork(t.Context(), plainStore{}, "p", "", "f", session.CreateOptions{})
		isErr(t, "session.Fork on a store without Forker", err, session.ErrNotSupported)
		_, _, err = session.ForkBefore(t.Context(), plainStore{}, "p", "m", "f", session.CreateOptions{})
		isErr(t, "session.ForkBefore on a store without Forker", err, session.ErrNotSupported)
	})
}

// plainStore is a Store with no capability at all.
type plainStore struct{ session.Store }
