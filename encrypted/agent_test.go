package encrypted_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// TestAgent runs the agent loop, with a tool call, over an encrypted
// SQLite store: the agent sees its history across turns, and the database
// holds none of it in the clear.
func TestAgent(t *testing.T) {
	env := newSQLite(t)
	type args struct {
		City string `json:"city"`
	}
	weather := tool.Func("weather", "Current weather in a city",
		func(ctx context.Context, a args) (string, error) { return "4°C in " + a.City + ", " + secret, nil })
	client := llmtest.New(
		llmtest.ToolCalls(llmtest.Call("call_1", "weather", `{"city":"Oslo"}`)),
		llmtest.Text("It is 4°C in Oslo."),
		llmtest.Text("You asked about Oslo."),
	)
	a := agent.New(client, agent.WithSession("user-123", env.st), agent.WithTools(weather))
	if _, err := a.Chat(t.Context(), "What's the weather in Oslo? "+secret); err != nil {
		t.Fatalf("first turn: %v", err)
	}
	resp, err := a.Chat(t.Context(), "Which city did I ask about?")
	if err != nil {
		t.Fatalf("second turn: %v", err)
	}
	if resp.Text != "You asked about Oslo." {
		t.Errorf("answer = %q", resp.Text)
	}
	// The model's third request carried the whole decrypted history.
	reqs := client.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d model requests, want 3", len(reqs))
	}
	var sawSecret bool
	for _, m := range reqs[2].Messages {
		for _, r := range m.ToolResults() {
			sawSecret = sawSecret || r.Content == "4°C in Oslo, "+secret
		}
	}
	if !sawSecret {
		t.Errorf("the second turn's request lacks the first turn's tool result: %+v", reqs[2].Messages)
	}
	msgs := all(t, load(t, env.st, "user-123"))
	if len(msgs) != 6 || msgs[0].Role != message.RoleUser || len(msgs[1].ToolCalls()) != 1 {
		t.Errorf("stored history: %d messages", len(msgs))
	}
	for name, b := range rawFiles(t, env.path) {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret in the clear", name)
		}
	}
}

// TestKeyCacheTTL: a key destroyed by another wrapper (another process)
// stops working at once in a wrapper without a key cache, and only after
// the cache time in one with a cache, as documented.
func TestKeyCacheTTL(t *testing.T) {
	inner, keys := session.NewMemoryStore(), encrypted.NewMemoryKeyStore()
	kr := newKeyring(t)
	destroyer := wrap(t, inner, kr, keys)
	noCache := wrap(t, inner, kr, keys, encrypted.WithKeyCacheTTL(0))
	cached := wrap(t, inner, kr, keys, encrypted.WithKeyCacheTTL(time.Hour))
	add(t, createOwned(t, destroyer, "s1", "alice"), message.NewUserMessage("hi"))
	for _, st := range []encrypted.Store{noCache, cached} {
		all(t, load(t, st, "s1")) // both read (and the cached one keeps the key)
	}
	if _, err := destroyer.DestroyOwnerKeys(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, noCache, "s1").GetMessages(t.Context(), nil)
	wantKeyErr(t, "no cache, after another wrapper destroyed the key", err, encrypted.ErrKeyDestroyed, "s1", "")
	_, err = load(t, destroyer, "s1").GetMessages(t.Context(), nil)
	wantKeyErr(t, "the destroying wrapper", err, encrypted.ErrKeyDestroyed, "s1", "")
	if got := all(t, load(t, cached, "s1")); len(got) != 1 {
		t.Errorf("cached wrapper within its TTL: %d messages, want the cached key to still read 1", len(got))
	}
	if _, err := encrypted.New(inner, kr, keys, encrypted.WithKeyCacheTTL(-time.Second)); err == nil {
		t.Error("New accepted a negative cache TTL")
	}
}

// TestPostgres checks at-rest encryption and erasure on PostgreSQL: no row
// holds the secret in the clear (the bare store's rows do, so the query can
// find it), and destroying the owner's key makes the rows unreadable.
func TestPostgres(t *testing.T) {
	env := newPostgres(t)
	pool, _ := pgShared(t)
	table := `"` + env.schema + `"."messages"`
	count := func() int {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+table+` WHERE strpos(parts::text, $1) > 0`, secret).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := createOwned(t, env.st, "enc", "alice")
	add(t, s, secretMessages()...)
	if n := count(); n != 0 {
		t.Errorf("%d rows hold the secret in the clear", n)
	}
	add(t, createOwned(t, env.inner, "bare", "bob"), secretMessages()...)
	if n := count(); n == 0 {
		t.Error("the bare store's rows do not show the secret: the check cannot fail")
	}
	if got := all(t, s); len(got) != 3 {
		t.Fatalf("%d messages", len(got))
	}
	if _, err := env.st.DestroyOwnerKeys(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, env.st, "enc").GetMessages(t.Context(), nil)
	wantKeyErr(t, "after erasure", err, encrypted.ErrKeyDestroyed, "enc", "")
}
