package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

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

// Issue 14 item 2: import replaced invalid UTF-8 with U+FFFD and exited 0
// although the docs say it is refused, and a bad field was reported as
// "Go struct field wireMessage.created_at".
func TestImportRefusesWhatItCannotKeep(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	header := `{"type":"convo-export","version":1}` + "\n"
	sess := `{"type":"session","id":"s1"}` + "\n"
	for _, tc := range []struct{ name, file, want string }{
		{"invalid UTF-8", header + sess + `{"type":"message","session":"s1","message":{"id":"m1","role":"user","parts":[{"type":"text","text":"caf` + "\xe9" + `"}]}}` + "\n",
			"line 3: not valid UTF-8"},
		{"a string for a time", header + sess + `{"type":"message","session":"s1","message":{"id":"m1","role":"user","created_at":"yesterday"}}` + "\n",
			`line 3: message: malformed message encoding: field "created_at" holds a JSON string, want an integer`},
		{"a number for an id", header + `{"type":"session","id":7}` + "\n",
			`line 2: session: field "id" holds a JSON number, want a string`},
	} {
		r := convo(t, tc.file, "--db", dbPath, "import", "-")
		if r.err == nil || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: err %v, stderr %q; want a refusal saying %q", tc.name, r.err, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, "Go ") || strings.Contains(r.stderr, "wire") {
			t.Errorf("%s: the error names Go internals: %q", tc.name, r.stderr)
		}
	}
	if got := dump(t, dbPath, ""); len(got) != 0 {
		t.Errorf("refused imports stored %d sessions", len(got))
	}
}

// Issue 14 item 2: a directory as --db gave "sqlite: migrate: unable to
// open database file (14)".
func TestDatabasePathErrorsSayWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ db, want string }{
		{dir, dir + " is a directory, not a SQLite database file"},
		{filepath.Join(dir, "nosuch", "x.db"), "directory " + filepath.Join(dir, "nosuch") + " does not exist"},
		{filepath.Join(file, "x.db"), file + " is not a directory"},
	} {
		r := convo(t, `{"type":"convo-export","version":1}`+"\n", "--db", tc.db, "import", "-")
		if r.err == nil || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "(14)") {
			t.Errorf("--db %s: stderr %q; want %q", tc.db, r.stderr, tc.want)
		}
	}
}

// slowSearchStore is a store whose Search runs until its context ends, as
// a costly query would.
type slowSearchStore struct {
	session.Store
	stopped chan error
}

func (s slowSearchStore) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	<-ctx.Done()
	s.stopped <- ctx.Err()
	return nil, ctx.Err()
}

// Issue 17 item 3: a search had no time limit and no bound on its text (a
// 1 KB viewer query took 22 s of server time). Every viewer request now
// runs under a deadline that reaches the store, and long search text is
// refused before any store call.
func TestViewerBoundsEveryRequest(t *testing.T) {
	store := slowSearchStore{Store: session.NewMemoryStore(), stopped: make(chan error, 1)}
	var log strings.Builder
	v, err := newViewer(store, 10, &log)
	if err != nil {
		t.Fatal(err)
	}
	g := newGuard(v, nil, "")
	g.timeout = 200 * time.Millisecond
	srv := httptest.NewServer(g)
	defer srv.Close()

	start := time.Now()
	status, _, body := get(t, "GET", srv.URL+"/?q=anything")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "longer than the viewer allows") {
		t.Errorf("slow search: status %d\n%s", status, body)
	}
	select {
	case err := <-store.stopped:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the store's search ended with %v, want a deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the store's search was never stopped")
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("a bounded request took %v", time.Since(start))
	}

	status, _, body = get(t, "GET", srv.URL+"/?q="+strings.Repeat("word+", 200))
	if status != http.StatusBadRequest || !strings.Contains(body, "too long") {
		t.Errorf("1 KB query: status %d\n%s", status, body)
	}
	if r := convo(t, "", append([]string{"--db", filepath.Join(t.TempDir(), "x.db"), "search"}, strings.Fields(strings.Repeat("word ", 200))...)...); r.err == nil || !strings.Contains(r.stderr, "at most") {
		t.Errorf("convo search with 1 KB of text: err %v, stderr %q", r.err, r.stderr)
	}
}

// Issue 17 item 5: one unreadable row stopped export and migrate for the
// whole store, and the failed export ended mid-line, so that import then
// refused the file. They now name the row, leave that session out, copy
// the rest and fail at the end; an export always ends with a whole line.
func TestStoreWideToolsGoOnPastAnUnreadableRow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	var sessions []demoSession
	for i := range 5 {
		sessions = append(sessions, demoSession{id: fmt.Sprintf("s%d", i), msgs: []message.Message{
			message.NewUserMessage(strings.Repeat("long text to fill the export buffer ", 1000)),
			message.NewUserMessage("second"),
		}})
	}
	seed(t, path, "", sessions)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE messages SET parts = '[{"type":"text","text":"cut' WHERE session_id = 's2' AND seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := convo(t, "", "--db", path, "export")
	if r.err == nil || !strings.Contains(r.stderr, `session "s2": row seq 2 cannot be read`) || !strings.Contains(r.stderr, "1 session left out") {
		t.Errorf("export: err %v, stderr %q", r.err, r.stderr)
	}
	if !strings.HasSuffix(r.stdout, "\n") || strings.Count(r.stdout, `"type":"session"`) != 4 {
		t.Errorf("export output: %d sessions, ends with a newline: %v", strings.Count(r.stdout, `"type":"session"`), strings.HasSuffix(r.stdout, "\n"))
	}
	other := filepath.Join(dir, "other.db")
	mustConvo(t, r.stdout, "--db", other, "import", "-")
	if got := dump(t, other, ""); len(got) != 4 {
		t.Errorf("the export of the readable sessions imports %d sessions, want 4", len(got))
	}

	target := filepath.Join(dir, "target.db")
	r = convo(t, "", "--db", path, "migrate", "--to", target)
	if r.err == nil || !strings.Contains(r.stdout, `session "s2": row seq 2 cannot be read`) {
		t.Errorf("migrate: err %v, stdout %q", r.err, r.stdout)
	}
	got := dump(t, target, "")
	for _, id := range []string{"s0", "s1", "s3", "s4"} {
		if len(got[id].Messages) != 2 {
			t.Errorf("migrate left %s with %d messages, want 2", id, len(got[id].Messages))
		}
	}
}

// Issue 17 item 5, ls: a session row that cannot be decoded (metadata that
// is not JSON, a time that is not an integer, as another program writing
// the SQLite file can leave: SQLite keeps text in an INTEGER column) stopped
// the listing. ls now lists every session, names each unreadable one and
// what is wrong on stderr (and in --json), and fails at the end.
func TestLsGoesOnPastAnUnreadableRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	var sessions []demoSession
	for i := range 5 {
		sessions = append(sessions, demoSession{id: fmt.Sprintf("s%d", i), msgs: []message.Message{message.NewUserMessage("hi")}})
	}
	seed(t, path, "", sessions)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE sessions SET metadata = '{"channel": ' WHERE id = 's1'`,
		`UPDATE sessions SET created_at = 'yesterday' WHERE id = 's3'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	r := convo(t, "", "--db", path, "ls")
	for _, id := range []string{"s0", "s1", "s2", "s3", "s4"} {
		if !regexp.MustCompile(`(?m)^` + id + ` `).MatchString(r.stdout) {
			t.Errorf("ls does not list %s:\n%s", id, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, `session "s1"`) || !strings.Contains(r.stderr, "metadata") ||
		!strings.Contains(r.stderr, `session "s3"`) || !strings.Contains(r.stderr, "created_at") {
		t.Errorf("ls does not name the unreadable sessions and what is wrong: stderr %q", r.stderr)
	}
	if r.err == nil {
		t.Error("ls with unreadable sessions succeeded; it must fail at the end, as export does")
	}

	r = convo(t, "", "--db", path, "ls", "--json")
	var out struct {
		Sessions   []sessionJSON `json:"sessions"`
		Unreadable []string      `json:"unreadable"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	if len(out.Sessions) != 5 || len(out.Unreadable) != 2 {
		t.Errorf("ls --json: %d sessions, unreadable %q; want 5 and 2", len(out.Sessions), out.Unreadable)
	}
}

// rm --owner and prune named every session they deleted: a prune of
// 180,000 sessions printed 180,000 lines to the terminal. On a terminal
// they now name the first 20 and say how many more; to a file or a pipe
// (a cron job's log) they still name every one.
func TestDeletionListsAPageOnATerminal(t *testing.T) {
	var sessions []demoSession
	for i := range 30 {
		sessions = append(sessions, demoSession{id: fmt.Sprintf("s%02d", i), opts: session.CreateOptions{Owner: "trial"},
			msgs: []message.Message{message.NewUserMessage("hi")}})
	}
	terminal := filepath.Join(t.TempDir(), "a.db")
	seed(t, terminal, "", sessions)
	out, err := startPty(t, nil, nil, "--db", terminal, "rm", "--owner", "trial", "--yes").wait(t)
	if err != nil || !strings.Contains(out, `owner "trial": deleted 30 sessions, 30 messages`) ||
		strings.Count(out, "\n  s") != 20 || !strings.Contains(out, "... and 10 more (every id goes to a file or pipe, or with --json)") {
		t.Errorf("rm --owner on a terminal: err %v, output:\n%s", err, out)
	}
	piped := filepath.Join(t.TempDir(), "b.db")
	seed(t, piped, "", sessions)
	r := mustConvo(t, "", "--db", piped, "rm", "--owner", "trial", "--yes")
	if strings.Count(r.stdout, "\n  s") != 30 || strings.Contains(r.stdout, "more") {
		t.Errorf("rm --owner to a pipe: want every id, got:\n%s", r.stdout)
	}
}

// TestSinceDateIsUTC checks that a date given to --since is midnight UTC,
// as every time convo prints is UTC, and not midnight where the machine
// is: in Los Angeles, --since 2026-11-16 left out a session updated at
// 02:01 UTC that day, which ls shows as "2026-11-16 02:01:24".
func TestSinceDateIsUTC(t *testing.T) {
	db := demoDB(t)
	cmd := exec.CommandContext(t.Context(), convoBinary(t), "--db", db, "ls", "--id-prefix", "t", "--since", "2026-11-16")
	cmd.Env = append(filteredEnv("CONVO_DB", "TZ"), "TZ=America/Los_Angeles", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("convo ls: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "tokyo-5days") || !strings.Contains(string(out), "trip-paris") {
		t.Errorf("convo ls --since 2026-11-16 with TZ=America/Los_Angeles:\n%s\nwant trip-paris and tokyo-5days (updated 2026-11-16 02:01:24 UTC)", out)
	}
}

// TestExportOutputInAMissingDirectory checks that export --output into a
// directory that does not exist fails before the store is opened, naming
// the file given: it named its temporary file
// ("open /x/.out.jsonl.2566401068.tmp: no such file or directory"), after
// opening the store.
func TestExportOutputInAMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "missing", "out.jsonl")
	r := convo(t, "", "--db", filepath.Join(dir, "absent.db"), "export", "-o", out)
	want := "convo: export: --output " + out + ": no such file or directory\n"
	if r.err == nil || r.stderr != want {
		t.Errorf("export -o %s: err %v, stderr %q; want %q", out, r.err, r.stderr, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
