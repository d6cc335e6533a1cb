package main

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convo-dev/convo/internal/upstream"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// An upgrade from joakimcarlsson/ai keeps what convo's ToolCall has no
// field for (a Gemini thought signature) in a part of its own beside the
// call; show and the viewer printed it as "[part of unknown type ...]" with
// its raw JSON. They now say what it is. A part of that type that is not
// what the upgrade writes is still shown raw.
func TestUpgradeExtraPartIsNamed(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	extra := message.Unknown{Type: upstream.ExtraType, Raw: json.RawMessage(`{"call_id":"call_weather_001","thought_signature":"c2ln","type":"upstream_tool_call_extra"}`)}
	odd := message.Unknown{Type: upstream.ExtraType, Raw: json.RawMessage(`{"call_id":7,"type":"upstream_tool_call_extra"}`)}
	seed(t, db, "", []demoSession{{id: "up", opts: session.CreateOptions{CreatedAt: at(0)}, msgs: []message.Message{
		msg("u1", 1, message.RoleUser, message.Text{Text: "weather?"}),
		msg("u2", 2, message.RoleAssistant, message.ToolCall{ID: "call_weather_001", Name: "weather", Input: json.RawMessage(`{}`)}, extra, odd),
		msg("u3", 3, message.RoleTool, message.ToolResult{CallID: "call_weather_001", Name: "weather", Content: "sunny"}),
	}}})
	r := mustConvo(t, "", "--db", db, "show", "up")
	if !strings.Contains(r.stdout, "[kept from the upgrade: thought_signature of tool call call_weather_001]") {
		t.Errorf("show:\n%s", r.stdout)
	}
	if strings.Count(r.stdout, "part of unknown type") != 1 {
		t.Errorf("show: want only the malformed part shown as unknown:\n%s", r.stdout)
	}
	b, err := openBackend(t.Context(), db, "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	v, err := newViewer(b.store, 50, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v)
	defer srv.Close()
	_, _, body := get(t, "GET", srv.URL+"/s/up")
	if !strings.Contains(body, `<p class="note extra">[kept from the upgrade: thought_signature of tool call <code>call_weather_001</code>]</p>`) {
		t.Errorf("viewer:\n%s", body)
	}
	if strings.Count(body, "part of unknown type") != 1 {
		t.Error("viewer: want only the malformed part shown as unknown")
	}
}
