package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func TestBadInput(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	missingFile := filepath.Join(t.TempDir(), "nope.db")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown scheme", []string{"--db", "mysql://root@localhost/x", "ls"}, `unknown database scheme "mysql"`},
		{"no database", []string{"ls"}, "no database: pass --db or set CONVO_DB"},
		{"missing session", []string{"--db", dbPath, "show", "no-such-session"}, `show: no session "no-such-session"`},
		{"missing sqlite file", []string{"--db", missingFile, "ls"}, "does not exist"},
		{"rm missing session", []string{"--db", dbPath, "rm", "--yes", "ghost"}, `rm: no session "ghost"`},
		{"bad duration before opening", []string{"--db", "mysql://x", "prune", "--older-than", "soon"}, `invalid duration "soon"`},
		{"prune needs older-than", []string{"--db", dbPath, "prune"}, "--older-than is required"},
		{"rm ids and owner", []string{"--db", dbPath, "rm", "a", "--owner", "bob"}, "not both"},
		{"bad since", []string{"--db", dbPath, "ls", "--since", "yesterday-ish"}, "--since"},
		{"unknown command", []string{"--db", dbPath, "frobnicate"}, `unknown command "frobnicate"`},
		{"bad prefix", []string{"--db", dbPath, "--prefix", "x; DROP", "ls"}, "prefix"},
		{"import missing file", []string{"--db", dbPath, "import", missingFile}, "no such file"},
		{"import without a file", []string{"--db", dbPath, "import"}, "import: accepts 1 arg(s), received 0 (usage: convo import FILE [flags])"},
		{"ls with an argument", []string{"--db", dbPath, "ls", "alice"}, `ls: takes no arguments, got "alice" (usage: convo ls [flags])`},
		{"completion of an unknown shell", []string{"completion", "tcsh"}, `completion: unknown shell "tcsh"`},
		{"ls --limit 0", []string{"--db", dbPath, "ls", "--limit", "0"}, "--limit must be between 1 and 1000"},
		{"search --limit 0", []string{"--db", dbPath, "search", "--limit", "0", "x"}, "--limit must be between 1 and 1000"},
		{"help on an unknown command", []string{"help", "lss"}, `help: unknown command "lss" for "convo"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := convo(t, "", tc.args...)
			if r.err == nil {
				t.Fatalf("convo %v succeeded; want an error\nstdout: %s", tc.args, r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tc.want)
			}
			if !strings.HasPrefix(r.stderr, "convo: ") && !strings.HasPrefix(r.stderr, "Error: ") {
				t.Errorf("stderr = %q; want it to start with \"convo: \"", r.stderr)
			}
		})
	}
	if _, err := os.Stat(missingFile); err == nil {
		t.Errorf("a read command created %s", missingFile)
	}
}

func TestParseDB(t *testing.T) {
	tests := []struct {
		in, kind, dsn, err string
	}{
		{"sqlite:chat.db", "sqlite", "chat.db", ""},
		{"sqlite:///tmp/chat.db", "sqlite", "/tmp/chat.db", ""},
		{"/var/lib/chat.db", "sqlite", "/var/lib/chat.db", ""},
		{"./chat.db?_pragma=foreign_keys(1)", "sqlite", "./chat.db?_pragma=foreign_keys(1)", ""},
		{`C:\data\chat.db`, "sqlite", `C:\data\chat.db`, ""},
		{"postgres://u@h/db", "postgres", "postgres://u@h/db", ""},
		{"postgresql://u@h/db", "postgres", "postgresql://u@h/db", ""},
		{"mysql://u@h/db", "", "", "unknown database scheme"},
		{"redis:6379", "", "", "unknown database scheme"},
		{"sqlite:", "", "", "no file path"},
		// SQLite's own URI parameters take effect only in a file: name.
		{"sqlite:file:chat.db?mode=ro", "sqlite", "file:chat.db?mode=ro", ""},
		{"sqlite:chat.db?mode=ro", "", "", "write sqlite:file:chat.db?mode=ro"},
		{"chat.db?_pragma=busy_timeout(1)&immutable=1", "", "", "SQLite reads immutable= only from a file: name"},
	}
	for _, tc := range tests {
		kind, dsn, err := parseDB(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseDB(%q) error = %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind || dsn != tc.dsn {
			t.Errorf("parseDB(%q) = %q, %q, %v; want %q, %q", tc.in, kind, dsn, err, tc.kind, tc.dsn)
		}
	}
}

// cmpDump compares two dumps.
func cmpDump(t *testing.T, want, got map[string]dumped) {
	t.Helper()
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("stores differ (-want +got):\n%s", diff)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seed(t, db.url, db.prefix, demoSessions(t))
			want := dump(t, db.url, db.prefix)
			if len(want) != 4 {
				t.Fatalf("seeded %d sessions, want 4", len(want))
			}
			file := filepath.Join(t.TempDir(), "all.jsonl")
			r := mustConvo(t, "", db.args("export", "-o", file)...)
			if !strings.Contains(r.stderr, "exported 4 sessions, 12 messages") {
				t.Errorf("export stderr = %q", r.stderr)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if lines[0] != `{"type":"convo-export","version":1}` || len(lines) != 1+4+12 {
				t.Fatalf("export has %d lines, first %q", len(lines), lines[0])
			}

			// Into an empty store: the same sessions and messages.
			empty := testDB{url: filepath.Join(t.TempDir(), "copy.db")}
			if db.name == "postgres" {
				empty = testDB{url: db.url, prefix: uniquePrefix(t, db.url)}
			}
			r = mustConvo(t, "", empty.args("import", file)...)
			if !strings.Contains(r.stdout, "imported 4 sessions (4 new), 12 messages added, 0 already present") {
				t.Errorf("import stdout = %q", r.stdout)
			}
			cmpDump(t, want, dump(t, empty.url, empty.prefix))

			// Again, from stdin: idempotent.
			r = mustConvo(t, string(data), empty.args("import", "-", "--json")...)
			var rep struct {
				Created, MessagesAdded, MessagesSkipped int
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("import --json: %v\n%s", err, r.stdout)
			}
			if rep.MessagesAdded != 0 || rep.Created != 0 {
				t.Errorf("second import added %d messages, created %d sessions; want 0, 0", rep.MessagesAdded, rep.Created)
			}
			cmpDump(t, want, dump(t, empty.url, empty.prefix))

			// A session that lacks its last message gets only that one.
			popLast(t, empty.url, empty.prefix, "trip-paris")
			r = mustConvo(t, "", empty.args("import", file)...)
			if !strings.Contains(r.stdout, "imported 4 sessions (0 new), 1 message added, 11 already present") {
				t.Errorf("import after pop: %q", r.stdout)
			}
			cmpDump(t, want, dump(t, empty.url, empty.prefix))

			// Export of chosen ids.
			r = mustConvo(t, "", db.args("export", "support-42")...)
			if n := strings.Count(r.stdout, "\n"); n != 1+1+2 {
				t.Errorf("export support-42: %d lines, want 4:\n%s", n, r.stdout)
			}
			if r := convo(t, "", db.args("export", "ghost")...); r.err == nil || !strings.Contains(r.stderr, `export: no session "ghost"`) {
				t.Errorf("export ghost: err %v, stderr %q; want no session \"ghost\", as show says it", r.err, r.stderr)
			}
		})
	}
}

// popLast removes the newest message of session id.
func popLast(t *testing.T, dbURL, prefix, id string) {
	t.Helper()
	withSession(t, dbURL, prefix, id, func(s session.Session) error {
		_, err := s.PopMessage(t.Context())
		return err
	})
}

// withSession opens the store at dbURL, as a program using it would, and
// runs fn on session id; an error from either fails t.
func withSession(t *testing.T, dbURL, prefix, id string, fn func(session.Session) error) {
	t.Helper()
	b, err := openBackend(t.Context(), dbURL, prefix, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	s, err := b.store.Load(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(s); err != nil {
		t.Fatal(err)
	}
}

func TestImportRejectsMalformedFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.db")
	seed(t, src, "", demoSessions(t))
	good := mustConvo(t, "", "--db", src, "export").stdout
	lines := strings.Split(strings.TrimSpace(good), "\n")
	replace := func(n int, s string) string {
		l := append([]string(nil), lines...)
		l[n-1] = s
		return strings.Join(l, "\n") + "\n"
	}
	tests := []struct {
		name, file, want string
	}{
		{"truncated JSON", replace(5, lines[4][:len(lines[4])/2]), "line 5: not a JSON object"},
		{"bad header", replace(1, `{"type":"something-else"}`), "line 1: the first line must be"},
		{"future version", replace(1, `{"type":"convo-export","version":9}`), "line 1: export version 9 is not supported"},
		{"unknown type", replace(9, `{"type":"mystery"}`), `line 9: unknown line type "mystery"`},
		{"message of another session", replace(4, strings.Replace(lines[3], `"session":"trip-paris"`, `"session":"support-42"`, 1)), "line 4: message for session \"support-42\" does not follow"},
		{"message without id", replace(3, `{"type":"message","session":"trip-paris","message":{"role":"user","parts":[{"type":"text","text":"hi"}],"created_at":1}}`), "line 3: message has no id"},
		{"invalid session id", replace(2, `{"type":"session","id":""}`), "line 2: session \"\""},
		{"bad parts", replace(6, `{"type":"message","session":"trip-paris","message":{"id":"x","role":"user","parts":{"not":"an array"}}}`), "line 6: message"},
		{"empty file", "", "empty file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst.db")
			seed(t, dst, "", nil)
			file := filepath.Join(t.TempDir(), "bad.jsonl")
			if err := os.WriteFile(file, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			r := convo(t, "", "--db", dst, "import", file)
			if r.err == nil {
				t.Fatalf("import succeeded; want an error")
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want %q", r.stderr, tc.want)
			}
			if got := dump(t, dst, ""); len(got) != 0 {
				t.Errorf("after a failed import the store holds %d sessions; want none", len(got))
			}
		})
	}
}

func TestMigrateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "src.db")}
	back := testDB{name: "sqlite", url: filepath.Join(dir, "back.db")}
	mid := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "mid.db"), prefix: "chat_"}
	if pg := postgresURL(t); pg != "" {
		mid = testDB{name: "postgres", url: pg, prefix: uniquePrefix(t, pg)}
	}
	seed(t, src.url, "", demoSessions(t))
	want := dump(t, src.url, "")

	migrate := func(from, to testDB) string {
		t.Helper()
		args := from.args("migrate", "--to", to.url, "--to-prefix", to.prefix)
		return mustConvo(t, "", args...).stdout
	}
	out := migrate(src, mid)
	if !strings.Contains(out, "migrated 4 sessions") || !strings.Contains(out, "4 created") ||
		!strings.Contains(out, "12 messages copied") || !strings.Contains(out, "verified: message counts match") {
		t.Errorf("migrate to %s:\n%s", mid.name, out)
	}
	cmpDump(t, want, dump(t, mid.url, mid.prefix))

	// Interrupted run: the target lacks a session and a message. Re-running
	// copies only those.
	b, err := openBackend(t.Context(), mid.url, mid.prefix, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.Delete(t.Context(), "support-42"); err != nil {
		t.Fatal(err)
	}
	b.close()
	popLast(t, mid.url, mid.prefix, "trip-paris")
	out = migrate(src, mid)
	if !strings.Contains(out, "1 created, 2 already complete, 3 messages copied") {
		t.Errorf("resumed migrate:\n%s", out)
	}
	cmpDump(t, want, dump(t, mid.url, mid.prefix))

	// Nothing left to do.
	r := mustConvo(t, "", append(mid.args("migrate", "--to", back.url, "--to-prefix", ""), "--json")...)
	var rep migrateReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("migrate --json: %v\n%s", err, r.stdout)
	}
	if !rep.Verified || rep.Sessions != 4 || rep.MessagesAdded != 12 {
		t.Errorf("migrate back: %+v", rep)
	}
	cmpDump(t, want, dump(t, back.url, ""))
	out = migrate(mid, back)
	if !strings.Contains(out, "0 created, 4 already complete, 0 messages copied") {
		t.Errorf("second migrate back:\n%s", out)
	}

	if r := convo(t, "", src.args("migrate", "--to", src.url)...); r.err == nil || !strings.Contains(r.stderr, "same store") {
		t.Errorf("migrate to itself: %v %q", r.err, r.stderr)
	}
	if r := convo(t, "", src.args("migrate", "--to", "ftp://x")...); r.err == nil || !strings.Contains(r.stderr, "unknown database scheme") {
		t.Errorf("migrate to ftp: %v %q", r.err, r.stderr)
	}
}

func TestPrune(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seed(t, db.url, db.prefix, demoSessions(t))
			old := time.Now().Add(-40 * 24 * time.Hour).UnixNano()
			backdate(t, db.url, db.prefix, "trip-paris", old)
			backdate(t, db.url, db.prefix, "damaged-middle", old)

			r := mustConvo(t, "", db.args("prune", "--older-than", "30d", "--dry-run", "--json")...)
			var rep deleteJSON
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err, r.stdout)
			}
			want := deleteJSON{DryRun: true, Sessions: []string{"damaged-middle", "trip-paris"}, Messages: 8}
			if diff := cmp.Diff(want, rep); diff != "" {
				t.Errorf("dry run (-want +got):\n%s", diff)
			}
			if n := len(dump(t, db.url, db.prefix)); n != 4 {
				t.Fatalf("dry run deleted: %d sessions left", n)
			}

			r = mustConvo(t, "", db.args("prune", "--older-than", "30d", "--yes")...)
			if !strings.Contains(r.stdout, "deleted 2 sessions, 8 messages") || !strings.Contains(r.stdout, "trip-paris") {
				t.Errorf("prune:\n%s", r.stdout)
			}
			left := dump(t, db.url, db.prefix)
			if _, ok := left["trip-paris"]; ok || len(left) != 2 {
				t.Errorf("after prune: %d sessions, trip-paris kept: %v", len(left), ok)
			}
			r = mustConvo(t, "", db.args("prune", "--older-than", "30d", "--yes")...)
			if !strings.Contains(r.stdout, "deleted 0 sessions") {
				t.Errorf("second prune: %s", r.stdout)
			}
		})
	}
}

func TestSearch(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seed(t, db.url, db.prefix, demoSessions(t))
			r := mustConvo(t, "", db.args("search", "umbrella")...)
			for _, want := range []string{"SESSION", "trip-paris", "support-42", "*umbrella*", "assistant", "2026-11-20 09:30:07"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("search umbrella: no %q in\n%s", want, r.stdout)
				}
			}
			if strings.ContainsAny(r.stdout, session.HighlightStart+session.HighlightEnd) {
				t.Errorf("raw highlight markers in terminal output:\n%q", r.stdout)
			}

			r = mustConvo(t, "", db.args("search", "--owner", "alice", "umbrella", "--json")...)
			var hits []hitJSON
			if err := json.Unmarshal([]byte(r.stdout), &hits); err != nil {
				t.Fatal(err, r.stdout)
			}
			if len(hits) != 1 || hits[0].Session.ID != "trip-paris" || hits[0].MessageID != "m-trip-5" || hits[0].Role != "assistant" {
				t.Fatalf("search --owner alice umbrella: %+v", hits)
			}
			// The hit's session has the shape of ls --json, with the same values.
			var ls struct{ Sessions []sessionJSON }
			if err := json.Unmarshal([]byte(mustConvo(t, "", db.args("ls", "--owner", "alice", "--json")...).stdout), &ls); err != nil {
				t.Fatal(err)
			}
			if len(ls.Sessions) != 1 || !cmp.Equal(ls.Sessions[0], hits[0].Session) {
				t.Errorf("search --json session = %+v; ls --json lists %+v", hits[0].Session, ls.Sessions)
			}
			if len(hits[0].Highlights) == 0 || !strings.EqualFold(hits[0].Highlights[0], "umbrella") {
				t.Errorf("highlights = %q; want umbrella", hits[0].Highlights)
			}

			// Tool results are searched, and --session narrows.
			r = mustConvo(t, "", db.args("search", "--session", "trip-paris", "--json", "sky")...)
			if err := json.Unmarshal([]byte(r.stdout), &hits); err != nil {
				t.Fatal(err)
			}
			if len(hits) != 1 || hits[0].MessageID != "m-trip-4" || hits[0].Role != "tool" {
				t.Errorf("search sky in trip-paris: %+v", hits)
			}
			r = mustConvo(t, "", db.args("search", "--session", "support-42", "sky")...)
			if strings.Contains(r.stdout, "trip-paris") || !strings.Contains(r.stderr, "no matches") {
				t.Errorf("search in another session found: %s / %s", r.stdout, r.stderr)
			}
			for _, args := range [][]string{{"search", "--session", "no-such", "sky"}, {"search", "--session", "no-such", "--json", "sky"}} {
				if r := convo(t, "", db.args(args...)...); r.err == nil || !strings.Contains(r.stderr, `search: --session: no session "no-such"`) {
					t.Errorf("%s: err %v, stderr %q; want no session", strings.Join(args, " "), r.err, r.stderr)
				}
			}
		})
	}
}

func TestRmOwner(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seed(t, db.url, db.prefix, demoSessions(t))
			r := mustConvo(t, "", db.args("rm", "--owner", "carol", "--json", "--yes")...)
			var rep deleteJSON
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err, r.stdout)
			}
			if diff := cmp.Diff(deleteJSON{Sessions: []string{"damaged-middle", "damaged-suffix"}, Messages: 5}, rep); diff != "" {
				t.Errorf("rm --owner carol (-want +got):\n%s", diff)
			}
			// Nothing of carol's is left, search index included.
			if r := mustConvo(t, "", db.args("ls", "--owner", "carol", "--json")...); !strings.Contains(r.stdout, `"sessions": []`) {
				t.Errorf("ls --owner carol after rm: %s", r.stdout)
			}
			if r := mustConvo(t, "", db.args("search", "Tokyo", "--json")...); strings.TrimSpace(r.stdout) != "[]" {
				t.Errorf("search Tokyo after rm --owner: %s", r.stdout)
			}
			// rm by id, with one missing: the others go, the exit is non-zero.
			r = convo(t, "", db.args("rm", "--yes", "support-42", "ghost")...)
			if r.err == nil || !strings.Contains(r.stderr, `no session "ghost"`) || !strings.Contains(r.stdout, "deleted 1 session, 2 messages") {
				t.Errorf("rm support-42 ghost: %v\n%s\n%s", r.err, r.stdout, r.stderr)
			}
			if left := dump(t, db.url, db.prefix); len(left) != 1 {
				t.Errorf("%d sessions left; want 1 (trip-paris)", len(left))
			}
		})
	}
}

func TestDoctorRepair(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seed(t, db.url, db.prefix, demoSessions(t))
			r := convo(t, "", db.args("doctor")...)
			if r.err == nil {
				t.Fatalf("doctor on damaged sessions exited 0:\n%s", r.stdout)
			}
			for _, want := range []string{"schema: " + db.name + " version", ": ok", "damaged-suffix: damaged",
				"tool call call_a (search_flights) has no result", "damaged-middle: damaged", "checked 4 sessions: 2 damaged, 0 repaired"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("doctor: no %q in\n%s", want, r.stdout)
				}
			}
			if !strings.Contains(r.stderr, "2 sessions are damaged; run convo doctor --repair") {
				t.Errorf("doctor stderr: %q", r.stderr)
			}
			before := dump(t, db.url, db.prefix)

			r = mustConvo(t, "", db.args("doctor", "--repair")...)
			for _, want := range []string{"damaged-suffix: repaired, appended 1 message\n", "damaged-middle: repaired, rewrote history", "2 damaged, 2 repaired"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("doctor --repair: no %q in\n%s", want, r.stdout)
				}
			}
			after := dump(t, db.url, db.prefix)
			for id, d := range after {
				if p := session.Check(d.Messages); p != nil {
					t.Errorf("%s still damaged: %v", id, p)
				}
			}
			// Appending kept the history and added one synthesized result.
			sfx := after["damaged-suffix"].Messages
			if diff := cmp.Diff(before["damaged-suffix"].Messages, sfx[:2], cmpopts.EquateEmpty()); diff != "" || len(sfx) != 3 {
				t.Errorf("damaged-suffix after repair (%d messages):\n%s", len(sfx), diff)
			} else if res := sfx[2].ToolResults(); len(res) != 1 || !res[0].Synthesized || res[0].CallID != "call_a" {
				t.Errorf("appended message: %+v", sfx[2])
			}
			// The rewrite kept the user and assistant messages and the
			// orphan result (moved after a synthesized call).
			mid := after["damaged-middle"].Messages
			ids := map[string]bool{}
			var moved bool
			for _, m := range mid {
				ids[m.ID] = true
				for _, r := range m.ToolResults() {
					moved = moved || (r.Content == "14:05 JST" && r.CallID == "call_x")
				}
			}
			if !ids["m-dmg2-1"] || !ids["m-dmg2-3"] || !moved {
				t.Errorf("rewrite lost a message or the result: %+v", mid)
			}
			// The valid sessions were not touched.
			cmpDump(t, map[string]dumped{"trip-paris": before["trip-paris"]}, map[string]dumped{"trip-paris": after["trip-paris"]})

			r = mustConvo(t, "", db.args("doctor", "--json")...)
			var rep doctorReport
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if !rep.Schema.OK || rep.Checked != 4 || rep.Damaged != 0 || len(rep.Sessions) != 4 {
				t.Errorf("doctor after repair: %+v", rep)
			}
		})
	}
}

func TestLsAndShow(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t))
	r := mustConvo(t, "", "--db", dbPath, "ls", "--limit", "3")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[4], "next page: convo --db "+dbPath+" ls --limit 3 --cursor ") {
		t.Fatalf("ls --limit 3:\n%s", r.stdout)
	}
	// Newest activity first: the last seeded session comes first.
	if !strings.HasPrefix(lines[1], "damaged-middle ") {
		t.Errorf("first row %q; want damaged-middle (updated last)", lines[1])
	}
	if strings.Index(lines[0], "OWNER") != strings.Index(lines[1], "carol") {
		t.Errorf("columns not aligned:\n%s\n%s", lines[0], lines[1])
	}
	_, cursor, _ := strings.Cut(lines[4], "--cursor ")
	r = mustConvo(t, "", "--db", dbPath, "ls", "--limit", "3", "--cursor", cursor, "--json")
	var page struct {
		Sessions []sessionJSON
		Next     string
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != 1 || page.Sessions[0].ID != "trip-paris" || page.Next != "" || page.Sessions[0].Messages != 5 {
		t.Errorf("second page: %+v", page)
	}
	r = mustConvo(t, "", "--db", dbPath, "ls", "--id-prefix", "damaged-", "--json")
	if strings.Count(r.stdout, `"id"`) != 2 {
		t.Errorf("ls --id-prefix damaged-: %s", r.stdout)
	}

	r = mustConvo(t, "", "--db", dbPath, "show", "trip-paris")
	for _, want := range []string{
		"session trip-paris", "owner   alice", "title   Weekend in Paris", "meta    channel=web",
		"[2] user", "[image image/png", "paris.png]",
		"[3] assistant (gpt-4.1)", "(reasoning) The user asks about the weekend forecast",
		"→ tool call get_weather (call_1)", `"city": "Paris"`,
		"← result get_weather", `"high_c": 18`,
		"[5] assistant", "pack an umbrella",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show: no %q in\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "[4] tool") {
		t.Errorf("show printed the tool message apart from its call:\n%s", r.stdout)
	}
	if strings.Index(r.stdout, "← result get_weather") < strings.Index(r.stdout, "→ tool call get_weather") {
		t.Error("result printed before its call")
	}
	r = mustConvo(t, "", "--db", dbPath, "show", "--reasoning", "damaged-middle")
	if !strings.Contains(r.stdout, "← result clock for call call_x") {
		t.Errorf("show of an orphan result:\n%s", r.stdout)
	}
	r = mustConvo(t, "", "--db", dbPath, "show", "trip-paris", "--json")
	var shown struct {
		Session  sessionJSON
		Messages []message.Message
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Session.Owner != "alice" || len(shown.Messages) != 5 || shown.Messages[2].ToolCalls()[0].Name != "get_weather" {
		t.Errorf("show --json: %+v", shown)
	}
}

func TestInProcessAndEnv(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	t.Setenv("CONVO_DB", "sqlite:"+dbPath)
	r := runInProcess(t, "", "ls", "--json")
	if r.err != nil || !strings.Contains(r.stdout, `"id": "trip-paris"`) {
		t.Errorf("ls with CONVO_DB: %v %s", r.err, r.stdout)
	}
	r = runInProcess(t, "", "--help")
	for _, c := range []string{"ls", "show", "export", "import", "rm", "prune", "doctor", "search", "migrate", "serve"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("--help lists no %q command:\n%s", c, r.stdout)
		}
	}
	r = runInProcess(t, "", "import", "--help")
	if !strings.Contains(r.stdout, `{"type":"convo-export","version":1}`) {
		t.Errorf("import --help does not document the format:\n%s", r.stdout)
	}
}
