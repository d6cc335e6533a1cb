package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
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

// TestKilledWritersLoseNothing runs processes that append to one database
// file and keep its full-text index up to date, kills each of them with
// SIGKILL at a random moment (half of the time within 2 ms after it began an
// AddMessages or IndexSearch), starts it again, and checks after every
// round of kills, with every child dead, what
// the store promises (package documentation, "Full-text search" and
// "Concurrency and the DSN"): every append that returned is stored whole;
// no append is stored in part; the files pass SQLite's and FTS5's integrity
// checks; and a search finds exactly the stored messages that contain a
// word, read-only before anything repairs the index, then after the next
// search and after IndexSearch.
//
// The children are this test binary, run as TestKilledWritersChild:
//   - three writers, each appending 4-message turns (user text, assistant
//     text with a tool call, tool result, assistant text) in turn to its own
//     session and to two sessions all writers share. Every message of turn n
//     of child c starts with the turn's word "t<c>x<n>", which no other turn
//     has. After each AddMessages returns, the writer prints "ok <session>
//     <word>": the parent records the turn as acknowledged (a line is one
//     write to a pipe, so the parent reads it whole even when the child is
//     killed right after). Every tenth turn it also searches, so that writers
//     catch the index up too;
//   - one indexer, calling IndexSearch and Search in a loop, pausing at
//     random so that the backlog, and the next batch, grows; and changing the
//     text of a stored user message in place with plain SQL, as another
//     program could, so that kills also land while changed messages are
//     re-indexed. A changed message keeps its turn word and role word and
//     gets a new word "e<c>y<k>", unique to the change.
//
// The assertions do not depend on where the kills land: what is stored is
// read back, and every expectation is derived from it and from the
// acknowledgements. The test takes about 20 s on a 2-vCPU VM (about 8 s
// with -short), most of it in the searches of the checks.
func TestKilledWritersLoseNothing(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	rounds, roundLen := 6, time.Second
	if testing.Short() {
		rounds, roundLen = 2, time.Second
	}
	path := filepath.Join(t.TempDir(), "convo.db")
	rec := &crashRecord{acks: map[string]string{}, roles: map[int]string{}}
	for r := range rounds {
		first := rec.next + 1
		runCrashRound(t, path, roundLen, rec)
		if t.Failed() {
			return
		}
		checkAfterKills(t, path, rec, fmt.Sprintf("round %d", r), first)
		if t.Failed() {
			return
		}
	}
	// Later rounds changed nothing of what earlier ones stored.
	db := openFile(t, "file:"+path+"?mode=ro")
	st, err := sqlite.Open(t.Context(), db, sqlite.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	stored := checkStoredTurns(t, st, rec, "at the end")
	checkSearch(t, st, stored, crashSearchWords(stored, rec, 0), "at the end")
	t.Logf("%d processes killed (%d inside AddMessages, %d inside IndexSearch), %d turns acknowledged",
		rec.next, rec.inAdd, rec.inIndex, len(rec.acks))
}

// Environment of a child of TestKilledWritersLoseNothing.
const (
	crashChildEnv = "CONVO_TEST_CRASH_CHILD" // its role: "writer" or "indexer"
	crashDBEnv    = "CONVO_TEST_CRASH_DB"    // the database file
	crashSpawnEnv = "CONVO_TEST_CRASH_SPAWN" // the child's number, unique in the test
	crashSlotEnv  = "CONVO_TEST_CRASH_SLOT"  // the writer's number, which names its own session
)

// crashDSN is the DSN docs/performance.md recommends, with
// synchronous=NORMAL. In WAL mode NORMAL keeps every commit across a crash
// of the process, which is what SIGKILL is; only a power loss or an OS
// crash may lose the last commits under NORMAL, and this test causes
// neither.
func crashDSN(path string) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)"
}

// crashTurnWord is the word of turn n of child spawn.
func crashTurnWord(spawn, n int) string { return fmt.Sprintf("t%dx%d", spawn, n) }

// crashEditWord is the word of the k-th change of child spawn.
func crashEditWord(spawn, k int) string { return fmt.Sprintf("e%dy%d", spawn, k) }

// crashRoleWords are the second word of a turn's messages, in order.
var crashRoleWords = [4]string{"ask", "call", "result", "answer"}

// crashTurn returns turn n, whose word is word: four messages of distinct
// text, about 300 bytes each, with a tool call and its result.
func crashTurn(word string, n int) []message.Message {
	text := func(i int) string {
		var b strings.Builder
		b.WriteString(word + " " + crashRoleWords[i])
		for j := range 40 {
			fmt.Fprintf(&b, " w%d", (n*31+i*17+j*13)%997)
		}
		return b.String()
	}
	call := "call_" + word
	return []message.Message{
		message.NewUserMessage(text(0)),
		message.NewMessage(message.RoleAssistant, message.Text{Text: text(1)},
			message.ToolCall{ID: call, Name: "lookup", Input: []byte(`{"q":"` + word + `"}`)}),
		message.NewMessage(message.RoleTool, message.ToolResult{CallID: call, Name: "lookup", Content: text(2)}),
		message.NewAssistantMessage(text(3)),
	}
}

// TestKilledWritersChild is a child of TestKilledWritersLoseNothing. It
// runs until it is killed.
func TestKilledWritersChild(t *testing.T) {
	role := os.Getenv(crashChildEnv)
	if role == "" {
		t.Skip("runs only as a child of TestKilledWritersLoseNothing")
	}
	// The parent holds the other end of stdin: if the parent goes, so does
	// the child.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(2)
	}()
	ctx := context.Background()
	spawn, err := strconv.Atoi(os.Getenv(crashSpawnEnv))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", crashDSN(os.Getenv(crashDBEnv)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(spawn), uint64(time.Now().UnixNano())))
	switch role {
	case "writer":
		var sessions []session.Session
		for _, id := range []string{"own" + os.Getenv(crashSlotEnv), "shared0", "shared1"} {
			s, err := session.LoadOrCreate(ctx, st, id)
			if err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, s)
		}
		fmt.Println("ready")
		for n := 0; ; n++ {
			word := crashTurnWord(spawn, n)
			s := sessions[n%len(sessions)]
			fmt.Println("adding")
			if err := s.AddMessages(ctx, crashTurn(word, n)); err != nil {
				t.Fatalf("turn %s: %v", word, err)
			}
			fmt.Printf("ok %s %s\n", s.ID(), word)
			// A pause, so that the rounds store a few hundred turns,
			// which the checks search for one by one.
			time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
			if n%10 == 9 {
				if _, err := st.Search(ctx, session.SearchQuery{Text: crashTurnWord(spawn, rng.IntN(n+1))}); err != nil {
					t.Fatalf("search: %v", err)
				}
			}
		}
	case "indexer":
		fmt.Println("ready")
		for k := 0; ; k++ {
			fmt.Println("indexing")
			if _, err := st.IndexSearch(ctx); err != nil {
				t.Fatalf("IndexSearch: %v", err)
			}
			fmt.Println("indexed")
			if err := crashEdit(ctx, db, rng, crashEditWord(spawn, k)); err != nil {
				t.Fatalf("change a message: %v", err)
			}
			if _, err := st.Search(ctx, session.SearchQuery{Text: fmt.Sprintf("w%d", rng.IntN(997)), Limit: 100}); err != nil {
				t.Fatalf("search: %v", err)
			}
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		}
	}
	t.Fatalf("unknown role %q", role)
}

// crashEdit changes the text of a user message in place, as a program
// other than the store could: it keeps the message's first two words and
// puts "edited" and word after them. It picks an indexed message (at or
// below the index's mark) half of the time.
func crashEdit(ctx context.Context, db *sql.DB, rng *rand.Rand, word string) error {
	below := "search_state"
	if rng.IntN(2) == 0 {
		below = "(SELECT max(rowid) AS indexed_to FROM messages)"
	}
	var row int64
	var parts string
	err := db.QueryRowContext(ctx, `SELECT m.rowid, m.parts FROM messages AS m, `+below+` AS b
		WHERE m.role = 'user' AND m.rowid <= b.indexed_to AND m.rowid >= ? * b.indexed_to
		ORDER BY m.rowid LIMIT 1`, rng.Float64()).Scan(&row, &parts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	ps, err := message.UnmarshalParts([]byte(parts))
	if err != nil {
		return err
	}
	f := strings.Fields(ps[0].(message.Text).Text)
	p, err := message.MarshalParts([]message.Part{message.Text{Text: f[0] + " " + f[1] + " edited " + word}})
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `UPDATE messages SET parts = ? WHERE rowid = ? AND parts = ?`, string(p), row, parts)
	return err
}

// crashRecord is what the parent knows of its children.
type crashRecord struct {
	mu    sync.Mutex
	next  int               // children started
	roles map[int]string    // child -> role
	acks  map[string]string // acknowledged turn word -> session
	// inAdd and inIndex count the children killed inside AddMessages
	// (or before printing its acknowledgement) and inside IndexSearch.
	inAdd, inIndex int
}

func (r *crashRecord) killed(lastLine string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch lastLine {
	case "adding":
		r.inAdd++
	case "indexing":
		r.inIndex++
	}
}

func (r *crashRecord) start(role string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.roles[r.next] = role
	return r.next
}

func (r *crashRecord) ack(session, word string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acks[word] = session
}

// runCrashRound runs three writers and an indexer on path for about d,
// each killed with SIGKILL at a random moment after it has opened the store
// and started again until d has passed, then killed a last time.
func runCrashRound(t *testing.T, path string, d time.Duration, rec *crashRecord) {
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for slot, role := range []string{"writer", "writer", "writer", "indexer"} {
		wg.Go(func() {
			for first := true; first || time.Now().Before(end); first = false {
				if !runKilledChild(t, path, role, slot, rec.start(role), rec) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// runKilledChild runs one child, kills it at a random moment within 300 ms
// after it reported ready (half of the time, within 2 ms after it next
// said it began a write), and reports whether it ended by that SIGKILL.
func runKilledChild(t *testing.T, path, role string, slot, spawn int, rec *crashRecord) bool {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWritersChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+role, crashDBEnv+"="+path,
		crashSpawnEnv+"="+strconv.Itoa(spawn), crashSlotEnv+"="+strconv.Itoa(slot))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Error(err)
		return false
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Error(err)
		return false
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return false
	}
	ready, done := make(chan struct{}), make(chan struct{})
	busy := make(chan struct{}, 1) // the child began an AddMessages or an IndexSearch
	var other []string             // what the child printed besides its acknowledgements
	var lastLine string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			lastLine = line
			f := strings.Fields(line)
			switch {
			case line == "adding" || line == "indexing":
				select {
				case busy <- struct{}{}:
				default:
				}
			case line == "indexed":
			case line == "ready":
				close(ready)
			case len(f) == 3 && f[0] == "ok":
				rec.ack(f[1], f[2])
			default:
				other = append(other, line)
			}
		}
	}()
	select {
	case <-ready:
		time.Sleep(time.Duration(rand.IntN(300_000)) * time.Microsecond)
		if rand.IntN(2) == 0 {
			// Aim at a write: kill within 2 ms of the start of the
			// next AddMessages or IndexSearch.
			select {
			case <-busy:
			default:
			}
			select {
			case <-busy:
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			case <-done:
			case <-time.After(time.Second):
			}
		}
	case <-done:
	case <-time.After(time.Minute):
	}
	// The child may have ended by itself (an error): Kill then fails, and
	// Wait says how it ended.
	cmd.Process.Kill()
	<-done
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("child %d (%s) ended with %v, not by SIGKILL:\n%s%s", spawn, role, err, strings.Join(other, "\n"), stderr.String())
		return false
	}
	rec.killed(lastLine)
	return true
}

// crashMsg is a stored message.
type crashMsg struct {
	session string
	seq     int64
	msg     message.Message
}

func (m crashMsg) key() string { return fmt.Sprintf("%s/%d/%s", m.session, m.seq, m.msg.ID) }

// crashWords returns the words of the searchable text of m (text and tool
// results: this test writes no reasoning).
func crashWords(m message.Message) []string {
	var words []string
	for _, p := range m.Parts {
		switch p := p.(type) {
		case message.Text:
			words = append(words, strings.Fields(p.Text)...)
		case message.ToolResult:
			words = append(words, strings.Fields(p.Content)...)
		}
	}
	return words
}

// checkAfterKills checks the database at path after every process writing
// to it was killed. It reads it first read-only, as the kills left it, then
// through a store that may write.
//
// It searches for the words of the turns of the children numbered first or
// more, those the last round started (earlier rounds' turns were indexed
// by the check of their round, and the index holds them whole: see
// checkIndexRows), and for every word of a changed message.
func checkAfterKills(t *testing.T, path string, rec *crashRecord, when string, first int) {
	ctx := t.Context()
	rec.mu.Lock()
	defer rec.mu.Unlock()

	// As the kills left it: nothing written.
	roDB := openFile(t, "file:"+path+"?mode=ro")
	var result string
	if err := roDB.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil || result != "ok" {
		t.Fatalf("%s: integrity_check = %q, %v", when, result, err)
	}
	ro, err := sqlite.Open(ctx, roDB, sqlite.WithReadOnly())
	if err != nil {
		t.Fatalf("%s: open read-only: %v", when, err)
	}
	stored := checkStoredTurns(t, ro, rec, when)
	if t.Failed() {
		return
	}
	checkIndexRows(t, roDB, when)
	words := crashSearchWords(stored, rec, first)
	checkSearch(t, ro, stored, words, when+", read-only, as the kills left it")

	// Through a store that may write: the first search brings a large
	// backlog up to date, IndexSearch the rest.
	db := openFile(t, crashDSN(path))
	if _, err := db.ExecContext(ctx, `INSERT INTO messages_search (messages_search) VALUES ('integrity-check')`); err != nil {
		t.Fatalf("%s: FTS5 integrity-check: %v", when, err)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatalf("%s: reopen: %v", when, err)
	}
	checkSearch(t, st, stored, words, when+", before IndexSearch")
	if _, err := st.IndexSearch(ctx); err != nil {
		t.Fatalf("%s: IndexSearch: %v", when, err)
	}
	if n, err := st.SearchBacklog(ctx); err != nil || n != 0 {
		t.Errorf("%s: backlog after IndexSearch = %d, %v; want 0", when, n, err)
	}
	checkSearch(t, st, stored, words, when+", after IndexSearch")
	if _, err := db.ExecContext(ctx, `INSERT INTO messages_search (messages_search) VALUES ('integrity-check')`); err != nil {
		t.Fatalf("%s: FTS5 integrity-check after IndexSearch: %v", when, err)
	}
	checkIndexRows(t, db, when+", after IndexSearch")
	// Reopened, it holds what it held: IndexSearch changed no message.
	if again := checkStoredTurns(t, st, rec, when+", after IndexSearch"); len(again) != len(stored) {
		t.Errorf("%s: %d messages after IndexSearch, %d before", when, len(again), len(stored))
	}
	roDB.Close()
	db.Close()
}

// checkStoredTurns reads every session of st and checks that it holds whole
// turns, in order, each as written (or changed by crashEdit), that every
// acknowledged turn is stored in its session, and that each writer's stored
// turns are its first ones with no gap, at most one more than it
// acknowledged. It returns the stored messages.
func checkStoredTurns(t *testing.T, st *sqlite.Store, rec *crashRecord, when string) []crashMsg {
	t.Helper()
	ctx := t.Context()
	var all []crashMsg
	turnSession := map[string]string{} // stored turn word -> session
	storedTurns := map[int][]int{}     // child -> the n of its stored turns
	var infos []session.Info
	for cursor := ""; ; {
		page, err := st.List(ctx, session.ListQuery{Limit: session.MaxListLimit, Cursor: cursor})
		if err != nil {
			t.Fatalf("%s: List: %v", when, err)
		}
		if len(page.Unreadable) > 0 {
			t.Errorf("%s: List: unreadable sessions %v", when, page.Unreadable)
		}
		infos = append(infos, page.Sessions...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	for _, in := range infos {
		id := in.ID
		s, err := st.Load(ctx, id)
		if err != nil {
			t.Fatalf("%s: Load %q: %v", when, id, err)
		}
		msgs, err := s.GetMessages(ctx, nil)
		if err != nil {
			t.Errorf("%s: GetMessages of %q: %v", when, id, err)
			continue
		}
		info, err := st.Info(ctx, id)
		if err != nil {
			t.Errorf("%s: Info of %q: %v", when, id, err)
		}
		if info.MessageCount != int64(len(msgs)) || in.MessageCount != int64(len(msgs)) {
			t.Errorf("%s: session %q holds %d messages; Info says %d, List %d", when, id, len(msgs), info.MessageCount, in.MessageCount)
		}
		var entries []session.Entry
		for after := int64(0); ; {
			page, err := session.Range(ctx, s, session.RangeQuery{After: after, Limit: session.MaxListLimit})
			if err != nil {
				t.Fatalf("%s: Range of %q: %v", when, id, err)
			}
			if len(page) == 0 {
				break
			}
			entries = append(entries, page...)
			after = page[len(page)-1].Seq
		}
		if len(entries) != len(msgs) {
			t.Errorf("%s: session %q: Range reads %d messages, GetMessages %d", when, id, len(entries), len(msgs))
			continue
		}
		if len(msgs)%4 != 0 {
			t.Errorf("%s: session %q holds %d messages: not whole 4-message turns", when, id, len(msgs))
		}
		last := map[int]int{} // child -> its last turn in this session
		for k := 0; k+3 < len(msgs); k += 4 {
			f := strings.Fields(msgs[k].Content())
			var spawn, n int
			if len(f) < 2 || !isTurnWord(f[0], &spawn, &n) {
				t.Errorf("%s: session %q, seq %d: %q is not the first message of a turn", when, id, entries[k].Seq, msgs[k].Content())
				break
			}
			word := f[0]
			want := crashTurn(word, n)
			for i := range 4 {
				m, e := msgs[k+i], entries[k+i]
				if e.Message.ID != m.ID || e.Seq != entries[k].Seq+int64(i) {
					t.Errorf("%s: session %q: turn %s, message %d: seq %d, id %s (Range) and %s (GetMessages); want seq %d, the turn stored in one run",
						when, id, word, i, e.Seq, e.Message.ID, m.ID, entries[k].Seq+int64(i))
				}
				if !crashSameMessage(m, want[i]) {
					t.Errorf("%s: session %q, seq %d: %+v; want message %d of turn %s: %+v", when, id, e.Seq, m.Parts, i, word, want[i].Parts)
				}
				all = append(all, crashMsg{id, e.Seq, m})
			}
			if prev, ok := turnSession[word]; ok {
				t.Errorf("%s: turn %s stored twice, in %q and %q", when, word, prev, id)
			}
			turnSession[word] = id
			if l, ok := last[spawn]; ok && n <= l {
				t.Errorf("%s: session %q: turn %s after turn %s", when, id, word, crashTurnWord(spawn, l))
			}
			last[spawn] = n
			storedTurns[spawn] = append(storedTurns[spawn], n)
		}
	}
	acked := map[int]int{} // child -> its last acknowledged turn
	for word, id := range rec.acks {
		var spawn, n int
		isTurnWord(word, &spawn, &n)
		acked[spawn] = max(acked[spawn], n+1)
		if got, ok := turnSession[word]; !ok || got != id {
			t.Errorf("%s: turn %s was acknowledged in session %q, but is stored in %q", when, word, id, got)
		}
	}
	for spawn, ns := range storedTurns {
		slices.Sort(ns)
		if ns[len(ns)-1] != len(ns)-1 {
			t.Errorf("%s: child %d has turns %v stored, not its first %d", when, spawn, ns, len(ns))
		}
		if len(ns) > acked[spawn]+1 {
			t.Errorf("%s: child %d has %d turns stored, %d acknowledged: more than the one it may have been killed before acknowledging",
				when, spawn, len(ns), acked[spawn])
		}
	}
	return all
}

// isTurnWord parses a turn word.
func isTurnWord(word string, spawn, n *int) bool {
	_, err := fmt.Sscanf(word, "t%dx%d", spawn, n)
	return err == nil && crashTurnWord(*spawn, *n) == word
}

// isEditWord parses a change word.
func isEditWord(word string, spawn, k *int) bool {
	_, err := fmt.Sscanf(word, "e%dy%d", spawn, k)
	return err == nil && crashEditWord(*spawn, *k) == word
}

// crashSameMessage reports whether got is want as stored, or as crashEdit
// changes it.
func crashSameMessage(got, want message.Message) bool {
	if got.Role != want.Role {
		return false
	}
	if reflect.DeepEqual(got.Parts, want.Parts) {
		return true
	}
	if got.Role != message.RoleUser || len(got.Parts) != 1 {
		return false
	}
	f, w := strings.Fields(got.Content()), strings.Fields(want.Content())
	var spawn, k int
	return len(f) == 4 && f[0] == w[0] && f[1] == w[1] && f[2] == "edited" && isEditWord(f[3], &spawn, &k)
}

// checkIndexRows checks the index's rows against the messages: no entry
// for a row that is not stored, none above the mark (the rows above it are
// matched in Go; an entry there means the index was written apart from its
// mark), none for a pending row, and a mark no higher than the last row.
func checkIndexRows(t *testing.T, db *sql.DB, when string) {
	t.Helper()
	var orphans, above, pending, markPast int
	err := db.QueryRowContext(t.Context(), `SELECT
		(SELECT count(*) FROM messages_search AS f WHERE NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.rowid = f.rowid)),
		(SELECT count(*) FROM messages_search AS f WHERE f.rowid > (SELECT indexed_to FROM search_state)),
		(SELECT count(*) FROM messages_search AS f JOIN search_pending AS p ON p.row = f.rowid),
		(SELECT count(*) FROM search_state WHERE indexed_to > (SELECT COALESCE(max(rowid), 0) FROM messages))`).Scan(&orphans, &above, &pending, &markPast)
	if err != nil {
		t.Fatalf("%s: read the index: %v", when, err)
	}
	if orphans != 0 || above != 0 || pending != 0 || markPast != 0 {
		t.Errorf("%s: the index has %d entries for rows not stored, %d above its mark, %d for pending rows; mark past the last row: %v",
			when, orphans, above, pending, markPast != 0)
	}
}

// crashSearchWords returns the words to search for: the turn and change
// words stored by the children numbered first or more, the turn words of
// the messages they changed, and the words those children would have
// written next (the first of which a writer may have been writing when it
// was killed) or wrote and another change replaced, which are not stored.
func crashSearchWords(stored []crashMsg, rec *crashRecord, first int) []string {
	seen := map[string]bool{}
	next := map[int]int{} // child -> its next turn or change
	for _, m := range stored {
		ws := crashWords(m.msg)
		var tspawn, tn, espawn, ek int
		isTurn := len(ws) > 0 && isTurnWord(ws[0], &tspawn, &tn)
		if isTurn {
			next[tspawn] = max(next[tspawn], tn+1)
		}
		isEdit := len(ws) == 4 && ws[2] == "edited" && isEditWord(ws[3], &espawn, &ek)
		if isEdit {
			next[espawn] = max(next[espawn], ek+1)
		}
		if isEdit && espawn >= first {
			seen[ws[3]] = true
		}
		if isTurn && (tspawn >= first || isEdit && espawn >= first) {
			seen[ws[0]] = true
		}
	}
	for spawn, role := range rec.roles {
		switch {
		case spawn < first:
		case role == "writer":
			seen[crashTurnWord(spawn, next[spawn])] = true
			seen[crashTurnWord(spawn, next[spawn]+1)] = true
		default:
			for k := range next[spawn] + 2 {
				seen[crashEditWord(spawn, k)] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// checkSearch searches st for each word and checks that it finds exactly
// the stored messages that contain it, each once.
func checkSearch(t *testing.T, st *sqlite.Store, stored []crashMsg, words []string, when string) {
	t.Helper()
	want := map[string][]string{}
	for _, m := range stored {
		for _, w := range crashWords(m.msg) {
			want[w] = append(want[w], m.key())
		}
	}
	bad := 0
	for _, w := range words {
		hits, err := st.Search(t.Context(), session.SearchQuery{Text: w, Limit: session.MaxListLimit})
		if err != nil {
			t.Fatalf("%s: search %q: %v", when, w, err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, fmt.Sprintf("%s/%d/%s", h.SessionID, h.Seq, h.MessageID))
		}
		slices.Sort(got)
		exp := slices.Sorted(slices.Values(want[w]))
		if !slices.Equal(got, exp) {
			t.Errorf("%s: search %q found %v; the messages that contain it are %v", when, w, got, exp)
			if bad++; bad == 10 {
				t.Fatalf("%s: too many wrong searches", when)
			}
		}
	}
}
