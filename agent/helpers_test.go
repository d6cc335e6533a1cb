package agent_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// checkedStore wraps a MemoryStore and, after every write, checks that the
// stored session is valid (session.Check == nil).
type checkedStore struct {
	*session.MemoryStore
	t      testing.TB
	mu     sync.Mutex
	writes int
}

func newStore(t testing.TB) *checkedStore {
	return &checkedStore{MemoryStore: session.NewMemoryStore(), t: t}
}

func (c *checkedStore) wrap(s session.Session, err error) (session.Session, error) {
	if err != nil {
		return nil, err
	}
	return &checkedSession{Versioned: s.(session.Versioned), store: c}, nil
}

func (c *checkedStore) Create(ctx context.Context, id string) (session.Session, error) {
	return c.wrap(c.MemoryStore.Create(ctx, id))
}
func (c *checkedStore) Load(ctx context.Context, id string) (session.Session, error) {
	return c.wrap(c.MemoryStore.Load(ctx, id))
}
func (c *checkedStore) Open(ctx context.Context, id string) (session.Session, error) {
	return c.wrap(c.MemoryStore.Open(ctx, id))
}

func (c *checkedStore) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

type checkedSession struct {
	session.Versioned
	store *checkedStore
}

func (s *checkedSession) after() {
	s.store.mu.Lock()
	s.store.writes++
	s.store.mu.Unlock()
	msgs, err := s.Versioned.GetMessages(context.Background(), nil)
	if err != nil {
		s.store.t.Errorf("checked store: read after write: %v", err)
		return
	}
	if probs := session.Check(msgs); probs != nil {
		s.store.t.Errorf("stored session invalid after a write: %v\n%s", probs, dump(msgs))
	}
}

func (s *checkedSession) AddMessages(ctx context.Context, msgs []message.Message) error {
	err := s.Versioned.AddMessages(ctx, msgs)
	s.after()
	return err
}

func (s *checkedSession) AddMessagesAt(ctx context.Context, v int64, msgs []message.Message) (int64, error) {
	nv, err := s.Versioned.AddMessagesAt(ctx, v, msgs)
	s.after()
	return nv, err
}

// stored returns the session's messages.
func stored(t testing.TB, store session.Store, id string) []message.Message {
	t.Helper()
	s, err := store.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.GetMessages(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// shape describes msgs compactly: u, a (answer), A (assistant with tool
// calls), t (tool message), s (summary), x (other).
func shape(msgs []message.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		switch m.Role {
		case message.RoleUser:
			b.WriteByte('u')
		case message.RoleAssistant:
			if len(m.ToolCalls()) > 0 {
				b.WriteByte('A')
			} else {
				b.WriteByte('a')
			}
		case message.RoleTool:
			b.WriteByte('t')
		case message.RoleSummary:
			b.WriteByte('s')
		case message.RoleSystem:
			b.WriteByte('y')
		default:
			b.WriteByte('x')
		}
	}
	return b.String()
}

func dump(msgs []message.Message) string {
	var b strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&b, "%d %s %q calls=%d results=%d\n", i, m.Role, m.Text(), len(m.ToolCalls()), len(m.ToolResults()))
	}
	return b.String()
}

// provider is a provider family whose documented request rules the
// scripted client enforces (see llmtest.WithRequestCheck).
type provider struct {
	name  string
	check func(llm.Request) error
}

// client returns a scripted client answering with replies that refuses, as
// the provider would, every request breaking p's rules; the test fails at
// its end if any request did.
func (p provider) client(t testing.TB, replies ...llmtest.Reply) *llmtest.Client {
	t.Helper()
	c := llmtest.New(replies...).WithRequestCheck(p.check)
	t.Cleanup(func() {
		for _, v := range c.Violations() {
			t.Errorf("%s would refuse a request: %v", p.name, v)
		}
	})
	return c
}

// eachProvider runs f once for each provider family, as a subtest.
func eachProvider(t *testing.T, f func(t *testing.T, p provider)) {
	t.Helper()
	for _, p := range providers() {
		t.Run(p.name, func(t *testing.T) { f(t, p) })
	}
}
