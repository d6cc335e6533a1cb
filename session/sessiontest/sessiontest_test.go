package sessiontest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
)

// TestMemoryStore runs the suite against the reference store: it must pass.
func TestMemoryStore(t *testing.T) {
	sessiontest.Run(t, func(*testing.T) session.Store { return session.NewMemoryStore() })
}

// brokenEnv names, in a child process, the broken store to run the suite on.
const brokenEnv = "SESSIONTEST_BROKEN_STORE"

// A broken store breaks one rule of the contract. rule is the name of a
// subtest that must fail, as "go test" prints it.
type broken struct {
	name  string
	rule  string
	store func() session.Store
}

var brokenStores = []broken{
	{"non_atomic_append", "Atomicity/empty_role_middle_gives_ErrInvalidMessage_and_stores_nothing",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return nonAtomic{s} })
		}},
	{"reversed_reads", "GetMessages/limit_nil_returns_all_oldest_first",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return reversed{s} })
		}},
	{"limit_ignored", "GetMessages/limit_0_returns_none",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return limitIgnored{s} })
		}},
	{"pop_returns_oldest", "PopMessage/returns_newest_and_removes_it",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return popOldest{s} })
		}},
	{"plain_string_ErrExists", "Create/existing_id_gives_ErrExists",
		func() session.Store { return plainExists{session.NewMemoryStore()} }},
	{"load_of_missing_returns_empty_session", "Load/missing_id_gives_ErrNotFound",
		func() session.Store { return loadCreates{session.NewMemoryStore()} }},
	{"empty_id_accepted", "SessionIDs/empty_gives_ErrInvalidID",
		func() session.Store { return emptyIDDefault{session.NewMemoryStore()} }},
	{"context_ignored", "Cancel/AddMessages_gives_an_error_and_stores_nothing",
		func() session.Store { return ctxIgnored{session.NewMemoryStore()} }},
	{"duplicate_ids_stored_twice", "Retry/same_call_twice_stores_once",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return duplicating{s} })
		}},
	{"ids_not_written_to_callers_slice", "MessageIDs/empty_ID_is_assigned_and_written_to_the_callers_slice",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return copyingAppend{s} })
		}},
	{"AddMessagesAt_ignores_version", "Versioned/AddMessagesAt_stale_version_gives_ErrConflict_and_stores_nothing",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return versionIgnored{s.(session.Versioned)} })
		}},
	{"Range_ignores_Before", "Ranger/Newest_pages_before_Before_walk_the_whole_history_oldest_first_per_page",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return beforeIgnored{s.(session.Ranger)} })
		}},
	{"deleted_handle_reopens_the_session", "Delete/deleted_session_handle_gives_ErrNotFound",
		func() session.Store {
			m := session.NewMemoryStore()
			return sessionWrapper{m, func(s session.Session) session.Session { return reopening{s, m} }}
		}},
	{"CreatedAt_overwritten", "CreatedAt/set_value_is_kept_exactly",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return restamping{s} })
		}},
	{"unknown_parts_dropped", "Content/unknown_part_kept_byte_for_byte",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return droppingUnknown{s} })
		}},
	{"handle_follows_the_id_not_the_session", "Delete/old_handle_after_recreate_gives_ErrNotFound",
		func() session.Store {
			m := session.NewMemoryStore()
			return sessionWrapper{m, func(s session.Session) session.Session { return byID{m, s.ID()} }}
		}},
	{"prune_dry_run_deletes", "Pruner/dry_run_reports_and_deletes_nothing",
		func() session.Store { m := session.NewMemoryStore(); return dryRunDeletes{m} }},
	{"erase_owner_erases_everyone", "OwnerEraser/deletes_exactly_the_owners_sessions_and_reports_them",
		func() session.Store { m := session.NewMemoryStore(); return eraseAll{m} }},
	{"list_pages_repeat_a_row", "Lister/pagination_with_limit_2_visits_every_session_once_in_order",
		func() session.Store { m := session.NewMemoryStore(); return listRepeat{m, m} }},
	{"set_updated_at_rounds_to_seconds", "Importer/SetUpdatedAt_sets_UpdatedAt_exactly_and_changes_nothing_else",
		func() session.Store { m := session.NewMemoryStore(); return secondsOnly{m} }},
	{"empty_reads_return_nil", "EmptyResults/GetMessages_of_an_empty_session_is_non_nil",
		func() session.Store {
			return wrapSessions(func(s session.Session) session.Session { return nilWhenEmpty{s} })
		}},
	{"empty_list_returns_nil", "EmptyResults/List_with_no_session_is_non_nil",
		func() session.Store { m := session.NewMemoryStore(); return nilList{m, m} }},
	{"quarantine_loses_the_row", "Quarantiner/moves_a_message_aside_keeping_order_and_its_encoding",
		func() session.Store { return losingQuarantine{session.NewMemoryStore()} }},
	{"search_keeps_erased_text", "Searcher/erased_text_is_never_found",
		func() session.Store {
			return &staleIndex{MemoryStore: session.NewMemoryStore(), shadow: session.NewMemoryStore()}
		}},
	{"search_ascii_only", "Searcher/words_in_every_script",
		func() session.Store { return asciiSearch{session.NewMemoryStore()} }},
	{"search_every_word_a_prefix", "Searcher/query_syntax_phrase_prefix_and",
		func() session.Store { return prefixSearch{session.NewMemoryStore()} }},
	{"snippet_highlights_everything", "Searcher/snippets_highlight_the_matched_spans",
		func() session.Store { return wholeHighlight{session.NewMemoryStore()} }},
	{"fork_ignores_the_fork_point", "Forker/fork_holds_the_history_up_to_and_including_the_message",
		func() session.Store { return wholeFork{session.NewMemoryStore()} }},
	{"fork_dies_with_its_parent", "Forker/parent_deleted_leaves_the_fork_intact",
		func() session.Store { return cascadingFork{session.NewMemoryStore()} }},
	{"forks_die_with_their_ancestors", "Forker/forks_outlive_their_ancestors_deleted_in_any_order",
		func() session.Store { return cascadingFork{session.NewMemoryStore()} }},
	{"erase_owner_takes_the_forks_of_their_sessions", "Forker/a_parent_erased_with_some_of_its_forks_leaves_the_others_intact",
		func() session.Store { return cascadingErase{session.NewMemoryStore()} }},
	{"feed_resume_repeats_the_last_change", "Watcher/resume_from_a_cursor_loses_and_repeats_nothing",
		func() session.Store { return resumeRepeats{session.NewMemoryStore()} }},
	{"feed_removes_name_no_message", "Watcher/session_feed_delivers_every_kind_of_change_in_order",
		func() session.Store { return unnamedRemoves{session.NewMemoryStore()} }},
	{"feed_gap_skipped_silently", "Watcher/a_cursor_behind_the_kept_history_gives_ErrFeedGap",
		func() session.Store { return silentGap{session.NewMemoryStore()} }},
	{"owner_feed_drops_info_changes", "Watcher/UpdateInfo_delivers_one_ChangeInfo_at_the_sessions_version",
		func() session.Store { return infoUnwatched{session.NewMemoryStore()} }},
	{"failed_UpdateInfo_leaves_changes", "Watcher/a_failed_UpdateInfo_delivers_nothing",
		func() session.Store { return infoOfMissingRecorded{session.NewMemoryStore()} }},
	{"SetUpdatedAt_records_a_change", "Watcher/SetUpdatedAt_delivers_nothing",
		func() session.Store { return leaseFloodsFeed{session.NewMemoryStore()} }},
}

// resumeRepeats resumes a watch at the change its cursor names, not after
// it.
type resumeRepeats struct{ *session.MemoryStore }

func (r resumeRepeats) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	if n, err := strconv.Atoi(q.After); err == nil && n > 0 {
		q.After = strconv.Itoa(n - 1)
	}
	return r.MemoryStore.Watch(ctx, q)
}

// unnamedRemoves delivers removals without the ids of what they removed.
type unnamedRemoves struct{ *session.MemoryStore }

func (d unnamedRemoves) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	seq, err := d.MemoryStore.Watch(ctx, q)
	if err != nil {
		return nil, err
	}
	return func(yield func(session.Change, error) bool) {
		for c, err := range seq {
			c.Removed = nil
			if !yield(c, err) {
				return
			}
		}
	}, nil
}

// silentGap starts a watch whose position was discarded at the end of the
// feed instead of failing.
type silentGap struct{ *session.MemoryStore }

func (g silentGap) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	seq, err := g.MemoryStore.Watch(ctx, q)
	if errors.Is(err, session.ErrFeedGap) {
		q.After = session.WatchFromNow
		return g.MemoryStore.Watch(ctx, q)
	}
	return seq, err
}

// infoUnwatched leaves title and metadata changes out of the watches of
// an owner (as a store whose info rows lack the owner would).
type infoUnwatched struct{ *session.MemoryStore }

func (i infoUnwatched) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	seq, err := i.MemoryStore.Watch(ctx, q)
	if err != nil {
		return nil, err
	}
	return func(yield func(session.Change, error) bool) {
		for c, err := range seq {
			if err == nil && c.Kind == session.ChangeInfo && q.Owner != "" {
				continue
			}
			if !yield(c, err) {
				return
			}
		}
	}, nil
}

// infoOfMissingRecorded fails UpdateInfo of a missing session with
// ErrNotFound, but only after changes reached the feed (as a store that
// records before it checks, outside the update's transaction, would).
type infoOfMissingRecorded struct{ *session.MemoryStore }

func (i infoOfMissingRecorded) UpdateInfo(ctx context.Context, id string, u session.InfoUpdate) error {
	if ok, err := i.Exists(ctx, id); err != nil || ok {
		return i.MemoryStore.UpdateInfo(ctx, id, u)
	}
	if _, err := i.Create(ctx, id); err == nil {
		i.MemoryStore.UpdateInfo(ctx, id, u)
		i.Delete(ctx, id)
	}
	return fmt.Errorf("update info %q: %w", id, session.ErrNotFound)
}

// leaseFloodsFeed records a change at every SetUpdatedAt.
type leaseFloodsFeed struct{ *session.MemoryStore }

func (l leaseFloodsFeed) SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error {
	if err := l.UpdateInfo(ctx, id, session.InfoUpdate{}); err != nil {
		return err
	}
	return l.MemoryStore.SetUpdatedAt(ctx, id, updatedAt)
}

// wholeFork forks at the parent's last message, wherever it is asked to.
type wholeFork struct{ *session.MemoryStore }

func (s wholeFork) Fork(ctx context.Context, parentID, at, id string, o session.CreateOptions) (session.Session, error) {
	p, err := s.Load(ctx, parentID)
	if err != nil {
		return nil, err
	}
	if msgs, err := p.GetMessages(ctx, session.Limit(1)); err == nil && len(msgs) == 1 && at != "" {
		at = msgs[0].ID
	}
	return s.MemoryStore.Fork(ctx, parentID, at, id, o)
}

// cascadingFork deletes a session's forks with it, as rows shared with the
// parent and deleted with it would.
type cascadingFork struct{ *session.MemoryStore }

func (s cascadingFork) Delete(ctx context.Context, id string) error {
	page, err := s.List(ctx, session.ListQuery{Limit: session.MaxListLimit})
	if err != nil {
		return err
	}
	for _, in := range page.Sessions {
		if in.ParentID == id {
			if err := s.MemoryStore.Delete(ctx, in.ID); err != nil {
				return err
			}
		}
	}
	return s.MemoryStore.Delete(ctx, id)
}

// cascadingErase erases, with an owner's sessions, every fork of them, as
// rows shared with a parent and deleted with it would.
type cascadingErase struct{ *session.MemoryStore }

func (s cascadingErase) DeleteOwner(ctx context.Context, owner string) (session.DeleteReport, error) {
	page, err := s.List(ctx, session.ListQuery{Limit: session.MaxListLimit})
	if err != nil {
		return session.DeleteReport{}, err
	}
	owned := map[string]bool{}
	for _, in := range page.Sessions {
		if in.Owner == owner {
			owned[in.ID] = true
		}
	}
	for _, in := range page.Sessions {
		if owned[in.ParentID] && !owned[in.ID] {
			if err := s.MemoryStore.Delete(ctx, in.ID); err != nil {
				return session.DeleteReport{}, err
			}
		}
	}
	return s.MemoryStore.DeleteOwner(ctx, owner)
}

// losingQuarantine moves a message out of its session but keeps nothing
// of it.
type losingQuarantine struct{ *session.MemoryStore }

func (s losingQuarantine) Quarantined(ctx context.Context, id string) ([]session.QuarantinedRow, error) {
	if _, err := s.MemoryStore.Quarantined(ctx, id); err != nil {
		return nil, err
	}
	return []session.QuarantinedRow{}, nil
}

// staleIndex searches a copy of every message ever appended through its
// sessions, as an index that erasures do not reach would.
type staleIndex struct {
	*session.MemoryStore
	shadow *session.MemoryStore
}

func (s *staleIndex) Create(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.MemoryStore.Create(ctx, id)
	if err != nil {
		return nil, err
	}
	sh, err := s.shadow.Open(ctx, id)
	return shadowed{sess, sh}, err
}

func (s *staleIndex) Load(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.MemoryStore.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	sh, err := s.shadow.Open(ctx, id)
	return shadowed{sess, sh}, err
}

func (s *staleIndex) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	return s.shadow.Search(ctx, q)
}

type shadowed struct {
	session.Session
	shadow session.Session
}

func (s shadowed) AddMessages(ctx context.Context, msgs []message.Message) error {
	if err := s.Session.AddMessages(ctx, msgs); err != nil {
		return err
	}
	return s.shadow.AddMessages(ctx, msgs)
}

// asciiSearch finds nothing for a query with a non-ASCII character, as a
// tokenizer that drops other scripts would.
type asciiSearch struct{ *session.MemoryStore }

func (s asciiSearch) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	for _, r := range q.Text {
		if r > 127 {
			return []session.SearchHit{}, nil
		}
	}
	return s.MemoryStore.Search(ctx, q)
}

// prefixSearch treats every word as a prefix.
type prefixSearch struct{ *session.MemoryStore }

func (s prefixSearch) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	words := strings.Fields(q.Text)
	for i, w := range words {
		words[i] = strings.TrimRight(w, "*") + "*"
	}
	q.Text = strings.Join(words, " ")
	return s.MemoryStore.Search(ctx, q)
}

// wholeHighlight highlights the whole snippet.
type wholeHighlight struct{ *session.MemoryStore }

func (s wholeHighlight) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	hits, err := s.MemoryStore.Search(ctx, q)
	for i := range hits {
		h := strings.NewReplacer(session.HighlightStart, "", session.HighlightEnd, "").Replace(hits[i].Snippet)
		hits[i].Snippet = session.HighlightStart + h + session.HighlightEnd
	}
	return hits, err
}

// nilWhenEmpty returns nil instead of an empty slice, as a SQL store that
// appends rows to a nil slice does.
type nilWhenEmpty struct{ session.Session }

func (s nilWhenEmpty) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, err := s.Session.GetMessages(ctx, limit)
	if len(msgs) == 0 {
		msgs = nil
	}
	return msgs, err
}

// nilList lists an empty page as nil.
type nilList struct {
	session.Store
	l session.Lister
}

func (s nilList) List(ctx context.Context, q session.ListQuery) (session.ListPage, error) {
	p, err := s.l.List(ctx, q)
	if len(p.Sessions) == 0 {
		p.Sessions = nil
	}
	return p, err
}

// TestBrokenStoreChild runs the suite on the broken store named by
// brokenEnv. It does nothing unless TestBrokenStoresFail started it.
func TestBrokenStoreChild(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("runs only in the child process of TestBrokenStoresFail")
	}
	i := slices.IndexFunc(brokenStores, func(b broken) bool { return b.name == name })
	if i < 0 {
		t.Fatalf("no broken store named %q", name)
	}
	sessiontest.Run(t, func(*testing.T) session.Store { return brokenStores[i].store() })
}

// TestBrokenStoresFail proves that the suite can fail: each broken store
// must make it fail, at the rule the store breaks.
func TestBrokenStoresFail(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("already in a child process")
	}
	for _, b := range brokenStores {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenStoreChild$", "-test.count=1", "-test.timeout=4m")
			cmd.Env = append(os.Environ(), brokenEnv+"="+b.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case err == nil:
				t.Fatalf("the suite passed a store whose %s; want it to fail at %s\n%s", b.name, b.rule, out)
			case !errors.As(err, &exit):
				t.Fatalf("running the child: %v\n%s", err, out)
			}
			want := "--- FAIL: TestBrokenStoreChild/" + b.rule + " "
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("the suite failed (%v) but not at %s; failures:\n%s", err, b.rule, failLines(out))
			}
			if bytes.Contains(out, []byte("panic:")) {
				t.Errorf("the suite panicked on the broken store:\n%s", out)
			}
		})
	}
}

func failLines(out []byte) string {
	var lines []string
	for l := range strings.Lines(string(out)) {
		if strings.Contains(l, "--- FAIL") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		return string(out)
	}
	return strings.Join(lines, "\n")
}

// sessionWrapper is a MemoryStore, seen only as a session.Store, whose
// sessions are wrapped.
type sessionWrapper struct {
	session.Store
	wrap func(session.Session) session.Session
}

func wrapSessions(wrap func(session.Session) session.Session) session.Store {
	return sessionWrapper{session.NewMemoryStore(), wrap}
}

func (w sessionWrapper) Create(ctx context.Context, id string) (session.Session, error) {
	s, err := w.Store.Create(ctx, id)
	if err != nil {
		return nil, err
	}
	return w.wrap(s), nil
}

func (w sessionWrapper) Load(ctx context.Context, id string) (session.Session, error) {
	s, err := w.Store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return w.wrap(s), nil
}

// nonAtomic appends one message at a time: an invalid message leaves the
// ones before it stored.
type nonAtomic struct{ session.Session }

func (s nonAtomic) AddMessages(ctx context.Context, msgs []message.Message) error {
	for i := range msgs {
		if err := s.Session.AddMessages(ctx, msgs[i:i+1]); err != nil {
			return err
		}
	}
	return nil
}

// reversed reads newest first.
type reversed struct{ session.Session }

func (s reversed) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, err := s.Session.GetMessages(ctx, limit)
	slices.Reverse(msgs)
	return msgs, err
}

// limitIgnored always returns every message.
type limitIgnored struct{ session.Session }

func (s limitIgnored) GetMessages(ctx context.Context, _ *int) ([]message.Message, error) {
	return s.Session.GetMessages(ctx, nil)
}

// popOldest removes and returns the oldest message.
type popOldest struct{ session.Session }

func (s popOldest) PopMessage(ctx context.Context) (*message.Message, error) {
	msgs, err := s.Session.GetMessages(ctx, nil)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	if err := s.Session.Clear(ctx); err != nil {
		return nil, err
	}
	if err := s.Session.AddMessages(ctx, msgs[1:]); err != nil {
		return nil, err
	}
	return &msgs[0], nil
}

// duplicating stores a message again when its ID is already held, under a
// changed ID that reads back as the original.
type duplicating struct{ session.Session }

const dupMark = "~dup~"

func (s duplicating) AddMessages(ctx context.Context, msgs []message.Message) error {
	held, err := s.Session.GetMessages(ctx, nil)
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for _, m := range held {
		seen[m.ID]++
	}
	stored := make([]message.Message, len(msgs))
	for i := range msgs {
		if msgs[i].ID == "" {
			msgs[i].ID = message.NewID()
		}
		if msgs[i].CreatedAt == 0 {
			msgs[i].CreatedAt = time.Now().UnixNano()
		}
		stored[i] = msgs[i]
		if n := seen[msgs[i].ID]; n > 0 {
			stored[i].ID = fmt.Sprintf("%s%s%d", msgs[i].ID, dupMark, n)
		}
		seen[msgs[i].ID]++
	}
	return s.Session.AddMessages(ctx, stored)
}

func (s duplicating) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, err := s.Session.GetMessages(ctx, limit)
	for i := range msgs {
		msgs[i].ID, _, _ = strings.Cut(msgs[i].ID, dupMark)
	}
	return msgs, err
}

// copyingAppend appends a copy of the caller's slice, so assigned IDs and
// times never reach the caller.
type copyingAppend struct{ session.Session }

func (s copyingAppend) AddMessages(ctx context.Context, msgs []message.Message) error {
	return s.Session.AddMessages(ctx, slices.Clone(msgs))
}

// versionIgnored appends in AddMessagesAt whatever the version.
type versionIgnored struct{ session.Versioned }

func (s versionIgnored) AddMessagesAt(ctx context.Context, _ int64, msgs []message.Message) (int64, error) {
	if err := s.Versioned.AddMessages(ctx, msgs); err != nil {
		return 0, err
	}
	_, v, err := s.Versioned.Snapshot(ctx, session.Limit(0))
	return v, err
}

// beforeIgnored reads every page of Range from the newest message, as a
// pager that drops its cursor would.
type beforeIgnored struct{ session.Ranger }

func (s beforeIgnored) Range(ctx context.Context, q session.RangeQuery) ([]session.Entry, error) {
	q.Before = 0
	return s.Ranger.Range(ctx, q)
}

// plainExists reports a taken id with a bare string error.
type plainExists struct{ session.Store }

func (s plainExists) Create(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.Store.Create(ctx, id)
	if errors.Is(err, session.ErrExists) {
		return nil, errors.New("exists")
	}
	return sess, err
}

// loadCreates returns a new empty session for a missing id.
type loadCreates struct{ session.Store }

func (s loadCreates) Load(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.Store.Load(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return s.Store.Create(ctx, id)
	}
	return sess, err
}

// emptyIDDefault maps the empty id to a shared "default" session.
type emptyIDDefault struct{ session.Store }

func orDefault(id string) string {
	if id == "" {
		return "default"
	}
	return id
}

func (s emptyIDDefault) Exists(ctx context.Context, id string) (bool, error) {
	return s.Store.Exists(ctx, orDefault(id))
}

func (s emptyIDDefault) Create(ctx context.Context, id string) (session.Session, error) {
	return s.Store.Create(ctx, orDefault(id))
}

func (s emptyIDDefault) Load(ctx context.Context, id string) (session.Session, error) {
	return s.Store.Load(ctx, orDefault(id))
}

func (s emptyIDDefault) Delete(ctx context.Context, id string) error {
	return s.Store.Delete(ctx, orDefault(id))
}

// ctxIgnored never looks at the caller's context.
type ctxIgnored struct{ session.Store }

func (s ctxIgnored) Exists(ctx context.Context, id string) (bool, error) {
	return s.Store.Exists(context.WithoutCancel(ctx), id)
}

func (s ctxIgnored) Create(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.Store.Create(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	return ctxIgnoredSession{sess}, nil
}

func (s ctxIgnored) Load(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.Store.Load(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	return ctxIgnoredSession{sess}, nil
}

func (s ctxIgnored) Delete(ctx context.Context, id string) error {
	return s.Store.Delete(context.WithoutCancel(ctx), id)
}

type ctxIgnoredSession struct{ session.Session }

func (s ctxIgnoredSession) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	return s.Session.GetMessages(context.WithoutCancel(ctx), limit)
}

func (s ctxIgnoredSession) AddMessages(ctx context.Context, msgs []message.Message) error {
	return s.Session.AddMessages(context.WithoutCancel(ctx), msgs)
}

func (s ctxIgnoredSession) PopMessage(ctx context.Context) (*message.Message, error) {
	return s.Session.PopMessage(context.WithoutCancel(ctx))
}

func (s ctxIgnoredSession) Clear(ctx context.Context) error {
	return s.Session.Clear(context.WithoutCancel(ctx))
}

// listRepeat is a Lister whose Next cursor points one row back, so every
// page repeats the last row of the page before.
type listRepeat struct {
	session.Store
	mem *session.MemoryStore
}

func (s listRepeat) List(ctx context.Context, q session.ListQuery) (session.ListPage, error) {
	p, err := s.mem.List(ctx, q)
	if err != nil || p.Next == "" || len(p.Sessions) < 2 {
		return p, err
	}
	q.Limit = len(p.Sessions) - 1
	back, err := s.mem.List(ctx, q)
	if err != nil {
		return p, err
	}
	p.Next = back.Next
	return p, nil
}

// reopening appends through a fresh handle from Open, bringing a deleted
// session back instead of failing with ErrNotFound.
type reopening struct {
	session.Session
	store *session.MemoryStore
}

func (s reopening) AddMessages(ctx context.Context, msgs []message.Message) error {
	h, err := s.store.Open(ctx, s.ID())
	if err != nil {
		return err
	}
	return h.AddMessages(ctx, msgs)
}

// restamping sets every message's CreatedAt to the time of the append.
type restamping struct{ session.Session }

func (s restamping) AddMessages(ctx context.Context, msgs []message.Message) error {
	stored := slices.Clone(msgs)
	now := time.Now().UnixNano()
	for i := range stored {
		stored[i].CreatedAt = now
	}
	if err := s.Session.AddMessages(ctx, stored); err != nil {
		return err
	}
	for i := range msgs {
		msgs[i].ID = stored[i].ID
		if msgs[i].CreatedAt == 0 {
			msgs[i].CreatedAt = now
		}
	}
	return nil
}

// droppingUnknown loses parts of types it does not know.
type droppingUnknown struct{ session.Session }

func (s droppingUnknown) AddMessages(ctx context.Context, msgs []message.Message) error {
	stored := slices.Clone(msgs)
	for i := range stored {
		stored[i].Parts = slices.DeleteFunc(slices.Clone(stored[i].Parts), func(p message.Part) bool {
			_, unknown := p.(message.Unknown)
			return unknown
		})
	}
	if err := s.Session.AddMessages(ctx, stored); err != nil {
		return err
	}
	for i := range msgs {
		msgs[i].ID, msgs[i].CreatedAt = stored[i].ID, stored[i].CreatedAt
	}
	return nil
}

// byID looks its session up by id on every call, as a store without
// incarnations would: a handle of a deleted session works on the session
// re-created with its id.
type byID struct {
	store *session.MemoryStore
	id    string
}

func (s byID) ID() string { return s.id }

func (s byID) h(ctx context.Context) (session.Session, error) { return s.store.Load(ctx, s.id) }

func (s byID) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	h, err := s.h(ctx)
	if err != nil {
		return nil, err
	}
	return h.GetMessages(ctx, limit)
}

func (s byID) AddMessages(ctx context.Context, msgs []message.Message) error {
	h, err := s.h(ctx)
	if err != nil {
		return err
	}
	return h.AddMessages(ctx, msgs)
}

func (s byID) PopMessage(ctx context.Context) (*message.Message, error) {
	h, err := s.h(ctx)
	if err != nil {
		return nil, err
	}
	return h.PopMessage(ctx)
}

func (s byID) Clear(ctx context.Context) error {
	h, err := s.h(ctx)
	if err != nil {
		return err
	}
	return h.Clear(ctx)
}

// dryRunDeletes is a MemoryStore whose Prune ignores DryRun.
type dryRunDeletes struct{ *session.MemoryStore }

func (s dryRunDeletes) Prune(ctx context.Context, q session.PruneQuery) (session.DeleteReport, error) {
	q.DryRun = false
	return s.MemoryStore.Prune(ctx, q)
}

// secondsOnly is a MemoryStore whose SetUpdatedAt keeps whole seconds only,
// as a store with a coarser time column would.
type secondsOnly struct{ *session.MemoryStore }

func (s secondsOnly) SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error {
	return s.MemoryStore.SetUpdatedAt(ctx, id, updatedAt-updatedAt%1e9)
}

// eraseAll is a MemoryStore whose DeleteOwner deletes every session.
type eraseAll struct{ *session.MemoryStore }

func (s eraseAll) DeleteOwner(ctx context.Context, owner string) (session.DeleteReport, error) {
	return s.MemoryStore.Prune(ctx, session.PruneQuery{UpdatedBefore: math.MaxInt64})
}

// TestDependencies keeps the suite light for third-party backends: the
// standard library, go-cmp and convo's message and session packages.
func TestDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{"github.com/google/go-cmp/", "github.com/google/uuid", // uuid: via message
		"github.com/convo-dev/convo/message", "github.com/convo-dev/convo/session",
		// via message: JSON errors in the format's terms (standard library only).
		"github.com/convo-dev/convo/internal/jsonerr",
		// via session: the search rules every store shares, and the Go
		// project's Unicode library they use.
		"github.com/convo-dev/convo/internal/searchtext", "golang.org/x/text/"}
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		if dep == "" {
			continue
		}
		if !slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(dep, p) }) {
			t.Errorf("sessiontest depends on %s; keep it to std, go-cmp, message and session (and what session uses)", dep)
		}
	}
}
