package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// oneFile turns the database at path into a single file in rollback-journal
// mode, as an application's own file often is, and returns its bytes.
func oneFile(t *testing.T, path string) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA journal_mode = DELETE`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameFile fails t unless path holds want and has no -wal or -journal
// beside it.
func sameFile(t *testing.T, what, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed the database file", what)
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Size() > 0 {
			t.Errorf("%s left %s%s (%d bytes)", what, filepath.Base(path), suffix, fi.Size())
		}
	}
}

// TestLookingNeverChangesTheDatabase runs every command that only looks on
// a database file and checks its bytes after each.
func TestLookingNeverChangesTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	seed(t, path, "", demoSessions(t))
	before := oneFile(t, path)
	for _, args := range [][]string{
		{"ls"}, {"ls", "--json"},
		{"show", "trip-paris"}, {"show", "trip-paris", "--json"},
		{"search", "Paris"},
		{"export", "-o", filepath.Join(t.TempDir(), "out.jsonl")},
		{"doctor"},
		{"migrate", "--to", filepath.Join(t.TempDir(), "copy.db")},
	} {
		r := runInProcess(t, "", append([]string{"--db", path}, args...)...)
		if r.err != nil && args[0] != "doctor" { // doctor exits non-zero: the demo has damaged sessions
			t.Errorf("convo %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
		}
		sameFile(t, "convo "+strings.Join(args, " "), path, before)
	}
	// serve, as a process, with a page read.
	cmd := exec.CommandContext(t.Context(), convoBinary(t), "--db", path, "serve", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(line)
	if url == "" {
		_ = cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("serve printed %q", line)
	}
	if status, _, body := get(t, "GET", url+"s/trip-paris"); status != 200 {
		t.Errorf("GET a session: %d\n%s", status, body)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	sameFile(t, "convo serve", path, before)
}

// TestReadOnlyFile: the looking commands work on a file nobody may write.
func TestLookingWorksOnAReadOnlyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	seed(t, path, "", demoSessions(t)[:1])
	before := oneFile(t, path)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	r := runInProcess(t, "", "--db", path, "ls", "--json")
	if r.err != nil || !strings.Contains(r.stdout, "trip-paris") {
		t.Errorf("ls on a 0444 file: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	sameFile(t, "ls", path, before)
}

// TestModeROTakesAFileName: SQLite reads mode=ro only from a file: name.
// "PATH?mode=ro" would open the file read-write, so it is refused before
// anything is opened; "sqlite:file:PATH?mode=ro" reads and refuses writes.
func TestModeROTakesAFileName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	seed(t, path, "", demoSessions(t)[:1])
	before := oneFile(t, path)
	for _, db := range []string{path + "?mode=ro", "sqlite:" + path + "?mode=ro"} {
		r := runInProcess(t, "", "--db", db, "rm", "--yes", "trip-paris")
		if r.err == nil || !strings.Contains(r.err.Error(), "write sqlite:file:") {
			t.Errorf("rm with --db %s: %v, want the refusal naming sqlite:file:", db, r.err)
		}
		sameFile(t, "rm with --db "+db, path, before)
	}
	ro := "sqlite:file:" + path + "?mode=ro"
	if r := runInProcess(t, "", "--db", ro, "ls"); r.err != nil || !strings.Contains(r.stdout, "trip-paris") {
		t.Errorf("ls with --db %s: %v\n%s%s", ro, r.err, r.stdout, r.stderr)
	}
	if r := runInProcess(t, "", "--db", ro, "rm", "--yes", "trip-paris"); r.err == nil {
		t.Errorf("rm with --db %s succeeded; want it to fail", ro)
	}
	sameFile(t, "convo with --db "+ro, path, before)
}

func TestLookingAtAnotherProgramsTablesChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE sessions (token TEXT PRIMARY KEY); CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := oneFile(t, path)
	for _, args := range [][]string{{"ls"}, {"rm", "--yes", "x"}, {"doctor", "--repair"}} {
		r := runInProcess(t, "", append([]string{"--db", path}, args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), "belong to something else") {
			t.Errorf("convo %s on another program's tables: %v, want the refusal", args[0], r.err)
		}
		sameFile(t, "convo "+args[0], path, before)
	}
}

// TestEmptyListIsAnEmptyJSONArray: --json prints [] for nothing.
func TestEmptyListIsAnEmptyJSONArray(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	seed(t, path, "", nil)
	r := runInProcess(t, "", "--db", path, "ls", "--json")
	if r.err != nil || !strings.Contains(r.stdout, `"sessions": []`) {
		t.Errorf("ls --json of an empty store = %q, %v; want []", r.stdout, r.err)
	}
}

func TestUpgradeCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	src, err := os.Open(filepath.Join("..", "..", "sqlite", "testdata", "upstream", "upstream-sqlite-prefixed.db"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	r := runInProcess(t, "", "--db", path, "--prefix", "chat_", "ls")
	if r.err == nil || !strings.Contains(r.err.Error(), "convo upgrade") {
		t.Fatalf("ls on an upstream file: %v, want an error naming convo upgrade", r.err)
	}
	r = runInProcess(t, "", "--db", path, "--prefix", "chat_", "upgrade", "--json")
	if r.err != nil {
		t.Fatalf("upgrade: %v\n%s", r.err, r.stderr)
	}
	var res upgradeResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Upgraded || res.Sessions != 4 || res.Messages != 8 || len(res.Unconverted) != 0 {
		t.Errorf("upgrade reported %+v", res)
	}
	r = runInProcess(t, "", "--db", path, "--prefix", "chat_", "show", "reasoning")
	if r.err != nil || !strings.Contains(r.stdout, "鉤括弧") {
		t.Errorf("show after upgrade: %v\n%s", r.err, r.stdout)
	}
}

func TestDoctorRepairQuarantinesAnUnreadableRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	seed(t, path, "", demoSessions(t)[:1])
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE messages SET parts = '[{"type":"text","text":"cut' WHERE session_id = 'trip-paris' AND seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := oneFile(t, path)
	r := runInProcess(t, "", "--db", path, "doctor")
	if r.err == nil || !strings.Contains(r.stdout, "cannot be read") {
		t.Errorf("doctor: %v\n%s", r.err, r.stdout)
	}
	sameFile(t, "doctor", path, before)
	r = runInProcess(t, "", "--db", path, "doctor", "--repair")
	if r.err != nil || !strings.Contains(r.stdout, "quarantine") {
		t.Errorf("doctor --repair: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if r := runInProcess(t, "", "--db", path, "show", "trip-paris"); r.err != nil {
		t.Errorf("show after the repair: %v", r.err)
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var parts string
	if err := db.QueryRow(`SELECT CAST(parts AS TEXT) FROM messages_quarantine WHERE session_id = 'trip-paris'`).Scan(&parts); err != nil || parts != `[{"type":"text","text":"cut` {
		t.Errorf("quarantined row: %q, %v", parts, err)
	}
}
