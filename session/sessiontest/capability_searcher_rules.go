package sessiontest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The rules of session.Searcher that every store shares: what a search
// finds after an append, what it never finds after an erasure, words in
// every script, the query syntax, and the highlighted spans.

// fillerCount is how many messages the checks below append before the ones
// they look for, so that a store that indexes lazily has a backlog larger
// than it would match by scanning.
const fillerCount = 600

func filler(t *testing.T, st session.Store) {
	t.Helper()
	sess := create(t, st, "filler")
	add(t, sess, users("filler text", fillerCount)...)
}

// highlights returns the highlighted spans of a snippet.
func highlights(snippet string) []string {
	var out []string
	for {
		i := strings.Index(snippet, session.HighlightStart)
		if i < 0 {
			return out
		}
		snippet = snippet[i+len(session.HighlightStart):]
		j := strings.Index(snippet, session.HighlightEnd)
		if j < 0 {
			return append(out, "<unclosed>")
		}
		out = append(out, snippet[:j])
		snippet = snippet[j+len(session.HighlightEnd):]
	}
}

func testSearchRules(t *testing.T, s *suite) {
	t.Run("append_then_search_finds_it_every_time", func(t *testing.T) {
		st, sr := s.searcher(t)
		filler(t, st)
		sess := create(t, st, "s1")
		for i := range 20 {
			m := text(fmt.Sprintf("word%d appears now", i))
			add(t, sess, m)
			sameHits(t, fmt.Sprintf("word%d", i), []message.Message{m}, search(t, sr, session.SearchQuery{Text: fmt.Sprintf("word%d", i)}))
		}
		if hits := search(t, sr, session.SearchQuery{Text: "appears", Limit: session.MaxListLimit}); len(hits) != 20 {
			t.Errorf("appears: %d hits, want 20", len(hits))
		}
		if hits := search(t, sr, session.SearchQuery{Text: "filler", Limit: session.MaxListLimit}); len(hits) != fillerCount {
			t.Errorf("filler: %d hits, want %d", len(hits), fillerCount)
		}
	})
	t.Run("another_instance_finds_what_one_appended", func(t *testing.T) {
		if s.opts.Twin == nil {
			t.Skip("no Options.Twin: cannot open a second instance on the same database")
		}
		st, sr := s.searcher(t)
		other := s.opts.Twin(t, st)
		osr, ok := other.(session.Searcher)
		if !ok {
			t.Fatalf("the twin store %T is not a Searcher", other)
		}
		filler(t, st)
		a := create(t, st, "a")
		b := load(t, other, "a")
		for i := range 10 {
			ma := text(fmt.Sprintf("fromone%d", i))
			add(t, a, ma)
			sameHits(t, "the other instance searching for the first one's append", []message.Message{ma}, search(t, osr, session.SearchQuery{Text: ma.Content()}))
			mb := text(fmt.Sprintf("fromtwo%d", i))
			add(t, b, mb)
			sameHits(t, "the first instance searching for the other one's append", []message.Message{mb}, search(t, sr, session.SearchQuery{Text: mb.Content()}))
		}
		// A backlog written by one instance, searched by the other.
		add(t, a, users("bulk backlog", fillerCount)...)
		if hits := search(t, osr, session.SearchQuery{Text: "backlog", Limit: session.MaxListLimit}); len(hits) != fillerCount {
			t.Errorf("backlog from the other instance: %d hits, want %d", len(hits), fillerCount)
		}
	})
	t.Run("erased_text_is_never_found", func(t *testing.T) {
		st, sr := s.searcher(t)
		var others []session.Searcher
		if s.opts.Twin != nil {
			if o, ok := s.opts.Twin(t, st).(session.Searcher); ok {
				others = append(others, o)
			}
		}
		filler(t, st)
		keep := create(t, st, "keep")
		kept := text("kept ibex")
		add(t, keep, kept)
		type eraser struct {
			name  string
			word  string
			erase func(t *testing.T, word string) bool // false: not supported
		}
		erasers := []eraser{
			{"pop", "poppedibex", func(t *testing.T, word string) bool {
				sess := create(t, st, "pop")
				add(t, sess, text("stays"), text(word))
				search(t, sr, session.SearchQuery{Text: word})
				if _, err := sess.PopMessage(t.Context()); err != nil {
					t.Fatal(err)
				}
				return true
			}},
			{"clear", "clearedibex", func(t *testing.T, word string) bool {
				sess := create(t, st, "clear")
				add(t, sess, text(word), text(word+" again"))
				search(t, sr, session.SearchQuery{Text: word})
				if err := sess.Clear(t.Context()); err != nil {
					t.Fatal(err)
				}
				return true
			}},
			{"delete", "deletedibex", func(t *testing.T, word string) bool {
				add(t, create(t, st, "del"), text(word))
				search(t, sr, session.SearchQuery{Text: word})
				if err := st.Delete(t.Context(), "del"); err != nil {
					t.Fatal(err)
				}
				return true
			}},
			{"owner_erasure", "ownedibex", func(t *testing.T, word string) bool {
				d, ok1 := st.(session.Describer)
				e, ok2 := st.(session.OwnerEraser)
				if !ok1 || !ok2 {
					return false
				}
				add(t, createWith(t, d, "owned", session.CreateOptions{Owner: "mallory"}), text(word))
				search(t, sr, session.SearchQuery{Text: word})
				if _, err := e.DeleteOwner(t.Context(), "mallory"); err != nil {
					t.Fatal(err)
				}
				return true
			}},
			{"prune", "prunedibex", func(t *testing.T, word string) bool {
				p, ok := st.(session.Pruner)
				if !ok {
					return false
				}
				add(t, create(t, st, "old"), text(word))
				search(t, sr, session.SearchQuery{Text: word})
				clockTick()
				cutoff := time.Now().UnixNano()
				clockTick()
				add(t, keep, text("touch keep"))
				add(t, create(t, st, "filler2"), text("touch filler"))
				// Prune only "old" among the sessions that matter here.
				_, err := p.Prune(t.Context(), session.PruneQuery{UpdatedBefore: cutoff})
				if err != nil {
					t.Fatal(err)
				}
				return true
			}},
			{"rewrite", "rewrittenibex", func(t *testing.T, word string) bool {
				sess := create(t, st, "rw")
				rw, ok := sess.(session.Rewriter)
				if !ok {
					return false
				}
				add(t, sess, text(word), text("unchanged"))
				search(t, sr, session.SearchQuery{Text: word})
				_, v, err := rw.Snapshot(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := rw.ReplaceMessages(t.Context(), v, []message.Message{text("unchanged")}); err != nil {
					t.Fatal(err)
				}
				return true
			}},
		}
		var erased []string
		for _, e := range erasers {
			if e.erase(t, e.word) {
				erased = append(erased, e.word)
			} else {
				t.Logf("%s: not supported by this store", e.name)
			}
		}
		// New messages after the erasures (a store that numbers rows must
		// not let a new row take an erased one's place in its index).
		fresh := text("fresh ibex")
		add(t, keep, fresh)
		for _, sr := range append([]session.Searcher{sr}, others...) {
			for _, w := range erased {
				if hits := search(t, sr, session.SearchQuery{Text: w}); len(hits) != 0 {
					t.Errorf("erased %q is found: %+v", w, hits)
				}
			}
			sameHits(t, "ibex after the erasures", []message.Message{kept, fresh}, search(t, sr, session.SearchQuery{Text: "ibex"}))
		}
	})
	t.Run("words_in_every_script", func(t *testing.T) {
		st, sr := s.searcher(t)
		// Opening lines of the Japanese, Chinese, Korean and Thai
		// Wikipedia articles on each capital or language, shortened.
		ja := text("東京都は、日本の首都であり、関東地方に位置する。")
		zh := text("北京市是中华人民共和国的首都。")
		ko := text("서울특별시는 대한민국의 수도이다. 서울에서 만나요.")
		th := text("ภาษาไทยเป็นภาษาราชการของประเทศไทย")
		fr := text("Un café crème à Zürich, s'il vous plaît.")
		de := text("Die Straße ist lang.")
		el := text("Η Ελλάδα είναι χώρα της Ευρώπης.")
		add(t, create(t, st, "s1"), ja, zh, ko, th, fr, de, el)
		for _, c := range []struct {
			q    string
			want []message.Message
		}{
			{"東京", []message.Message{ja}},
			{"関東地方", []message.Message{ja}},
			{"首都", []message.Message{ja, zh}},
			{"京", []message.Message{ja, zh}},
			{"北京", []message.Message{zh}},
			{"大阪", nil},
			{"서울", []message.Message{ko}},
			{"대한민국", []message.Message{ko}},
			{"ภาษาไทย", []message.Message{th}},
			{"ประเทศไทย", []message.Message{th}},
			{"cafe", []message.Message{fr}},
			{"CAFÉ", []message.Message{fr}},
			{"zurich", []message.Message{fr}},
			{"strasse", []message.Message{de}},
			{"ελλαδα", []message.Message{el}},
		} {
			sameHits(t, c.q, c.want, search(t, sr, session.SearchQuery{Text: c.q}))
		}
	})
	t.Run("query_syntax_phrase_prefix_and", func(t *testing.T) {
		st, sr := s.searcher(t)
		a := text("the quick brown fox jumps over the lazy dog")
		b := text("a brown quick configuration of snake_case names")
		add(t, create(t, st, "s1"), a, b)
		for _, c := range []struct {
			q    string
			want []message.Message
		}{
			{"quick brown", []message.Message{a, b}},
			{`"quick brown"`, []message.Message{a}},
			{`"brown quick"`, []message.Message{b}},
			{`"quick fox"`, nil},
			{"quick fox", []message.Message{a}},
			{"conf*", []message.Message{b}},
			{"conf", nil},
			{"configurations", nil},
			{`"lazy do"*`, []message.Message{a}},
			{"snake_case", []message.Message{b}},
			{"case_snake", nil},
			{"fox OR configuration", nil},
			{"quick -fox", []message.Message{a}},
		} {
			sameHits(t, c.q, c.want, search(t, sr, session.SearchQuery{Text: c.q}))
		}
	})
	t.Run("snippets_highlight_the_matched_spans", func(t *testing.T) {
		st, sr := s.searcher(t)
		sess := create(t, st, "s1")
		for _, c := range []struct {
			text, q string
			want    []string
		}{
			{"the configuration file", "conf*", []string{"configuration"}},
			{"Un café crème", "cafe", []string{"café"}},
			{"東京都は日本の首都", "京", []string{"京"}},
			{"東京都は日本の首都", "首都 東京", []string{"東京", "首都"}},
			{"東京都は日本の首都", "東京都", []string{"東京都"}},
			{"new york, new york", `"new york"`, []string{"new york", "new york"}},
			{"ภาษาไทยเป็นภาษาราชการ", "ภาษา", []string{"ภาษา", "ภาษา"}},
		} {
			if err := sess.Clear(t.Context()); err != nil {
				t.Fatal(err)
			}
			m := text(c.text)
			add(t, sess, m)
			hits := search(t, sr, session.SearchQuery{Text: c.q})
			if len(hits) != 1 {
				t.Errorf("%q in %q: %d hits, want 1", c.q, c.text, len(hits))
				continue
			}
			if got := highlights(hits[0].Snippet); !slices.Equal(got, c.want) {
				t.Errorf("%q in %q: snippet %q highlights %q, want %q", c.q, c.text, hits[0].Snippet, got, c.want)
			}
			plain := strings.NewReplacer(session.HighlightStart, "", session.HighlightEnd, "").Replace(hits[0].Snippet)
			if plain != c.text {
				t.Errorf("%q in %q: snippet without markers is %q, want the text", c.q, c.text, plain)
			}
		}
	})
	t.Run("Limit_page_is_full_when_enough_messages_match", func(t *testing.T) {
		// Near misses: messages an engine's index may propose but that do
		// not match by the shared rules. A store that takes one page of
		// candidates from its index and drops the near misses there
		// returns fewer hits than Limit although more messages match.
		st, sr := s.searcher(t)
		filler(t, st)
		sess := create(t, st, "s1")
		// PostgreSQL keeps tsvector positions up to 16,383 and clamps
		// larger ones (https://www.postgresql.org/docs/current/textsearch-limitations.html):
		// "alpha" at 16,382 and "beta" far beyond it are stored as
		// neighbours, so the phrase "alpha beta" is proposed. They are
		// not neighbours.
		long := strings.Repeat("w ", 16381) + "alpha " + strings.Repeat("x ", 50) + "beta"
		var near, phrase []message.Message
		for range 4 {
			near = append(near, text(long))
		}
		for i := range 3 {
			phrase = append(phrase, text(fmt.Sprintf("%s alpha beta %s", strings.Repeat("y ", 20*(i+1)), strings.Repeat("z ", 200))))
		}
		add(t, sess, near...)
		add(t, sess, phrase...)
		for _, c := range []struct {
			q    string
			want []message.Message
		}{{`"alpha beta"`, phrase}, {"alpha-beta", phrase}} {
			for limit := 1; limit <= len(c.want); limit++ {
				hits := search(t, sr, session.SearchQuery{Text: c.q, Limit: limit})
				if len(hits) != limit {
					t.Errorf("%+q with Limit %d: %d hits %q, want %d of %q", c.q, limit, len(hits), hitIDs(hits), limit, ids(c.want))
				}
			}
			sameHits(t, fmt.Sprintf("%+q", c.q), c.want, search(t, sr, session.SearchQuery{Text: c.q}))
		}
	})
}
