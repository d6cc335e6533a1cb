package sessiontest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// searcher returns a fresh store as a Searcher, or skips when the store is
// not one or its first search says it is not supported (a SQLite build
// without FTS5).
func (s *suite) searcher(t *testing.T) (session.Store, session.Searcher) {
	t.Helper()
	st := s.store(t)
	sr, ok := st.(session.Searcher)
	if !ok {
		t.Skip("store does not implement session.Searcher")
	}
	if _, err := sr.Search(t.Context(), session.SearchQuery{Text: "probe"}); err != nil {
		if errors.Is(err, session.ErrNotSupported) {
			t.Skipf("search not supported by this store: %v", err)
		}
		t.Fatalf("Search on an empty store: %v", err)
	}
	return st, sr
}

func search(t *testing.T, sr session.Searcher, q session.SearchQuery) []session.SearchHit {
	t.Helper()
	hits, err := sr.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return hits
}

func hitIDs(hits []session.SearchHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.MessageID
	}
	slices.Sort(out)
	return out
}

// sameHits fails t unless hits are exactly the messages want, in any order.
func sameHits(t *testing.T, what string, want []message.Message, hits []session.SearchHit) {
	t.Helper()
	w := ids(want)
	slices.Sort(w)
	if got := hitIDs(hits); !slices.Equal(got, w) {
		t.Errorf("%s: hits are messages %q, want %q", what, got, w)
	}
}

func text(s string) message.Message { return message.NewUserMessage(s) }

func testSearcher(t *testing.T, s *suite) {
	s.searcher(t)
	t.Run("finds_words_in_text", func(t *testing.T) {
		st, sr := s.searcher(t)
		sess := create(t, st, "s1")
		zebra, other := text("The zebra crossed the road"), text("nothing to see")
		add(t, sess, zebra, other)
		sameHits(t, "zebra", []message.Message{zebra}, search(t, sr, session.SearchQuery{Text: "zebra"}))
	})
	t.Run("match_ignores_case", func(t *testing.T) {
		st, sr := s.searcher(t)
		m := text("Quasar observations")
		add(t, create(t, st, "s1"), m)
		sameHits(t, "QUASAR", []message.Message{m}, search(t, sr, session.SearchQuery{Text: "QUASAR"}))
		sameHits(t, "quasar", []message.Message{m}, search(t, sr, session.SearchQuery{Text: "quasar"}))
	})
	t.Run("every_word_must_match", func(t *testing.T) {
		st, sr := s.searcher(t)
		both, one := text("marmalade and kiwi"), text("only marmalade here")
		add(t, create(t, st, "s1"), both, one)
		sameHits(t, "marmalade kiwi", []message.Message{both}, search(t, sr, session.SearchQuery{Text: "marmalade kiwi"}))
		sameHits(t, "marmalade", []message.Message{both, one}, search(t, sr, session.SearchQuery{Text: "marmalade"}))
	})
	t.Run("finds_words_in_reasoning_and_tool_results", func(t *testing.T) {
		st, sr := s.searcher(t)
		reasoning := message.NewMessage(message.RoleAssistant, message.Reasoning{Text: "considering the xylophone", Signature: "sig"})
		result := message.NewToolResultMessage(message.ToolResult{CallID: "c1", Name: "lookup", Content: "the walrus is large"})
		add(t, create(t, st, "s1"), reasoning, result)
		sameHits(t, "xylophone", []message.Message{reasoning}, search(t, sr, session.SearchQuery{Text: "xylophone"}))
		sameHits(t, "walrus", []message.Message{result}, search(t, sr, session.SearchQuery{Text: "walrus"}))
	})
	t.Run("hit_names_session_message_role_and_time_and_highlights_the_match", func(t *testing.T) {
		st, sr := s.searcher(t)
		m := message.NewMessage(message.RoleAssistant, message.Text{Text: "before words then the pelican and after words"})
		m.CreatedAt = 1732460000123456789
		add(t, create(t, st, "s1"), text("first"), m)
		hits := search(t, sr, session.SearchQuery{Text: "pelican"})
		if len(hits) != 1 {
			t.Fatalf("got %d hits, want 1", len(hits))
		}
		h := hits[0]
		if h.SessionID != "s1" || h.MessageID != m.ID || h.Role != message.RoleAssistant || h.CreatedAt != m.CreatedAt {
			t.Errorf("hit = %+v, want session s1, message %q, role assistant, CreatedAt %d", h, m.ID, m.CreatedAt)
		}
		start := strings.Index(h.Snippet, session.HighlightStart)
		end := strings.Index(h.Snippet, session.HighlightEnd)
		if start < 0 || end < start || !strings.Contains(strings.ToLower(h.Snippet[start:end]), "pelican") {
			t.Errorf("snippet %q does not wrap the match in session.HighlightStart and HighlightEnd", h.Snippet)
		}
	})
	t.Run("popped_cleared_and_deleted_messages_are_not_found", func(t *testing.T) {
		st, sr := s.searcher(t)
		a := create(t, st, "a")
		add(t, a, text("keep gazelle"), text("popped gazelle"))
		if _, err := a.PopMessage(t.Context()); err != nil {
			t.Fatal(err)
		}
		b := create(t, st, "b")
		add(t, b, text("cleared gazelle"))
		if err := b.Clear(t.Context()); err != nil {
			t.Fatal(err)
		}
		add(t, create(t, st, "c"), text("deleted gazelle"))
		if err := st.Delete(t.Context(), "c"); err != nil {
			t.Fatal(err)
		}
		hits := search(t, sr, session.SearchQuery{Text: "gazelle"})
		if len(hits) != 1 || hits[0].SessionID != "a" {
			t.Errorf("hits %+v, want only the kept message of session a", hits)
		}
	})
	t.Run("filter_SessionID", func(t *testing.T) {
		st, sr := s.searcher(t)
		ma, mb := text("platypus in a"), text("platypus in b")
		add(t, create(t, st, "a"), ma)
		add(t, create(t, st, "b"), mb)
		sameHits(t, "platypus in session b", []message.Message{mb}, search(t, sr, session.SearchQuery{Text: "platypus", SessionID: "b"}))
	})
	t.Run("filter_SessionID_invalid_is_ErrInvalidID", func(t *testing.T) {
		// An id no session can have is refused, as Load refuses it,
		// not searched for in vain.
		_, sr := s.searcher(t)
		for _, id := range []string{"\xff", strings.Repeat("x", session.MaxIDLength+1)} {
			hits, err := sr.Search(t.Context(), session.SearchQuery{Text: "platypus", SessionID: id})
			if !errors.Is(err, session.ErrInvalidID) {
				t.Errorf("Search with SessionID %.10q… = %v, %v; want an error matching session.ErrInvalidID", id, hits, err)
			}
		}
	})
	t.Run("filter_Owner", func(t *testing.T) {
		st, sr := s.searcher(t)
		d, ok := st.(session.Describer)
		if !ok {
			t.Skip("store does not implement session.Describer: cannot set owners")
		}
		ma, mb := text("armadillo of alice"), text("armadillo of bob")
		add(t, createWith(t, d, "a", session.CreateOptions{Owner: "alice"}), ma)
		add(t, createWith(t, d, "b", session.CreateOptions{Owner: "bob"}), mb)
		sameHits(t, "armadillo of alice", []message.Message{ma}, search(t, sr, session.SearchQuery{Text: "armadillo", Owner: "alice"}))
	})
	t.Run("Limit_caps_the_hits", func(t *testing.T) {
		st, sr := s.searcher(t)
		sess := create(t, st, "s1")
		for range 5 {
			add(t, sess, text("lemur"))
		}
		if hits := search(t, sr, session.SearchQuery{Text: "lemur", Limit: 2}); len(hits) != 2 {
			t.Errorf("Limit 2 gave %d hits", len(hits))
		}
		if hits := search(t, sr, session.SearchQuery{Text: "lemur"}); len(hits) != 5 {
			t.Errorf("Limit 0 gave %d hits, want all 5", len(hits))
		}
	})
	t.Run("operator_characters_never_give_an_error", func(t *testing.T) {
		st, sr := s.searcher(t)
		add(t, create(t, st, "s1"), text(`the ocelot said "hi" - near: (x) AND y*`))
		for _, q := range []string{`"ocelot`, `ocelot"`, `ocelot*`, `*`, `NEAR(ocelot`, `NEAR(ocelot hi, 2)`,
			`-ocelot`, `ocelot -hi`, `ocelot:`, `text:ocelot`, `:`, `(`, `)`, `ocelot AND`, `OR`, `NOT ocelot`,
			`^ocelot`, `{ocelot}`, `'`, `''`, `\`, `%`, `_`, `ocelot & | ! <->`, `""`, ` `, `.`, `+ocelot`, "ocelot\x00"} {
			noPanic(t, "Search("+q+")", func() {
				if _, err := sr.Search(t.Context(), session.SearchQuery{Text: q}); err != nil {
					t.Errorf("Search(%q): %v, want hits or none", q, err)
				}
			})
		}
		if hits := search(t, sr, session.SearchQuery{Text: `"ocelot"`}); len(hits) != 1 {
			t.Errorf(`Search("\"ocelot\"") gave %d hits, want the message (quotes are not operators)`, len(hits))
		}
	})
	t.Run("cancelled_context_gives_an_error", func(t *testing.T) {
		_, sr := s.searcher(t)
		_, err := sr.Search(cancelled(t), session.SearchQuery{Text: "x"})
		canceledErr(t, "Search", err)
	})
	testSearchRules(t, s)
}
