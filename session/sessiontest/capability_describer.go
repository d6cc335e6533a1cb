package sessiontest

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/session"
)

func (s *suite) describer(t *testing.T) (session.Store, session.Describer) {
	t.Helper()
	st := s.store(t)
	d, ok := st.(session.Describer)
	if !ok {
		t.Skip("store does not implement session.Describer")
	}
	return st, d
}

func info(t *testing.T, d session.Describer, id string) session.Info {
	t.Helper()
	in, err := d.Info(t.Context(), id)
	if err != nil {
		t.Fatalf("Info(%q): %v", id, err)
	}
	return in
}

func createWith(t *testing.T, d session.Describer, id string, opts session.CreateOptions) session.Session {
	t.Helper()
	sess, err := d.CreateWith(t.Context(), id, opts)
	if err != nil {
		t.Fatalf("CreateWith(%q): %v", id, err)
	}
	return sess
}

// sameInfo compares infos field by field, ignoring times and version.
func sameInfo(t *testing.T, what string, want, got session.Info) {
	t.Helper()
	want.CreatedAt, want.UpdatedAt, want.Version = got.CreatedAt, got.UpdatedAt, got.Version
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("%s: info differs (-want +got):\n%s", what, diff)
	}
}

func testDescriber(t *testing.T, s *suite) {
	s.describer(t)
	opts := session.CreateOptions{Owner: "alice", Title: "Trip to Oslo ✈",
		Metadata: map[string]string{"channel": "web", "语言": "中文", "empty": ""}}
	t.Run("CreateWith_stores_owner_title_and_metadata", func(t *testing.T) {
		_, d := s.describer(t)
		sess := createWith(t, d, "s1", opts)
		if sess.ID() != "s1" {
			t.Errorf("ID() = %q", sess.ID())
		}
		in := info(t, d, "s1")
		sameInfo(t, "Info after CreateWith", session.Info{ID: "s1", Owner: opts.Owner, Title: opts.Title, Metadata: opts.Metadata}, in)
		if in.CreatedAt <= 0 || in.UpdatedAt < in.CreatedAt {
			t.Errorf("CreatedAt %d, UpdatedAt %d: want CreatedAt > 0 and UpdatedAt >= CreatedAt", in.CreatedAt, in.UpdatedAt)
		}
	})
	t.Run("CreateWith_keeps_a_given_CreatedAt", func(t *testing.T) {
		_, d := s.describer(t)
		const at = 1600000000123456789 // an imported session's creation time
		createWith(t, d, "s1", session.CreateOptions{Owner: "alice", CreatedAt: at})
		in := info(t, d, "s1")
		if in.CreatedAt != at || in.UpdatedAt < in.CreatedAt {
			t.Errorf("CreatedAt %d, UpdatedAt %d: want CreatedAt %d and UpdatedAt >= CreatedAt", in.CreatedAt, in.UpdatedAt, at)
		}
	})
	t.Run("Create_gives_a_session_without_owner_or_title", func(t *testing.T) {
		st, d := s.describer(t)
		create(t, st, "s1")
		sameInfo(t, "Info after Create", session.Info{ID: "s1"}, info(t, d, "s1"))
	})
	t.Run("CreateWith_of_an_existing_id_gives_ErrExists", func(t *testing.T) {
		st, d := s.describer(t)
		create(t, st, "s1")
		_, err := d.CreateWith(t.Context(), "s1", opts)
		isErr(t, "CreateWith of an existing id", err, session.ErrExists)
		sameInfo(t, "Info after the failed CreateWith", session.Info{ID: "s1"}, info(t, d, "s1"))
	})
	t.Run("missing_id_gives_ErrNotFound", func(t *testing.T) {
		_, d := s.describer(t)
		_, err := d.Info(t.Context(), "nope")
		isErr(t, "Info of a missing id", err, session.ErrNotFound)
		title := "x"
		err = d.UpdateInfo(t.Context(), "nope", session.InfoUpdate{Title: &title})
		isErr(t, "UpdateInfo of a missing id", err, session.ErrNotFound)
	})
	t.Run("invalid_id_gives_ErrInvalidID", func(t *testing.T) {
		_, d := s.describer(t)
		for _, id := range []string{"", "a\nb", "\xff"} {
			_, err := d.CreateWith(t.Context(), id, opts)
			isErr(t, fmt.Sprintf("CreateWith(%q)", id), err, session.ErrInvalidID)
			_, err = d.Info(t.Context(), id)
			isErr(t, fmt.Sprintf("Info(%q)", id), err, session.ErrInvalidID)
			err = d.UpdateInfo(t.Context(), id, session.InfoUpdate{})
			isErr(t, fmt.Sprintf("UpdateInfo(%q)", id), err, session.ErrInvalidID)
		}
	})
	t.Run("UpdateInfo_nil_fields_are_left_alone", func(t *testing.T) {
		_, d := s.describer(t)
		createWith(t, d, "s1", opts)
		if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{}); err != nil {
			t.Fatalf("UpdateInfo: %v", err)
		}
		sameInfo(t, "after an empty UpdateInfo", session.Info{ID: "s1", Owner: opts.Owner, Title: opts.Title, Metadata: opts.Metadata}, info(t, d, "s1"))
	})
	t.Run("UpdateInfo_replaces_title_and_keeps_metadata", func(t *testing.T) {
		_, d := s.describer(t)
		createWith(t, d, "s1", opts)
		title := "New title"
		if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Title: &title}); err != nil {
			t.Fatalf("UpdateInfo: %v", err)
		}
		sameInfo(t, "after a title update", session.Info{ID: "s1", Owner: opts.Owner, Title: title, Metadata: opts.Metadata}, info(t, d, "s1"))
		empty := ""
		if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Title: &empty}); err != nil {
			t.Fatalf("UpdateInfo: %v", err)
		}
		sameInfo(t, "after clearing the title", session.Info{ID: "s1", Owner: opts.Owner, Metadata: opts.Metadata}, info(t, d, "s1"))
	})
	t.Run("UpdateInfo_replaces_all_metadata_and_empty_map_clears_it", func(t *testing.T) {
		_, d := s.describer(t)
		createWith(t, d, "s1", opts)
		md := map[string]string{"only": "this"}
		if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Metadata: md}); err != nil {
			t.Fatalf("UpdateInfo: %v", err)
		}
		sameInfo(t, "after a metadata update", session.Info{ID: "s1", Owner: opts.Owner, Title: opts.Title, Metadata: md}, info(t, d, "s1"))
		if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Metadata: map[string]string{}}); err != nil {
			t.Fatalf("UpdateInfo: %v", err)
		}
		sameInfo(t, "after clearing metadata", session.Info{ID: "s1", Owner: opts.Owner, Title: opts.Title}, info(t, d, "s1"))
	})
	t.Run("UpdateInfo_advances_UpdatedAt", func(t *testing.T) {
		_, d := s.describer(t)
		createWith(t, d, "s1", opts)
		before := info(t, d, "s1")
		clockTick()
		title := "t"
		if err := d.UpdateInfo(t.Context(), "s1", session.InfoUpdate{Title: &title}); err != nil {
			t.Fatalf("UpdateInfo: %v", err)
		}
		if after := info(t, d, "s1"); after.UpdatedAt <= before.UpdatedAt || after.CreatedAt != before.CreatedAt {
			t.Errorf("UpdateInfo: UpdatedAt %d -> %d, CreatedAt %d -> %d; want UpdatedAt to advance and CreatedAt to stay",
				before.UpdatedAt, after.UpdatedAt, before.CreatedAt, after.CreatedAt)
		}
	})
	t.Run("Info_counts_messages_and_tracks_version_and_UpdatedAt", func(t *testing.T) {
		_, d := s.describer(t)
		sess := createWith(t, d, "s1", opts)
		before := info(t, d, "s1")
		clockTick()
		add(t, sess, users("m", 3)...)
		after := info(t, d, "s1")
		if after.MessageCount != 3 {
			t.Errorf("MessageCount after 3 appends = %d", after.MessageCount)
		}
		if after.UpdatedAt <= before.UpdatedAt {
			t.Errorf("UpdatedAt did not advance on append: %d -> %d", before.UpdatedAt, after.UpdatedAt)
		}
		if v, ok := sess.(session.Versioned); ok {
			if n := version(t, v); after.Version != n {
				t.Errorf("Info.Version = %d, Snapshot version = %d", after.Version, n)
			}
		}
		if _, err := sess.PopMessage(t.Context()); err != nil {
			t.Fatalf("PopMessage: %v", err)
		}
		if n := info(t, d, "s1").MessageCount; n != 2 {
			t.Errorf("MessageCount after a pop = %d, want 2", n)
		}
		if err := sess.Clear(t.Context()); err != nil {
			t.Fatalf("Clear: %v", err)
		}
		if n := info(t, d, "s1").MessageCount; n != 0 {
			t.Errorf("MessageCount after Clear = %d, want 0", n)
		}
	})
	t.Run("metadata_maps_are_not_aliased", func(t *testing.T) {
		_, d := s.describer(t)
		md := map[string]string{"k": "v"}
		createWith(t, d, "s1", session.CreateOptions{Metadata: md})
		md["k"] = "changed"
		got := info(t, d, "s1")
		if got.Metadata != nil {
			got.Metadata["k"] = "changed too"
		}
		if v := info(t, d, "s1").Metadata["k"]; v != "v" {
			t.Errorf(`stored metadata "k" = %q after the caller changed its maps, want "v"`, v)
		}
	})
	t.Run("cancelled_context_gives_an_error_and_changes_nothing", func(t *testing.T) {
		_, d := s.describer(t)
		_, err := d.CreateWith(cancelled(t), "s1", opts)
		canceledErr(t, "CreateWith", err)
		createWith(t, d, "s2", opts)
		_, err = d.Info(cancelled(t), "s2")
		canceledErr(t, "Info", err)
		title := "changed"
		err = d.UpdateInfo(cancelled(t), "s2", session.InfoUpdate{Title: &title, Metadata: map[string]string{}})
		canceledErr(t, "UpdateInfo", err)
		if _, err := d.Info(t.Context(), "s1"); err == nil {
			t.Error("a cancelled CreateWith created the session")
		}
		sameInfo(t, "after a cancelled UpdateInfo", session.Info{ID: "s2", Owner: opts.Owner, Title: opts.Title, Metadata: opts.Metadata}, info(t, d, "s2"))
	})
}
