package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// describedNoFeed is a store with titles (session.Describer) and no change
// feed: the viewer polls it.
type describedNoFeed struct {
	session.Store
	session.Describer
}

// liveEvent is one event of a stream: its type and data.
type liveEvent struct{ kind, data string }

// readEvents sends the events of an event stream to the returned channel,
// which is closed when the stream ends.
func readEvents(body *bufio.Scanner) <-chan liveEvent {
	out := make(chan liveEvent, 64)
	go func() {
		defer close(out)
		var e liveEvent
		for body.Scan() {
			line := body.Text()
			switch {
			case line == "":
				if e.kind != "" {
					out <- e
				}
				e = liveEvent{}
			case strings.HasPrefix(line, "event: "):
				e.kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// next returns the next event of events, failing the test if none comes
// within 2 s.
func next(t *testing.T, events <-chan liveEvent) liveEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2 s")
	}
	return liveEvent{}
}

// The live stream sends the session's title when it starts and whenever
// UpdateInfo changes it (woken by the feed's session.ChangeInfo, or found
// by the poll of a store without a feed), and not again while it stays the
// same, so that an open page's heading follows a title an agent sets after
// the first turn.
func TestViewerEventsFollowTheTitle(t *testing.T) {
	for _, c := range []struct {
		name string
		poll time.Duration
		wrap func(*session.MemoryStore) session.Store
	}{
		{"feed", time.Hour, func(m *session.MemoryStore) session.Store { return m }},
		{"polling", 20 * time.Millisecond, func(m *session.MemoryStore) session.Store { return describedNoFeed{m, m} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			mem := session.NewMemoryStore()
			sess, err := mem.CreateWith(ctx, "live", session.CreateOptions{Title: "Old title"})
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("first")}); err != nil {
				t.Fatal(err)
			}
			v, err := newViewer(c.wrap(mem), 50, new(lockedLog))
			if err != nil {
				t.Fatal(err)
			}
			v.poll = c.poll
			g := newGuard(v, nil, "")
			g.timeout = 5 * time.Second
			srv := httptest.NewServer(g)
			defer srv.Close()
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			req, _ := http.NewRequestWithContext(sctx, "GET", srv.URL+"/events/live?after=1", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			events := readEvents(bufio.NewScanner(resp.Body))
			if e := next(t, events); e != (liveEvent{"info", `{"title":"Old title"}`}) {
				t.Fatalf("first event %+v; want the title", e)
			}
			if err := mem.UpdateInfo(ctx, "live", session.InfoUpdate{Title: new("New <b>title</b>")}); err != nil {
				t.Fatal(err)
			}
			if e := next(t, events); e != (liveEvent{"info", `{"title":"New \u003cb\u003etitle\u003c/b\u003e"}`}) {
				t.Fatalf("after UpdateInfo: %+v; want the new title", e)
			}
			// The same title again, then a message: only the message.
			if err := mem.UpdateInfo(ctx, "live", session.InfoUpdate{Title: new("New <b>title</b>")}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if err := sess.AddMessages(ctx, []message.Message{message.NewAssistantMessage("second")}); err != nil {
				t.Fatal(err)
			}
			if e := next(t, events); e.kind != "message" || !strings.Contains(e.data, "second") {
				t.Fatalf("after the same title and a message: %+v; want the message alone", e)
			}
		})
	}
}

// In a browser, an open conversation's heading and the page's title follow
// the session's title.
func TestBrowserLiveTitle(t *testing.T) {
	ctx := browser(t)
	mem := session.NewMemoryStore()
	sess, err := mem.CreateWith(t.Context(), "live", session.CreateOptions{})
	if err == nil {
		err = sess.AddMessages(t.Context(), []message.Message{message.NewUserMessage("first")})
	}
	if err != nil {
		t.Fatal(err)
	}
	v, err := newViewer(mem, 50, new(lockedLog))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newGuard(v, nil, ""))
	defer srv.Close()
	defer do(t, ctx, "leave", chromedp.Navigate("about:blank"))
	do(t, ctx, "open live", chromedp.Navigate(srv.URL+"/s/live"), chromedp.WaitVisible(chromedp.ID("live")))
	if got := eval[string](t, ctx, `document.querySelector("#info h1").textContent`); got != "live" {
		t.Fatalf("heading %q before a title; want the id", got)
	}
	if err := mem.UpdateInfo(t.Context(), "live", session.InfoUpdate{Title: new("Weekend <i>in</i> Paris")}); err != nil {
		t.Fatal(err)
	}
	got := value(t, ctx, "title", chromedp.Poll[string](
		`(() => { const h = document.querySelector("#info h1").textContent; return h !== "live" && h + "|" + document.title; })()`))
	if got != "Weekend <i>in</i> Paris|Weekend <i>in</i> Paris · convo" {
		t.Errorf("heading|title %q", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#info h1 i").length`); n != 0 {
		t.Error("the title was inserted as HTML")
	}
}
