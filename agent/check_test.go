package agent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/anthropic"
	"github.com/convo-dev/convo/session"
)

// Settings that conflict with Anthropic's extended thinking ("Thinking
// isn't compatible with temperature ... modifications",
// platform.claude.com/docs/en/build-with-claude/extended-thinking;
// budget_tokens "Must be ≥1024 and less than max_tokens",
// anthropic-sdk-go message.go) make every request fail: the agent asks the
// client (llm.RequestChecker) before storing anything, so a failed turn
// leaves the session as it was.
func TestConflictingSettingsStoreNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  agent.Option
		want string
	}{
		{"temperature", agent.WithTemperature(0.3), "temperature 0.3"},
		{"max output tokens", agent.WithMaxOutputTokens(2048), "thinking budget 2048"},
		{"compaction max output tokens", agent.WithCompaction(agent.Compaction{AfterMessages: 4, MaxOutputTokens: 1024}), "compaction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No server: a request that got as far as the network would
			// fail with another error than ErrBadRequest.
			client, err := anthropic.New(anthropic.WithAPIKey("test"), anthropic.WithModel("claude-test"),
				anthropic.WithBaseURL("http://127.0.0.1:1"), anthropic.WithMaxTokens(8192), anthropic.WithThinking(2048))
			if err != nil {
				t.Fatal(err)
			}
			store := newStore(t)
			a := agent.New(client, agent.WithSession("conflict", store), tc.opt)
			for range 2 {
				resp, err := a.Chat(t.Context(), "hello")
				if !errors.Is(err, llm.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("want ErrBadRequest naming %q, got %v", tc.want, err)
				}
				if resp != nil && len(resp.Messages) > 0 {
					t.Fatalf("stored %s", dump(resp.Messages))
				}
			}
			if s, err := store.Load(t.Context(), "conflict"); err == nil {
				msgs, err := s.GetMessages(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(msgs) != 0 {
					t.Fatalf("stored %s", dump(msgs))
				}
			} else if !errors.Is(err, session.ErrNotFound) {
				t.Fatal(err)
			}
		})
	}
}
