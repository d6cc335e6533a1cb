// Package drivertest runs the SQLite store's driver-dependent tests, the
// session conformance suite, concurrency across goroutines and processes,
// and crash safety under SIGKILL, against one database/sql driver. Each
// driver has its own test package below this one (one driver per test
// binary: mattn and ncruces both register "sqlite3").
package drivertest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// Driver describes a database/sql SQLite driver.
type Driver struct {
	// Name is the name the driver registers with database/sql.
	Name string
	// FileDSN returns a plain DSN for a database file: no pragmas, the
	// driver's defaults, as a user who reads no manual would write it.
	FileDSN func(path string) string
	// MemoryDSN is the DSN of a private in-memory database.
	MemoryDSN string
	// Open opens a DSN; nil means sql.Open(Name, dsn). A driver whose FTS5
	// needs registering (ncruces) registers it here.
	Open func(dsn string) (*sql.DB, error)
	// OpenWithoutFTS5, if set, opens a DSN with a build that lacks FTS5,
	// for the test of a database moving between builds with and without.
	OpenWithoutFTS5 func(dsn string) (*sql.DB, error)
}

func (d Driver) open(dsn string) (*sql.DB, error) {
	if d.Open != nil {
		return d.Open(dsn)
	}
	return sql.Open(d.Name, dsn)
}

const childEnv = "CONVO_DRIVERTEST_CHILD"

// Main is called from each driver package's TestMain before m.Run. In a
// child process started by the tests below, it runs the child's work and
// exits; otherwise it returns at once.
func Main(d Driver) {
	role := os.Getenv(childEnv)
	if role == "" {
		return
	}
	var err error
	if role == "firstopen" {
		err = firstOpenChild(d)
	} else {
		err = runChild(d, role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Run runs every driver-dependent test for d.
func Run(t *testing.T, d Driver) {
	t.Run("Conformance", func(t *testing.T) { conformance(t, d) })
	t.Run("MemoryCancelled", func(t *testing.T) { testMemoryCancelled(t, d) })
	t.Run("SearchAcrossBuilds", func(t *testing.T) { testSearchAcrossBuilds(t, d) })
	t.Run("WaitsForTheWriteLock", func(t *testing.T) { testWaitsForTheWriteLock(t, d) })
	t.Run("WaitsAfterSchemaChange", func(t *testing.T) { testWaitsAfterSchemaChange(t, d) })
	t.Run("Goroutines", func(t *testing.T) { testGoroutines(t, d) })
	t.Run("Processes", func(t *testing.T) { testProcesses(t, d) })
	t.Run("FirstOpenProcesses", func(t *testing.T) { testFirstOpenProcesses(t, d) })
	t.Run("KillDuringAppend", func(t *testing.T) { testKill(t, d) })
	t.Run("FeedAcrossProcesses", func(t *testing.T) { testFeedProcesses(t, d) })
}

// OpenDB opens dsn with d and closes it when the test ends.
func OpenDB(t testing.TB, d Driver, dsn string) *sql.DB {
	t.Helper()
	db, err := d.open(dsn)
	if err != nil {
		t.Fatalf("open %s %q: %v", d.Name, dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// OpenStore opens a store on dsn.
func OpenStore(t testing.TB, d Driver, dsn string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), OpenDB(t, d, dsn))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	return st
}

// StartFeed starts the change feed of st's database (sqlite.Store.StartFeed)
// and returns st: the tests that read changes made before their first
// Watch need it, since a new database's feed is dormant.
func StartFeed(t testing.TB, st *sqlite.Store) *sqlite.Store {
	t.Helper()
	if err := st.StartFeed(context.Background()); err != nil {
		t.Fatalf("StartFeed: %v", err)
	}
	return st
}

// turn returns the 4 messages of turn n of writer w: a realistic mix of
// roles and parts, about 1 KB each, whose text names writer, turn and index.
func turn(w string, n int) []message.Message {
	pad := strings.Repeat("x", 900)
	label := func(i int) string { return fmt.Sprintf("%s/%d/%d ", w, n, i) }
	call := fmt.Sprintf("call_%s_%d", w, n)
	return []message.Message{
		message.NewUserMessage(label(0) + pad),
		message.NewMessage(message.RoleAssistant, message.Text{Text: label(1) + pad},
			message.ToolCall{ID: call, Name: "lookup", Input: []byte(`{"q":"x"}`)}),
		message.NewMessage(message.RoleTool, message.ToolResult{CallID: call, Name: "lookup", Content: label(2) + pad}),
		message.NewAssistantMessage(label(3) + pad),
	}
}

// label parses what turn wrote.
func label(m message.Message) (w string, n, i int, err error) {
	text := m.Content()
	if text == "" {
		if rs := m.ToolResults(); len(rs) > 0 {
			text = rs[0].Content
		}
	}
	head, _, _ := strings.Cut(text, " ")
	f := strings.Split(head, "/")
	if len(f) != 3 {
		return "", 0, 0, fmt.Errorf("message %q has no label", m.ID)
	}
	n, err1 := strconv.Atoi(f[1])
	i, err2 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2); err != nil {
		return "", 0, 0, err
	}
	return f[0], n, i, nil
}

// checkTurns verifies that msgs consist of whole turns, each turn's 4
// messages contiguous and in order, and each writer's turns in increasing
// order. It returns the number of turns per writer.
func checkTurns(t testing.TB, msgs []message.Message) map[string]int {
	t.Helper()
	if len(msgs)%4 != 0 {
		t.Errorf("%d messages: not whole 4-message turns", len(msgs))
	}
	last := map[string]int{}
	count := map[string]int{}
	for k := 0; k+3 < len(msgs); k += 4 {
		w, n, _, err := label(msgs[k])
		if err != nil {
			t.Fatalf("message %d: %v", k, err)
		}
		for i := range 4 {
			w2, n2, i2, err := label(msgs[k+i])
			if err != nil || w2 != w || n2 != n || i2 != i {
				t.Fatalf("message %d: got %s/%d/%d (err %v), want %s/%d/%d: a turn was split or reordered", k+i, w2, n2, i2, err, w, n, i)
			}
		}
		if prev, ok := last[w]; ok && n <= prev {
			t.Fatalf("writer %s: turn %d after turn %d", w, n, prev)
		}
		last[w] = n
		count[w]++
	}
	return count
}

func watchdog(t *testing.T, d time.Duration) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(d):
			buf := make([]byte, 1<<20)
			n := runtimeStack(buf)
			panic(fmt.Sprintf("%s: watchdog: still running after %v\n%s", t.Name(), d, buf[:n]))
		}
	}()
	return func() { close(done) }
}

func testGoroutines(t *testing.T, d Driver) {
	defer watchdog(t, 2*time.Minute)()
	path := filepath.Join(t.TempDir(), "convo.db")
	st := OpenStore(t, d, d.FileDSN(path))
	ctx := t.Context()
	const writers, turns = 8, 25
	shared, err := st.Create(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range writers {
		wg.Go(func() {
			name := fmt.Sprintf("g%d", w)
			own, err := session.LoadOrCreate(ctx, st, name)
			if err != nil {
				errs <- err
				return
			}
			for n := range turns {
				if err := shared.AddMessages(ctx, turn(name, n)); err != nil {
					errs <- fmt.Errorf("%s: shared turn %d: %w", name, n, err)
					return
				}
				if err := own.AddMessages(ctx, turn(name, n)); err != nil {
					errs <- fmt.Errorf("%s: own turn %d: %w", name, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	msgs, err := shared.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for w, c := range checkTurns(t, msgs) {
		if c != turns {
			t.Errorf("shared session: writer %s has %d turns, want %d", w, c, turns)
		}
	}
	if len(msgs) != writers*turns*4 {
		t.Errorf("shared session has %d messages, want %d", len(msgs), writers*turns*4)
	}
	for w := range writers {
		s, err := st.Load(ctx, fmt.Sprintf("g%d", w))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.GetMessages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := checkTurns(t, msgs)[fmt.Sprintf("g%d", w)]; got != turns || len(msgs) != turns*4 {
			t.Errorf("session g%d: %d turns, %d messages; want %d turns", w, got, len(msgs), turns)
		}
	}
}

func child(t *testing.T, role string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+role)...)
	return cmd
}

func testProcesses(t *testing.T, d Driver) {
	defer watchdog(t, 3*time.Minute)()
	path := filepath.Join(t.TempDir(), "convo.db")
	st := OpenStore(t, d, d.FileDSN(path))
	ctx := t.Context()
	if _, err := st.Create(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	const procs, turns = 4, 40
	var cmds []*exec.Cmd
	outs := make([]*strings.Builder, procs)
	for p := range procs {
		cmd := child(t, "append", "CONVO_DT_DB="+path, fmt.Sprintf("CONVO_DT_NAME=p%d", p), fmt.Sprintf("CONVO_DT_TURNS=%d", turns))
		outs[p] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[p], outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process p%d: %v\n%s", p, err, outs[p])
		}
	}
	s, err := st.Load(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	counts := checkTurns(t, msgs)
	for p := range procs {
		if c := counts[fmt.Sprintf("p%d", p)]; c != turns {
			t.Errorf("shared session: process p%d has %d turns, want %d", p, c, turns)
		}
		own, err := st.Load(ctx, fmt.Sprintf("p%d", p))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := own.GetMessages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c := checkTurns(t, msgs)[fmt.Sprintf("p%d", p)]; c != turns {
			t.Errorf("session p%d: %d turns, want %d", p, c, turns)
		}
	}
}

// testKill starts a child that appends 4-message turns as fast as it can,
// kills it with SIGKILL at a random moment, and checks the file after each
// kill: integrity_check passes and the session holds whole turns only.
func testKill(t *testing.T, d Driver) {
	defer watchdog(t, 4*time.Minute)()
	kills := 25
	if testing.Short() {
		kills = 8
	}
	path := filepath.Join(t.TempDir(), "convo.db")
	ctx := t.Context()
	total := 0
	for k := range kills {
		cmd := child(t, "kill", "CONVO_DT_DB="+path, fmt.Sprintf("CONVO_DT_NAME=k%d", k))
		ready, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child has opened the store and started writing.
		buf := make([]byte, 6)
		if _, err := ready.Read(buf); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("kill %d: child did not start: %v\n%s", k, err, stderr.String())
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: child ended with %v, not by SIGKILL\n%s", k, err, stderr.String())
		}

		db := OpenDB(t, d, d.FileDSN(path))
		var result string
		if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
			t.Fatalf("kill %d: integrity_check = %q, %v", k, result, err)
		}
		st, err := sqlite.Open(ctx, db)
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", k, err)
		}
		s, err := st.Load(ctx, "killed")
		if err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		msgs, err := s.GetMessages(ctx, nil)
		if err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		checkTurns(t, msgs)
		total = len(msgs) / 4
		checkIndexAfterKill(t, st, db, msgs, fmt.Sprintf("k%d", k))
		db.Close()
	}
	t.Logf("%d kills, %d whole turns stored, no partial turn", kills, total)
	if total == 0 {
		t.Errorf("no turn was ever stored: the children did no work before being killed")
	}
}

// checkIndexAfterKill checks the full-text index of a database whose
// writer (name) was killed while appending and indexing: the index holds no
// entry for a row that is not stored, its mark is not past the last row, and
// a search finds exactly the writer's stored messages, before and after
// indexing what is left.
func checkIndexAfterKill(t *testing.T, st *sqlite.Store, db *sql.DB, msgs []message.Message, name string) {
	t.Helper()
	ctx := t.Context()
	if _, err := st.Search(ctx, session.SearchQuery{Text: "probe"}); errors.Is(err, session.ErrNotSupported) {
		return // no FTS5 in this build
	}
	var orphans, markPast int
	if err := db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM messages_search AS f WHERE NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.rowid = f.rowid)),
		(SELECT count(*) FROM search_state WHERE indexed_to > (SELECT COALESCE(MAX(rowid), 0) FROM messages))`).Scan(&orphans, &markPast); err != nil {
		t.Fatalf("%s: read the index: %v", name, err)
	}
	if orphans != 0 || markPast != 0 {
		t.Errorf("%s: after the kill the index has %d entries for rows not stored, mark past the last row: %v", name, orphans, markPast != 0)
	}
	want := 0
	for _, m := range msgs {
		if w, _, _, err := label(m); err == nil && w == name {
			want++
		}
	}
	for _, when := range []string{"before indexing", "after indexing"} {
		hits, err := st.Search(ctx, session.SearchQuery{Text: name, Limit: session.MaxListLimit})
		if err != nil {
			t.Fatalf("%s: search %s: %v", name, when, err)
		}
		if len(hits) != min(want, session.MaxListLimit) {
			t.Errorf("%s: search %s found %d messages, %d are stored", name, when, len(hits), want)
		}
		if _, err := st.IndexSearch(ctx); err != nil {
			t.Fatalf("%s: IndexSearch: %v", name, err)
		}
	}
}

// openChildStore opens d's plain DSN for path and a store on it.
func openChildStore(ctx context.Context, d Driver, path string) (session.Store, *sql.DB, error) {
	db, err := d.open(d.FileDSN(path))
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return st, db, nil
}

func runChild(d Driver, role string) error {
	ctx := context.Background()
	st, db, err := openChildStore(ctx, d, os.Getenv("CONVO_DT_DB"))
	if err != nil {
		return err
	}
	defer db.Close()
	name := os.Getenv("CONVO_DT_NAME")
	switch role {
	case "feed-append", "feed-consume":
		return feedChild(ctx, st, role)
	case "append":
		turns, err := strconv.Atoi(os.Getenv("CONVO_DT_TURNS"))
		if err != nil {
			return err
		}
		shared, err := st.Load(ctx, "shared")
		if err != nil {
			return err
		}
		own, err := session.LoadOrCreate(ctx, st, name)
		if err != nil {
			return err
		}
		for n := range turns {
			if err := shared.AddMessages(ctx, turn(name, n)); err != nil {
				return fmt.Errorf("shared turn %d: %w", n, err)
			}
			if err := own.AddMessages(ctx, turn(name, n)); err != nil {
				return fmt.Errorf("own turn %d: %w", n, err)
			}
		}
		return nil
	case "kill":
		s, err := session.LoadOrCreate(ctx, st, "killed")
		if err != nil {
			return err
		}
		os.Stdout.WriteString("ready\n")
		for n := 0; ; n++ {
			if err := s.AddMessages(ctx, turn(name, n)); err != nil {
				return err
			}
			if n%3 == 2 {
				// Index too, so that kills land inside indexing
				// transactions as well as appends. A build without
				// FTS5 (mattn without -tags sqlite_fts5) has no
				// index: it only appends.
				if _, err := st.(*sqlite.Store).IndexSearch(ctx); err != nil && !errors.Is(err, session.ErrNotSupported) {
					return err
				}
			}
		}
	}
	return fmt.Errorf("unknown child role %q", role)
}
