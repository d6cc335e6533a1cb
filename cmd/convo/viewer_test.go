package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// viewerOf serves store with the given list page size.
func viewerOf(t *testing.T, store session.Store, pageSize int) (*viewer, *httptest.Server) {
	t.Helper()
	var log strings.Builder
	v, err := newViewer(store, pageSize, &log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newGuard(v, nil, ""))
	t.Cleanup(srv.Close)
	return v, srv
}

// hostileMarkdown is message text that tries every way Markdown offers to
// run script, load something, or leave the page.
const hostileMarkdown = "# Title\n\n**bold** and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n" +
	"[js](javascript:window.pwned=1) [JS](JaVaScRiPt:window.pwned=1) [vb](vbscript:msgbox) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n" +
	"<a href=\"javascript:window.pwned=1\">raw link</a> <img src=x onerror=\"window.pwned=1\"> <svg onload=\"window.pwned=1\"></svg>\n\n" +
	"<iframe src=\"https://evil.example/\"></iframe>\n\n" +
	"![tracker](https://tracker.example/pixel.png) [ok](https://example.com/page)\n\n" +
	"```go\nfunc main() { println(\"<script>\") }\n```\n"

// TestViewerMarkdownIsSafe: Markdown is rendered (headings, tables, code
// highlighted by class), nothing in it becomes script, a handler, a frame
// or a request to elsewhere, and the raw text is one click away.
func TestViewerMarkdownIsSafe(t *testing.T) {
	srv, _ := newTestViewer(t, 50, demoSession{id: "md", valid: true, msgs: []message.Message{
		message.NewUserMessage("show me markdown"),
		message.NewAssistantMessage(hostileMarkdown),
	}})
	status, _, body := get(t, "GET", srv.URL+"/s/md")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{"<h1>Title</h1>", "<strong>bold</strong>", "<table>", `<pre class="chroma">`, `<span class="kd">func</span>`,
		`class="remote-image" href="https://tracker.example/pixel.png"`, `href="https://example.com/page"`,
		`&lt;img src=x onerror=`, `&lt;iframe src=`, `class="raw-switch"`, `<pre class="src">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	lower := strings.ToLower(body)
	for _, bad := range []string{`href="javascript:`, `href="vbscript:`, `href="data:`, "<iframe", "<svg", `src="https://tracker`, `src="x"`} {
		if strings.Contains(lower, bad) {
			t.Errorf("page holds %q", bad)
		}
	}
	// No element carries an event handler attribute.
	if m := regexp.MustCompile(`<[a-z]+[^>]*\son[a-z]+\s*=`).FindString(lower); m != "" {
		t.Errorf("an element with an event handler: %s", m)
	}
	// The only <img> elements are the viewer's own data: images.
	for _, img := range regexp.MustCompile(`<img[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(img, `src="data:image/`) {
			t.Errorf("an image that loads on its own: %s", img)
		}
	}
	// Links leave without a referrer.
	if !strings.Contains(body, `href="https://example.com/page" rel="nofollow noreferrer noopener"`) {
		t.Error("an outside link without rel=noreferrer")
	}
}

// countingStore counts the messages its sessions read, to show what a
// page costs the store.
type countingStore struct {
	session.Store
	read, whole atomic.Int64
}

func (s *countingStore) Load(ctx context.Context, id string) (session.Session, error) {
	sess, err := s.Store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return countingSession{sess.(session.Ranger), s}, nil
}

type countingSession struct {
	session.Ranger
	s *countingStore
}

func (c countingSession) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	c.s.whole.Add(1)
	return c.Ranger.GetMessages(ctx, limit)
}

func (c countingSession) Range(ctx context.Context, q session.RangeQuery) ([]session.Entry, error) {
	es, err := c.Ranger.Range(ctx, q)
	c.s.read.Add(int64(len(es)))
	return es, err
}

// Issue 17 item 8: a 100,000-message conversation was one 31.7 MB page.
// Now a page holds messagesPerPage messages, reads about that many rows,
// and the older ones come a page at a time.
func TestViewerPagesLongSession(t *testing.T) {
	const n = 100_000
	mem := session.NewMemoryStore()
	sess, err := mem.Create(t.Context(), "long")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		batch := make([]message.Message, 1000)
		for j := range batch {
			batch[j] = message.NewUserMessage(fmt.Sprintf("message %d: %s", i+j+1, strings.Repeat("lorem ipsum ", 10)))
		}
		if err := sess.AddMessages(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	store := &countingStore{Store: mem}
	_, srv := viewerOf(t, store, 50)

	_, _, body := get(t, "GET", srv.URL+"/s/long")
	msgs := regexp.MustCompile(`<li class="msg item role-user" id="m(\d+)"`).FindAllStringSubmatch(body, -1)
	if len(msgs) != messagesPerPage || msgs[0][1] != fmt.Sprint(n-messagesPerPage+1) || msgs[len(msgs)-1][1] != fmt.Sprint(n) {
		t.Fatalf("first page: %d messages; want the newest %d, oldest first", len(msgs), messagesPerPage)
	}
	if len(body) > 512<<10 {
		t.Errorf("first page of a %d-message session is %d bytes; want at most 512 KiB", n, len(body))
	}
	if r, w := store.read.Load(), store.whole.Load(); r > messagesPerPage+2 || w != 0 {
		t.Errorf("the first page read %d messages and %d whole histories; want at most %d and none", r, w, messagesPerPage+2)
	}
	t.Logf("first page of %d messages: %d bytes, %d messages read", n, len(body), store.read.Load())

	// Load older: the fragment holds the page before, and says where the
	// next one is.
	m := regexp.MustCompile(`id="older" href="([^"]+)" data-fragment="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to older messages")
	}
	store.read.Store(0)
	resp, err := http.Get(srv.URL + m[2])
	if err != nil {
		t.Fatal(err)
	}
	frag := new(strings.Builder)
	_, _ = bufio.NewReader(resp.Body).WriteTo(frag)
	resp.Body.Close()
	older := regexp.MustCompile(`id="m(\d+)"`).FindAllStringSubmatch(frag.String(), -1)
	if len(older) != messagesPerPage || older[len(older)-1][1] != fmt.Sprint(n-messagesPerPage) {
		t.Errorf("older fragment: %d messages ending at %v", len(older), older[len(older)-1])
	}
	if next := resp.Header.Get("X-Convo-Older"); next != fmt.Sprintf("/older/long?before=%d", n-2*messagesPerPage+1) {
		t.Errorf("X-Convo-Older = %q", next)
	}
	if r := store.read.Load(); r > messagesPerPage+1 {
		t.Errorf("an older page read %d messages", r)
	}

	// A search hit deep in the session opens the page around it.
	_, _, body = get(t, "GET", srv.URL+"/s/long?at=50000")
	if !strings.Contains(body, `id="m50000"`) || !strings.Contains(body, `id="newer"`) || strings.Contains(body, "data-events") {
		t.Error("the page at 50000 lacks the message, a link to newer ones, or is live")
	}
	for _, bad := range []string{"?before=0", "?before=x", "?at=-1", "?after=1e3"} {
		if status, _, _ := get(t, "GET", srv.URL+"/s/long"+bad); status != http.StatusBadRequest {
			t.Errorf("%s: status %d; want 400", bad, status)
		}
	}
}

// Huge messages are folded at foldBytes with a link to the whole message.
func TestViewerFoldsHugeMessages(t *testing.T) {
	huge := strings.Repeat("word ", 200_000) // 1 MB
	srv, _ := newTestViewer(t, 50, demoSession{id: "huge", valid: true, msgs: []message.Message{
		message.NewUserMessage("dump the log"),
		message.NewAssistantMessage(huge),
	}})
	_, _, body := get(t, "GET", srv.URL+"/s/huge")
	if len(body) > 100<<10 {
		t.Errorf("page with a 1 MB message is %d bytes; want it folded", len(body))
	}
	m := regexp.MustCompile(`class="show-all" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no show-all link")
	}
	_, _, full := get(t, "GET", srv.URL+strings.ReplaceAll(m[1], "&amp;", "&"))
	if strings.Count(full, "word") < 200_000 || strings.Contains(full, "show-all") {
		t.Errorf("the whole message page holds %d words, or is folded again", strings.Count(full, "word"))
	}
	if status, _, _ := get(t, "GET", srv.URL+"/m/huge?seq=99"); status != http.StatusNotFound {
		t.Errorf("a missing message: status %d", status)
	}
}

// Token usage and model per message; totals per session, on the page for
// a short session and from /usage/ for a long one.
func TestViewerUsage(t *testing.T) {
	mk := func(text, model string, in, out int64) message.Message {
		m := message.NewAssistantMessage(text)
		m.Model, m.Usage = model, &message.Usage{InputTokens: in, OutputTokens: out, CacheReadTokens: in / 2}
		return m
	}
	msgs := []message.Message{message.NewUserMessage("hi"), mk("one", "gpt-4.1", 1200, 30), message.NewUserMessage("more"), mk("two", "claude-sonnet-4", 2000, 70)}
	srv, _ := newTestViewer(t, 50, demoSession{id: "tokens", valid: true, msgs: msgs})
	_, _, body := get(t, "GET", srv.URL+"/s/tokens")
	for _, want := range []string{`<span class="model">gpt-4.1</span>`, "in 1,200 · out 30 · cache read 600", "in 3,200 · out 100 · cache read 1,600 over 4 messages; gpt-4.1 × 1, claude-sonnet-4 × 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	long := session.NewMemoryStore()
	sess, _ := long.Create(t.Context(), "long")
	var batch []message.Message
	for range 2500 {
		batch = append(batch, mk("x", "m", 10, 1))
	}
	if err := sess.AddMessages(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	_, lsrv := viewerOf(t, long, 50)
	_, _, body = get(t, "GET", lsrv.URL+"/s/long")
	if !strings.Contains(body, `data-src="/usage/long"`) {
		t.Error("a long session's page does not ask for its totals")
	}
	_, _, body = get(t, "GET", lsrv.URL+"/usage/long")
	if !strings.Contains(body, "in 25,000 · out 2,500 · cache read 12,500 over 2500 messages; m × 2500") {
		t.Errorf("totals of 2,500 messages: %s", body)
	}
}

// The list's filters mean what convo ls's flags mean: the same sessions,
// in the same order, a page at a time.
func TestViewerListFiltersMatchLs(t *testing.T) {
	srv, dbPath := newTestViewer(t, 2)
	now := time.Now()
	backdate(t, dbPath, "", "trip-paris", now.Add(-10*24*time.Hour).UnixNano())
	backdate(t, dbPath, "", "support-42", now.Add(-2*time.Hour).UnixNano())
	for _, f := range []listFilter{{}, {Owner: "carol"}, {Since: "7d"}, {Until: "1d"}, {Prefix: "damaged-"}, {Owner: "carol", Prefix: "damaged-m"}, {Since: "30d", Until: "1h"}} {
		args := []string{"--db", dbPath, "ls", "--json", "--limit", "1000"}
		for flag, v := range map[string]string{"--owner": f.Owner, "--since": f.Since, "--until": f.Until, "--id-prefix": f.Prefix} {
			if v != "" {
				args = append(args, flag, v)
			}
		}
		var ls struct{ Sessions []struct{ ID string } }
		if err := json.Unmarshal([]byte(mustConvo(t, "", args...).stdout), &ls); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range ls.Sessions {
			want = append(want, s.ID)
		}
		var got []string
		next := "/?" + f.values().Encode()
		for range 10 {
			status, _, body := get(t, "GET", srv.URL+next)
			if status != 200 {
				t.Fatalf("%+v: status %d", f, status)
			}
			for _, m := range regexp.MustCompile(`class="sid" href="/s/([^"]+)"`).FindAllStringSubmatch(body, -1) {
				got = append(got, m[1])
			}
			m := regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body)
			if m == nil {
				break
			}
			next = strings.ReplaceAll(m[1], "&amp;", "&")
			for k, v := range f.values() {
				if !strings.Contains(next, k+"="+v[0]) {
					t.Errorf("%+v: the next page drops %s: %s", f, k, next)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter %+v: viewer lists %v; convo ls %v", f, got, want)
		}
	}
	if status, _, body := get(t, "GET", srv.URL+"/?since=yesterday"); status != 400 || !strings.Contains(body, "since") {
		t.Errorf("bad since: %d", status)
	}
}

// Issue 17 item 5: one corrupt row stopped the viewer's list. The others
// are listed and the bad one is named.
func TestViewerListSurvivesCorruptRow(t *testing.T) {
	srv, dbPath := newTestViewer(t, 50)
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE sessions SET metadata = '{"channel": ' WHERE id = 'trip-paris'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	status, _, body := get(t, "GET", srv.URL+"/")
	if status != 200 || strings.Count(body, `class="session item"`) != 4 {
		t.Fatalf("list with a corrupt row: status %d, %d sessions; want 200 and all 4", status, strings.Count(body, `class="session item"`))
	}
	if !strings.Contains(body, `id="unreadable"`) || !regexp.MustCompile(`<li>[^<]*&#34;trip-paris&#34;[^<]*metadata`).MatchString(body) {
		t.Error("the page does not name the unreadable session")
	}
}

// Search keeps the query in the box and the title, shows each hit's
// session title, and is scoped to the owner or session of the page it
// is made from.
func TestViewerSearchScope(t *testing.T) {
	srv, _ := newTestViewer(t, 50)
	_, _, body := get(t, "GET", srv.URL+"/?q=umbrella")
	for _, want := range []string{`<title>Search: umbrella · convo</title>`, `name="q" id="q" value="umbrella"`, `<span class="hit-title">Weekend in Paris</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("search page lacks %q", want)
		}
	}
	hits := func(body string) []string {
		var ids []string
		for _, m := range regexp.MustCompile(`class="hit-session" href="/s/([^"?]+)`).FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		slices.Sort(ids)
		return slices.Compact(ids)
	}
	if got := hits(body); !slices.Equal(got, []string{"support-42", "trip-paris"}) {
		t.Fatalf("umbrella everywhere: %v", got)
	}
	_, _, body = get(t, "GET", srv.URL+"/?owner=alice")
	if !strings.Contains(body, `<input type="hidden" name="owner" value="alice">`) {
		t.Error("an owner's page does not search that owner")
	}
	_, _, body = get(t, "GET", srv.URL+"/?q=umbrella&owner=bob")
	if got := hits(body); !slices.Equal(got, []string{"support-42"}) || !strings.Contains(body, `id="search-everywhere"`) {
		t.Errorf("umbrella in bob's sessions: %v", got)
	}
	_, _, body = get(t, "GET", srv.URL+"/s/trip-paris")
	if !strings.Contains(body, `<input type="hidden" name="session" value="trip-paris">`) {
		t.Error("a conversation does not search itself")
	}
	_, _, body = get(t, "GET", srv.URL+"/?q=umbrella&session=trip-paris")
	if got := hits(body); !slices.Equal(got, []string{"trip-paris"}) {
		t.Errorf("umbrella in trip-paris: %v", got)
	}
}

// noFeed hides a store's change feed (and every capability but Store's),
// as a store without session.Watcher.
type noFeed struct{ session.Store }

// The live view streams appended messages as server-sent events, from the
// last one shown, and each stream ends at the request deadline: woken by
// the store's change feed, or by polling a store without one.
func TestViewerEvents(t *testing.T) {
	// With the feed, polling is slowed to an hour: only the feed can
	// bring the message within the stream's 2 s.
	t.Run("feed", func(t *testing.T) {
		testViewerEvents(t, time.Hour, func(m *session.MemoryStore) session.Store { return m })
	})
	t.Run("polling", func(t *testing.T) {
		testViewerEvents(t, 20*time.Millisecond, func(m *session.MemoryStore) session.Store { return noFeed{m} })
	})
}

func testViewerEvents(t *testing.T, poll time.Duration, wrap func(*session.MemoryStore) session.Store) {
	mem := session.NewMemoryStore()
	sess, _ := mem.Create(t.Context(), "live")
	if err := sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("first")}); err != nil {
		t.Fatal(err)
	}
	v, err := newViewer(wrap(mem), 50, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	v.poll = poll
	g := newGuard(v, nil, "")
	g.timeout = 2 * time.Second
	srv := httptest.NewServer(g)
	defer srv.Close()
	_, _, page := get(t, "GET", srv.URL+"/s/live")
	if !strings.Contains(page, `data-events="/events/live?after=1"`) {
		t.Fatal("the newest page is not live")
	}
	resp, err := http.Get(srv.URL + "/events/live?after=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = sess.AddMessages(context.Background(), []message.Message{message.NewAssistantMessage("second, **live**")})
	}()
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "id: 2\nevent: message\ndata: ") || !strings.Contains(text, "<strong>live</strong>") || strings.Contains(text, "first") {
		t.Errorf("event stream:\n%s", text)
	}
	// A reconnect with Last-Event-ID starts after it.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/events/live?after=1", nil)
	req.Header.Set("Last-Event-ID", "2")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	resp2, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b := new(strings.Builder)
	_, _ = bufio.NewReader(resp2.Body).WriteTo(b)
	if strings.Contains(b.String(), "event: message") {
		t.Errorf("after Last-Event-ID 2, the stream repeats: %s", b)
	}
}
