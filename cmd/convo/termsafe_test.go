package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// Issue 14 item 2: `convo export trip-paris nosuch -o keep.jsonl` failed and
// left keep.jsonl empty, though it held a backup.
func TestFailedExportKeepsTheFile(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	keep := filepath.Join(dir, "keep.jsonl")
	const backup = "a backup the user wants to keep\n"
	if err := os.WriteFile(keep, []byte(backup), 0o640); err != nil {
		t.Fatal(err)
	}
	if r := convo(t, "", "--db", dbPath, "export", "trip-paris", "nosuch", "-o", keep); r.err == nil {
		t.Fatalf("export of a missing session succeeded")
	}
	if got, _ := os.ReadFile(keep); string(got) != backup {
		t.Errorf("after a failed export the file holds %q, want the backup", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".keep.jsonl.*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	mustConvo(t, "", "--db", dbPath, "export", "trip-paris", "-o", keep)
	got, _ := os.ReadFile(keep)
	if !strings.Contains(string(got), `"trip-paris"`) {
		t.Errorf("successful export wrote %q", got)
	}
	if st, _ := os.Stat(keep); st.Mode().Perm() != 0o640 {
		t.Errorf("replaced file has mode %v, want the old 0640", st.Mode().Perm())
	}
	fresh := filepath.Join(dir, "fresh.jsonl")
	mustConvo(t, "", "--db", dbPath, "export", "trip-paris", "-o", fresh)
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o600 {
		t.Errorf("new export file has mode %v, want 0600", st.Mode().Perm())
	}
}

// Issue 14 item 2: `ls --limit 1 --since 7d` printed a next-page hint that
// dropped --since, --owner, --id-prefix, --limit, --db and --prefix, so the
// "next page" listed sessions the filter excluded. The test runs each hint
// in a shell, as a user would paste it, until there is none.
func TestLsNextPageHintKeepsTheFilter(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "my convo.db") // a space: the hint must quote it
	var sessions []demoSession
	for _, s := range []struct{ id, owner string }{
		{"x-1", "o'brien"}, {"x-2", "o'brien"}, {"x-3", "o'brien"}, {"x-old", "o'brien"},
		{"y-1", "o'brien"}, {"x-4", "other"},
	} {
		sessions = append(sessions, demoSession{id: s.id, opts: session.CreateOptions{Owner: s.owner},
			msgs: []message.Message{message.NewUserMessage("hi " + s.id)}})
	}
	seed(t, dbPath, "chat_", sessions)
	backdate(t, dbPath, "chat_", "x-old", time.Now().Add(-30*24*time.Hour).UnixNano())

	bin := convoBinary(t)
	line := shellQuote(bin) + " --db " + shellQuote(dbPath) + " --prefix chat_ ls --owner \"o'brien\" --id-prefix x- --since 7d --limit 1"
	var got []string
	for range 10 {
		out, err := exec.CommandContext(t.Context(), "sh", "-c", line).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && f[0] != "next" {
				got = append(got, f[0])
			}
		}
		hint, ok := strings.CutPrefix(lines[len(lines)-1], "next page: ")
		if !ok {
			break
		}
		line = strings.Replace(hint, "convo", shellQuote(bin), 1)
	}
	slices.Sort(got)
	if want := []string{"x-1", "x-2", "x-3"}; !slices.Equal(got, want) {
		t.Errorf("following the next-page hints listed %v, want %v", got, want)
	}
}
