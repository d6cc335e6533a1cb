package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docCommand is one "$ command" of a docs block with the output the docs
// show for it.
type docCommand struct {
	line    int // in the file, 1-based
	outEnd  int // the output shown is lines line+1 to outEnd (1-based, inclusive)
	cmd     string
	want    string
	status  int  // the "(exit status N)" shown, or 0
	checked bool // false for a block marked "not checked"
}

var exitStatusLine = regexp.MustCompile(`^\(exit status (\d+)\)$`)

// docCommands returns the commands of the indented "$ " blocks of text
// between the headings from and to ("": the end of the text).
func docCommands(t *testing.T, text, from, to string) []docCommand {
	t.Helper()
	i, j := strings.Index(text, "\n"+from+"\n"), strings.Index(text, "\n"+to+"\n")
	if to == "" {
		j = len(text)
	}
	if i < 0 || j < i {
		t.Fatalf("no section %q before %q", from, to)
	}
	first := strings.Count(text[:i+1], "\n") + 1
	lines := strings.Split(text[i+1:j], "\n")
	var out []docCommand
	prev := "" // the last non-blank line outside a block
	for n := 0; n < len(lines); n++ {
		if !strings.HasPrefix(lines[n], "    $ ") {
			if strings.TrimSpace(lines[n]) != "" {
				prev = lines[n]
			}
			continue
		}
		checked := !strings.HasPrefix(prev, "<!-- not checked")
		for n < len(lines) && (lines[n] == "" || strings.HasPrefix(lines[n], "    ")) {
			if !strings.HasPrefix(lines[n], "    $ ") {
				n++
				continue
			}
			c := docCommand{line: first + n, cmd: strings.TrimPrefix(lines[n], "    $ "), checked: checked}
			var want []string
			for n++; n < len(lines) && !strings.HasPrefix(lines[n], "    $ ") && (lines[n] == "" || strings.HasPrefix(lines[n], "    ")); n++ {
				want = append(want, strings.TrimPrefix(lines[n], "    "))
			}
			for len(want) > 0 && want[len(want)-1] == "" {
				want = want[:len(want)-1]
			}
			c.outEnd = c.line + len(want)
			if k := len(want) - 1; k >= 0 {
				if m := exitStatusLine.FindStringSubmatch(want[k]); m != nil {
					c.status, _ = strconv.Atoi(m[1])
					want = want[:k]
				}
			}
			c.want = strings.Join(want, "\n")
			out = append(out, c)
		}
		n--
		prev = ""
	}
	return out
}

// normalize drops trailing newlines and makes blank lines empty, as the
// docs show them.
func normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

var updateDocs = flag.Bool("update-docs", false, "TestDocsTour: write each checked command's real output into docs/cli.md")

// TestDocsTour runs, in order and in an empty directory (but for app.db,
// the upgrade example's upstream file), every command that docs/cli.md
// shows from "A first look" to the web viewer and in "Moving from
// joakimcarlsson/ai", and
// compares what it prints (stdout and stderr, as a terminal shows them, and
// the exit status) with what the page says it prints. Blocks marked
// "<!-- not checked: why -->" are left out (a PostgreSQL server at a fixed
// address, a terminal, the build's version). With -update-docs it writes
// the real outputs into the page instead of failing.
func TestDocsTour(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := append(docCommands(t, string(doc), "## A first look: convo demo", "## The web viewer"),
		docCommands(t, string(doc), "## Moving from joakimcarlsson/ai", "")...)
	if len(cmds) < 20 {
		t.Fatalf("found %d commands in docs/cli.md; the parser is broken", len(cmds))
	}
	dir := t.TempDir()
	// The upgrade example's app.db, as the page says.
	fixture, err := os.ReadFile(filepath.Join("..", "..", "sqlite", "testdata", "upstream", "upstream-sqlite-default.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.db"), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(filteredEnv("CONVO_DB", "NO_COLOR", "PAGER", "COLUMNS"),
		"PATH="+filepath.Dir(convoBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	assign := regexp.MustCompile(`^export (\w+)=(\S+)$`)
	ran := 0
	updates := map[int][]string{} // by line of the command: its real output, as the docs show it
	for _, c := range cmds {
		if !c.checked {
			continue
		}
		if m := assign.FindStringSubmatch(c.cmd); m != nil {
			env = append(env, m[1]+"="+m[2])
			continue
		}
		ran++
		cmd := exec.CommandContext(t.Context(), "sh", "-c", "{ "+c.cmd+"\n} 2>&1")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.Output()
		status := 0
		if exit, ok := err.(*exec.ExitError); ok {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("docs/cli.md:%d: %s: %v", c.line, c.cmd, err)
		}
		got := normalize(string(out))
		if *updateDocs {
			var lines []string
			for _, l := range strings.Split(got, "\n") {
				if l != "" {
					l = "    " + l
				}
				lines = append(lines, l)
			}
			if got == "" {
				lines = nil
			}
			if status != 0 {
				lines = append(lines, fmt.Sprintf("    (exit status %d)", status))
			}
			updates[c.line] = lines
			continue
		}
		if got != c.want || status != c.status {
			t.Errorf("docs/cli.md:%d: $ %s\nprints (exit status %d):\n%s\n\nthe docs show (exit status %d):\n%s\n\n"+
				"(the demo's clock is fixed at 2026-11-20; the prune example depends on today's date too; "+
				"go test ./cmd/convo -run TestDocsTour -update-docs writes the real outputs into the page)",
				c.line, c.cmd, status, got, c.status, c.want)
		}
	}
	t.Logf("ran %d commands of docs/cli.md", ran)
	if *updateDocs {
		lines := strings.Split(string(doc), "\n")
		for i := len(cmds) - 1; i >= 0; i-- { // from the end, so earlier line numbers stay right
			c := cmds[i]
			if u, ok := updates[c.line]; ok {
				lines = append(lines[:c.line], append(u, lines[c.outEnd:]...)...)
			}
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "cli.md"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadmeTour checks that the `convo ls` table in the README is the one
// docs/cli.md shows for the demo store (which TestDocsTour checks against
// the program).
func TestReadmeTour(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, c := range docCommands(t, string(doc), "## A first look: convo demo", "## The web viewer") {
		if c.cmd == "convo ls" {
			want = c.want
			break
		}
	}
	i := strings.Index(string(readme), "\n```\nID ")
	if want == "" || i < 0 {
		t.Fatalf("no convo ls table in docs/cli.md (%t) or README.md (%t)", want != "", i >= 0)
	}
	got, _, _ := strings.Cut(string(readme[i+len("\n```\n"):]), "\n```")
	if got != want {
		t.Errorf("README.md's convo ls table:\n%s\n\ndocs/cli.md's (checked against the program):\n%s", got, want)
	}
}
