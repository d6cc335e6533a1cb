package session_test

import (
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
)

func TestMemoryStoreConformance(t *testing.T) {
	sessiontest.Run(t, func(*testing.T) session.Store { return session.NewMemoryStore() })
}

func TestMemoryStoreVersionStepsByOne(t *testing.T) {
	ctx := t.Context()
	store := session.NewMemoryStore()
	s, err := store.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	v := s.(session.Versioned)
	step := func(what string, want int64, do func() error) {
		t.Helper()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, got, _ := v.Snapshot(ctx, nil); got != want {
			t.Errorf("after %s: version %d, want %d", what, got, want)
		}
	}
	msgs := []message.Message{message.NewUserMessage("a"), message.NewUserMessage("b")}
	step("append of 2", 1, func() error { return s.AddMessages(ctx, msgs) })
	step("retry", 1, func() error { return s.AddMessages(ctx, msgs) })
	step("empty append", 1, func() error { return s.AddMessages(ctx, nil) })
	step("pop", 2, func() error { _, err := s.PopMessage(ctx); return err })
	step("clear", 3, func() error { return s.Clear(ctx) })
	step("clear of empty", 4, func() error { return s.Clear(ctx) })
	step("pop of empty", 4, func() error { _, err := s.PopMessage(ctx); return err })
	step("title update", 4, func() error {
		title := "t"
		return store.UpdateInfo(ctx, "s", session.InfoUpdate{Title: &title})
	})
}

func TestMemoryStoreRefusesEmptyOwner(t *testing.T) {
	store := session.NewMemoryStore()
	if _, err := store.CreateWith(t.Context(), "s", session.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DeleteOwner(t.Context(), ""); err == nil {
		t.Error(`DeleteOwner("") succeeded; it would erase every session without an owner`)
	}
	if ok, _ := store.Exists(t.Context(), "s"); !ok {
		t.Error(`DeleteOwner("") deleted an ownerless session`)
	}
}

func TestMemoryStoreSnippetOfLongText(t *testing.T) {
	store := session.NewMemoryStore()
	s, _ := store.Create(t.Context(), "s")
	long := strings.Repeat("filler words here ", 2000) + "the Needle is here " + strings.Repeat("more filler ", 2000)
	if err := s.AddMessages(t.Context(), []message.Message{message.NewUserMessage(long)}); err != nil {
		t.Fatal(err)
	}
	hits, err := store.Search(t.Context(), session.SearchQuery{Text: "needle"})
	if err != nil || len(hits) != 1 {
		t.Fatalf("Search = %v, %v", hits, err)
	}
	snip := hits[0].Snippet
	if want := session.HighlightStart + "Needle" + session.HighlightEnd; !strings.Contains(snip, want) {
		t.Errorf("snippet %q lacks %q", snip, want)
	}
	if len(snip) > 400 || !strings.HasPrefix(snip, "…") || !strings.HasSuffix(snip, "…") {
		t.Errorf("snippet of a long text is %d bytes, %q; want a short excerpt marked with … at both ends", len(snip), snip)
	}
}

func TestMemoryStoreSearchUnicodeWords(t *testing.T) {
	store := session.NewMemoryStore()
	s, _ := store.Create(t.Context(), "s")
	m := message.NewUserMessage("Grüße aus Köln, ÉCOLE")
	if err := s.AddMessages(t.Context(), []message.Message{m}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"köln", "école grüße", `"KÖLN"*`} {
		hits, err := store.Search(t.Context(), session.SearchQuery{Text: q})
		if err != nil || len(hits) != 1 || hits[0].MessageID != m.ID {
			t.Errorf("Search(%q) = %+v, %v; want the message", q, hits, err)
		}
	}
	if hits, err := store.Search(t.Context(), session.SearchQuery{Text: "köl"}); err != nil || len(hits) != 0 {
		t.Errorf("Search of a word fragment = %+v, %v; want no hits (whole words only)", hits, err)
	}
}
