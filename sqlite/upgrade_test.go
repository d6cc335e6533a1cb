package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convo-dev/convo/internal/upstream/upstreamtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// The files in testdata/upstream were written by the memory/sqlite session
// store of github.com/joakimcarlsson/ai (see testdata/upstream/README.md).

var upstreamFixtures = []struct {
	file   string
	prefix string
}{
	{"upstream-sqlite-default.db", ""},
	{"upstream-sqlite-prefixed.db", "chat_"},
}

func fixtureCopy(t *testing.T, file string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), file)
	copyFile(t, filepath.Join("testdata", "upstream", file), path)
	return path
}

// dump returns every table's schema and rows, as text, so that two states of
// a database can be compared (the file's bytes change when SQLite rolls a
// hot journal back, even though the content is the same).
func dump(t *testing.T, path string) string {
	t.Helper()
	db := openFile(t, path)
	defer db.Close()
	var b strings.Builder
	rows, err := db.Query(`SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var typ, name, sqlText string
		if err := rows.Scan(&typ, &name, &sqlText); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, sqlText)
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tb + `" ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %q\n", tb, vals)
		}
		rows.Close()
	}
	return b.String()
}

func TestSessionStoreRefusesUpstreamTablesAndChangesNothing(t *testing.T) {
	for _, fx := range upstreamFixtures {
		t.Run(fx.file, func(t *testing.T) {
			path := fixtureCopy(t, fx.file)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db := openFile(t, path)
			for _, ro := range []bool{false, true} {
				opts := []sqlite.Option{sqlite.WithTablePrefix(fx.prefix)}
				if ro {
					opts = append(opts, sqlite.WithReadOnly())
				}
				_, err := sqlite.SessionStore(t.Context(), db, opts...)
				if !errors.Is(err, sqlite.ErrUpstreamSchema) {
					t.Errorf("SessionStore (read-only %v) on an upstream database: %v, want ErrUpstreamSchema", ro, err)
				}
			}
			db.Close()
			assertUnchanged(t, path, before)
		})
	}
}

// assertUnchanged fails t unless the file at path holds before and has no
// -wal or -journal beside it.
func assertUnchanged(t *testing.T, path string, before []byte) {
	t.Helper()
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the refused open changed the file (%d bytes before, %d after)", len(before), len(after))
	}
	for _, suffix := range []string{"-wal", "-journal"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Size() > 0 {
			t.Errorf("the refused open left %s%s (%d bytes)", filepath.Base(path), suffix, fi.Size())
		}
	}
}

func TestUpgradeFromUpstream(t *testing.T) {
	ids := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	for _, fx := range upstreamFixtures {
		t.Run(fx.file, func(t *testing.T) {
			ctx := t.Context()
			path := fixtureCopy(t, fx.file)
			db := openFile(t, path)
			created := sessionTimes(t, db, fx.prefix)
			rep, err := sqlite.Upgrade(ctx, db, sqlite.WithTablePrefix(fx.prefix))
			if err != nil {
				t.Fatalf("Upgrade: %v", err)
			}
			if !rep.Upgraded || rep.Sessions != 4 || rep.Messages != 8 || len(rep.Unconverted) != 0 || len(rep.AddedSessions) != 0 {
				t.Errorf("report = %+v, want 4 sessions and 8 messages upgraded, nothing else", rep)
			}
			st, err := sqlite.Open(ctx, db, sqlite.WithTablePrefix(fx.prefix))
			if err != nil {
				t.Fatalf("open after upgrade: %v", err)
			}
			upstreamtest.CheckUpgraded(t, st, upstreamtest.Want(ids), created)
			// Old tables are gone; nothing of them is left behind.
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE '%upstream_old%' OR name = 'idx_' || ? || 'messages_session'`, fx.prefix).Scan(&n); err != nil || n != 0 {
				t.Errorf("%d leftovers of the old tables (%v)", n, err)
			}
			// A second Upgrade finds nothing to do.
			rep, err = sqlite.Upgrade(ctx, db, sqlite.WithTablePrefix(fx.prefix))
			if err != nil || rep.Upgraded {
				t.Errorf("second Upgrade = %+v, %v; want nothing done", rep, err)
			}
			// It takes new writes, and search finds converted text.
			s, err := st.Load(ctx, "reasoning")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("thanks")}); err != nil {
				t.Fatalf("append after upgrade: %v", err)
			}
			hits, err := st.Search(ctx, session.SearchQuery{Text: "Stockholm"})
			if err != nil {
				t.Fatalf("search after upgrade: %v", err)
			}
			if len(hits) == 0 || hits[0].SessionID != "user-123" {
				t.Errorf("search after upgrade: %+v", hits)
			}
		})
	}
}

// sessionTimes reads the created_at of the fixture's sessions.
func sessionTimes(t *testing.T, db *sql.DB, prefix string) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT id, created_at FROM "` + prefix + `sessions"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		m[id] = at
	}
	if len(m) != 4 {
		t.Fatalf("fixture has %d sessions, want 4", len(m))
	}
	return m
}

func TestUpgradeReportsRowsItCannotConvert(t *testing.T) {
	ctx := t.Context()
	path := fixtureCopy(t, "upstream-sqlite-default.db")
	db := openFile(t, path)
	bad := []byte(`{"role":"tool","parts":[{"type":"tool_result","data":"not an object"}]}`)
	if _, err := db.Exec(`UPDATE messages SET parts = ? WHERE id = 3`, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO messages (session_id, role, parts, model, created_at) VALUES ('orphan', 'user', CAST('{"role":"user","parts":[{"type":"text","data":{"text":"lost?"}}]}' AS BLOB), '', 1735787099000000000)`); err != nil {
		t.Fatal(err)
	}
	rep, err := sqlite.Upgrade(ctx, db)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if len(rep.Unconverted) != 1 || rep.Unconverted[0].SessionID != "user-123" || rep.Unconverted[0].Row != "3" || rep.Unconverted[0].Seq != 3 {
		t.Fatalf("report of unconverted rows = %+v, want session user-123 row 3 (seq 3)", rep.Unconverted)
	}
	if !slices.Equal(rep.AddedSessions, []string{"orphan"}) || rep.Messages != 8 || rep.Sessions != 5 {
		t.Errorf("report = %+v, want 8 messages in 5 sessions, orphan added", rep)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(ctx, "user-123")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMessages(ctx, nil)
	if err != nil {
		t.Fatalf("messages of the session with the unconvertible row: %v", err)
	}
	if len(got) != 3 || got[1].ID != "2" || got[2].ID != "4" {
		t.Errorf("session keeps %d messages, want rows 1, 2 and 4 in order", len(got))
	}
	q, err := st.Quarantined(ctx, "user-123")
	if err != nil {
		t.Fatalf("Quarantined: %v", err)
	}
	if len(q) != 1 || q[0].Seq != 3 || q[0].MessageID != "3" || !bytes.Equal(q[0].Parts, bad) || q[0].Reason == "" {
		t.Errorf("quarantined rows = %+v, want row 3 with its bytes", q)
	}
	o, err := st.Load(ctx, "orphan")
	if err != nil {
		t.Fatalf("the orphan message's session: %v", err)
	}
	if got, err := o.GetMessages(ctx, nil); err != nil || len(got) != 1 || got[0].Content() != "lost?" {
		t.Errorf("orphan session = %v, %v", got, err)
	}
}

// upgradeChildEnv names, in a child process, the database to upgrade.
const upgradeChildEnv = "CONVO_TEST_UPGRADE_CHILD"

// TestUpgradeChild upgrades the database named by upgradeChildEnv and
// stops, holding the transaction open, after the third converted message,
// for TestUpgradeKilled to kill it there.
func TestUpgradeChild(t *testing.T) {
	path := os.Getenv(upgradeChildEnv)
	if path == "" {
		t.Skip("runs only as the child of TestUpgradeKilled")
	}
	n := 0
	sqlite.SetUpgradeHook(func(stage string) {
		if stage == "message" {
			n++
			if n == 3 {
				fmt.Println("MID-UPGRADE")
				time.Sleep(time.Minute)
			}
		}
	})
	db := openFile(t, path)
	if _, err := sqlite.Upgrade(context.Background(), db); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeKilled kills a process in the middle of an upgrade (SIGKILL,
// inside its transaction): the database still holds the old tables and
// rows, and a second Upgrade succeeds.
func TestUpgradeKilled(t *testing.T) {
	if os.Getenv(upgradeChildEnv) != "" {
		t.Skip("in the child")
	}
	path := fixtureCopy(t, "upstream-sqlite-default.db")
	before := dump(t, path)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestUpgradeChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), upgradeChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	mid := false
	for sc.Scan() {
		if sc.Text() == "MID-UPGRADE" {
			mid = true
			break
		}
	}
	if !mid {
		cmd.Wait()
		t.Fatal("the child ended without reaching the middle of the upgrade")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if after := dump(t, path); after != before {
		t.Fatalf("the killed upgrade changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	db := openFile(t, path)
	if _, err := sqlite.SessionStore(t.Context(), db); !errors.Is(err, sqlite.ErrUpstreamSchema) {
		t.Fatalf("SessionStore after the killed upgrade: %v, want ErrUpstreamSchema", err)
	}
	rep, err := sqlite.Upgrade(t.Context(), db)
	if err != nil || !rep.Upgraded || rep.Messages != 8 {
		t.Fatalf("Upgrade after the killed one = %+v, %v", rep, err)
	}
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	upstreamtest.CheckUpgraded(t, st, upstreamtest.Want([]string{"1", "2", "3", "4", "5", "6", "7", "8"}), sessionTimesFromWant())
}

// sessionTimesFromWant is the created_at of the default fixture's sessions
// (README).
func sessionTimesFromWant() map[string]int64 {
	return map[string]int64{
		"user-123": 1795656148334919270, "vision": 1795656148340469779,
		"reasoning": 1795656148342869991, "empty": 1795656148347247932,
	}
}
