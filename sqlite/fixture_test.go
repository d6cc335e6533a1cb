package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// The fixtures in testdata are databases written by earlier schema versions,
// committed once and never regenerated: each proves that a database made by
// that version upgrades in place with no row lost. -make-fixture writes the
// fixture of the CURRENT schema version; run it once, when a new version is
// added, before changing anything else.
var makeFixture = flag.Bool("make-fixture", false, "write testdata/schema-vN.db for the current schema version")

// fixtureSessions is what every fixture holds.
func fixtureSessions() map[string][]message.Message {
	usage := &message.Usage{InputTokens: 120, OutputTokens: 30}
	return map[string][]message.Message{
		"user-123": {
			{ID: "m1", Role: message.RoleSystem, Parts: []message.Part{message.Text{Text: "You are helpful."}}, CreatedAt: 1700000000000000001},
			{ID: "m2", Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "What's the weather in Oslo? 🌧"}, message.ImageURL{URL: "https://example.com/oslo.png", Detail: "low"}}, CreatedAt: 1700000000000000002},
			{ID: "m3", Role: message.RoleAssistant, Model: "gpt-4.1", Usage: usage, CreatedAt: 1700000000000000003, Parts: []message.Part{
				message.Reasoning{Text: "Need the weather tool.", Signature: "sig=="},
				message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city": "Oslo"}`)},
			}},
			{ID: "m4", Role: message.RoleTool, CreatedAt: 1700000000000000004, Parts: []message.Part{
				message.ToolResult{CallID: "call_1", Name: "weather", Content: `{"temp_c": 4, "sky": "rain"}`, Metadata: json.RawMessage(`{"ms":12}`)},
			}},
			{ID: "m5", Role: message.RoleAssistant, Model: "gpt-4.1", CreatedAt: 1700000000000000005, Parts: []message.Part{message.Text{Text: "4 °C and rain in Oslo."}}},
		},
		"binary & unicode/用户": {
			{ID: "b1", Role: message.RoleUser, CreatedAt: 1700000000000000010, Parts: []message.Part{
				message.Binary{MIMEType: "application/octet-stream", Data: []byte{0, 1, 2, 253, 254, 255}, Name: "blob.bin"},
				message.Text{Text: "שלום \u0000 e\u0301"},
			}},
			{ID: "b2", Role: message.RoleSummary, CreatedAt: 1700000000000000011, Parts: []message.Part{message.Text{Text: "The user sent a blob."}}},
		},
		"empty": nil,
	}
}

func TestMakeFixture(t *testing.T) {
	if !*makeFixture {
		t.Skip("run with -make-fixture to write a fixture of the current schema version")
	}
	ctx := context.Background()
	path := filepath.Join("testdata", "schema-v"+itoa(sqlite.LatestSchemaVersion())+".db")
	os.Remove(path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlite.SessionStore(ctx, db, sqlite.WithWAL(false))
	if err != nil {
		t.Fatal(err)
	}
	for id, msgs := range fixtureSessions() {
		s, err := st.(session.Describer).CreateWith(ctx, id, session.CreateOptions{Owner: "acme", Title: "t-" + id, Metadata: map[string]string{"k": id}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMessages(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	// From version 6 on, the fixture holds a fork too (made by that
	// version's Fork, whatever it stored).
	if _, err := st.(session.Forker).Fork(ctx, fixtureForkParent, "b2", fixtureFork, session.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`VACUUM`); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// The fork in the fixtures of version 6 and later: fixtureFork is a fork of
// fixtureForkParent at its last message, b2.
const (
	fixtureFork       = "fork of binary"
	fixtureForkParent = "binary & unicode/用户"
)

func itoa(n int) string { return string(rune('0' + n)) }

// TestUpgradeFromFixtures opens a copy of every committed fixture with the
// current code: the schema is upgraded to the latest version in place and
// every session, message and field is still there.
func TestUpgradeFromFixtures(t *testing.T) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "schema-v*.db"))
	if len(fixtures) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	for _, fx := range fixtures {
		t.Run(filepath.Base(fx), func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "copy.db")
			copyFile(t, fx, path)
			db := openFile(t, path)
			st, err := sqlite.Open(ctx, db)
			if err != nil {
				t.Fatalf("open fixture: %v", err)
			}
			v, err := st.SchemaVersion(ctx)
			if err != nil || v != sqlite.LatestSchemaVersion() {
				t.Fatalf("schema version after open = %d, %v; want %d", v, err, sqlite.LatestSchemaVersion())
			}
			for id, want := range fixtureSessions() {
				s, err := st.Load(ctx, id)
				if err != nil {
					t.Fatalf("load %q: %v", id, err)
				}
				got, err := s.GetMessages(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("session %q after upgrade (-want +got):\n%s", id, diff)
				}
				info, err := st.Info(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if info.Owner != "acme" || info.Title != "t-"+id || info.Metadata["k"] != id || info.MessageCount != int64(len(want)) {
					t.Errorf("info of %q after upgrade: %+v", id, info)
				}
			}
			// Search works on the upgraded database, and version 1's
			// trigger-kept index is gone.
			hits, err := st.Search(ctx, session.SearchQuery{Text: "oslo"})
			if err != nil || len(hits) != 2 {
				t.Errorf("Search(oslo) after upgrade = %d hits, %v; want m2 and m5", len(hits), err)
			}
			var old int
			if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'messages_fts%'`).Scan(&old); err != nil || old != 0 {
				t.Errorf("version 1's index objects after upgrade: %d, %v; want none", old, err)
			}
			// A fixture whose feed recorded changes (version 5 and later)
			// keeps recording; an older one had no feed, and its feed is
			// dormant (see TestUpgradeKeepsAStartedFeed). Start it, for the
			// feed's check below.
			var fv int
			if _, err := fmt.Sscanf(filepath.Base(fx), "schema-v%d.db", &fv); err != nil {
				t.Fatal(err)
			}
			var active bool
			if err := db.QueryRow(`SELECT active FROM feed_state`).Scan(&active); err != nil || active != (fv >= 5) {
				t.Errorf("feed active after the upgrade from version %d: %v, %v; want %v", fv, active, err, fv >= 5)
			}
			if err := st.StartFeed(ctx); err != nil {
				t.Fatal(err)
			}
			// The upgraded database takes new writes.
			s, err := st.Load(ctx, "user-123")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("and tomorrow?")}); err != nil {
				t.Fatalf("append after upgrade: %v", err)
			}
			// A session stored before forks existed is not a fork, and
			// can be forked (schema version 4's columns).
			if info, err := st.Info(ctx, "user-123"); err != nil || info.ParentID != "" || info.ForkMessageID != "" {
				t.Errorf("info of user-123 after upgrade: %+v, %v; want no parent", info, err)
			}
			fk, err := st.Fork(ctx, "user-123", "m3", "fork", session.CreateOptions{})
			if err != nil {
				t.Fatalf("fork after upgrade: %v", err)
			}
			got, err := fk.GetMessages(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fixtureSessions()["user-123"][:3], got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("fork of an upgraded session (-want +got):\n%s", diff)
			}
			if info, err := st.Info(ctx, "fork"); err != nil || info.ParentID != "user-123" || info.ForkMessageID != "m3" || info.Owner != "acme" {
				t.Errorf("info of the fork: %+v, %v", info, err)
			}
			// The change feed records the writes made since the upgrade,
			// the append, then the fork, after what it held before (a
			// fixture older than schema version 5 had no feed).
			feed, err := st.Watch(ctx, session.WatchQuery{})
			if err != nil {
				t.Fatalf("Watch after upgrade: %v", err)
			}
			var changes []string
			for c, err := range feed {
				if err != nil {
					t.Fatalf("Watch after upgrade: %v", err)
				}
				changes = append(changes, fmt.Sprintf("%s %s %d", c.Kind, c.SessionID, len(c.Messages)))
				if c.SessionID == "fork" {
					break
				}
			}
			want := []string{"append user-123 1", "create fork 3"}
			if len(changes) < 2 || !slices.Equal(changes[len(changes)-2:], want) {
				t.Errorf("feed after upgrade = %q, want it to end with %q", changes, want)
			}
			// A fork stored by an earlier version (copied rows) reads the
			// same, and stays whole when its parent is deleted.
			if ok, err := st.Exists(ctx, fixtureFork); err != nil {
				t.Fatal(err)
			} else if ok {
				want := fixtureSessions()[fixtureForkParent]
				readFork := func(when string) {
					t.Helper()
					fk, err := st.Load(ctx, fixtureFork)
					if err != nil {
						t.Fatalf("load the fixture's fork %s: %v", when, err)
					}
					got, err := fk.GetMessages(ctx, nil)
					if err != nil {
						t.Fatalf("read the fixture's fork %s: %v", when, err)
					}
					if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("the fixture's fork %s (-want +got):\n%s", when, diff)
					}
				}
				readFork("after upgrade")
				if info, err := st.Info(ctx, fixtureFork); err != nil || info.ParentID != fixtureForkParent || info.ForkMessageID != "b2" {
					t.Errorf("info of the fixture's fork: %+v, %v", info, err)
				}
				if err := st.Delete(ctx, fixtureForkParent); err != nil {
					t.Fatal(err)
				}
				readFork("after its parent was deleted")
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func openFile(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
