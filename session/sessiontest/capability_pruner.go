package sessiontest

import (
	"slices"
	"testing"
	"time"

	"github.com/convo-dev/convo/session"
)

func (s *suite) pruner(t *testing.T) (session.Store, session.Pruner) {
	t.Helper()
	st := s.store(t)
	p, ok := st.(session.Pruner)
	if !ok {
		t.Skip("store does not implement session.Pruner")
	}
	return st, p
}

// updatedAt returns when the store says id was last updated, or ok false
// if it cannot say (neither Describer nor Lister).
func updatedAt(t *testing.T, st session.Store, id string) (int64, bool) {
	t.Helper()
	if d, ok := st.(session.Describer); ok {
		return info(t, d, id).UpdatedAt, true
	}
	if l, ok := st.(session.Lister); ok {
		for _, r := range list(t, l, session.ListQuery{IDPrefix: id, Limit: session.MaxListLimit}).Sessions {
			if r.ID == id {
				return r.UpdatedAt, true
			}
		}
		t.Fatalf("session %q not listed", id)
	}
	return 0, false
}

// pruneSetup makes old sessions o1 (2 messages), o2 (1) and, a clock tick
// after the returned cutoff, new session n1 (1).
func pruneSetup(t *testing.T, st session.Store, d session.Describer) int64 {
	t.Helper()
	for _, c := range []struct {
		id, owner string
		n         int
	}{{"o1", "alice", 2}, {"o2", "bob", 1}} {
		var sess session.Session
		if d != nil {
			sess = createWith(t, d, c.id, session.CreateOptions{Owner: c.owner})
		} else {
			sess = create(t, st, c.id)
		}
		add(t, sess, users(c.id, c.n)...)
	}
	clockTick()
	cutoff := time.Now().UnixNano()
	if at, ok := updatedAt(t, st, "o2"); ok {
		cutoff = at + 1 // the store's own clock
	}
	clockTick()
	add(t, create(t, st, "n1"), users("n1", 1)...)
	if at, ok := updatedAt(t, st, "n1"); ok && at < cutoff {
		t.Fatalf("session made after the cutoff %d has UpdatedAt %d", cutoff, at)
	}
	return cutoff
}

func testPruner(t *testing.T, s *suite) {
	s.pruner(t)
	t.Run("zero_UpdatedBefore_gives_an_error_and_deletes_nothing", func(t *testing.T) {
		st, p := s.pruner(t)
		pruneSetup(t, st, nil)
		if _, err := p.Prune(t.Context(), session.PruneQuery{}); err == nil {
			t.Error("Prune without UpdatedBefore succeeded, want an error")
		}
		if _, err := p.Prune(t.Context(), session.PruneQuery{Owner: "alice"}); err == nil {
			t.Error("Prune with only an Owner succeeded, want an error")
		}
		for _, id := range []string{"o1", "o2", "n1"} {
			if !exists(t, st, id) {
				t.Errorf("%s was deleted", id)
			}
		}
	})
	t.Run("dry_run_reports_and_deletes_nothing", func(t *testing.T) {
		st, p := s.pruner(t)
		cutoff := pruneSetup(t, st, nil)
		r, err := p.Prune(t.Context(), session.PruneQuery{UpdatedBefore: cutoff, DryRun: true})
		if err != nil {
			t.Fatalf("Prune dry run: %v", err)
		}
		if !slices.Equal(r.SessionIDs, []string{"o1", "o2"}) || r.Messages != 3 {
			t.Errorf("dry-run report = %+v, want sessions [o1 o2] and 3 messages", r)
		}
		for _, id := range []string{"o1", "o2", "n1"} {
			if !exists(t, st, id) {
				t.Errorf("dry run deleted %s", id)
			}
		}
	})
	t.Run("deletes_exactly_the_reported_sessions", func(t *testing.T) {
		st, p := s.pruner(t)
		cutoff := pruneSetup(t, st, nil)
		r, err := p.Prune(t.Context(), session.PruneQuery{UpdatedBefore: cutoff})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if !slices.Equal(r.SessionIDs, []string{"o1", "o2"}) || r.Messages != 3 {
			t.Errorf("report = %+v, want sessions [o1 o2] and 3 messages", r)
		}
		for id, want := range map[string]bool{"o1": false, "o2": false, "n1": true} {
			if exists(t, st, id) != want {
				t.Errorf("after Prune, Exists(%s) = %v, want %v", id, !want, want)
			}
		}
		sameTexts(t, "kept session", []string{"n1-0"}, all(t, load(t, st, "n1")))
	})
	t.Run("filter_Owner", func(t *testing.T) {
		st, p := s.pruner(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer: cannot set owners")
		}
		cutoff := pruneSetup(t, st, d)
		r, err := p.Prune(t.Context(), session.PruneQuery{UpdatedBefore: cutoff, Owner: "alice"})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if !slices.Equal(r.SessionIDs, []string{"o1"}) || r.Messages != 2 {
			t.Errorf("report = %+v, want sessions [o1] and 2 messages", r)
		}
		if exists(t, st, "o1") || !exists(t, st, "o2") {
			t.Error("Prune with Owner alice must delete o1 (alice) and keep o2 (bob)")
		}
	})
	t.Run("cancelled_context_gives_an_error_and_deletes_nothing", func(t *testing.T) {
		st, p := s.pruner(t)
		cutoff := pruneSetup(t, st, nil)
		_, err := p.Prune(cancelled(t), session.PruneQuery{UpdatedBefore: cutoff})
		canceledErr(t, "Prune", err)
		if !exists(t, st, "o1") {
			t.Error("a cancelled Prune deleted a session")
		}
	})
}
