package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// demoDB writes the demo store into a fresh file and returns its path.
func demoDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.db")
	mustConvo(t, "", "demo", "--db", path)
	return path
}

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261126051017-82041ef10598"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "82041ef10598c491da7ecee9a4bbc6cc8affba67"},
			{Key: "vcs.time", Value: "2026-11-26T05:10:17Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	want := "v0.0.0-20261126051017-82041ef10598 (revision 82041ef10598c491da7ecee9a4bbc6cc8affba67 of 2026-11-26T05:10:17Z, with uncommitted changes, go1.26.8)"
	if got := formatVersion(bi); got != want {
		t.Errorf("formatVersion = %q\nwant %q", got, want)
	}
	// Built without VCS information (-buildvcs=false, or not from a checkout).
	if got := formatVersion(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}); got != "(devel) (go1.26.8)" {
		t.Errorf("formatVersion without vcs = %q", got)
	}
}

func TestVersionFlag(t *testing.T) {
	r := mustConvo(t, "", "--version")
	if !strings.HasPrefix(r.stdout, "convo ") || !strings.Contains(r.stdout, runtime.Version()) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("convo --version = %q; want one line \"convo VERSION (... %s)\"", r.stdout, runtime.Version())
	}
}

// TestVersionFromCheckout builds convo in the git checkout the tests run
// in, as go install ./cmd/convo does, and checks that --version names the
// commit checked out. It runs where the checkout's .git is a directory (a
// clone, as in CI); a git worktree, whose .git is a file, is not stamped
// by go build, and the test says so and skips.
func TestVersionFromCheckout(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		t.Skip("a git worktree (.git is a file): go build records no VCS revision here")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "convo")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "revision " + strings.TrimSpace(string(head)); !strings.Contains(string(out), want) {
		t.Errorf("convo --version = %q; want it to name %q", out, want)
	}
}

func TestSuggestions(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"lss"}, "Did you mean this?\n\tls"},
		{[]string{"ls", "--limt", "3"}, "unknown flag: --limt (did you mean --limit?)"},
		{[]string{"--dbb", "x.db", "ls"}, "unknown flag: --dbb (did you mean --db?)"},
		{[]string{"ls", "--dbb", "x.db"}, "(did you mean --db?)"}, // an inherited flag
		{[]string{"show", "--tial", "3", "x"}, "(did you mean --tail?)"},
		{[]string{"ls", "--zzzzzz"}, "unknown flag: --zzzzzz (see convo ls --help)"},
	}
	for _, tc := range tests {
		r := convo(t, "", tc.args...)
		if r.err == nil || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("convo %q: err %v, stderr %q; want %q", tc.args, r.err, r.stderr, tc.want)
		}
	}
	if got := editDistance("limt", "limit"); got != 1 {
		t.Errorf("editDistance(limt, limit) = %d", got)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := mustConvo(t, "", "completion", sh)
		// Each script asks the binary for candidates through the hidden
		// __complete command.
		if !strings.Contains(r.stdout, "__complete") || !strings.Contains(r.stdout, "convo") {
			t.Errorf("convo completion %s does not call convo __complete:\n%.300s", sh, r.stdout)
		}
	}
}

func TestCompleteSessionIDs(t *testing.T) {
	db := demoDB(t)
	lines := func(r result) []string {
		return strings.Split(strings.TrimSpace(r.stdout), "\n")
	}
	// cobra's protocol: one candidate a line ("id<TAB>description"), then
	// ":DIRECTIVE"; 4 is ShellCompDirectiveNoFileComp.
	r := mustConvo(t, "", "--db", db, "__complete", "show", "")
	got := lines(r)
	if got[len(got)-1] != ":4" {
		t.Errorf("directive = %q; want :4", got[len(got)-1])
	}
	ids := map[string]string{}
	for _, l := range got[:len(got)-1] {
		id, desc, _ := strings.Cut(l, "\t")
		ids[id] = desc
	}
	for _, s := range demoData() {
		if ids[s.id] != s.opts.Title {
			t.Errorf("completion of %s: description %q; want %q", s.id, ids[s.id], s.opts.Title)
		}
	}
	if len(ids) != len(demoData()) {
		t.Errorf("completed %d ids; want %d: %q", len(ids), len(demoData()), got)
	}

	cases := []struct {
		env  string
		args []string
		want []string
	}{
		{"", []string{"--db", db, "__complete", "show", "tr"}, []string{"trip-paris\tWeekend in Paris", ":4"}},
		{"", []string{"--db", db, "__complete", "show", "trip-paris", ""}, []string{":4"}}, // show takes one id
		{"", []string{"--db", db, "__complete", "rm", "trip-paris", "t"}, []string{"tokyo-5days\t东京五日游行程", ":4"}},
		{"", []string{"--db", db, "__complete", "search", "--session", "st"}, []string{"standup-log\tStand-up log, November", ":4"}},
		{"CONVO_DB=" + db, []string{"__complete", "export", "kyo"}, []string{"kyoto-momiji\t京都の紅葉スポット", ":4"}},
		{"", []string{"__complete", "s"}, []string{"search", "serve", "show", ":4"}},
		{"", []string{"__complete", "ls", "--li"}, []string{"--limit\tsessions per page", ":4"}},
		// Owners, most recently active first (36 = NoFileComp | KeepOrder).
		{"", []string{"--db", db, "__complete", "ls", "--owner", ""}, []string{"bob", "alice", "team-atlas", "王芳", "佐藤健", "carol", ":36"}},
		{"", []string{"--db", db, "__complete", "rm", "--owner", "王"}, []string{"王芳", ":36"}},
		{"", []string{"--db", db, "__complete", "prune", "--owner", "c"}, []string{"carol", ":36"}},
		{"", []string{"--db", db, "__complete", "search", "--owner", "a"}, []string{"alice", ":36"}},
		// No database: no candidates and no error for the shell.
		{"", []string{"__complete", "show", ""}, []string{":4"}},
	}
	for _, c := range cases {
		cmd := exec.CommandContext(t.Context(), convoBinary(t), c.args...)
		cmd.Env = append(filteredEnv("CONVO_DB"), c.env)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("convo %q: %v", c.args, err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.HasPrefix(l, "Completion ended with directive") { // cobra's note on stderr
				continue
			}
			if i := len(got); i < len(c.want) && !strings.Contains(c.want[i], "\t") {
				l, _, _ = strings.Cut(l, "\t") // compare the candidate, not its description
			}
			got = append(got, l)
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("convo %q:\n got %q\nwant %q", c.args, got, c.want)
		}
	}
}

// TestBashCompletion runs the generated bash script in a real bash, as a
// user's shell would on TAB, and checks the candidates it offers.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on PATH")
	}
	db := demoDB(t)
	script := mustConvo(t, "", "completion", "bash").stdout
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "convo.bash"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	complete := func(line string) []string {
		t.Helper()
		// _get_comp_words_by_ref comes from the bash-completion package,
		// which the script calls when present; this minimal stand-in splits
		// the line on blanks, as it does for these simple lines.
		prog := `
_get_comp_words_by_ref() {
	cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
	words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
}
source "$DIR/convo.bash"
read -ra COMP_WORDS <<< "$LINE"
[[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=$LINE; COMP_POINT=${#LINE}
__start_convo
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.CommandContext(t.Context(), bash, "--norc", "-c", "compopt() { :; }\n"+prog) // compopt works only under complete
		cmd.Env = append(filteredEnv("CONVO_DB"), "DIR="+dir, "LINE="+line,
			"PATH="+filepath.Dir(convoBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("bash completion of %q: %v\n%s", line, err, stderr.String())
		}
		return strings.Fields(string(out))
	}
	if got := complete("convo --db " + db + " show tr"); strings.Join(got, " ") != "trip-paris" {
		t.Errorf("convo show tr<TAB> = %q; want trip-paris", got)
	}
	if got := complete("convo --db " + db + " rm s"); strings.Join(got, " ") != "standup-log support-1042" {
		t.Errorf("convo rm s<TAB> = %q; want standup-log support-1042", got)
	}
	if got := complete("convo sh"); strings.Join(got, " ") != "show" {
		t.Errorf("convo sh<TAB> = %q; want show", got)
	}
	if got := complete("convo show --ta"); strings.Join(got, " ") != "--tail" {
		t.Errorf("convo show --ta<TAB> = %q; want --tail", got)
	}
}

// ptyProc is convo running with stdout and stderr (and stdin, unless the
// test gives one) on a pseudo-terminal of 24 rows and 80 columns, with
// TERM=xterm-256color, and what the terminal has shown so far.
type ptyProc struct {
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// startPty starts convo with args on a pseudo-terminal; env is added to
// the environment.
func startPty(t *testing.T, env []string, stdin io.Reader, args ...string) *ptyProc {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), convoBinary(t), args...)
	cmd.Env = append(filteredEnv("CONVO_DB", "NO_COLOR", "PAGER", "TERM", "LESS"), "TERM=xterm-256color")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	p := &ptyProc{cmd: cmd, ptmx: ptmx, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return // EIO once the process has exited
			}
		}
	}()
	t.Cleanup(func() { ptmx.Close() })
	return p
}

// waitFor waits until the terminal has shown s, or fails after 20 seconds.
func (p *ptyProc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		ok := strings.Contains(p.out.String(), s)
		p.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the terminal never showed %q; it showed:\n%s", s, p.output())
}

func (p *ptyProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for the process to exit and its output to be read.
func (p *ptyProc) wait(t *testing.T) (string, error) {
	t.Helper()
	err := p.cmd.Wait()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("pty output never ended")
	}
	return p.output(), err
}

func TestColorOnlyOnATerminal(t *testing.T) {
	db := demoDB(t)
	// On a terminal: the header of ls is bold, show colours roles.
	out, err := startPty(t, nil, nil, "--db", db, "ls").wait(t)
	if err != nil || !strings.Contains(out, "\x1b[1mID  ") {
		t.Errorf("ls on a terminal: err %v, no bold header in %q", err, out)
	}
	out, err = startPty(t, nil, nil, "--db", db, "show", "--no-pager", "kyoto-momiji").wait(t)
	if err != nil || !strings.Contains(out, "\x1b[1;36muser\x1b[0m") || !strings.Contains(out, "\x1b[1;32massistant\x1b[0m") {
		t.Errorf("show on a terminal: err %v, roles not coloured in %q", err, out)
	}
	// NO_COLOR (https://no-color.org): no colour, even on a terminal.
	for _, args := range [][]string{{"ls"}, {"show", "--no-pager", "kyoto-momiji"}, {"search", "紅葉"}} {
		out, err = startPty(t, []string{"NO_COLOR=1"}, nil, append([]string{"--db", db}, args...)...).wait(t)
		if err != nil || strings.Contains(out, "\x1b") {
			t.Errorf("NO_COLOR=1 convo %s on a terminal: err %v, escape sequences in %q", args[0], err, out)
		}
	}
	// Not a terminal: no colour whatever the environment says.
	for _, args := range [][]string{{"ls"}, {"show", "kyoto-momiji"}, {"search", "umbrella"}} {
		cmd := exec.CommandContext(t.Context(), convoBinary(t), append([]string{"--db", db}, args...)...)
		cmd.Env = filteredEnv("NO_COLOR", "CONVO_DB")
		b, err := cmd.Output()
		if err != nil || bytes.Contains(b, []byte("\x1b")) {
			t.Errorf("convo %s into a pipe: err %v, escape sequences in %q", args[0], err, b)
		}
	}
}

// TestLsAlignsCJK checks that the columns after OWNER and TITLE start at
// the same display column on every row when owners and titles are CJK
// (two columns per character): a table aligned by bytes or runes fails.
func TestLsAlignsCJK(t *testing.T) {
	db := demoDB(t)
	out := mustConvo(t, "", "--db", db, "ls").stdout
	rows := strings.Split(strings.TrimSpace(out), "\n")
	header := rows[0]
	want := displayWidth(header[:strings.Index(header, "MESSAGES")])
	count := regexp.MustCompile(`\s(\d+)\s+20\d\d-`)
	cjk := 0
	for _, row := range rows[1:] {
		loc := count.FindStringSubmatchIndex(row)
		if loc == nil {
			t.Fatalf("row without a count: %q", row)
		}
		if got := displayWidth(row[:loc[2]]); got != want {
			t.Errorf("row %q: MESSAGES starts at column %d; the header's at %d", row, got, want)
		}
		if strings.Contains(row, "王芳") || strings.Contains(row, "佐藤健") {
			cjk++
		}
	}
	if cjk != 2 {
		t.Errorf("%d rows with CJK owners; want 2 in\n%s", cjk, out)
	}
}

func TestTableAndFold(t *testing.T) {
	if got := clipWidth("东京五日游行程", 9); got != "东京五日…" || displayWidth(got) != 9 {
		t.Errorf("clipWidth = %q (%d columns)", got, displayWidth(got))
	}
	for _, tc := range []struct {
		line  string
		width int
		want  []string
	}{
		{"the quick brown fox jumps", 10, []string{"the quick", "brown fox", "jumps"}},
		{"abcdefghijklmnop", 5, []string{"abcde", "fghij", "klmno", "p"}},
		{"第一天浅草寺晴空塔", 8, []string{"第一天浅", "草寺晴空", "塔"}},
		{"short", 10, []string{"short"}},
		{"no folding at width zero", 0, []string{"no folding at width zero"}},
	} {
		got := fold(tc.line, tc.width)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("fold(%q, %d) = %q; want %q", tc.line, tc.width, got, tc.want)
		}
	}
}

func TestShowTailFoldFull(t *testing.T) {
	db := demoDB(t)
	r := mustConvo(t, "", "--db", db, "show", "--tail", "3", "standup-log")
	for _, want := range []string{"3000 messages", "(the last 3; 2997 messages before them not shown)", "[2998] user", "[3000] assistant"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show --tail 3: no %q in\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "[2997]") {
		t.Errorf("show --tail 3 printed message 2997:\n%s", r.stdout)
	}
	if r := convo(t, "", "--db", db, "show", "--tail", "-1", "standup-log"); r.err == nil {
		t.Errorf("show --tail -1 succeeded")
	}

	// A 200 KB message on one line.
	ctx := t.Context()
	b, err := openBackend(ctx, db, "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("word ", 40000)
	s, err := b.store.Create(ctx, "huge")
	if err == nil {
		err = s.AddMessages(ctx, []message.Message{message.NewUserMessage(huge)})
	}
	b.close()
	if err != nil {
		t.Fatal(err)
	}
	maxWidth := func(out string) int { // of the message's lines
		w := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "    ") {
				w = max(w, displayWidth(l))
			}
		}
		return w
	}
	r = mustConvo(t, "", "--db", db, "show", "huge")
	if w := maxWidth(r.stdout); w > defaultFoldWidth {
		t.Errorf("show into a pipe: a line of %d columns; want at most %d", w, defaultFoldWidth)
	}
	if !regexp.MustCompile(`… \d+ more lines \(--full prints it all\)`).MatchString(r.stdout) || strings.Count(r.stdout, "word") > 40*20 {
		t.Errorf("show of a 200 KB text is not cut:\n%.2000s", r.stdout)
	}
	r = mustConvo(t, "", "--db", db, "show", "--full", "huge")
	if n := strings.Count(r.stdout, "word"); n != 40000 || maxWidth(r.stdout) > defaultFoldWidth {
		t.Errorf("show --full: %d words (want 40000), widest line %d columns", n, maxWidth(r.stdout))
	}
	cmd := exec.CommandContext(ctx, convoBinary(t), "--db", db, "show", "huge")
	cmd.Env = append(filteredEnv("CONVO_DB"), "COLUMNS=60")
	out, err := cmd.Output()
	if err != nil || maxWidth(string(out)) > 60 || maxWidth(string(out)) < 50 {
		t.Errorf("COLUMNS=60 show: err %v, widest line %d columns", err, maxWidth(string(out)))
	}
	// Every line of a message, reasoning's folded line included, keeps to
	// the width.
	cmd = exec.CommandContext(ctx, convoBinary(t), "--db", db, "show", "refactor-auth")
	cmd.Env = append(filteredEnv("CONVO_DB"), "COLUMNS=60")
	if out, err = cmd.Output(); err != nil || maxWidth(string(out)) > 60 || !strings.Contains(string(out), "(reasoning) ") {
		t.Errorf("COLUMNS=60 show refactor-auth: err %v, widest line %d columns:\n%s", err, maxWidth(string(out)), out)
	}
	r = mustConvo(t, "", "--db", db, "show", "--full", "--width", "0", "huge")
	if !strings.Contains(r.stdout, "    "+huge+"\n") {
		t.Errorf("show --full --width 0 did not print the text on one line")
	}
}

func TestPagerOnlyOnATerminal(t *testing.T) {
	db := demoDB(t)
	dir := t.TempDir()
	paged := filepath.Join(dir, "paged.txt")
	pager := "PAGER=cat > " + paged
	// Taller than the terminal: through the pager.
	out, err := startPty(t, []string{pager}, nil, "--db", db, "show", "trip-paris").wait(t)
	if err != nil {
		t.Fatalf("show on a terminal: %v\n%s", err, out)
	}
	got, err := os.ReadFile(paged)
	if err != nil || !strings.Contains(string(got), "Booked: Café Constant") {
		t.Fatalf("the pager did not get the conversation: %v %q", err, got)
	}
	if strings.Contains(out, "Booked") {
		t.Errorf("the conversation went to the terminal as well as the pager")
	}
	os.Remove(paged)
	// --no-pager, PAGER="" and a short output: straight to the terminal.
	for _, c := range []struct {
		env  string
		args []string
	}{
		{pager, []string{"--no-pager", "trip-paris"}},
		{"PAGER=", []string{"trip-paris"}},
		{pager, []string{"kyoto-momiji"}}, // 14 lines on 24 rows
	} {
		out, err := startPty(t, []string{c.env}, nil, append([]string{"--db", db, "show"}, c.args...)...).wait(t)
		if err != nil || !strings.Contains(out, "assistant") {
			t.Errorf("show %q: err %v, output %q", c.args, err, out)
		}
		if _, err := os.Stat(paged); err == nil {
			t.Errorf("show %q with %s ran the pager", c.args, c.env)
			os.Remove(paged)
		}
	}
	// PAGER unset: less, told to keep colours, quit when the text fits and
	// leave it on the screen (LESS=FRX), unless LESS is set.
	bin := t.TempDir()
	fakeLess := "#!/bin/sh\necho \"LESS=$LESS\" > " + paged + "\ncat >> " + paged + "\n"
	if err := os.WriteFile(filepath.Join(bin, "less"), []byte(fakeLess), 0o755); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, c := range []struct{ env, want string }{{"LESS_UNSET=1", "LESS=FRX\n"}, {"LESS=-R", "LESS=-R\n"}} {
		p := startPty(t, []string{path, c.env}, nil, "--db", db, "show", "trip-paris")
		if out, err := p.wait(t); err != nil {
			t.Fatalf("show with less: %v\n%s", err, out)
		}
		got, err := os.ReadFile(paged)
		if err != nil || !strings.HasPrefix(string(got), c.want) || !strings.Contains(string(got), "Booked: Café Constant") {
			t.Errorf("with %s, less got %q (%v); want %q and the conversation", c.env, got, err, c.want)
		}
		os.Remove(paged)
	}

	// Not a terminal: never a pager.
	cmd := exec.CommandContext(t.Context(), convoBinary(t), "--db", db, "show", "standup-log")
	cmd.Env = append(filteredEnv("CONVO_DB"), pager)
	b, err := cmd.Output()
	if err != nil || !bytes.Contains(b, []byte("[3000]")) {
		t.Errorf("show into a pipe: err %v", err)
	}
	if _, err := os.Stat(paged); err == nil {
		t.Errorf("show into a pipe ran the pager")
	}
}

func sessionExists(t *testing.T, db, id string) bool {
	t.Helper()
	b, err := openBackend(t.Context(), db, "", true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	ok, err := b.store.Exists(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDeleteAsksOnATerminal(t *testing.T) {
	db := demoDB(t)
	// Not a terminal, no --yes: refused at once (stdin is never read, so
	// it cannot hang), nothing deleted.
	for _, args := range [][]string{{"rm", "trip-paris"}, {"rm", "--owner", "alice"}, {"prune", "--older-than", "180d"}} {
		r := convo(t, "y\n", append([]string{"--db", db}, args...)...)
		if r.err == nil || !strings.Contains(r.stderr, "stdin is not a terminal") || !strings.Contains(r.stderr, "pass --yes") {
			t.Errorf("convo %q without a terminal: err %v, stderr %q; want a refusal naming --yes", args, r.err, r.stderr)
		}
	}
	if !sessionExists(t, db, "trip-paris") || !sessionExists(t, db, "printer-setup") {
		t.Fatal("a refused command deleted a session")
	}
	// A dry run deletes nothing and needs no answer.
	mustConvo(t, "", "--db", db, "prune", "--older-than", "180d", "--dry-run")

	// On a terminal: the prompt lists what goes; "n" keeps it.
	p := startPty(t, nil, nil, "--db", db, "rm", "trip-paris", "kyoto-momiji")
	p.waitFor(t, "Delete? [y/N] ")
	if _, err := p.ptmx.Write([]byte("n\r")); err != nil {
		t.Fatal(err)
	}
	out, err := p.wait(t)
	if err == nil || !strings.Contains(out, "delete 2 sessions, 17 messages") || !strings.Contains(out, "trip-paris    Weekend in Paris") ||
		!strings.Contains(out, "rm: not confirmed; nothing deleted") {
		t.Errorf("rm answered n: err %v, terminal showed:\n%s", err, out)
	}
	if !sessionExists(t, db, "trip-paris") {
		t.Fatal("rm answered n deleted trip-paris")
	}
	// "y" deletes.
	p = startPty(t, nil, nil, "--db", db, "rm", "trip-paris")
	p.waitFor(t, "Delete? [y/N] ")
	_, _ = p.ptmx.Write([]byte("y\r"))
	if out, err := p.wait(t); err != nil || !strings.Contains(out, "deleted 1 session, 13 messages") {
		t.Errorf("rm answered y: err %v, terminal showed:\n%s", err, out)
	}
	if sessionExists(t, db, "trip-paris") {
		t.Error("rm answered y kept trip-paris")
	}
	// prune asks too.
	p = startPty(t, nil, nil, "--db", db, "prune", "--older-than", "180d")
	p.waitFor(t, "Delete? [y/N] ")
	_, _ = p.ptmx.Write([]byte("yes\r"))
	if out, err := p.wait(t); err != nil || !strings.Contains(out, "delete 1 session not updated for 180d, 4 messages") ||
		!strings.Contains(out, "deleted 1 session, 4 messages") {
		t.Errorf("prune answered yes: err %v, terminal showed:\n%s", err, out)
	}
	// --yes on a terminal: no question.
	out, err = startPty(t, nil, nil, "--db", db, "rm", "--yes", "--owner", "carol").wait(t)
	if err != nil || strings.Contains(out, "[y/N]") || !strings.Contains(out, `owner "carol": deleted 1 session, 7 messages`) {
		t.Errorf("rm --yes on a terminal: err %v, terminal showed:\n%s", err, out)
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	r := mustConvo(t, "", "demo", "--db", a)
	if r.stdout != "wrote 9 sessions, 3060 messages to "+a+"\ntry: convo --db "+a+" ls\n" {
		t.Errorf("demo printed %q", r.stdout)
	}
	mustConvo(t, "", "demo", "--db", "sqlite:"+b)
	// Deterministic: two runs give byte-identical exports.
	ea := mustConvo(t, "", "--db", a, "export").stdout
	eb := mustConvo(t, "", "--db", b, "export").stdout
	if ea != eb || len(ea) < 100000 {
		t.Errorf("two demo stores differ (or are tiny: %d bytes)", len(ea))
	}

	// What the demo promises: owners, tool calls with results (one an
	// error), reasoning with a signature, a summary, an image, CJK, a long
	// session, one damaged session for doctor, one older than 180 days.
	var owners = map[string]bool{}
	var calls, results, errorsSeen, signed, redacted, summaries, images int
	var damaged []string
	for _, s := range demoData() {
		owners[s.opts.Owner] = true
		for _, m := range s.msgs {
			calls += len(m.ToolCalls())
			for _, tr := range m.ToolResults() {
				results++
				if tr.IsError {
					errorsSeen++
				}
			}
			for _, p := range m.Parts {
				if rp, ok := p.(message.Reasoning); ok && rp.Signature != "" {
					signed++
					if rp.Redacted {
						redacted++
					}
				}
				if bp, ok := p.(message.Binary); ok && strings.HasPrefix(bp.MIMEType, "image/") {
					images++
				}
			}
			if m.Role == message.RoleSummary {
				summaries++
			}
		}
		if probs := session.Check(s.msgs); len(probs) > 0 {
			damaged = append(damaged, s.id)
		}
	}
	if len(owners) < 5 || !owners["王芳"] || calls < 10 || results != calls-1 || errorsSeen == 0 || signed < 2 || redacted == 0 || summaries == 0 || images == 0 {
		t.Errorf("demo: %d owners, %d calls, %d results (%d errors), %d signed reasoning (%d redacted), %d summaries, %d images",
			len(owners), calls, results, errorsSeen, signed, redacted, summaries, images)
	}
	if strings.Join(damaged, ",") != "invoice-upload" {
		t.Errorf("damaged demo sessions = %q; want only invoice-upload", damaged)
	}
	var ls struct{ Sessions []sessionJSON }
	if err := json.Unmarshal([]byte(mustConvo(t, "", "--db", a, "ls", "--json").stdout), &ls); err != nil {
		t.Fatal(err)
	}
	if len(ls.Sessions) != 9 || ls.Sessions[0].ID != "invoice-upload" || ls.Sessions[0].UpdatedAt != "2026-11-19T18:40:03Z" {
		t.Errorf("ls --json of the demo: %+v", ls.Sessions[:1])
	}

	// A store with sessions is refused, unchanged; --force replaces the
	// demo's sessions and keeps the others.
	mustConvo(t, "", "--db", a, "rm", "--yes", "greetings")
	bk, err := openBackend(t.Context(), a, "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bk.store.Create(t.Context(), "mine"); err != nil {
		t.Fatal(err)
	}
	bk.close()
	r = convo(t, "", "demo", "--db", a)
	if r.err == nil || !strings.Contains(r.stderr, "already holds sessions") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("demo into a store with sessions: err %v, stderr %q", r.err, r.stderr)
	}
	if sessionExists(t, a, "greetings") {
		t.Error("a refused demo wrote into the store")
	}
	mustConvo(t, "", "demo", "--db", a, "--force")
	if !sessionExists(t, a, "greetings") || !sessionExists(t, a, "mine") {
		t.Error("demo --force did not restore the demo's sessions, or dropped another one")
	}
	var exit *exec.ExitError
	if r := convo(t, "", "demo", "--db", filepath.Join(dir, "no-such-dir", "x.db")); !errors.As(r.err, &exit) {
		t.Errorf("demo into a missing directory: %v", r.err)
	}
}

// TestFishCompletion runs the generated fish script in a real fish (when
// installed), asking it for candidates as TAB does (complete -C).
func TestFishCompletion(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("fish is not installed and CI=true: .ci/install-shells.sh installs it")
		}
		t.Skip("fish is not installed: the fish completion script is only checked by TestCompletionScripts")
	}
	db := demoDB(t)
	script := filepath.Join(t.TempDir(), "convo.fish")
	if err := os.WriteFile(script, []byte(mustConvo(t, "", "completion", "fish").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"convo --db " + db + " show tr": "trip-paris\tWeekend in Paris",
		"convo --db " + db + " rm kyo":  "kyoto-momiji\t京都の紅葉スポット",
		"convo sh":                      "show\tPrint a conversation as a person reads it",
		"convo show --ta":               "--tail\tprint only the last N messages (0: all)",
	} {
		cmd := exec.CommandContext(t.Context(), fish, "--no-config", "-c", "source $SCRIPT; complete -C $LINE")
		cmd.Env = append(filteredEnv("CONVO_DB"), "SCRIPT="+script, "LINE="+line,
			"PATH="+filepath.Dir(convoBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("fish: complete -C %q = %q (%v); want %q", line, out, err, want)
		}
	}
}

// TestZshCompletion runs the generated zsh script in a real zsh (when
// installed). zsh's completion builtins work only inside its completion
// widgets, so the test stands in for _describe (the call through which the
// script offers candidates) with a function that prints them: what is
// checked is the script's own work in zsh, asking convo __complete and
// turning its answer into "candidate:description" pairs.
func TestZshCompletion(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("zsh is not installed and CI=true: .ci/install-shells.sh installs it")
		}
		t.Skip("zsh is not installed: the zsh completion script is only checked by TestCompletionScripts")
	}
	db := demoDB(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "convo.zsh"), []byte(mustConvo(t, "", "completion", "zsh").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	prog := `
compdef() { : }
compadd() { : }
_arguments() { : }
_describe() { print -rl -- "${completions[@]}" }
source $DIR/convo.zsh
words=(${=LINE}); [[ $LINE == *" " ]] && words+=("")
CURRENT=${#words}
_convo`
	for line, want := range map[string]string{
		"convo --db " + db + " show tr": "trip-paris:Weekend in Paris",
		"convo --db " + db + " rm tok":  "tokyo-5days:东京五日游行程",
		"convo sh":                      "show:Print a conversation as a person reads it",
		"convo show --ta":               `--tail:print only the last N messages (0\: all)`,
	} {
		cmd := exec.CommandContext(t.Context(), zsh, "-f", "-c", prog)
		cmd.Env = append(filteredEnv("CONVO_DB"), "DIR="+dir, "LINE="+line,
			"PATH="+filepath.Dir(convoBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("zsh: %q<TAB> offers %q (%v); want %q", line, out, err, want)
		}
	}
}

// TestDemoEveryBackend writes the demo into each store and checks that
// every one holds the same sessions and messages: the export of each is
// the SQLite file's, byte for byte.
func TestDemoEveryBackend(t *testing.T) {
	var want string
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			mustConvo(t, "", db.args("demo")...)
			got := mustConvo(t, "", db.args("export")...).stdout
			if want == "" {
				want = got
				return
			}
			if got != want {
				t.Errorf("the demo exported from %s differs from SQLite's (%d and %d bytes)", db.name, len(got), len(want))
			}
		})
	}
}
