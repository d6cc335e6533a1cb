package sessiontest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func (s *suite) importer(t *testing.T) (session.Store, session.Importer) {
	t.Helper()
	st := s.store(t)
	imp, ok := st.(session.Importer)
	if !ok {
		t.Skip("store does not implement session.Importer")
	}
	return st, imp
}

// Times of an imported session: created and last active in 2020, with odd
// nanoseconds so that a store rounding them fails.
const (
	importedCreatedAt = 1600000000123456789
	importedUpdatedAt = importedCreatedAt + 86400*1_000_000_000 + 987
)

// importedSession creates id as an import does (with an old CreatedAt when
// the store is a Describer) and appends three messages.
func importedSession(t *testing.T, st session.Store, id string) (session.Session, []message.Message) {
	t.Helper()
	var sess session.Session
	if d, ok := st.(session.Describer); ok {
		sess = createWith(t, d, id, session.CreateOptions{Owner: "alice", Title: "imported",
			Metadata: map[string]string{"k": "v"}, CreatedAt: importedCreatedAt})
	} else {
		sess = create(t, st, id)
	}
	msgs := users(id, 3)
	add(t, sess, msgs...)
	return sess, msgs
}

// mustUpdatedAt is updatedAt that skips t when the store cannot say.
func mustUpdatedAt(t *testing.T, st session.Store, id string) int64 {
	t.Helper()
	at, ok := updatedAt(t, st, id)
	if !ok {
		t.Skip("store implements neither session.Describer nor session.Lister: UpdatedAt cannot be read")
	}
	return at
}

func setUpdatedAt(t *testing.T, imp session.Importer, id string, at int64) {
	t.Helper()
	if err := imp.SetUpdatedAt(t.Context(), id, at); err != nil {
		t.Fatalf("SetUpdatedAt(%q, %d): %v", id, at, err)
	}
}

// sessionState is what SetUpdatedAt must not change.
type sessionState struct {
	info    session.Info // zero unless the store is a Describer
	version int64        // -1 unless the session is Versioned
	msgs    []message.Message
}

func stateOf(t *testing.T, st session.Store, sess session.Session) sessionState {
	t.Helper()
	s := sessionState{version: -1, msgs: all(t, sess)}
	if d, ok := st.(session.Describer); ok {
		s.info = info(t, d, sess.ID())
		s.info.UpdatedAt = 0
	}
	if v, ok := sess.(session.Versioned); ok {
		s.version = version(t, v)
	}
	return s
}

// sameState fails t unless the session's messages, version and info
// (UpdatedAt aside) are as before.
func sameState(t *testing.T, what string, st session.Store, sess session.Session, before sessionState) {
	t.Helper()
	after := stateOf(t, st, sess)
	sameMessages(t, what, before.msgs, after.msgs)
	if after.version != before.version {
		t.Errorf("%s: version %d -> %d; want it unchanged", what, before.version, after.version)
	}
	if before.info.Version != after.info.Version || before.info.CreatedAt != after.info.CreatedAt {
		t.Errorf("%s: Info.Version %d -> %d, CreatedAt %d -> %d; want both unchanged",
			what, before.info.Version, after.info.Version, before.info.CreatedAt, after.info.CreatedAt)
	}
	sameInfo(t, what, before.info, after.info)
}

func testImporter(t *testing.T, s *suite) {
	s.importer(t) // skips the whole area when not implemented
	t.Run("SetUpdatedAt_sets_UpdatedAt_exactly_and_changes_nothing_else", func(t *testing.T) {
		st, imp := s.importer(t)
		sess, _ := importedSession(t, st, "s1")
		importedSession(t, st, "s2")
		other := mustUpdatedAt(t, st, "s2")
		before := stateOf(t, st, sess)
		setUpdatedAt(t, imp, "s1", importedUpdatedAt)
		if got := mustUpdatedAt(t, st, "s1"); got != importedUpdatedAt {
			t.Errorf("UpdatedAt after SetUpdatedAt(%d) = %d, want it exactly", int64(importedUpdatedAt), got)
		}
		sameState(t, "after SetUpdatedAt", st, sess, before)
		if got := mustUpdatedAt(t, st, "s2"); got != other {
			t.Errorf("SetUpdatedAt of s1 changed the UpdatedAt of s2: %d -> %d", other, got)
		}
	})
	t.Run("times_later_than_now_and_earlier_than_CreatedAt_are_kept_exactly", func(t *testing.T) {
		st, imp := s.importer(t)
		sess, _ := importedSession(t, st, "s1")
		before := stateOf(t, st, sess)
		for _, at := range []int64{
			time.Now().Add(24*time.Hour).UnixNano() + 1, // a source whose clock runs ahead
			importedCreatedAt - 1_000_000_000 + 1,       // before CreatedAt: recorded as it was
			1,
		} {
			setUpdatedAt(t, imp, "s1", at)
			if got := mustUpdatedAt(t, st, "s1"); got != at {
				t.Errorf("UpdatedAt after SetUpdatedAt(%d) = %d, want it exactly", at, got)
			}
		}
		sameState(t, "after SetUpdatedAt", st, sess, before)
	})
	t.Run("List_orders_and_filters_by_the_set_time", func(t *testing.T) {
		st, imp := s.importer(t)
		l, ok := st.(session.Lister)
		if !ok {
			t.Skip("store does not implement session.Lister")
		}
		makeSessions(t, st, 1, "a", "b", "c") // c is the most recent
		setUpdatedAt(t, imp, "c", importedUpdatedAt)
		setUpdatedAt(t, imp, "a", importedUpdatedAt+1000)
		rows := list(t, l, session.ListQuery{}).Sessions
		checkListOrder(t, rows)
		if want := []string{"b", "a", "c"}; !slices.Equal(infoIDs(rows), want) {
			t.Errorf("List after moving c, then a, into the past = %q, want %q", infoIDs(rows), want)
		}
		for _, r := range rows {
			if want := map[string]int64{"a": importedUpdatedAt + 1000, "c": importedUpdatedAt}[r.ID]; want != 0 && r.UpdatedAt != want {
				t.Errorf("listed %q with UpdatedAt %d, want %d", r.ID, r.UpdatedAt, want)
			}
		}
		if got := infoIDs(listAll(t, l, session.ListQuery{Limit: 1}, 3)); !slices.Equal(got, []string{"b", "a", "c"}) {
			t.Errorf("paging one by one = %q, want [b a c]", got)
		}
		if got := infoIDs(list(t, l, session.ListQuery{UpdatedBefore: importedUpdatedAt + 1}).Sessions); !slices.Equal(got, []string{"c"}) {
			t.Errorf("List with UpdatedBefore just after c's set time = %q, want [c]", got)
		}
		if got := infoIDs(list(t, l, session.ListQuery{UpdatedAfter: importedUpdatedAt}).Sessions); !slices.Equal(got, []string{"b", "a"}) {
			t.Errorf("List with UpdatedAfter c's set time = %q, want [b a]", got)
		}
	})
	t.Run("Prune_sees_the_set_time", func(t *testing.T) {
		st, imp := s.importer(t)
		p, ok := st.(session.Pruner)
		if !ok {
			t.Skip("store does not implement session.Pruner")
		}
		importedSession(t, st, "old")
		importedSession(t, st, "new")
		setUpdatedAt(t, imp, "old", importedUpdatedAt)
		r, err := p.Prune(t.Context(), session.PruneQuery{UpdatedBefore: importedUpdatedAt + 1, DryRun: true})
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if !slices.Equal(r.SessionIDs, []string{"old"}) || r.Messages != 3 {
			t.Errorf("Prune of sessions idle since just after old's set time = %+v, want [old] and 3 messages", r)
		}
	})
	t.Run("a_later_append_moves_UpdatedAt_to_the_time_of_the_append", func(t *testing.T) {
		st, imp := s.importer(t)
		sess, _ := importedSession(t, st, "s1")
		stamped := mustUpdatedAt(t, st, "s1") // by the store's own clock
		setUpdatedAt(t, imp, "s1", importedUpdatedAt)
		clockTick()
		add(t, sess, message.NewUserMessage("later"))
		if got := mustUpdatedAt(t, st, "s1"); got < stamped {
			t.Errorf("UpdatedAt after an append = %d, want at least %d (the store's time before SetUpdatedAt), not just past the set %d",
				got, stamped, int64(importedUpdatedAt))
		}
		if d, ok := st.(session.Describer); ok {
			setUpdatedAt(t, imp, "s1", importedUpdatedAt)
			title := "renamed"
			if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Title: &title}); err != nil {
				t.Fatalf("UpdateInfo: %v", err)
			}
			if got := mustUpdatedAt(t, st, "s1"); got < stamped {
				t.Errorf("UpdatedAt after UpdateInfo = %d, want at least %d (the store's time before SetUpdatedAt)", got, stamped)
			}
		}
	})
	t.Run("missing_id_gives_ErrNotFound", func(t *testing.T) {
		st, imp := s.importer(t)
		err := imp.SetUpdatedAt(t.Context(), "nope", importedUpdatedAt)
		isErr(t, "SetUpdatedAt of a missing id", err, session.ErrNotFound)
		if exists(t, st, "nope") {
			t.Error("SetUpdatedAt of a missing id created it")
		}
		importedSession(t, st, "gone")
		if err := st.Delete(t.Context(), "gone"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		err = imp.SetUpdatedAt(t.Context(), "gone", importedUpdatedAt)
		isErr(t, "SetUpdatedAt of a deleted session", err, session.ErrNotFound)
	})
	t.Run("invalid_id_gives_ErrInvalidID", func(t *testing.T) {
		_, imp := s.importer(t)
		for _, id := range []string{"", "a\nb", "\xff"} {
			err := imp.SetUpdatedAt(t.Context(), id, importedUpdatedAt)
			isErr(t, fmt.Sprintf("SetUpdatedAt(%q)", id), err, session.ErrInvalidID)
		}
	})
	t.Run("zero_or_negative_time_gives_an_error_and_changes_nothing", func(t *testing.T) {
		st, imp := s.importer(t)
		importedSession(t, st, "s1")
		setUpdatedAt(t, imp, "s1", importedUpdatedAt)
		for _, at := range []int64{0, -1, math.MinInt64} {
			err := imp.SetUpdatedAt(t.Context(), "s1", at)
			if err == nil {
				t.Errorf("SetUpdatedAt(s1, %d) succeeded, want an error", at)
			}
			isNot(t, fmt.Sprintf("SetUpdatedAt(s1, %d)", at), err, session.ErrNotFound)
			if got := mustUpdatedAt(t, st, "s1"); got != importedUpdatedAt {
				t.Errorf("after the refused SetUpdatedAt(s1, %d), UpdatedAt = %d, want %d unchanged", at, got, int64(importedUpdatedAt))
			}
		}
	})
	t.Run("cancelled_context_gives_an_error_and_changes_nothing", func(t *testing.T) {
		st, imp := s.importer(t)
		importedSession(t, st, "s1")
		before := mustUpdatedAt(t, st, "s1")
		err := imp.SetUpdatedAt(cancelled(t), "s1", importedUpdatedAt)
		canceledErr(t, "SetUpdatedAt", err)
		if got := mustUpdatedAt(t, st, "s1"); got != before {
			t.Errorf("a cancelled SetUpdatedAt changed UpdatedAt: %d -> %d", before, got)
		}
	})
}

// isNot fails t if err matches target: a refusal reported as the wrong
// sentinel misleads callers that branch on it.
func isNot(t *testing.T, what string, err, target error) {
	t.Helper()
	if err != nil && errors.Is(err, target) {
		t.Errorf("%s: got error %v, which matches %s; want an error that does not", what, err, sentinelNames[target])
	}
}
