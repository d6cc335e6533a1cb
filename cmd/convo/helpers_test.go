package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for openSQL

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// base is the fixed creation time of the seeded sessions.
var base = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC).UnixNano()

// at returns base plus n seconds.
func at(n int) int64 { return base + int64(n)*int64(time.Second) }

// testImagePNG is a small gradient picture, the "photo" in the demo
// conversation.
func testImagePNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 240, 120))
	for y := 0; y < 120; y++ {
		for x := 0; x < 240; x++ {
			sky := y < 80
			c := color.RGBA{R: uint8(90 + x/4), G: uint8(150 + y/2), B: 230, A: 255}
			if !sky {
				c = color.RGBA{R: 60 + uint8(x/6), G: 120, B: 70, A: 255}
			}
			if w := (y - 14) / 3; y >= 14 && y < 80 && abs(x-120) <= w/2+1 && (y < 60 || abs(x-120) > 4) { // a tower
				c = color.RGBA{R: 70, G: 70, B: 80, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// msg returns a message with a fixed id and time.
func msg(id string, sec int, role message.Role, parts ...message.Part) message.Message {
	return message.Message{ID: id, Role: role, Parts: parts, CreatedAt: at(sec)}
}

// demoSession is a session to seed.
type demoSession struct {
	id    string
	opts  session.CreateOptions
	msgs  []message.Message
	valid bool // passes session.Check
}

// XSS payloads that must show as text in the viewer.
const (
	xssScript = `<script>window.pwned=1</script>`
	xssImg    = `<img src=x onerror="window.pwned=1">`
)

// demoSessions is the seeded data: a realistic conversation with a tool
// call and an image, a hostile one, and two damaged ones.
func demoSessions(t testing.TB) []demoSession {
	photo := testImagePNG(t)
	weather := msg("m-trip-3", 4, message.RoleAssistant,
		message.Reasoning{Text: "The user asks about the weekend forecast in Paris. I should call get_weather for Saturday and Sunday before answering."},
		message.Text{Text: "Let me check the forecast for you."},
		message.ToolCall{ID: "call_1", Name: "get_weather", Input: json.RawMessage(`{"city":"Paris","days":["saturday","sunday"],"units":"metric"}`)})
	weather.Model = "gpt-4.1"
	answer := msg("m-trip-5", 7, message.RoleAssistant, message.Text{Text: "Saturday looks lovely: sunny, 18 °C. Sunday brings showers and 16 °C, so pack an umbrella. Your photo is from the Champ de Mars; that spot is best on Saturday morning."})
	answer.Model = "gpt-4.1"
	answer.Usage = &message.Usage{InputTokens: 512, OutputTokens: 48}
	dangling := msg("m-dmg1-2", 2, message.RoleAssistant, message.ToolCall{ID: "call_a", Name: "search_flights", Input: json.RawMessage(`{"from":"LIS","to":"CDG"}`)})
	return []demoSession{
		{id: "trip-paris", valid: true, opts: session.CreateOptions{Owner: "alice", Title: "Weekend in Paris", Metadata: map[string]string{"channel": "web"}, CreatedAt: at(0)},
			msgs: []message.Message{
				msg("m-trip-1", 1, message.RoleSystem, message.Text{Text: "You are a helpful travel assistant."}),
				msg("m-trip-2", 2, message.RoleUser, message.Text{Text: "What's the weather in Paris this weekend? Here is my photo from last time."},
					message.Binary{MIMEType: "image/png", Data: photo, Name: "paris.png"}),
				weather,
				msg("m-trip-4", 5, message.RoleTool, message.ToolResult{CallID: "call_1", Name: "get_weather",
					Content: `{"saturday":{"sky":"sunny","high_c":18,"low_c":11},"sunday":{"sky":"showers","high_c":16,"low_c":10}}`}),
				answer,
			}},
		{id: "support-42", valid: true, opts: session.CreateOptions{Owner: "bob", Title: "Odd characters " + xssScript, CreatedAt: at(60)},
			msgs: []message.Message{
				msg("m-sup-1", 61, message.RoleUser, message.Text{Text: "Please render this umbrella order: " + xssScript + " and " + xssImg}),
				msg("m-sup-2", 62, message.RoleAssistant, message.Text{Text: "I see the text " + xssImg + " in your umbrella message."},
					message.ImageURL{URL: "javascript:window.pwned=1"}),
			}},
		{id: "damaged-suffix", opts: session.CreateOptions{Owner: "carol", Title: "Interrupted flight search", CreatedAt: at(120)},
			msgs: []message.Message{
				msg("m-dmg1-1", 121, message.RoleUser, message.Text{Text: "Find me a flight to Paris"}),
				dangling,
			}},
		{id: "damaged-middle", opts: session.CreateOptions{Owner: "carol", Title: "Orphan result", CreatedAt: at(180)},
			msgs: []message.Message{
				msg("m-dmg2-1", 181, message.RoleUser, message.Text{Text: "What time is it in Tokyo?"}),
				msg("m-dmg2-2", 182, message.RoleTool, message.ToolResult{CallID: "call_x", Name: "clock", Content: "14:05 JST"}),
				msg("m-dmg2-3", 183, message.RoleAssistant, message.Text{Text: "It is 14:05 in Tokyo."}),
			}},
	}
}

// seed writes sessions into the store at dbURL with prefix.
func seed(t testing.TB, dbURL, prefix string, sessions []demoSession) {
	t.Helper()
	ctx := t.Context()
	b, err := openBackend(ctx, dbURL, prefix, false, false)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	defer b.close()
	d := b.store.(session.Describer)
	for _, s := range sessions {
		sess, err := d.CreateWith(ctx, s.id, s.opts)
		if err != nil {
			t.Fatalf("seed %s: %v", s.id, err)
		}
		if err := sess.AddMessages(ctx, s.msgs); err != nil {
			t.Fatalf("seed %s: %v", s.id, err)
		}
	}
}

// dump returns every session of the store with its messages, for
// comparisons.
type dumped struct {
	Info     session.Info
	Messages []message.Message
}

func dump(t testing.TB, dbURL, prefix string) map[string]dumped {
	t.Helper()
	ctx := t.Context()
	b, err := openBackend(ctx, dbURL, prefix, false, false)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	defer b.close()
	infos, err := allSessions(ctx, b.store, session.ListQuery{})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	out := map[string]dumped{}
	for _, in := range infos {
		sess, err := b.store.Load(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := sess.GetMessages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		in.Version = 0 // differs between stores by design (UpdatedAt is copied)
		out[in.ID] = dumped{in, msgs}
	}
	return out
}

// backdate sets the last update of session id to ns, directly in the
// database (stores stamp updates with the current time).
func backdate(t testing.TB, dbURL, prefix, id string, ns int64) {
	t.Helper()
	execSQL(t, dbURL, fmt.Sprintf(`UPDATE "%ssessions" SET updated_at = $1 WHERE id = $2`, prefix), ns, id)
}

// openSQL opens the database of dbURL with database/sql, for tests that
// read or write rows behind the store's back. Write queries with $1-style
// parameters: for SQLite they become ?1 (https://sqlite.org/lang_expr.html#parameters).
func openSQL(t testing.TB, dbURL string) (db *sql.DB, rebind func(q string) string) {
	t.Helper()
	kind, dsn, err := parseDB(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	driver, rebind := "sqlite", func(q string) string { return dollarParam.ReplaceAllString(q, "?$1") }
	if kind == "postgres" {
		driver, rebind = "pgx", func(q string) string { return q }
	}
	db, err = sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, rebind
}

var dollarParam = regexp.MustCompile(`\$(\d+)`)

// execSQL runs q (with $1-style parameters) on the database of dbURL.
func execSQL(t testing.TB, dbURL, q string, args ...any) {
	t.Helper()
	db, rebind := openSQL(t, dbURL)
	if _, err := db.ExecContext(t.Context(), rebind(q), args...); err != nil {
		t.Fatal(err)
	}
}

// backends returns the databases to test against: a fresh SQLite file
// always, and PostgreSQL (with a unique table prefix, dropped at the end)
// when CONVO_TEST_POSTGRES is set. Under CI=true PostgreSQL is required.
type testDB struct {
	name   string
	url    string
	prefix string
}

func backends(t *testing.T) []testDB {
	t.Helper()
	dbs := []testDB{{name: "sqlite", url: "sqlite:" + filepath.Join(t.TempDir(), "convo.db")}}
	if pg := postgresURL(t); pg != "" {
		dbs = append(dbs, testDB{name: "postgres", url: pg, prefix: uniquePrefix(t, pg)})
	}
	return dbs
}

// postgresURL returns CONVO_TEST_POSTGRES, or "" after logging why
// PostgreSQL is skipped (failing under CI=true).
func postgresURL(t *testing.T) string {
	t.Helper()
	pg := os.Getenv("CONVO_TEST_POSTGRES")
	if pg == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CONVO_TEST_POSTGRES is not set and CI=true: PostgreSQL tests are required in CI")
		}
		t.Log("CONVO_TEST_POSTGRES not set: PostgreSQL half skipped")
	}
	return pg
}

// uniquePrefix returns a fresh table prefix and drops its tables when the
// test ends.
func uniquePrefix(t *testing.T, pg string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "cli_" + hex.EncodeToString(b[:]) + "_"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, pg)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer pool.Close()
		// Every table of the prefix, whatever the schema version added
		// (search index, quarantine, ...).
		rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, $1)`, prefix)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, tbl := range tables {
			if _, err := pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS "%s" CASCADE`, tbl)); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return prefix
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// convoBinary builds the convo binary once per test run.
func convoBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "convo-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "convo")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// result is what a convo run printed.
type result struct {
	stdout, stderr string
	err            error // nil on exit status 0
}

// convo runs the built binary with args and stdin, with CONVO_DB unset.
func convo(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), convoBinary(t), args...)
	cmd.Env = append(filteredEnv("CONVO_DB"), "NO_COLOR=1")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{out.String(), errb.String(), err}
}

// mustConvo is convo that fails the test on a non-zero exit.
func mustConvo(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	r := convo(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("convo %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// filteredEnv returns the environment without the variables named in drop.
func filteredEnv(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return env
}

// runInProcess runs the program in this process.
func runInProcess(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), err}
}

// dbArgs returns the --db and --prefix flags of db.
func (db testDB) args(more ...string) []string {
	args := []string{"--db", db.url}
	if db.prefix != "" {
		args = append(args, "--prefix", db.prefix)
	}
	return append(args, more...)
}
