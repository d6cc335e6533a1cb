package main

import (
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
)

// TestReasoningSignatureOnly: a reasoning part that is only a provider's
// signature (llm/gemini stores each thought signature as a
// message.Reasoning with no text before the part it signs) is named as such
// by show and the viewer, not printed as an empty "(reasoning)" line or an
// empty "Reasoning" box, and its opaque bytes are not shown.
func TestReasoningSignatureOnly(t *testing.T) {
	const sig = "CiQBdGhvdWdodF9zaWduYXR1cmVfb3BhcXVlX2J5dGVz"
	srv, dbPath := newTestViewer(t, 50, demoSession{id: "gem", valid: true, msgs: []message.Message{
		message.NewUserMessage("What is the weather in Rome?"),
		message.NewMessage(message.RoleAssistant, message.Reasoning{Signature: sig},
			message.Text{Text: "Sunny, 24 °C."}),
	}})
	r := runInProcess(t, "", "--db", dbPath, "show", "--no-pager", "gem")
	if r.err != nil {
		t.Fatalf("show: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "(reasoning signature, no text)") || strings.Contains(r.stdout, sig) ||
		strings.Contains(r.stdout, "(reasoning) \n") || strings.Contains(r.stdout, "(reasoning)\n") {
		t.Errorf("show of a signature-only reasoning part:\n%s", r.stdout)
	}
	status, _, body := get(t, "GET", srv.URL+"/s/gem")
	if status != 200 {
		t.Fatalf("viewer: status %d", status)
	}
	if !strings.Contains(body, `<p class="reasoning">Reasoning signature (no text)</p>`) || strings.Contains(body, sig) ||
		strings.Contains(body, `<details class="reasoning">`) {
		t.Errorf("viewer page of a signature-only reasoning part:\n%s", body)
	}
}
