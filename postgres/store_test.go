package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func TestOptionsRefusedBeforeAnySQL(t *testing.T) {
	// A nil pool would panic on the first query: reaching the option check
	// first proves that no SQL runs with a bad identifier.
	for _, c := range []struct {
		name string
		opt  Option
	}{
		{"prefix with a quote", WithTablePrefix(`x"; DROP TABLE sessions; --`)},
		{"prefix with a space", WithTablePrefix("chat ")},
		{"prefix starting with a digit", WithTablePrefix("1chat_")},
		{"prefix too long", WithTablePrefix(strings.Repeat("a", sqlident.MaxPrefixLength+1))},
		{"empty schema", WithSchema("")},
		{"schema with a dot", WithSchema("a.b")},
		{"schema with a quote", WithSchema(`a"b`)},
		{"zero max message bytes", WithMaxMessageBytes(0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := SessionStore(t.Context(), nil, c.opt)
			if err == nil {
				t.Fatal("SessionStore accepted the option")
			}
			if c.name != "zero max message bytes" && !errors.Is(err, sqlident.ErrInvalid) {
				t.Errorf("error %v does not match sqlident.ErrInvalid", err)
			}
		})
	}
	if _, err := SessionStore(t.Context(), nil, WithTablePrefix("chat_"), WithSchema("convo")); err == nil || errors.Is(err, sqlident.ErrInvalid) {
		t.Errorf("valid options and a nil pool: got %v, want a nil-pool error", err)
	}
}

func TestTablesFollowSchemaAndPrefix(t *testing.T) {
	pool := testPool(t)
	schema := newSchema(t, pool)
	a, err := Open(t.Context(), pool, WithSchema(schema), WithTablePrefix("chat_"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(t.Context(), pool, WithSchema(schema), WithTablePrefix("other_"))
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	rows, err := pool.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := "chat_changes chat_convo_schema_migrations chat_feed_listeners chat_feed_state chat_messages chat_messages_quarantine chat_search_index chat_sessions " +
		"other_changes other_convo_schema_migrations other_feed_listeners other_feed_state other_messages other_messages_quarantine other_search_index other_sessions"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("tables in %s: %s, want %s", schema, got, want)
	}
	// The two prefixes are separate stores.
	if _, err := a.Create(t.Context(), "s"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Exists(t.Context(), "s"); err != nil || ok {
		t.Errorf("store with prefix other_ sees chat_'s session: %v, %v", ok, err)
	}
}

func TestSchemaVersionRecordedAndNewerRefused(t *testing.T) {
	pool := testPool(t)
	s := newStore(t, pool)
	v, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != LatestSchemaVersion() || v < 1 {
		t.Fatalf("SchemaVersion = %d, want %d", v, LatestSchemaVersion())
	}
	// Reopening a current schema is a no-op.
	if _, err := Open(t.Context(), pool, WithSchema(s.Schema())); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := pool.Exec(t.Context(), s.q.recordMigration, v+1, 0); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), pool, WithSchema(s.Schema()))
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("open of a schema newer than the code: got %v, want ErrSchemaTooNew", err)
	}
}

func TestConcurrentStartupOnFreshSchema(t *testing.T) {
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 10 })
	schema := newSchema(t, pool)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Half share the prefix, half use another, so that two lock
			// keys race to create the same schema.
			prefix := ""
			if i%2 == 1 {
				prefix = "p_"
			}
			_, errs[i] = Open(t.Context(), pool, WithSchema(schema), WithTablePrefix(prefix))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("starter %d: %v", i, err)
		}
	}
	for _, prefix := range []string{"", "p_"} {
		var applied int
		q := newQueries(schema, prefix)
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+q.migrations).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != LatestSchemaVersion() {
			t.Errorf("prefix %q: %d migrations recorded, want %d (each exactly once)", prefix, applied, LatestSchemaVersion())
		}
	}
}

func TestCorruptRowNamesSessionAndSeq(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "broken")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []message.Message{message.NewUserMessage("one"), message.NewUserMessage("two"), message.NewUserMessage("three")}
	if err := sess.AddMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	other, err := s.Create(ctx, "fine")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.AddMessages(ctx, []message.Message{message.NewUserMessage("ok")}); err != nil {
		t.Fatal(err)
	}
	// Valid JSON (the column is json) that is not a parts array.
	if _, err := s.pool.Exec(ctx, `UPDATE `+s.q.messages+` SET parts = '{"not":"an array"}' WHERE session_id = 'broken' AND seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, err = sess.GetMessages(ctx, nil)
	var ce *session.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, session.ErrCorrupt) {
		t.Fatalf("GetMessages of a corrupt session: %v, want a *session.CorruptError", err)
	}
	if ce.SessionID != "broken" || ce.Seq != 2 || ce.MessageID != msgs[1].ID {
		t.Errorf("CorruptError names session %q seq %d message %q, want broken, 2, %q", ce.SessionID, ce.Seq, ce.MessageID, msgs[1].ID)
	}
	// Rows after it and other sessions stay readable.
	got, err := sess.GetMessages(ctx, session.Limit(1))
	if err != nil || len(got) != 1 || got[0].Content() != "three" {
		t.Errorf("last message of the corrupt session: %v, %v", got, err)
	}
	if got, err := other.GetMessages(ctx, nil); err != nil || len(got) != 1 {
		t.Errorf("other session: %v, %v", got, err)
	}
	// Pop of a corrupt newest row reports it and leaves it in place.
	if _, err := s.pool.Exec(ctx, `UPDATE `+s.q.messages+` SET usage = '"x"' WHERE session_id = 'broken' AND seq = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.PopMessage(ctx); !errors.As(err, &ce) || ce.Seq != 3 {
		t.Fatalf("pop of a corrupt row: %v, want a CorruptError for seq 3", err)
	}
	info, err := s.Info(ctx, "broken")
	if err != nil || info.MessageCount != 3 {
		t.Errorf("after a failed pop: %+v, %v; want 3 messages kept", info, err)
	}
}

func TestPartsKeptByteForByte(t *testing.T) {
	// parts is a json column, not jsonb: jsonb refuses \u0000 and
	// rewrites key order and spacing, json keeps the text as sent.
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	m := message.NewMessage(message.RoleAssistant,
		message.Text{Text: "nul \x00 here"},
		message.Unknown{Type: "x_later", Raw: []byte(`{"type":"x_later",  "b":1,"a":2,"a":3}`)})
	if err := sess.AddMessages(ctx, []message.Message{m}); err != nil {
		t.Fatal(err)
	}
	want, err := message.MarshalParts(m.Parts)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := s.pool.QueryRow(ctx, `SELECT parts::text FROM `+s.q.messages+` WHERE session_id = 's'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != string(want) {
		t.Errorf("stored parts %q, want %q", stored, want)
	}
	hits, err := s.Search(ctx, session.SearchQuery{Text: "here"})
	if err != nil || len(hits) != 1 {
		t.Errorf("search of a message holding NUL: %v, %v", hits, err)
	}
}

func TestNULInTextColumnsRefused(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []message.Message{
		{ID: "a\x00b", Role: message.RoleUser},
		{Role: "us\x00er"},
		{Role: message.RoleAssistant, Model: "gpt\x00"},
	} {
		if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("first"), m}); !errors.Is(err, session.ErrInvalidMessage) {
			t.Errorf("append of %+v: %v, want ErrInvalidMessage", m, err)
		}
	}
	if got, err := sess.GetMessages(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("after refused appends: %d messages, %v; want none", len(got), err)
	}
	if _, err := s.CreateWith(ctx, "t", session.CreateOptions{Title: "a\x00"}); err == nil {
		t.Error("CreateWith accepted a title holding NUL")
	}
	meta := map[string]string{"k": "v\x00"}
	if _, err := s.CreateWith(ctx, "u", session.CreateOptions{Metadata: meta}); err != nil {
		t.Errorf("metadata holding NUL (json column): %v", err)
	} else if info, err := s.Info(ctx, "u"); err != nil || info.Metadata["k"] != "v\x00" {
		t.Errorf("metadata round trip: %+v, %v", info.Metadata, err)
	}
}

func TestLargeAppendSplitStaysAtomic(t *testing.T) {
	s := newStore(t, nil)
	s.chunkRows = 3 // 10 messages: four statements in one transaction
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	v := sess.(session.Versioned)
	first := texts("a", 10)
	ver, err := v.AddMessagesAt(ctx, 0, first)
	if err != nil || ver != 1 {
		t.Fatalf("first append: version %d, %v; want 1", ver, err)
	}
	// A stale version is refused, whole.
	if _, err := v.AddMessagesAt(ctx, 0, texts("b", 10)); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("stale append: %v, want ErrConflict", err)
	}
	// A retry of the stored call succeeds whatever the version.
	if ver, err := v.AddMessagesAt(ctx, 0, first); err != nil || ver != 1 {
		t.Fatalf("retry: version %d, %v; want 1, nil", ver, err)
	}
	// Half new, half stored: the new half goes in, in order; one version step.
	mixed := append(texts("c", 5), first[5:]...)
	mixed = append(mixed, texts("d", 5)...)
	if ver, err := v.AddMessagesAt(ctx, 1, mixed); err != nil || ver != 2 {
		t.Fatalf("mixed append: version %d, %v; want 2", ver, err)
	}
	// An invalid message in the last chunk stores nothing.
	bad := texts("e", 10)
	bad[9].Role = ""
	if err := sess.AddMessages(ctx, bad); !errors.Is(err, session.ErrInvalidMessage) {
		t.Fatalf("invalid append: %v", err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range first {
		want = append(want, m.Content())
	}
	for _, m := range append(texts("c", 5), texts("d", 5)...) {
		want = append(want, m.Content())
	}
	var have []string
	for _, m := range got {
		have = append(have, m.Content())
	}
	if strings.Join(have, ",") != strings.Join(want, ",") {
		t.Errorf("messages %v, want %v", have, want)
	}
	info, err := s.Info(ctx, "s")
	if err != nil || info.MessageCount != 20 || info.Version != 2 {
		t.Errorf("info %+v, %v; want 20 messages at version 2", info, err)
	}
}

// texts returns n user messages with texts prefix-0 ... prefix-(n-1).
func texts(prefix string, n int) []message.Message {
	out := make([]message.Message, n)
	for i := range out {
		out[i] = message.NewUserMessage(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func TestSearchIndexCapsHugeTexts(t *testing.T) {
	// A text of short distinct words makes the largest tsvector per byte;
	// PostgreSQL refuses one over 1 MiB (lexemes and positions), which 1 MiB
	// of such words passes (about 190,000 words, 10 bytes each in the
	// tsvector). The cap keeps the append working.
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "%x ", i)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(b.String())}); err != nil {
		t.Fatalf("append of 1 MiB of distinct words: %v", err)
	}
	if hits, err := s.Search(ctx, session.SearchQuery{Text: "1a"}); err != nil || len(hits) != 1 {
		t.Errorf("search: %v, %v", hits, err)
	}
}

func TestOpenRacesToOneSession(t *testing.T) {
	s := newStore(t, nil)
	const n = 16
	incs := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess, err := s.Open(context.WithoutCancel(t.Context()), "shared")
			errs[i] = err
			if err == nil {
				incs[i] = sess.(*pgSession).inc
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || incs[i] != incs[0] {
			t.Errorf("opener %d: incarnation %d, %v; want %d", i, incs[i], errs[i], incs[0])
		}
	}
}

func TestQueryExecModes(t *testing.T) {
	// The store must work in every pgx exec mode on a direct connection.
	// Behind PgBouncer in transaction mode, prepared statements may be
	// unavailable and describe_exec is refused: see TestPgBouncer*.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			pool := newPool(t, func(c *pgxpool.Config) { c.ConnConfig.DefaultQueryExecMode = mode })
			everyStatement(t, newStore(t, pool))
		})
	}
}

// everyStatement runs each kind of statement the store sends once on s,
// a store with no session yet, and checks what comes back: a retry, a
// stale versioned append, a pop, a search, a list, a clear and a prune.
func everyStatement(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	sess, err := s.CreateWith(ctx, "s", session.CreateOptions{Owner: "o", Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []message.Message{
		message.NewUserMessage("hello \x00 world"),
		{Role: message.RoleAssistant, Parts: []message.Part{message.Text{Text: "reply"}}, Usage: &message.Usage{OutputTokens: 3}},
	}
	if err := sess.AddMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, msgs); err != nil { // a retry
		t.Fatal(err)
	}
	got, err := sess.GetMessages(ctx, session.Limit(5))
	if err != nil || len(got) != 2 || got[0].Content() != "hello \x00 world" || got[1].Usage == nil || got[1].Usage.OutputTokens != 3 {
		t.Fatalf("GetMessages: %+v, %v", got, err)
	}
	if _, err := sess.(session.Versioned).AddMessagesAt(ctx, 0, texts("late", 1)); !errors.Is(err, session.ErrConflict) {
		t.Errorf("stale AddMessagesAt: %v", err)
	}
	if m, err := sess.PopMessage(ctx); err != nil || m == nil || m.Content() != "reply" {
		t.Errorf("PopMessage: %+v, %v", m, err)
	}
	if hits, err := s.Search(ctx, session.SearchQuery{Text: "world", Owner: "o"}); err != nil || len(hits) != 1 {
		t.Errorf("Search: %+v, %v", hits, err)
	}
	if page, err := s.List(ctx, session.ListQuery{Owner: "o", IDPrefix: "s", UpdatedAfter: 1}); err != nil || len(page.Sessions) != 1 || page.Sessions[0].Metadata["k"] != "v" {
		t.Errorf("List: %+v, %v", page, err)
	}
	if err := sess.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Prune(ctx, session.PruneQuery{UpdatedBefore: 1 << 62, Owner: "o"}); err != nil || len(r.SessionIDs) != 1 {
		t.Errorf("Prune: %+v, %v", r, err)
	}
}

func TestRetriesRacingTheOriginalStoreOnce(t *testing.T) {
	// Callers that all send the same call at once (a retry racing its
	// original): the first stores it, every other succeeds storing nothing.
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		msgs := texts(fmt.Sprintf("r%d", round), 4)
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = sess.AddMessages(ctx, slices.Clone(msgs))
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d caller %d: %v", round, i, err)
			}
		}
		info, err := s.Info(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(4 * (round + 1)); info.MessageCount != want || info.Version != int64(round+1) {
			t.Fatalf("round %d: %d messages at version %d, want %d at %d", round, info.MessageCount, info.Version, want, round+1)
		}
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil || len(got) != 20 {
		t.Fatalf("%d messages, %v; want 20", len(got), err)
	}
}

func TestSnippetOfLongMessageHighlightsMatch(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("filler words here ", 8000) + "the Pelican lands " + strings.Repeat("more filler ", 2000)
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(long)}); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, session.SearchQuery{Text: "pelican"})
	if err != nil || len(hits) != 1 {
		t.Fatalf("Search: %+v, %v", hits, err)
	}
	if want := session.HighlightStart + "Pelican" + session.HighlightEnd; !strings.Contains(hits[0].Snippet, want) {
		t.Errorf("snippet %q does not hold %q", hits[0].Snippet, want)
	}
	if len(hits[0].Snippet) > 1000 {
		t.Errorf("snippet is %d bytes long", len(hits[0].Snippet))
	}
}

func TestReplaceMessagesInChunksKeepsIndexInStep(t *testing.T) {
	s := newStore(t, nil)
	s.chunkRows = 2 // 5 messages: three append statements in the transaction
	ctx := t.Context()
	sess, err := s.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("old aardvark"), message.NewUserMessage("old bison")}); err != nil {
		t.Fatal(err)
	}
	r := sess.(session.Rewriter)
	repl := texts("new capybara", 5)
	v, err := r.ReplaceMessages(ctx, 1, repl)
	if err != nil || v != 2 {
		t.Fatalf("ReplaceMessages: version %d, %v; want 2", v, err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil || len(got) != 5 || got[0].ID != repl[0].ID || got[4].ID != repl[4].ID {
		t.Fatalf("after replace: %d messages, %v", len(got), err)
	}
	info, err := s.Info(ctx, "s")
	if err != nil || info.MessageCount != 5 || info.Version != 2 {
		t.Errorf("info %+v, %v; want 5 messages at version 2", info, err)
	}
	for q, want := range map[string]int{"aardvark": 0, "capybara": 5} {
		if hits, err := s.Search(ctx, session.SearchQuery{Text: q}); err != nil || len(hits) != want {
			t.Errorf("search %q after replace: %d hits, %v; want %d", q, len(hits), err, want)
		}
	}
	// A duplicate id is refused and changes nothing.
	dup := texts("dup", 3)
	dup[2].ID = dup[0].ID
	if _, err := r.ReplaceMessages(ctx, 2, dup); !errors.Is(err, session.ErrInvalidMessage) {
		t.Errorf("replace with a repeated id: %v, want ErrInvalidMessage", err)
	}
	if got, _ := sess.GetMessages(ctx, nil); len(got) != 5 {
		t.Errorf("after a refused replace: %d messages, want 5", len(got))
	}
}
