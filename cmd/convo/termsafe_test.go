package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func TestTermWriter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcödé, 東京\n\ttab", "plain text, ünïcödé, 東京\n\ttab"},
		{"title\x1b]0;PWNED\x07", `title\u001b]0;PWNED\u0007`},
		{"clear\x1b[2J", `clear\u001b[2J`},
		{"c1 csi \u009b2J", `c1 csi \u009b2J`},
		{"del\x7f nul\x00", `del\u007f nul\u0000`},
		{"bidi \u202egnp.exe \u2066x\u2069 \u200f", `bidi \u202egnp.exe \u2066x\u2069 \u200f`},
		{"windows\r\nline", "windows\nline"},
		{"over\rwrite", `over\u000dwrite`},
		{"bad \xff byte", `bad \xff byte`},
		{"marker \x02not a highlight\x03", `marker \u0002not a highlight\u0003`},
	} {
		if got := termSafe(tc.in); got != tc.want {
			t.Errorf("termSafe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A rune split over two writes is printed whole.
	var b strings.Builder
	w := newTermWriter(&b)
	s := []byte("東\u009b")
	w.Write(s[:1])
	w.Write(s[1:4])
	w.Write(s[4:])
	if got := b.String(); got != `東\u009b` {
		t.Errorf("split writes: %q", got)
	}
	// Highlights, when asked for, replace only the two markers.
	b.Reset()
	newTermWriter(&b).withHighlights("[", "]").Write([]byte("a \x02hit\x03 \x1b[0m"))
	if got := b.String(); got != `a [hit] \u001b[0m` {
		t.Errorf("highlights: %q", got)
	}
}

// checkTerminalSafe fails if out holds anything that could drive a
// terminal: a C0 control other than newline and tab, DEL, a C1 control,
// a bidi control, or bytes that are not UTF-8.
func checkTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: output is not valid UTF-8", what)
	}
	for i, r := range out {
		if unsafeRune(r) {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, out[max(0, i-20):min(len(out), i+20)])
			return
		}
	}
}

// Issue 14 item 1: owner, title, metadata, model, tool names and ids, text
// and errors reached the terminal raw (`convo show esc | cat -v` printed
// `t^[]0;PWNED^Gitle^[[2J`). Hostile values go through every command.
func TestHostileValuesNeverReachTheTerminal(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	const (
		id    = "evil\u009b2J\u202e"
		owner = "own\x1b]0;PWNED\x07er"
		title = "t\x1b]0;PWNED\x07itle\x1b[2J"
		model = "m\x1b[5m"
	)
	call := message.ToolCall{ID: "call\x1b[1A", Name: "get\x1b[2Jweather", Input: []byte(`{"q":"\u001b[2J"}`)}
	msgs := []message.Message{
		msg("m1", 1, message.RoleUser, message.Text{Text: "hostile text \x1b[2J\u009b2J \u202egnp.exe\r overwrite"}),
		msg("m2", 2, message.RoleAssistant, message.Text{Text: "calling\x1b[?25l"}, call),
		msg("m3", 3, message.RoleTool, message.ToolResult{CallID: call.ID, Name: call.Name, Content: "result\x1b]8;;http://x\x07link"}),
	}
	msgs[1].Model = model
	seed(t, dbPath, "", []demoSession{{id: id, msgs: msgs, opts: session.CreateOptions{
		Owner: owner, Title: title, Metadata: map[string]string{"k\x1b[31m": "v\u009b31m"},
	}}})
	runs := [][]string{
		{"ls"},
		{"ls", "--json"},
		{"ls", "--owner", owner},
		{"show", id},
		{"show", id, "--json"},
		{"show", id + "missing\x1b[2J"},
		{"search", "hostile"},
		{"search", "hostile", "--json"},
		{"doctor"},
		{"doctor", id},
		{"export", id},
		{"rm", "--dry-run", id},
		{"rm", "--owner", owner, "--dry-run"},
		{"prune", "--older-than", "1s", "--dry-run"},
	}
	for _, args := range runs {
		r := convo(t, "", append([]string{"--db", dbPath}, args...)...)
		name := strings.Join(args, " ")
		checkTerminalSafe(t, name+" (stdout)", r.stdout)
		checkTerminalSafe(t, name+" (stderr)", r.stderr)
		if r.stdout+r.stderr == "" {
			t.Errorf("%s printed nothing", name)
		}
	}
	// Shown visibly, not dropped.
	if r := mustConvo(t, "", "--db", dbPath, "show", id); !strings.Contains(r.stdout, `t\u001b]0;PWNED\u0007itle`) {
		t.Errorf("show: the title's escape is not shown visibly:\n%s", r.stdout)
	}
	// JSON output still decodes to exactly what is stored.
	r := mustConvo(t, "", "--db", dbPath, "ls", "--json")
	var page struct {
		Sessions []struct {
			ID, Owner, Title string
			Metadata         map[string]string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Sessions) != 1 {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	if s := page.Sessions[0]; s.ID != id || s.Owner != owner || s.Title != title || s.Metadata["k\x1b[31m"] != "v\u009b31m" {
		t.Errorf("ls --json decodes to %+q", s)
	}
	// An export through stdout imports back to the same messages.
	exp := mustConvo(t, "", "--db", dbPath, "export", id)
	other := filepath.Join(t.TempDir(), "other.db")
	mustConvo(t, exp.stdout, "--db", other, "import", "-")
	got := dump(t, other, "")[id].Messages
	if len(got) != 3 || got[0].Text() != msgs[0].Text() || got[1].ToolCalls()[0].Name != call.Name || got[1].Model != model {
		t.Errorf("export through a terminal-safe stdout did not round-trip: %+v", got)
	}
}
