package sessiontest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func (s *suite) lister(t *testing.T) (session.Store, session.Lister) {
	t.Helper()
	st := s.store(t)
	l, ok := st.(session.Lister)
	if !ok {
		t.Skip("store does not implement session.Lister")
	}
	return st, l
}

func list(t *testing.T, l session.Lister, q session.ListQuery) session.ListPage {
	t.Helper()
	p, err := l.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return p
}

// listAll pages through q with its Limit and returns every row, failing t
// after far more pages than rows could need.
func listAll(t *testing.T, l session.Lister, q session.ListQuery, maxRows int) []session.Info {
	t.Helper()
	var out []session.Info
	for pages := 0; ; pages++ {
		if pages > maxRows+2 {
			t.Fatalf("listing did not end after %d pages (for at most %d rows)", pages, maxRows)
		}
		p := list(t, l, q)
		if q.Limit > 0 && len(p.Sessions) > q.Limit {
			t.Errorf("page of %d rows for Limit %d", len(p.Sessions), q.Limit)
		}
		out = append(out, p.Sessions...)
		if p.Next == "" {
			return out
		}
		if len(p.Sessions) == 0 {
			t.Fatal("an empty page has a Next cursor")
		}
		q.Cursor = p.Next
	}
}

func infoIDs(rows []session.Info) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// checkListOrder fails t unless rows are ordered by UpdatedAt descending,
// then by id descending.
func checkListOrder(t *testing.T, rows []session.Info) {
	t.Helper()
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if a.UpdatedAt < b.UpdatedAt || a.UpdatedAt == b.UpdatedAt && a.ID <= b.ID {
			t.Errorf("rows %d (%q, updated %d) and %d (%q, updated %d) are out of order: want UpdatedAt descending, then id descending",
				i-1, a.ID, a.UpdatedAt, i, b.ID, b.UpdatedAt)
		}
	}
}

// makeSessions creates the ids in order, each with n messages, with a clock
// tick between them so that their UpdatedAt differ.
func makeSessions(t *testing.T, st session.Store, n int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		sess := create(t, st, id)
		if n > 0 {
			add(t, sess, users(id, n)...)
		}
		clockTick()
	}
}

func testLister(t *testing.T, s *suite) {
	s.lister(t)
	t.Run("empty_store_lists_nothing", func(t *testing.T) {
		_, l := s.lister(t)
		p := list(t, l, session.ListQuery{})
		if len(p.Sessions) != 0 || p.Next != "" {
			t.Errorf("List on an empty store = %d rows, Next %q", len(p.Sessions), p.Next)
		}
	})
	t.Run("lists_every_session_with_counts_and_times", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 0, "a")
		makeSessions(t, st, 2, "b")
		makeSessions(t, st, 5, "c")
		rows := list(t, l, session.ListQuery{}).Sessions
		got := map[string]session.Info{}
		for _, r := range rows {
			got[r.ID] = r
		}
		for id, n := range map[string]int64{"a": 0, "b": 2, "c": 5} {
			r, ok := got[id]
			switch {
			case !ok:
				t.Errorf("session %q not listed", id)
			case r.MessageCount != n:
				t.Errorf("session %q: MessageCount = %d, want %d", id, r.MessageCount, n)
			case r.CreatedAt <= 0 || r.UpdatedAt < r.CreatedAt:
				t.Errorf("session %q: CreatedAt %d, UpdatedAt %d; want CreatedAt > 0 and CreatedAt <= UpdatedAt", id, r.CreatedAt, r.UpdatedAt)
			}
		}
		if len(rows) != 3 {
			t.Errorf("listed %d sessions, want 3: %q", len(rows), infoIDs(rows))
		}
	})
	t.Run("ordered_by_UpdatedAt_then_id_descending", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 1, "c", "a", "e", "b", "d")
		rows := list(t, l, session.ListQuery{}).Sessions
		checkListOrder(t, rows)
		if want := []string{"d", "b", "e", "a", "c"}; !slices.Equal(infoIDs(rows), want) {
			t.Errorf("listing order %q, want the most recently updated first: %q", infoIDs(rows), want)
		}
	})
	t.Run("append_moves_the_session_first_and_advances_UpdatedAt", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 1, "a", "b", "c")
		before := list(t, l, session.ListQuery{}).Sessions
		add(t, load(t, st, "a"), message.NewUserMessage("again"))
		after := list(t, l, session.ListQuery{}).Sessions
		checkListOrder(t, after)
		if len(after) == 0 || after[0].ID != "a" {
			t.Fatalf("after appending to a the listing is %q, want a first", infoIDs(after))
		}
		var old session.Info
		for _, r := range before {
			if r.ID == "a" {
				old = r
			}
		}
		if after[0].UpdatedAt <= old.UpdatedAt || after[0].CreatedAt != old.CreatedAt || after[0].MessageCount != 2 {
			t.Errorf("after an append: UpdatedAt %d -> %d, CreatedAt %d -> %d, MessageCount %d; want UpdatedAt to advance, CreatedAt to stay, 2 messages",
				old.UpdatedAt, after[0].UpdatedAt, old.CreatedAt, after[0].CreatedAt, after[0].MessageCount)
		}
	})
	t.Run("pagination_with_limit_2_visits_every_session_once_in_order", func(t *testing.T) {
		st, l := s.lister(t)
		ids := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}
		makeSessions(t, st, 0, ids...)
		// Two sessions with the same UpdatedAt would test the id tiebreak;
		// pages must cut through ties correctly either way.
		rows := listAll(t, l, session.ListQuery{Limit: 2}, len(ids))
		checkListOrder(t, rows)
		seen := map[string]int{}
		for _, r := range rows {
			seen[r.ID]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("session %q seen %d times while paging, want once", id, seen[id])
			}
		}
		if len(rows) != len(ids) {
			t.Errorf("paging returned %d rows, want %d: %q", len(rows), len(ids), infoIDs(rows))
		}
		full := list(t, l, session.ListQuery{}).Sessions
		if !slices.Equal(infoIDs(rows), infoIDs(full)) {
			t.Errorf("pages %q differ from one listing %q", infoIDs(rows), infoIDs(full))
		}
	})
	t.Run("pagination_over_equal_UpdatedAt_uses_the_id", func(t *testing.T) {
		st, l := s.lister(t)
		for i := range 5 {
			create(t, st, fmt.Sprintf("t%d", i)) // possibly within one clock tick
		}
		rows := listAll(t, l, session.ListQuery{Limit: 1}, 5)
		checkListOrder(t, rows)
		if len(rows) != 5 {
			t.Errorf("paging one by one returned %q, want 5 distinct sessions", infoIDs(rows))
		}
	})
	t.Run("limit_0_means_DefaultListLimit", func(t *testing.T) {
		st, l := s.lister(t)
		for i := range session.DefaultListLimit + 1 {
			create(t, st, fmt.Sprintf("s%03d", i))
		}
		p := list(t, l, session.ListQuery{})
		if len(p.Sessions) != session.DefaultListLimit || p.Next == "" {
			t.Errorf("List with Limit 0 over %d sessions = %d rows, Next %q; want %d rows and a Next cursor",
				session.DefaultListLimit+1, len(p.Sessions), p.Next, session.DefaultListLimit)
		}
	})
	t.Run("filter_IDPrefix", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 0, "alpha-1", "beta-1", "alpha-2", "alph", "ALPHA-3")
		rows := list(t, l, session.ListQuery{IDPrefix: "alpha-"}).Sessions
		ids := infoIDs(rows)
		slices.Sort(ids)
		if want := []string{"alpha-1", "alpha-2"}; !slices.Equal(ids, want) {
			t.Errorf("IDPrefix alpha- lists %q, want %q", ids, want)
		}
	})
	t.Run("filter_IDPrefix_treats_wildcards_literally", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 0, "a%b", "axb", "a_c", "ayc")
		for prefix, want := range map[string]string{"a%": "a%b", "a_": "a_c"} {
			if ids := infoIDs(list(t, l, session.ListQuery{IDPrefix: prefix}).Sessions); !slices.Equal(ids, []string{want}) {
				t.Errorf("IDPrefix %q lists %q, want [%s]", prefix, ids, want)
			}
		}
	})
	t.Run("filter_Owner", func(t *testing.T) {
		st, l := s.lister(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer: cannot set owners")
		}
		for _, c := range []struct{ id, owner string }{{"a1", "alice"}, {"b1", "bob"}, {"a2", "alice"}, {"n1", ""}} {
			createWith(t, d, c.id, session.CreateOptions{Owner: c.owner})
		}
		ids := infoIDs(list(t, l, session.ListQuery{Owner: "alice"}).Sessions)
		slices.Sort(ids)
		if want := []string{"a1", "a2"}; !slices.Equal(ids, want) {
			t.Errorf("Owner alice lists %q, want %q", ids, want)
		}
		for _, r := range list(t, l, session.ListQuery{Owner: "bob"}).Sessions {
			if r.Owner != "bob" {
				t.Errorf("Owner bob lists %q owned by %q", r.ID, r.Owner)
			}
		}
	})
	t.Run("filter_UpdatedAfter_and_UpdatedBefore_are_exclusive", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 1, "a", "b", "c", "d")
		at := map[string]int64{}
		for _, r := range list(t, l, session.ListQuery{}).Sessions {
			at[r.ID] = r.UpdatedAt
		}
		if !(at["a"] < at["b"] && at["b"] < at["c"] && at["c"] < at["d"]) {
			t.Fatalf("sessions made in turn have UpdatedAt %v, not increasing", at)
		}
		ids := infoIDs(list(t, l, session.ListQuery{UpdatedAfter: at["a"], UpdatedBefore: at["d"]}).Sessions)
		if want := []string{"c", "b"}; !slices.Equal(ids, want) {
			t.Errorf("UpdatedAfter a, UpdatedBefore d lists %q, want %q", ids, want)
		}
		ids = infoIDs(list(t, l, session.ListQuery{UpdatedAfter: at["b"]}).Sessions)
		if want := []string{"d", "c"}; !slices.Equal(ids, want) {
			t.Errorf("UpdatedAfter b lists %q, want %q", ids, want)
		}
		ids = infoIDs(list(t, l, session.ListQuery{UpdatedBefore: at["b"]}).Sessions)
		if want := []string{"a"}; !slices.Equal(ids, want) {
			t.Errorf("UpdatedBefore b lists %q, want %q", ids, want)
		}
	})
	t.Run("lists_owner_title_and_metadata", func(t *testing.T) {
		st, l := s.lister(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer")
		}
		opts := session.CreateOptions{Owner: "alice", Title: "Título", Metadata: map[string]string{"k": "v", "ключ": "значение"}}
		createWith(t, d, "s1", opts)
		rows := list(t, l, session.ListQuery{}).Sessions
		if len(rows) != 1 {
			t.Fatalf("listed %d sessions, want 1", len(rows))
		}
		sameInfo(t, "listed info", session.Info{ID: "s1", Owner: opts.Owner, Title: opts.Title, Metadata: opts.Metadata}, rows[0])
		if in := info(t, d, "s1"); in.CreatedAt != rows[0].CreatedAt || in.UpdatedAt != rows[0].UpdatedAt {
			t.Errorf("List and Info disagree on times: %d/%d vs %d/%d", rows[0].CreatedAt, rows[0].UpdatedAt, in.CreatedAt, in.UpdatedAt)
		}
	})
	t.Run("MessageCount_tracks_pop_and_clear", func(t *testing.T) {
		st, l := s.lister(t)
		sess := create(t, st, "s1")
		add(t, sess, users("m", 3)...)
		if _, err := sess.PopMessage(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows := list(t, l, session.ListQuery{}).Sessions; len(rows) != 1 || rows[0].MessageCount != 2 {
			t.Errorf("after a pop: %+v, want MessageCount 2", rows)
		}
		if err := sess.Clear(t.Context()); err != nil {
			t.Fatal(err)
		}
		if rows := list(t, l, session.ListQuery{}).Sessions; len(rows) != 1 || rows[0].MessageCount != 0 {
			t.Errorf("after Clear: %+v, want MessageCount 0", rows)
		}
	})
	t.Run("deleted_session_is_not_listed", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 1, "a", "b")
		if err := st.Delete(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if ids := infoIDs(list(t, l, session.ListQuery{}).Sessions); !slices.Equal(ids, []string{"b"}) {
			t.Errorf("after deleting a the listing is %q, want [b]", ids)
		}
	})
	t.Run("garbage_cursor_gives_an_error_not_a_panic", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 0, "a", "b", "c")
		garbage := []string{"garbage", "!!!", "%00", strings.Repeat("A", 5000),
			base64.StdEncoding.EncodeToString([]byte("no-colon")),
			base64.RawURLEncoding.EncodeToString([]byte("x:y")),
			base64.RawURLEncoding.EncodeToString([]byte("1:\x00\xff")),
			base64.RawURLEncoding.EncodeToString([]byte(`1:a' OR '1'='1`)) + "\x00"}
		for _, c := range garbage {
			noPanic(t, fmt.Sprintf("List(Cursor %.20q)", c), func() {
				_, err := l.List(t.Context(), session.ListQuery{Cursor: c})
				isErr(t, fmt.Sprintf("List with cursor %.40q", c), err, session.ErrBadCursor)
			})
		}
	})
	t.Run("cancelled_context_gives_an_error", func(t *testing.T) {
		st, l := s.lister(t)
		makeSessions(t, st, 0, "a")
		_, err := l.List(cancelled(t), session.ListQuery{})
		canceledErr(t, "List", err)
	})
}
