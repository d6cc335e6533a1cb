package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// newTestViewer serves the demo sessions from a fresh SQLite file.
func newTestViewer(t *testing.T, pageSize int, extra ...demoSession) (*httptest.Server, string) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "view.db")
	seed(t, dbPath, "", append(demoSessions(t), extra...))
	b, err := openBackend(t.Context(), dbPath, "", true, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	var log strings.Builder
	v, err := newViewer(b.store, pageSize, &log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	return srv, dbPath
}

func get(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestViewerStatusAndHeaders(t *testing.T) {
	srv, _ := newTestViewer(t, 50)
	tests := []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/", 200, `href="/s/trip-paris"`},
		{"HEAD", "/", 200, ""},
		{"GET", "/s/trip-paris", 200, "get_weather"},
		{"GET", "/s/no-such-session", 404, "no such session"},
		{"GET", "/s/bad%01id", 400, "invalid session id"},
		{"GET", "/?cursor=garbage", 400, "bad page cursor"},
		{"GET", "/nowhere", 404, "no such page"},
		{"GET", "/static/style.css", 200, "--assistant"},
		{"POST", "/", 405, "read-only"},
		{"DELETE", "/s/trip-paris", 405, "read-only"},
		{"PUT", "/static/style.css", 405, ""},
	}
	for _, tc := range tests {
		status, h, body := get(t, tc.method, srv.URL+tc.path)
		if status != tc.status {
			t.Errorf("%s %s: status %d; want %d", tc.method, tc.path, status, tc.status)
		}
		if !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: body lacks %q", tc.method, tc.path, tc.want)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s %s: Content-Security-Policy %q", tc.method, tc.path, csp)
		}
		if status == 405 && h.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, h.Get("Allow"))
		}
	}
}

func TestViewerEscapesMessageText(t *testing.T) {
	srv, _ := newTestViewer(t, 50)
	for _, path := range []string{"/s/support-42", "/", "/?q=umbrella"} {
		_, _, body := get(t, "GET", srv.URL+path)
		for _, bad := range []string{"<script>window", "<img src=x", `src="javascript:`, `href="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: page holds unescaped %q", path, bad)
			}
		}
	}
	_, _, body := get(t, "GET", srv.URL+"/s/support-42")
	if !strings.Contains(body, "&lt;script&gt;window.pwned=1&lt;/script&gt;") || !strings.Contains(body, "&lt;img src=x onerror=") {
		t.Errorf("conversation does not show the payload as text:\n%s", body)
	}
	if !strings.Contains(body, "unsupported URL") {
		t.Errorf("a javascript: image URL was not refused")
	}
	if n := strings.Count(body, "<script"); n != 1 || !strings.Contains(body, `<script src="/static/app.js" defer></script>`) {
		t.Errorf("the page holds %d script elements; want only the viewer's own /static/app.js", n)
	}
}

func TestViewerConversation(t *testing.T) {
	srv, _ := newTestViewer(t, 50)
	_, _, body := get(t, "GET", srv.URL+"/s/trip-paris")
	for _, want := range []string{
		`class="msg item role-user"`, `class="msg item role-assistant"`, `class="msg item role-system"`,
		`<img src="data:image/png;base64,iVBOR`,
		`<details class="reasoning"><summary>Reasoning</summary>`,
		"&#34;city&#34;: &#34;Paris&#34;", // pretty-printed, escaped
		"<pre class=\"content\">{\n  &#34;saturday&#34;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("conversation lacks %q", want)
		}
	}
	// The tool message is shown with its call, not as a message of its own.
	if strings.Contains(body, `class="msg item role-tool"`) {
		t.Error("tool result rendered apart from its call")
	}
	call, result := strings.Index(body, `class="call`), strings.Index(body, `class="result`)
	if call < 0 || result < call || !strings.Contains(body[call:result], "get_weather") {
		t.Error("the result does not follow its call in one tool block")
	}
}

func TestViewerSearchHighlights(t *testing.T) {
	srv, _ := newTestViewer(t, 50)
	_, _, body := get(t, "GET", srv.URL+"/?q=umbrella")
	if !strings.Contains(body, "<mark>umbrella</mark>") {
		t.Errorf("search results lack <mark>umbrella</mark>:\n%s", body)
	}
	if strings.ContainsAny(body, "\x02\x03") {
		t.Error("raw highlight markers in the page")
	}
	if !strings.Contains(body, `href="/s/trip-paris?at=5#m5"`) {
		t.Error("no link to the matching message")
	}
	_, _, body = get(t, "GET", srv.URL+"/?q=nothingmatchesthis")
	if !strings.Contains(body, "No message matches") {
		t.Error("no empty-result note")
	}
}

func TestSnippetSegments(t *testing.T) {
	got := snippetSegments("a \x02b\x03 c \x02<d>\x03")
	want := []segment{{"a ", false}, {"b", true}, {" c ", false}, {"<d>", true}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("segment %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}

// TestViewerSearchPages shows the best matches a page at a time: a page of
// hits and a link to more, until every match is shown.
func TestViewerSearchPages(t *testing.T) {
	var msgs []message.Message
	for i := range 5 {
		msgs = append(msgs, message.NewUserMessage(fmt.Sprintf("zebra sighting number %d", i)),
			message.NewAssistantMessage(fmt.Sprintf("noted %d", i)))
	}
	srv, _ := newTestViewer(t, 2, demoSession{id: "zoo", opts: session.CreateOptions{Owner: "keeper"}, msgs: msgs, valid: true})
	next := "/?q=zebra&owner=keeper"
	for _, want := range []int{2, 4, 5} {
		code, _, body := get(t, "GET", srv.URL+next)
		if code != http.StatusOK {
			t.Fatalf("GET %s: status %d", next, code)
		}
		if got := strings.Count(body, `class="hit item"`); got != want {
			t.Fatalf("GET %s: %d hits, want %d", next, got, want)
		}
		m := regexp.MustCompile(`id="more-hits" href="([^"]+)"`).FindStringSubmatch(body)
		if want == 5 {
			if m != nil {
				t.Fatalf("all 5 matches shown, yet a link to more: %s", m[1])
			}
			break
		}
		if m == nil {
			t.Fatalf("GET %s: %d of 5 matches and no link to more", next, want)
		}
		next = html.UnescapeString(m[1])
		if !strings.Contains(next, "owner=keeper") || !strings.Contains(next, "q=zebra") {
			t.Fatalf("the link to more drops the query or the owner: %s", next)
		}
	}
	for _, bad := range []string{"0", "-1", "x", "1001"} {
		if code, _, _ := get(t, "GET", srv.URL+"/?q=zebra&limit="+bad); code != http.StatusBadRequest {
			t.Errorf("limit=%s: status %d, want 400", bad, code)
		}
	}
}

// TestViewerSearchCapped: past session.MaxListLimit matches the viewer
// shows the best ones and says so, with no link to more.
func TestViewerSearchCapped(t *testing.T) {
	msgs := make([]message.Message, session.MaxListLimit+1)
	for i := range msgs {
		msgs[i] = message.NewUserMessage(fmt.Sprintf("yak number %d", i))
	}
	srv, _ := newTestViewer(t, 50, demoSession{id: "herd", msgs: msgs, valid: true})
	_, _, body := get(t, "GET", srv.URL+fmt.Sprintf("/?q=yak&limit=%d", session.MaxListLimit))
	if got := strings.Count(body, `class="hit item"`); got != session.MaxListLimit {
		t.Fatalf("%d hits, want %d", got, session.MaxListLimit)
	}
	if !strings.Contains(body, `id="hits-capped"`) || strings.Contains(body, `id="more-hits"`) {
		t.Fatal("no note that the matches were capped, or a link to more past the cap")
	}
}
