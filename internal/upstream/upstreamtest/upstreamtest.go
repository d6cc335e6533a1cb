// Package upstreamtest holds what the fixture databases of
// github.com/joakimcarlsson/ai's session stores (sqlite/testdata/upstream,
// postgres/testdata/upstream; see the README.md there) must become in
// convo, for the upgrade tests of both stores.
package upstreamtest

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/convo-dev/convo/internal/upstream"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// SessionOrder is the order in which the fixtures' sessions were created.
var SessionOrder = []string{"user-123", "vision", "reasoning", "empty"}

// MessageTimes are the message timestamps of the fixtures, in row order
// (README: one second apart within a session, from 2025-01-02T03:04:05Z).
var MessageTimes = []int64{
	1735787045000000000, 1735787046000000000, 1735787047000000000, 1735787048000000000,
	1735787055000000000,
	1735787065000000000, 1735787066000000000, 1735787067000000000,
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// png1x1 is the 67-byte PNG of the fixtures' image/png binary part.
var png1x1 = mustB64("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAACklEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg==")

// Want returns the messages each fixture session holds after the upgrade,
// oldest first. ids gives each message's ID, by its index 0..7 in row
// order (SQLite: "1".."8"; PostgreSQL: the UUIDs of the dump).
func Want(ids []string) map[string][]message.Message {
	t := MessageTimes
	return map[string][]message.Message{
		"user-123": {
			{ID: ids[0], Role: message.RoleUser, CreatedAt: t[0], Parts: []message.Part{
				message.Text{Text: "What's the weather in Stockholm right now?"}}},
			{ID: ids[1], Role: message.RoleAssistant, Model: "gemini-3-pro-preview", CreatedAt: t[1], Parts: []message.Part{
				message.Text{Text: "Let me check the weather for you."},
				message.ToolCall{ID: "call_weather_001", Name: "get_weather", Input: json.RawMessage(`{"city":"Stockholm","unit":"celsius"}`)},
				// The Gemini thought signature, base64 of "sig-fixture-001".
				message.Unknown{Type: upstream.ExtraType, Raw: json.RawMessage(`{"call_id":"call_weather_001","thought_signature":"c2lnLWZpeHR1cmUtMDAx","type":"upstream_tool_call_extra"}`)},
				message.ToolCall{ID: "call_time_002", Name: "get_local_time", Input: json.RawMessage(`{"timezone":"Europe/Stockholm"}`)},
			}},
			{ID: ids[2], Role: message.RoleTool, Model: "gemini-3-pro-preview", CreatedAt: t[2], Parts: []message.Part{
				message.ToolResult{CallID: "call_weather_001", Name: "get_weather", Content: `{"temperature":18,"condition":"partly cloudy"}`, Metadata: json.RawMessage(`{"source":"fixture"}`)},
				message.ToolResult{CallID: "call_time_002", Name: "get_local_time", Content: "error: time service unavailable", IsError: true},
			}},
			{ID: ids[3], Role: message.RoleAssistant, Model: "gemini-3-pro-preview", CreatedAt: t[3], Parts: []message.Part{
				message.Text{Text: "It is 18 °C and partly cloudy in Stockholm. I could not get the local time."}}},
		},
		"vision": {
			{ID: ids[4], Role: message.RoleUser, CreatedAt: t[4], Parts: []message.Part{
				message.Text{Text: "What is in these images?"},
				message.ImageURL{URL: "https://example.com/cat.png", Detail: "high"},
				message.Binary{MIMEType: "image/png", Data: png1x1},
				message.Binary{MIMEType: "text/plain", Data: []byte("hello, binary part\n"), Name: "notes/readme.txt"},
			}},
		},
		"reasoning": {
			{ID: ids[5], Role: message.RoleSummary, CreatedAt: t[5], Parts: []message.Part{
				message.Text{Text: "Summary of earlier turns: the user is planning a trip to 東京."}}},
			{ID: ids[6], Role: message.RoleUser, CreatedAt: t[6], Parts: []message.Part{
				message.Text{Text: "こんにちは！ 你好 🌍🚀 — can you explain \"quotes\" and 'apostrophes'?\nLine two\n\tTabbed line three"}}},
			{ID: ids[7], Role: message.RoleAssistant, Model: "claude-sonnet-4-20250514", CreatedAt: t[7], Parts: []message.Part{
				message.Reasoning{Text: "The user mixes Japanese, Chinese and emoji.\nI should answer in English and keep the 「quotes」 intact. 🤔"},
				message.Text{Text: "Sure! \"Double quotes\", 'single quotes', «guillemets» and 「鉤括弧」.\nEmoji: 👍🏽 👨\u200d👩\u200d👧 ✅\nBackslash: \\ and a tab:\there.\nCode: if a < b && c > d { return }"},
			}},
		},
		"empty": {},
	}
}

// Store is what CheckUpgraded reads: sessions, their info and the list.
type Store interface {
	session.Store
	session.Describer
	session.Lister
}

// CheckUpgraded checks that st holds exactly want after an upgrade: every
// session's messages (every field), its created and updated times and
// message count, and the fixtures' four sessions in the list.
func CheckUpgraded(t *testing.T, st Store, want map[string][]message.Message, created map[string]int64) {
	t.Helper()
	ctx := t.Context()
	for id, msgs := range want {
		s, err := st.Load(ctx, id)
		if err != nil {
			t.Fatalf("load %q: %v", id, err)
		}
		got, err := s.GetMessages(ctx, nil)
		if err != nil {
			t.Fatalf("messages of %q: %v", id, err)
		}
		if diff := cmp.Diff(msgs, got); diff != "" {
			t.Errorf("session %q after upgrade (-want +got):\n%s", id, diff)
		}
		info, err := st.Info(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		wantUpdated := created[id]
		if len(msgs) > 0 {
			wantUpdated = max(wantUpdated, msgs[len(msgs)-1].CreatedAt)
		}
		if info.CreatedAt != created[id] || info.UpdatedAt != wantUpdated || info.MessageCount != int64(len(msgs)) {
			t.Errorf("info of %q = %+v, want created %d, updated %d, %d messages", id, info, created[id], wantUpdated, len(msgs))
		}
	}
	page, err := st.List(ctx, session.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, in := range page.Sessions {
		listed = append(listed, in.ID)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, []string{"empty", "reasoning", "user-123", "vision"}) {
		t.Errorf("listed sessions %v", listed)
	}
}
