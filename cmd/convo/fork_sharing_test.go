package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The tests in this file check the commands that move or read sessions on
// stores whose forks share their parent's message bytes (SQLite schema 7,
// PostgreSQL schema 8: a fork's inherited rows hold headers only and name
// the session whose row holds the parts; see sqlite/doc.go and
// postgres/doc.go, "Forks").

// sharedForkStore writes into db a store whose forks borrow bytes, in
// every way a fork can come to hold them:
//
//   - trip-paris, the demo conversation (an image, reasoning, a tool call,
//     usage), and a fork-a of it at its tool result with an answer of its
//     own, info of its own and inherited owner;
//   - fork-b, a fork of fork-a at fork-a's own answer (its rows borrow from
//     trip-paris and from fork-a), with an owner of its own;
//   - fork-empty, a fork of trip-paris before its first message;
//   - orphan, a fork of doomed, which is then deleted (its bytes are handed
//     over to the fork);
//   - pop-fork, a fork of popped at p-3, after which popped is popped below
//     the fork point and appended to again, with a new message and with the
//     popped p-4 once more.
//
// It returns what each session must hold, built from the messages written
// rather than read back, and checks that the store holds exactly that and
// that some rows of it do borrow their bytes (the premise of these tests).
func sharedForkStore(t *testing.T, db testDB) map[string][]message.Message {
	t.Helper()
	ctx := t.Context()
	trip := demoSessions(t)[0]
	doomed := demoSession{id: "doomed", opts: session.CreateOptions{Owner: "erin", Title: "To be deleted", CreatedAt: at(200)},
		msgs: []message.Message{
			msg("d-1", 201, message.RoleUser, message.Text{Text: "Tell me about Zanzibar spice farms."}),
			msg("d-2", 202, message.RoleAssistant, message.Text{Text: "Zanzibar grows cloves, nutmeg and cinnamon."},
				message.Binary{MIMEType: "application/octet-stream", Data: []byte{0, 1, 2, 0xff, 0xfe, '"', '\\', 0}, Name: "raw.bin"}),
			msg("d-3", 203, message.RoleUser, message.Text{Text: "And vanilla?"}),
		}}
	popped := demoSession{id: "popped", opts: session.CreateOptions{Owner: "frank", Metadata: map[string]string{"lang": "en", "ünï": "cödé"}, CreatedAt: at(300)},
		msgs: []message.Message{
			msg("p-1", 301, message.RoleUser, message.Text{Text: "Where do quokkas live?"}),
			msg("p-2", 302, message.RoleAssistant, message.Text{Text: "On Rottnest Island, near Perth."}),
			msg("p-3", 303, message.RoleUser, message.Text{Text: "Are wombats related to them?"}),
			msg("p-4", 304, message.RoleAssistant, message.Text{Text: "Both are marsupials; 袋熊 are not close kin."}),
		}}
	seed(t, db.url, db.prefix, []demoSession{trip, doomed, popped})

	b, err := openBackend(ctx, db.url, db.prefix, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	aOwn := msg("a-1", 10, message.RoleAssistant, message.Text{Text: "Fork A: rain all weekend, take the Louvre."})
	aOwn.Model = "gpt-4.1"
	aOwn.Usage = &message.Usage{InputTokens: 300, OutputTokens: 20}
	bOwn := msg("b-1", 11, message.RoleUser, message.Text{Text: "Fork B asks about the Orsay instead."})
	orphanOwn := msg("o-1", 204, message.RoleAssistant, message.Text{Text: "Orphan answer: Madagascar grows most vanilla."})
	popOwn := msg("pf-1", 305, message.RoleAssistant, message.Text{Text: "Pop fork: yes, both are marsupials."})
	forkWith(t, b.store, "trip-paris", "m-trip-4", "fork-a", session.CreateOptions{Title: "Retry in the rain", Metadata: map[string]string{"branch": "a"}, CreatedAt: at(9)}, aOwn)
	forkWith(t, b.store, "fork-a", "a-1", "fork-b", session.CreateOptions{Owner: "dave", CreatedAt: at(10)}, bOwn)
	forkWith(t, b.store, "trip-paris", "", "fork-empty", session.CreateOptions{CreatedAt: at(12)})
	forkWith(t, b.store, "doomed", "d-2", "orphan", session.CreateOptions{}, orphanOwn)
	forkWith(t, b.store, "popped", "p-3", "pop-fork", session.CreateOptions{Title: "Pop fork"}, popOwn)

	// Premise: the forks borrow bytes before anything is deleted.
	if n := borrowedRows(t, db); n != 4+5+2+3 {
		t.Fatalf("%d rows borrow their bytes, want 14 (fork-a 4, fork-b 5, orphan 2, pop-fork 3): do forks still share?", n)
	}
	// SQLite indexes text for search later than appends: index the forks'
	// rows now, with the text they borrow, so that the searches of
	// TestShowSearchAndViewerReadBorrowedBytes also meet rows indexed
	// before their bytes were handed over to them.
	if ix, ok := b.store.(interface {
		IndexSearch(context.Context) (int, error)
	}); ok {
		if n, err := ix.IndexSearch(ctx); err != nil || n == 0 {
			t.Fatalf("IndexSearch: %d rows, %v", n, err)
		}
	}
	if err := b.store.Delete(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	ps, err := b.store.Load(ctx, "popped")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // p-4, then p-3, the fork point
		if _, err := ps.PopMessage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p3b := msg("p-3b", 306, message.RoleUser, message.Text{Text: "Never mind that: what do quokkas eat?"})
	if err := ps.AddMessages(ctx, []message.Message{p3b, popped.msgs[3]}); err != nil {
		t.Fatal(err)
	}
	// pop-fork still borrows p-1 and p-2 from popped, and fork-a and fork-b
	// still borrow from trip-paris and fork-a.
	if n := borrowedRows(t, db); n != 4+5+2 {
		t.Fatalf("after the deletes and pops, %d rows borrow their bytes, want 11", n)
	}

	tm := trip.msgs
	want := map[string][]message.Message{
		"trip-paris": tm,
		"fork-a":     append(slices.Clone(tm[:4]), aOwn),
		"fork-b":     append(slices.Clone(tm[:4]), aOwn, bOwn),
		"fork-empty": nil,
		"orphan":     {doomed.msgs[0], doomed.msgs[1], orphanOwn},
		"popped":     {popped.msgs[0], popped.msgs[1], p3b, popped.msgs[3]},
		"pop-fork":   append(slices.Clone(popped.msgs[:3]), popOwn),
	}
	got := dump(t, db.url, db.prefix)
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("the store holds sessions %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for id, w := range want {
		if g, w := messagesJSON(t, got[id].Messages), messagesJSON(t, w); !slices.Equal(g, w) {
			t.Fatalf("the store's %s holds\n%s\nwant\n%s", id, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
	links := map[string]string{"fork-a": "trip-paris@m-trip-4", "fork-b": "fork-a@a-1", "fork-empty": "trip-paris@",
		"orphan": "doomed@d-2", "pop-fork": "popped@p-3"}
	for id, in := range got {
		if l := links[id]; in.Info.ParentID+"@"+in.Info.ForkMessageID != l && (l != "" || in.Info.ParentID != "") {
			t.Fatalf("the store's %s links to %q at %q, want %q", id, in.Info.ParentID, in.Info.ForkMessageID, l)
		}
	}
	return want
}

// forkWith forks parent at the message at into id (session.Fork) and
// appends own to the fork.
func forkWith(t *testing.T, store session.Store, parent, at, id string, opts session.CreateOptions, own ...message.Message) {
	t.Helper()
	s, err := session.Fork(t.Context(), store, parent, at, id, opts)
	if err != nil {
		t.Fatalf("fork %s: %v", id, err)
	}
	if len(own) > 0 {
		if err := s.AddMessages(t.Context(), own); err != nil {
			t.Fatalf("append to %s: %v", id, err)
		}
	}
}

// borrowedRows counts the message rows of db that hold no bytes of their
// own (SQLite: src set; PostgreSQL: shared_from set).
func borrowedRows(t *testing.T, db testDB) int {
	t.Helper()
	col := "src"
	if db.name == "postgres" {
		col = "shared_from"
	}
	sdb, _ := openSQL(t, db.url)
	var n int
	if err := sdb.QueryRowContext(t.Context(), fmt.Sprintf(`SELECT count(*) FROM "%smessages" WHERE %s IS NOT NULL`, db.prefix, col)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// danglingRows counts the message rows of db that borrow their bytes from
// a row that does not hold them (SQLite: src and seq; PostgreSQL:
// shared_from, seq and id).
func danglingRows(t *testing.T, db testDB) int {
	t.Helper()
	q := `SELECT count(*) FROM "%[1]smessages" m WHERE m.src IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM "%[1]smessages" o WHERE o.session_id = m.src AND o.seq = m.seq AND o.src IS NULL)`
	if db.name == "postgres" {
		q = `SELECT count(*) FROM "%[1]smessages" m WHERE m.shared_from IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM "%[1]smessages" o WHERE o.session_id = m.shared_from AND o.seq = m.seq AND o.id = m.id AND o.shared_from IS NULL)`
	}
	sdb, _ := openSQL(t, db.url)
	var n int
	if err := sdb.QueryRowContext(t.Context(), fmt.Sprintf(q, db.prefix)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// messagesJSON returns each message in the JSON of package message: equal
// slices mean the same ids, roles, parts byte for byte, models, times and
// usage, in the same order.
func messagesJSON(t *testing.T, msgs []message.Message) []string {
	t.Helper()
	out := make([]string, len(msgs))
	for i, m := range msgs {
		raw, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(raw)
	}
	return out
}

// sameStore fails unless got holds exactly the sessions of want, each with
// the same info (owner, title, metadata, created and updated times, message
// count, parent and fork point) and the same messages.
func sameStore(t *testing.T, what string, got, want map[string]dumped) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("%s: sessions %q, want %q", what, g, w)
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			continue
		}
		gi, wi := g.Info, w.Info
		if len(gi.Metadata) == 0 && len(wi.Metadata) == 0 {
			gi.Metadata, wi.Metadata = nil, nil
		}
		if fmt.Sprintf("%+v", gi) != fmt.Sprintf("%+v", wi) {
			t.Errorf("%s: %s has info\n%+v\nwant\n%+v", what, id, gi, wi)
		}
		if gm, wm := messagesJSON(t, g.Messages), messagesJSON(t, w.Messages); !slices.Equal(gm, wm) {
			t.Errorf("%s: %s holds\n%s\nwant\n%s", what, id, strings.Join(gm, "\n"), strings.Join(wm, "\n"))
		}
	}
}

// without returns d less the sessions ids.
func without(d map[string]dumped, ids ...string) map[string]dumped {
	out := maps.Clone(d)
	for _, id := range ids {
		delete(out, id)
	}
	return out
}

// freshSQLite returns a new, empty SQLite store.
func freshSQLite(t *testing.T) testDB {
	return testDB{name: "sqlite", url: "sqlite:" + filepath.Join(t.TempDir(), "convo.db")}
}

// parents are the sessions of sharedForkStore that forks borrow from.
var parents = []string{"trip-paris", "fork-a", "popped"}

// checkParentsDeletable deletes the parents in db with convo rm and checks
// that every other session reads as it did.
func checkParentsDeletable(t *testing.T, what string, db testDB, want map[string]dumped) {
	t.Helper()
	mustConvo(t, "", db.args(append([]string{"rm", "--yes"}, parents...)...)...)
	sameStore(t, what+", then rm of the parents", dump(t, db.url, db.prefix), without(want, parents...))
}

// TestSharedForksSurviveExportImportAndMigrate moves a store whose forks
// borrow their parent's bytes (sharedForkStore) with export and import
// into a fresh store of each backend, and with migrate to the other
// backend (SQLite to PostgreSQL and back; SQLite to SQLite without
// PostgreSQL), and checks that every session comes back whole and alone:
// the same info and fork link, the same messages byte for byte, nothing
// added by a second import or migrate, and that deleting the parents in the
// target leaves the forks as they were.
func TestSharedForksSurviveExportImportAndMigrate(t *testing.T) {
	for _, src := range backends(t) {
		t.Run(src.name, func(t *testing.T) {
			sharedForkStore(t, src)
			want := dump(t, src.url, src.prefix)
			dir := t.TempDir()

			file := filepath.Join(dir, "all.jsonl")
			r := mustConvo(t, "", src.args("export", "-o", file)...)
			if !strings.Contains(r.stderr, "exported 7 sessions, 27 messages") {
				t.Errorf("export says %q, want 7 sessions, 27 messages", r.stderr)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// The forks are written whole, each with its link.
			for _, line := range []string{
				`{"type":"message","session":"fork-b","message":{"id":"m-trip-2","role":"user","parts":[{"type":"text","text":"What's the weather in Paris this weekend?`,
				`"data":"` + base64.StdEncoding.EncodeToString(testImagePNG(t)) + `"`,
				`"id":"fork-b","owner":"dave","title":"Retry in the rain","metadata":{"branch":"a"}`,
				`"parent":"fork-a","fork_message_id":"a-1"`,
				`{"type":"message","session":"orphan","message":{"id":"d-2"`,
				`{"type":"message","session":"pop-fork","message":{"id":"p-3","role":"user","parts":[{"type":"text","text":"Are wombats related to them?"}]`,
			} {
				if !bytes.Contains(data, []byte(line)) {
					t.Errorf("the export lacks %s", line)
				}
			}
			if n := bytes.Count(data, []byte(`"data":"`+base64.StdEncoding.EncodeToString(testImagePNG(t))+`"`)); n != 3 {
				t.Errorf("the export holds the photo %d times, want 3 (trip-paris, fork-a, fork-b)", n)
			}

			// export of named forks only: the path through Info, not List.
			sub := filepath.Join(dir, "forks.jsonl")
			r = mustConvo(t, "", src.args("export", "fork-b", "pop-fork", "orphan", "-o", sub)...)
			if !strings.Contains(r.stderr, "exported 3 sessions, 13 messages") {
				t.Errorf("export of three forks says %q, want 3 sessions, 13 messages", r.stderr)
			}

			for i, dst := range backends(t) {
				mustConvo(t, "", dst.args("import", file)...)
				sameStore(t, "export from "+src.name+", import into "+dst.name, dump(t, dst.url, dst.prefix), want)
				// As docs/cli.md says, the imported forks hold their messages
				// as their own.
				if n := borrowedRows(t, dst); n != 0 {
					t.Errorf("after import into %s, %d rows borrow their bytes; docs/cli.md says an import shares nothing", dst.name, n)
				}
				r := mustConvo(t, "", dst.args("import", file)...)
				if !strings.Contains(r.stdout, "imported 7 sessions (0 new), 0 messages added, 27 already present") {
					t.Errorf("a second import into %s says %q", dst.name, r.stdout)
				}
				sameStore(t, "export from "+src.name+", import into "+dst.name+" twice", dump(t, dst.url, dst.prefix), want)
				checkParentsDeletable(t, "export from "+src.name+", import into "+dst.name, dst, want)

				only := backends(t)[i]
				mustConvo(t, "", only.args("import", sub)...)
				sameStore(t, "export of three forks from "+src.name+", import into "+dst.name, dump(t, only.url, only.prefix),
					map[string]dumped{"fork-b": want["fork-b"], "pop-fork": want["pop-fork"], "orphan": want["orphan"]})
			}

			// migrate to the other backend (to SQLite when there is only
			// SQLite), twice: the second run copies nothing.
			to := freshSQLite(t)
			if pg := os.Getenv("CONVO_TEST_POSTGRES"); pg != "" && src.name == "sqlite" {
				to = testDB{name: "postgres", url: pg, prefix: uniquePrefix(t, pg)}
			}
			what := "migrate " + src.name + " to " + to.name
			r = mustConvo(t, "", src.args("migrate", "--to", to.url, "--to-prefix", to.prefix)...)
			if !strings.Contains(r.stdout, "7 created, 0 already complete, 27 messages copied") {
				t.Errorf("%s says %q", what, r.stdout)
			}
			sameStore(t, what, dump(t, to.url, to.prefix), want)
			if n := borrowedRows(t, to); n != 0 {
				t.Errorf("after %s, %d rows borrow their bytes; docs/cli.md says a migrate shares nothing", what, n)
			}
			r = mustConvo(t, "", src.args("migrate", "--to", to.url, "--to-prefix", to.prefix)...)
			if !strings.Contains(r.stdout, "0 created, 7 already complete, 0 messages copied") {
				t.Errorf("%s again says %q", what, r.stdout)
			}
			sameStore(t, what+" twice", dump(t, to.url, to.prefix), want)
			checkParentsDeletable(t, what, to, want)

			// The source itself: its parents deleted (bytes handed over to
			// the forks), it still exports every fork whole.
			checkParentsDeletable(t, src.name+" source", src, want)
			if n := borrowedRows(t, src); n != 0 {
				t.Errorf("%d rows of the source still borrow after their owners went", n)
			}
			after := filepath.Join(dir, "after.jsonl")
			mustConvo(t, "", src.args("export", "-o", after)...)
			again := freshSQLite(t)
			mustConvo(t, "", again.args("import", after)...)
			sameStore(t, "export after rm of the parents in "+src.name, dump(t, again.url, again.prefix), without(want, parents...))
		})
	}
}

// TestShowSearchAndViewerReadBorrowedBytes checks that show, search and the
// web viewer, on each backend, read a fork's inherited messages from the
// rows that own their bytes: fork-b's first four messages live in
// trip-paris's rows, pop-fork's first two in popped's.
func TestShowSearchAndViewerReadBorrowedBytes(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			want := sharedForkStore(t, db)

			for _, id := range []string{"fork-b", "pop-fork", "orphan"} {
				r := mustConvo(t, "", db.args("show", id, "--json")...)
				var shown struct {
					Session  sessionJSON
					Messages []json.RawMessage
				}
				if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
					t.Fatalf("show --json %s: %v\n%s", id, err, r.stdout)
				}
				var got []message.Message
				for _, raw := range shown.Messages {
					var m message.Message
					if err := m.UnmarshalJSON(raw); err != nil {
						t.Fatal(err)
					}
					got = append(got, m)
				}
				if g, w := messagesJSON(t, got), messagesJSON(t, want[id]); !slices.Equal(g, w) {
					t.Errorf("show --json %s:\n%s\nwant\n%s", id, strings.Join(g, "\n"), strings.Join(w, "\n"))
				}
				if shown.Session.Messages != int64(len(want[id])) {
					t.Errorf("show --json %s: %d messages in its info, want %d", id, shown.Session.Messages, len(want[id]))
				}
			}
			r := mustConvo(t, "", db.args("show", "--no-pager", "fork-b")...)
			for _, w := range []string{"What's the weather in Paris this weekend?", "paris.png", "Let me check the forecast for you.",
				`"sky": "sunny"`, "Fork A: rain all weekend", "--- forked from fork-a here", "Fork B asks about the Orsay"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("show fork-b: no %q in\n%s", w, r.stdout)
				}
			}

			// The last messages, read newest first (GetMessages with a limit):
			// seq 4 and 5 are borrowed from trip-paris and fork-a.
			r = mustConvo(t, "", db.args("show", "--no-pager", "--tail", "3", "fork-b")...)
			for _, w := range []string{`"sky": "sunny"`, "Fork A: rain all weekend", "Fork B asks about the Orsay"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("show --tail 3 fork-b: no %q in\n%s", w, r.stdout)
				}
			}

			// search finds borrowed text in every session that holds it:
			// "forecast" is in trip-paris's third row, which fork-a and
			// fork-b borrow; "Rottnest" in popped's second, which pop-fork
			// borrows; "wombats" only in pop-fork, handed over to it when
			// popped's p-3 was popped; "cloves" only in orphan.
			searchHits(t, db, map[string][]string{
				"forecast": {"fork-a", "fork-b", "trip-paris"},
				"Rottnest": {"pop-fork", "popped"},
				"wombats":  {"pop-fork"},
				"cloves":   {"orphan"},
			})
			r = mustConvo(t, "", db.args("search", "forecast", "--session", "fork-b")...)
			if !strings.Contains(r.stdout, "fork-b") || !strings.Contains(r.stdout, "forecast") {
				t.Errorf("search --session fork-b:\n%s", r.stdout)
			}

			b, err := openBackend(t.Context(), db.url, db.prefix, true, true)
			if err != nil {
				t.Fatal(err)
			}
			defer b.close()
			_, srv := viewerOf(t, b.store, 50)
			status, _, body := get(t, "GET", srv.URL+"/s/fork-b")
			if status != http.StatusOK {
				t.Fatalf("viewer /s/fork-b: status %d\n%s", status, body)
			}

			// html/template writes the "+" of base64 in an attribute as "&#43;".
			photo := strings.ReplaceAll("data:image/png;base64,"+base64.StdEncoding.EncodeToString(testImagePNG(t)), "+", "&#43;")
			for _, w := range []string{"the weather in Paris this weekend?", photo, "Let me check the forecast for you.",
				"get_weather", "sunny", "Fork A: rain all weekend", "Fork B asks about the Orsay"} {
				if !strings.Contains(body, w) {
					t.Errorf("viewer /s/fork-b lacks %.80q", w)
				}
			}
			status, _, body = get(t, "GET", srv.URL+"/m/fork-b?seq=2")
			if status != http.StatusOK || !strings.Contains(body, photo) {
				t.Errorf("viewer /m/fork-b?seq=2: status %d, photo shown: %v", status, strings.Contains(body, photo))
			}
			status, _, body = get(t, "GET", srv.URL+"/s/pop-fork")
			if status != http.StatusOK || !strings.Contains(body, "Where do quokkas live?") || !strings.Contains(body, "Are wombats related") {
				t.Errorf("viewer /s/pop-fork: status %d\n%s", status, body)
			}
			status, _, body = get(t, "GET", srv.URL+"/?q=forecast")
			for _, id := range []string{"/s/fork-a", "/s/fork-b", "/s/trip-paris"} {
				if status != http.StatusOK || !strings.Contains(body, id) {
					t.Errorf("viewer search for forecast: status %d, no link to %s", status, id)
				}
			}

			// With the parents gone, the forks own the bytes they borrowed
			// (handed over in the same transactions) and read as before.
			mustConvo(t, "", db.args(append([]string{"rm", "--yes"}, parents...)...)...)
			searchHits(t, db, map[string][]string{
				"forecast": {"fork-b"},
				"Rottnest": {"pop-fork"},
				"wombats":  {"pop-fork"},
				"quokkas":  {"pop-fork"},
			})
			status, _, body = get(t, "GET", srv.URL+"/s/fork-b")
			if status != http.StatusOK || !strings.Contains(body, photo) || !strings.Contains(body, "Let me check the forecast for you.") {
				t.Errorf("viewer /s/fork-b after rm of its parents: status %d, photo shown: %v", status, strings.Contains(body, photo))
			}
			r = mustConvo(t, "", db.args("show", "fork-b", "--json")...)
			var shown struct{ Messages []json.RawMessage }
			if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || len(shown.Messages) != len(want["fork-b"]) {
				t.Errorf("show --json fork-b after rm of its parents: %d messages, %v", len(shown.Messages), err)
			}
		})
	}
}

// searchHits checks that convo search --json finds each word in exactly the
// sessions given (sorted), each hit's snippet holding the word.
func searchHits(t *testing.T, db testDB, want map[string][]string) {
	t.Helper()
	for word, sessions := range want {
		r := mustConvo(t, "", db.args("search", word, "--json")...)
		var hits []hitJSON
		if err := json.Unmarshal([]byte(r.stdout), &hits); err != nil {
			t.Fatalf("search %s: %v\n%s", word, err, r.stdout)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Session.ID)
			if !strings.Contains(strings.ToLower(h.Snippet), strings.ToLower(word)) {
				t.Errorf("search %s: the hit in %s seq %d has snippet %q", word, h.Session.ID, h.Seq, h.Snippet)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, sessions) {
			t.Errorf("search %s: hits in %q, want %q", word, got, sessions)
		}
	}
}

// TestForkSharingAnUnreadableRow: a row that cannot be read, made before a
// fork that borrows it, is unreadable in both sessions. export and migrate
// name it in each, leave both out and copy the rest; doctor --repair moves
// it aside in each, bytes kept (the fork's quarantined row holds the bytes
// it borrowed, not its own empty parts), after which both export and the
// fork keeps its own message. A fork of a session whose tool calls are out
// of pairing is repaired by doctor too, its own messages kept.
func TestForkSharingAnUnreadableRow(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			ctx := t.Context()
			const bad = `{"not":"an array"}`
			p := demoSession{id: "p", opts: session.CreateOptions{CreatedAt: at(0)}, msgs: []message.Message{
				msg("p-1", 1, message.RoleUser, message.Text{Text: "first"}),
				msg("p-2", 2, message.RoleAssistant, message.Text{Text: "second"}),
				msg("p-3", 3, message.RoleUser, message.Text{Text: "third"}),
			}}
			ok := demoSession{id: "ok", opts: session.CreateOptions{CreatedAt: at(1)}, msgs: []message.Message{msg("ok-1", 4, message.RoleUser, message.Text{Text: "fine"})}}
			damaged := demoSessions(t)[3] // damaged-middle: a result without its call, inside the history
			seed(t, db.url, db.prefix, []demoSession{p, ok, damaged})
			execSQL(t, db.url, fmt.Sprintf(`UPDATE "%smessages" SET parts = '%s' WHERE session_id = 'p' AND seq = 2`, db.prefix, bad))
			b, err := openBackend(ctx, db.url, db.prefix, false, false)
			if err != nil {
				t.Fatal(err)
			}
			defer b.close()
			forkWith(t, b.store, "p", "p-3", "f", session.CreateOptions{},
				msg("f-1", 5, message.RoleAssistant, message.Text{Text: "the fork's own"}))
			forkWith(t, b.store, "damaged-middle", "m-dmg2-3", "damaged-fork", session.CreateOptions{},
				msg("df-1", 190, message.RoleUser, message.Text{Text: "and in Osaka?"}))
			if n := borrowedRows(t, db); n != 6 {
				t.Fatalf("%d rows borrow their bytes, want 6", n)
			}

			r := convo(t, "", db.args("export")...)
			if r.err == nil || !strings.Contains(r.stderr, `session "p": row seq 2 cannot be read`) ||
				!strings.Contains(r.stderr, `session "f": row seq 2 cannot be read`) || !strings.Contains(r.stderr, "2 sessions left out") {
				t.Errorf("export: err %v, stderr %q", r.err, r.stderr)
			}
			if n := strings.Count(r.stdout, `"type":"session"`); n != 3 || !strings.HasSuffix(r.stdout, "\n") {
				t.Errorf("export wrote %d sessions, want 3 (ok, damaged-middle, damaged-fork)", n)
			}
			to := freshSQLite(t)
			r = convo(t, "", db.args("migrate", "--to", to.url, "--to-prefix", "")...)
			if r.err == nil || !strings.Contains(r.stdout, `session "p": row seq 2 cannot be read`) || !strings.Contains(r.stdout, `session "f": row seq 2 cannot be read`) {
				t.Errorf("migrate: err %v, stdout %q", r.err, r.stdout)
			}
			if got := dump(t, to.url, ""); len(got["damaged-fork"].Messages) != 4 || len(got["ok"].Messages) != 1 {
				t.Errorf("migrate copied damaged-fork with %d messages, ok with %d; want 4 and 1", len(got["damaged-fork"].Messages), len(got["ok"].Messages))
			}

			r = convo(t, "", db.args("doctor")...)
			for _, w := range []string{"p: damaged", "f: damaged", "damaged-middle: damaged", "damaged-fork: damaged"} {
				if r.err == nil || !strings.Contains(r.stdout, w) {
					t.Errorf("doctor: err %v, no %q in\n%s", r.err, w, r.stdout)
				}
			}
			r = mustConvo(t, "", db.args("doctor", "--repair")...)
			if !strings.Contains(r.stdout, "4 damaged, 4 repaired, 0 errors") {
				t.Errorf("doctor --repair:\n%s", r.stdout)
			}
			for _, id := range []string{"p", "f"} {
				rows, err := b.store.(session.Quarantiner).Quarantined(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 || rows[0].MessageID != "p-2" || string(rows[0].Parts) != bad {
					t.Errorf("quarantined rows of %s: %+v, want p-2 with %s", id, rows, bad)
				}
			}
			got := dump(t, db.url, db.prefix)
			wantIDs := map[string][]string{"p": {"p-1", "p-3"}, "f": {"p-1", "p-3", "f-1"}, "ok": {"ok-1"}}
			for id, w := range wantIDs {
				var ids []string
				for _, m := range got[id].Messages {
					ids = append(ids, m.ID)
				}
				if !slices.Equal(ids, w) {
					t.Errorf("after doctor --repair %s holds %q, want %q", id, ids, w)
				}
			}
			for _, id := range []string{"damaged-middle", "damaged-fork"} {
				ms := got[id].Messages
				if probs := session.Check(ms); len(probs) != 0 {
					t.Errorf("after doctor --repair %s is still damaged: %v", id, probs)
				}
				// Repair keeps every message but the tool message whose only
				// part, the orphan result, it moves after a synthesized call.
				for _, m := range []string{"m-dmg2-1", "m-dmg2-3"} {
					if !slices.ContainsFunc(ms, func(g message.Message) bool { return g.ID == m }) {
						t.Errorf("after doctor --repair %s lacks %s", id, m)
					}
				}
				if !slices.ContainsFunc(ms, func(g message.Message) bool {
					rs := g.ToolResults()
					return len(rs) == 1 && rs[0].CallID == "call_x" && rs[0].Content == "14:05 JST"
				}) {
					t.Errorf("after doctor --repair %s lacks the result of call_x", id)
				}
			}
			if ms := got["damaged-fork"].Messages; len(ms) == 0 || ms[len(ms)-1].ID != "df-1" {
				t.Errorf("after doctor --repair damaged-fork does not end with its own message: %v", messagesJSON(t, ms))
			}
			r = mustConvo(t, "", db.args("export")...)
			if n := strings.Count(r.stdout, `"type":"session"`); n != 5 {
				t.Errorf("export after repair wrote %d sessions, want 5", n)
			}
		})
	}
}

// TestRmOwnerAndPruneLeaveOtherForksWhole: rm --owner and prune delete
// parents in bulk (SQLite: one statement per table; PostgreSQL: the
// hand-over trigger per deleted session), some of them parents of each
// other. The forks they leave read as before: fork-b (dave's) after alice's
// trip-paris, fork-a and fork-empty go in one erasure, pop-fork after prune
// removes popped.
func TestRmOwnerAndPruneLeaveOtherForksWhole(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			sharedForkStore(t, db)
			want := dump(t, db.url, db.prefix)
			r := mustConvo(t, "", db.args("rm", "--owner", "alice", "--yes", "--json")...)
			var rep struct {
				Sessions []string
				Messages int
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("rm --json: %v\n%s", err, r.stdout)
			}
			slices.Sort(rep.Sessions)
			if !slices.Equal(rep.Sessions, []string{"fork-a", "fork-empty", "trip-paris"}) || rep.Messages != 10 {
				t.Errorf("rm --owner alice deleted %q, %d messages; want fork-a, fork-empty, trip-paris, 10 messages", rep.Sessions, rep.Messages)
			}
			want = without(want, "fork-a", "fork-empty", "trip-paris")
			sameStore(t, "after rm --owner alice", dump(t, db.url, db.prefix), want)

			backdate(t, db.url, db.prefix, "popped", at(-90*24*3600))
			mustConvo(t, "", db.args("prune", "--older-than", "30d", "--yes")...)
			want = without(want, "popped")
			sameStore(t, "after prune of popped", dump(t, db.url, db.prefix), want)
			if n := borrowedRows(t, db); n != 0 {
				t.Errorf("%d rows still borrow after every owner row went", n)
			}
		})
	}
}

// TestRmOwnerWhenParentsSortFirst: as TestRmOwnerAndPruneLeaveOtherForksWhole,
// with ids that put each parent before its forks, so that a bulk delete by
// session id reaches the row that lends bytes before the rows that borrow
// them (the order in which SQLite's hand-over trigger would change rows
// that the same statement deletes later).
func TestRmOwnerWhenParentsSortFirst(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			var msgs []message.Message
			for i := range 40 {
				msgs = append(msgs, msg(fmt.Sprintf("a-%02d", i), i, message.RoleUser, message.Text{Text: fmt.Sprintf("message %d of a", i)}))
			}
			seed(t, db.url, db.prefix, []demoSession{{id: "a", opts: session.CreateOptions{Owner: "alice"}, msgs: msgs}})
			b, err := openBackend(t.Context(), db.url, db.prefix, false, false)
			if err != nil {
				t.Fatal(err)
			}
			forkWith(t, b.store, "a", "a-39", "b", session.CreateOptions{}, msg("b-1", 100, message.RoleUser, message.Text{Text: "b's own"}))
			forkWith(t, b.store, "b", "b-1", "c", session.CreateOptions{Owner: "bob"})
			forkWith(t, b.store, "a", "a-19", "d", session.CreateOptions{Owner: "bob"})
			forkWith(t, b.store, "b", "a-29", "e", session.CreateOptions{})
			b.close()
			want := dump(t, db.url, db.prefix)
			mustConvo(t, "", db.args("rm", "--owner", "alice", "--yes")...)
			sameStore(t, "after rm --owner alice", dump(t, db.url, db.prefix), without(want, "a", "b", "e"))
			// d may now borrow from c (SQLite hands a row's bytes to one
			// borrower and points the others at it), but from no row that
			// went.
			if n := danglingRows(t, db); n != 0 {
				t.Errorf("%d rows borrow from a row that is gone", n)
			}
		})
	}
}
