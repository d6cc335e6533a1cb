package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// seedAged seeds the demo sessions into db and moves their last update into
// the past, so that the order by activity differs from the order in which
// they were written, one session is older than 30 days, and every time has
// odd nanoseconds. It returns the order that ls must show.
func seedAged(t *testing.T, db testDB) []string {
	t.Helper()
	seed(t, db.url, db.prefix, demoSessions(t))
	now := time.Now()
	backdate(t, db.url, db.prefix, "trip-paris", now.Add(-40*24*time.Hour).UnixNano()+123)
	backdate(t, db.url, db.prefix, "damaged-middle", now.Add(-3*24*time.Hour).UnixNano()+45)
	backdate(t, db.url, db.prefix, "support-42", now.Add(-time.Hour).UnixNano()+6789)
	// damaged-suffix keeps the time of the seed: the most recent.
	order := []string{"damaged-suffix", "support-42", "damaged-middle", "trip-paris"}
	if got := lsOrder(t, db); !slices.Equal(got, order) {
		t.Fatalf("seeded store lists %q, want %q", got, order)
	}
	return order
}

// lsOrder returns the ids that convo ls prints, in its order.
func lsOrder(t *testing.T, db testDB) []string {
	t.Helper()
	r := mustConvo(t, "", db.args("ls", "--json")...)
	var out struct{ Sessions []sessionJSON }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	var ids []string
	for _, s := range out.Sessions {
		ids = append(ids, s.ID)
	}
	return ids
}

// emptyLike returns an empty store of db's kind.
func emptyLike(t *testing.T, db testDB) testDB {
	t.Helper()
	if db.name == "postgres" {
		return testDB{name: db.name, url: db.url, prefix: uniquePrefix(t, db.url)}
	}
	return testDB{name: db.name, url: filepath.Join(t.TempDir(), "empty.db")}
}

// sameUpdatedAt fails t unless every session of want has, in got, exactly
// its UpdatedAt.
func sameUpdatedAt(t *testing.T, what string, want, got map[string]dumped) {
	t.Helper()
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s: session %q missing", what, id)
		case g.Info.UpdatedAt != w.Info.UpdatedAt:
			t.Errorf("%s: session %q UpdatedAt = %d (%s), want the source's %d (%s)", what, id,
				g.Info.UpdatedAt, rfc3339(g.Info.UpdatedAt), w.Info.UpdatedAt, rfc3339(w.Info.UpdatedAt))
		}
	}
}

// appendLocal appends a message to session id, as a program using the
// store would.
func appendLocal(t *testing.T, db testDB, id string) {
	t.Helper()
	withSession(t, db.url, db.prefix, id, func(s session.Session) error {
		return s.AddMessages(t.Context(), []message.Message{message.NewUserMessage("written here")})
	})
}

func TestImportKeepsUpdatedAt(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			order := seedAged(t, db)
			want := dump(t, db.url, db.prefix)
			file := filepath.Join(t.TempDir(), "all.jsonl")
			mustConvo(t, "", db.args("export", "-o", file)...)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(data), `"updated_at":`); n != 4 {
				t.Errorf("export has updated_at on %d lines, want the 4 session lines:\n%s", n, data)
			}

			dst := emptyLike(t, db)
			mustConvo(t, "", dst.args("import", file)...)
			sameUpdatedAt(t, "after import", want, dump(t, dst.url, dst.prefix))
			if got := lsOrder(t, dst); !slices.Equal(got, order) {
				t.Errorf("ls after import = %q, want the source's %q", got, order)
			}
			r := mustConvo(t, "", dst.args("prune", "--older-than", "30d", "--dry-run")...)
			if !strings.Contains(r.stdout, "would delete 1 session, 5 messages\n  trip-paris\n") {
				t.Errorf("prune --dry-run after import: want trip-paris (40 days idle) only:\n%s", r.stdout)
			}

			// A session that lacks a message and holds one of its own was
			// active here: the import adds the message and leaves it the
			// time of the import.
			popLast(t, dst.url, dst.prefix, "support-42")
			appendLocal(t, dst, "support-42")
			before := time.Now().UnixNano()
			r = mustConvo(t, "", dst.args("import", file)...)
			if !strings.Contains(r.stdout, "imported 4 sessions (0 new), 1 message added, 11 already present") {
				t.Errorf("import into a session with a message of its own: %q", r.stdout)
			}
			got := dump(t, dst.url, dst.prefix)
			if at := got["support-42"].Info.UpdatedAt; at < before {
				t.Errorf("support-42, which holds a message of its own, has UpdatedAt %s, before the import (%s); want the import's time",
					rfc3339(at), rfc3339(before))
			}
			delete(want, "support-42")
			sameUpdatedAt(t, "after importing again", want, got)

			// An export without updated_at (from an earlier convo) still
			// imports; the sessions' last update is then the import.
			old := regexp.MustCompile(`,"updated_at":[0-9]+`).ReplaceAll(data, nil)
			if strings.Contains(string(old), "updated_at") {
				t.Fatal("updated_at not removed")
			}
			dst = emptyLike(t, db)
			before = time.Now().UnixNano()
			r = mustConvo(t, string(old), dst.args("import", "-")...)
			if !strings.Contains(r.stdout, "imported 4 sessions (4 new), 12 messages added, 0 already present") {
				t.Errorf("import of a file without updated_at: %q", r.stdout)
			}
			for id, d := range dump(t, dst.url, dst.prefix) {
				if d.Info.UpdatedAt < before {
					t.Errorf("%s imported without updated_at has UpdatedAt %s, before the import", id, rfc3339(d.Info.UpdatedAt))
				}
			}
		})
	}
}

func TestMigrateKeepsUpdatedAt(t *testing.T) {
	dir := t.TempDir()
	src := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "src.db")}
	dst := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "dst.db"), prefix: "chat_"}
	if pg := postgresURL(t); pg != "" {
		dst = testDB{name: "postgres", url: pg, prefix: uniquePrefix(t, pg)}
	}
	order := seedAged(t, src)
	want := dump(t, src.url, src.prefix)
	migrate := func() result {
		t.Helper()
		return convo(t, "", src.args("migrate", "--to", dst.url, "--to-prefix", dst.prefix)...)
	}

	if r := migrate(); r.err != nil || !strings.Contains(r.stdout, "4 created") {
		t.Fatalf("migrate: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	sameUpdatedAt(t, "after migrate", want, dump(t, dst.url, dst.prefix))
	if got := lsOrder(t, dst); !slices.Equal(got, order) {
		t.Errorf("ls after migrate = %q, want the source's %q", got, order)
	}

	// A run stopped after a session's append but before its time was set
	// (or a run of an older convo) left the time of the copy on a
	// complete session; a session that lost its last message gets it
	// again. Re-running fixes both.
	backdate(t, dst.url, dst.prefix, "support-42", time.Now().UnixNano())
	popLast(t, dst.url, dst.prefix, "trip-paris")
	r := migrate()
	if r.err != nil || !strings.Contains(r.stdout, "0 created, 3 already complete, 1 message copied") {
		t.Fatalf("resumed migrate: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	sameUpdatedAt(t, "after the resumed migrate", want, dump(t, dst.url, dst.prefix))

	// A target session with a message of its own keeps its time (and the
	// verification reports it).
	appendLocal(t, dst, "damaged-middle")
	before := dump(t, dst.url, dst.prefix)["damaged-middle"].Info.UpdatedAt
	r = migrate()
	if r.err == nil || !strings.Contains(r.stderr, "migrate: 1 session differs after copying") ||
		!strings.Contains(r.stdout, "  damaged-middle: 3 messages in the source, 4 in the target\n") {
		t.Errorf("migrate onto a session with a message of its own: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	got := dump(t, dst.url, dst.prefix)
	if at := got["damaged-middle"].Info.UpdatedAt; at != before {
		t.Errorf("damaged-middle, which holds a message of its own, has UpdatedAt %s after migrate, want %s unchanged",
			rfc3339(at), rfc3339(before))
	}
	delete(want, "damaged-middle")
	sameUpdatedAt(t, "after the last migrate", want, got)
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{plural(0, "session", "sessions"), "0 sessions"},
		{plural(1, "session", "sessions"), "1 session"},
		{plural(2, "session", "sessions"), "2 sessions"},
		{plural(int64(1), "message", "messages"), "1 message"},
		{plural(-1, "byte", "bytes"), "-1 bytes"},
		{plural(1, "session is", "sessions are"), "1 session is"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestSingularMessages checks the counts of one in what the commands print.
func TestSingularMessages(t *testing.T) {
	dir := t.TempDir()
	db := testDB{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "one.db")}
	all := demoSessions(t)
	seed(t, db.url, "", []demoSession{all[2]}) // damaged-suffix: 2 messages, damaged
	r := convo(t, "", db.args("doctor")...)
	if !strings.Contains(r.stdout, "checked 1 session: 1 damaged, 0 repaired, 0 errors\n") ||
		!strings.Contains(r.stderr, "doctor: 1 session is damaged; run convo doctor --repair") {
		t.Errorf("doctor on one damaged session: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	r = mustConvo(t, "", db.args("doctor", "--repair")...)
	if !strings.Contains(r.stdout, "damaged-suffix: repaired, appended 1 message\n") {
		t.Errorf("doctor --repair:\n%s", r.stdout)
	}
	r = mustConvo(t, "", db.args("show", "damaged-suffix")...)
	if !strings.Contains(r.stdout, "\n3 messages, created ") {
		t.Errorf("show:\n%s", r.stdout)
	}
	file := filepath.Join(dir, "one.jsonl")
	r = mustConvo(t, "", db.args("export", "-o", file)...)
	if !strings.Contains(r.stderr, "exported 1 session, 3 messages\n") {
		t.Errorf("export stderr = %q", r.stderr)
	}
	r = mustConvo(t, "", db.args("migrate", "--to", "sqlite:"+filepath.Join(dir, "two.db"))...)
	if !strings.Contains(r.stdout, "migrated 1 session from ") {
		t.Errorf("migrate:\n%s", r.stdout)
	}
	r = mustConvo(t, "", db.args("rm", "--yes", "damaged-suffix")...)
	if !strings.Contains(r.stdout, "deleted 1 session, 3 messages\n") {
		t.Errorf("rm:\n%s", r.stdout)
	}
	if got := humanSize(1); got != "1 byte" {
		t.Errorf("humanSize(1) = %q", got)
	}
}
