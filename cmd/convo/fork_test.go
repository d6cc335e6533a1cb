package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestShowAndListMarkForks forks the demo conversation at its tool result
// and before its first message, on each backend, and checks that show names
// the parent and fork point and marks where the inherited messages end, and
// that ls --json and show --json carry the link.
func TestShowAndListMarkForks(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			ctx := t.Context()
			b := seedForkedTrip(t, db)
			if _, err := session.Fork(ctx, b.store, "trip-paris", "", "trip-empty", session.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			b.close()

			r := runInProcess(t, "", db.args("show", "--no-pager", "trip-retry")...)
			if r.err != nil {
				t.Fatalf("show: %v\n%s", r.err, r.stderr)
			}
			mark := "--- forked from trip-paris here"
			for _, want := range []string{"fork of trip-paris at message m-trip-4", "← result get_weather", mark, "Sunny Saturday"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("show of a fork: no %q in\n%s", want, r.stdout)
				}
			}
			// The mark comes after the inherited tool result and before the
			// fork's own answer.
			if i := strings.Index(r.stdout, mark); i < strings.Index(r.stdout, "← result get_weather") || i > strings.Index(r.stdout, "Sunny Saturday") {
				t.Errorf("the fork mark is out of place:\n%s", r.stdout)
			}
			r = runInProcess(t, "", db.args("show", "--no-pager", "trip-empty")...)
			if r.err != nil || !strings.Contains(r.stdout, "fork of trip-paris before its first message") {
				t.Errorf("show of a fork before the first message: %v\n%s", r.err, r.stdout)
			}
			r = runInProcess(t, "", db.args("show", "--no-pager", "trip-paris")...)
			if r.err != nil || strings.Contains(r.stdout, "fork") {
				t.Errorf("show of a session that is no fork mentions a fork: %v\n%s", r.err, r.stdout)
			}

			r = runInProcess(t, "", db.args("ls")...)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.err != nil || len(lines) != 4 || !strings.HasSuffix(lines[0], "FORK OF") {
				t.Fatalf("ls with forks: %v\n%s", r.err, r.stdout)
			}
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				want := "trip-paris"
				if f[0] == "trip-paris" {
					want = "-"
				}
				if f[len(f)-1] != want {
					t.Errorf("ls row of %s: FORK OF is %q, want %q\n%s", f[0], f[len(f)-1], want, r.stdout)
				}
			}
			r = runInProcess(t, "", db.args("ls", "--json")...)
			var page struct{ Sessions []sessionJSON }
			if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
				t.Fatalf("ls --json: %v\n%s", err, r.stdout)
			}
			links := map[string]string{}
			for _, s := range page.Sessions {
				links[s.ID] = s.Parent + "@" + s.ForkMessageID
			}
			if links["trip-retry"] != "trip-paris@m-trip-4" || links["trip-empty"] != "trip-paris@" || links["trip-paris"] != "@" {
				t.Errorf("ls --json links: %v", links)
			}
			r = runInProcess(t, "", db.args("show", "trip-retry", "--json")...)
			var shown struct{ Session sessionJSON }
			if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Session.Parent != "trip-paris" || shown.Session.ForkMessageID != "m-trip-4" {
				t.Errorf("show --json of a fork: %+v, %v", shown.Session, err)
			}
		})
	}
}

// TestExportImportAndMigrateKeepForkLinks checks that a fork's link to its
// parent survives export and import, and migrate (to PostgreSQL when
// CONVO_TEST_POSTGRES is set, else to another SQLite file), with the fork's
// messages.
func TestExportImportAndMigrateKeepForkLinks(t *testing.T) {
	dir := t.TempDir()
	src := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "src.db")}
	seed(t, src.url, "", demoSessions(t)[:1])
	b, err := openBackend(t.Context(), src.url, "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := session.Fork(t.Context(), b.store, "trip-paris", "m-trip-2", "trip-retry", session.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b.close()
	want := dump(t, src.url, "")
	if in := want["trip-retry"].Info; in.ParentID != "trip-paris" || in.ForkMessageID != "m-trip-2" || len(want["trip-retry"].Messages) != 2 {
		t.Fatalf("the fork in the source: %+v", want["trip-retry"])
	}
	check := func(what string, db testDB) {
		t.Helper()
		got := dump(t, db.url, db.prefix)
		for id, w := range want {
			g := got[id]
			if g.Info.ParentID != w.Info.ParentID || g.Info.ForkMessageID != w.Info.ForkMessageID {
				t.Errorf("%s: %s links to %q at %q, want %q at %q", what, id, g.Info.ParentID, g.Info.ForkMessageID, w.Info.ParentID, w.Info.ForkMessageID)
			}
			if len(g.Messages) != len(w.Messages) {
				t.Errorf("%s: %s holds %d messages, want %d", what, id, len(g.Messages), len(w.Messages))
			}
		}
	}

	file := filepath.Join(dir, "all.jsonl")
	mustConvo(t, "", src.args("export", "-o", file)...)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"id":"trip-retry","owner":"alice"`) || !strings.Contains(string(data), `"parent":"trip-paris","fork_message_id":"m-trip-2"`) {
		t.Errorf("the export does not carry the fork's link:\n%s", data)
	}
	imported := testDB{name: "sqlite", url: filepath.Join(dir, "imported.db")}
	mustConvo(t, "", imported.args("import", file)...)
	check("after export and import", imported)

	to := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "to.db")}
	if pg := postgresURL(t); pg != "" {
		to = testDB{name: "postgres", url: pg, prefix: uniquePrefix(t, pg)}
	}
	mustConvo(t, "", src.args("migrate", "--to", to.url, "--to-prefix", to.prefix)...)
	check("after migrate to "+to.name, to)
}

// seedForkedTrip seeds the demo's trip-paris session in db, forks it at
// m-trip-4 as trip-retry with one message of its own, and returns the
// store, open for writing.
func seedForkedTrip(t *testing.T, db testDB) *backend {
	t.Helper()
	ctx := t.Context()
	seed(t, db.url, db.prefix, demoSessions(t)[:1])
	b, err := openBackend(ctx, db.url, db.prefix, false, false)
	if err != nil {
		t.Fatal(err)
	}
	fk, err := session.Fork(ctx, b.store, "trip-paris", "m-trip-4", "trip-retry", session.CreateOptions{})
	if err == nil {
		err = fk.AddMessages(ctx, []message.Message{message.NewAssistantMessage("Sunny Saturday, showery Sunday.")})
	}
	if err != nil {
		b.close()
		t.Fatal(err)
	}
	return b
}
