package main

import (
	"bufio"
	"context"
	"errors"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// lockedLog is a log writer that handlers and the test share.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// brokenFeed is a memory store whose change feed fails: at once (Watch
// returns an error) or, with late, after the watch started (the iterator
// yields an error).
type brokenFeed struct {
	*session.MemoryStore
	late bool
}

func (b brokenFeed) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	if !b.late {
		return nil, errors.New("feed unavailable")
	}
	return func(yield func(session.Change, error) bool) {
		yield(session.Change{}, errors.New("feed connection lost"))
	}, nil
}

// A change feed that fails, at the start of a stream or during it, is
// logged on the server and reported to the page (event "delayed"), and the
// stream polls at the viewer's normal interval: the message appended after
// the failure arrives within the stream. (Before, a feed lost mid-stream
// left polling at ten times the interval, the safety-net rate kept for a
// working feed, and said nothing.)
func TestViewerEventsFeedFails(t *testing.T) {
	for _, late := range []bool{false, true} {
		name := map[bool]string{false: "at start", true: "mid-stream"}[late]
		t.Run(name, func(t *testing.T) {
			mem := session.NewMemoryStore()
			sess, _ := mem.Create(t.Context(), "live")
			if err := sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("first")}); err != nil {
				t.Fatal(err)
			}
			log := new(lockedLog)
			v, err := newViewer(brokenFeed{mem, late}, 50, log)
			if err != nil {
				t.Fatal(err)
			}
			// Ten intervals (the safety-net rate of a working feed)
			// outlast the stream; one does not.
			v.poll = 300 * time.Millisecond
			g := newGuard(v, nil, "")
			g.timeout = 2 * time.Second
			srv := httptest.NewServer(g)
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/events/live?after=1")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			go func() {
				time.Sleep(100 * time.Millisecond)
				_ = sess.AddMessages(context.Background(), []message.Message{message.NewAssistantMessage("second")})
			}()
			sc := bufio.NewScanner(resp.Body)
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			text := strings.Join(lines, "\n")
			if !strings.Contains(text, "event: delayed\ndata: ") {
				t.Errorf("no delayed event:\n%s", text)
			}
			if !strings.Contains(text, "id: 2\nevent: message\n") {
				t.Errorf("the message appended after the feed failed did not arrive:\n%s", text)
			}
			if l := log.String(); !strings.Contains(l, `live view of "live"`) || !strings.Contains(l, "feed") {
				t.Errorf("server log: %q", l)
			}
		})
	}
}

// At most maxLive streams run at once: one more gets 503 with Retry-After
// (EventSource then closes, and the page's script reconnects later), and
// a stream that ends frees its place.
func TestViewerEventsCap(t *testing.T) {
	mem := session.NewMemoryStore()
	sess, _ := mem.Create(t.Context(), "live")
	if err := sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("first")}); err != nil {
		t.Fatal(err)
	}
	v, err := newViewer(mem, 50, new(lockedLog))
	if err != nil {
		t.Fatal(err)
	}
	v.setMaxLive(2)
	srv := httptest.NewServer(newGuard(v, nil, ""))
	defer srv.Close()
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/live?after=1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, func() { cancel(); resp.Body.Close() }
	}
	var closers []context.CancelFunc
	for range 2 {
		resp, done := open()
		closers = append(closers, done)
		if resp.StatusCode != 200 {
			t.Fatalf("stream within the cap: %d", resp.StatusCode)
		}
		// The stream has started (and holds its place) once its first
		// line arrives.
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	status, h, _ := get(t, "GET", srv.URL+"/events/live?after=1")
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("stream over the cap: %d, Retry-After %q; want 503 with Retry-After", status, h.Get("Retry-After"))
	}
	if status, _, _ := get(t, "GET", srv.URL+"/s/live"); status != 200 {
		t.Errorf("a page while the streams are full: %d", status)
	}
	closers[0]()
	// The handler leaves when it notices the client went; poll for the
	// freed place rather than assume when.
	for i := 0; ; i++ {
		resp, done := open()
		code := resp.StatusCode
		done()
		if code == 200 {
			break
		}
		if i == 200 {
			t.Fatalf("a closed stream's place was not freed: %d", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	closers[1]()
}

// In a real browser, the page tells the reader when live updates are
// delayed (the change feed failed) or paused (the stream was refused, 503,
// because too many are open), with the script in web/static/app.js.
func TestBrowserLiveNotices(t *testing.T) {
	ctx := browser(t)
	for _, c := range []struct {
		name, want string
		store      func(*session.MemoryStore) session.Store
		maxLive    int
	}{
		{"feed fails", "Live updates delayed", func(m *session.MemoryStore) session.Store { return brokenFeed{m, false} }, 1},
		{"too many streams", "Live updates paused", func(m *session.MemoryStore) session.Store { return m }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := session.NewMemoryStore()
			sess, _ := mem.Create(t.Context(), "live")
			if err := sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("first")}); err != nil {
				t.Fatal(err)
			}
			v, err := newViewer(c.store(mem), 50, new(lockedLog))
			if err != nil {
				t.Fatal(err)
			}
			v.setMaxLive(c.maxLive)
			srv := httptest.NewServer(newGuard(v, nil, ""))
			defer srv.Close()
			// Leaving the page closes its stream, so that Close need not
			// wait for the stream's deadline.
			defer do(t, ctx, "leave", chromedp.Navigate("about:blank"))
			do(t, ctx, "open live", chromedp.Navigate(srv.URL+"/s/live"), chromedp.WaitVisible(chromedp.ID("live")))
			got := value(t, ctx, "notice", chromedp.Poll[string](
				`(() => { const l = document.getElementById("live"); return l.classList.contains("delayed") && l.textContent; })()`))
			if !strings.HasPrefix(got, c.want) {
				t.Errorf("live notice %q; want %q...", got, c.want)
			}
		})
	}
}
