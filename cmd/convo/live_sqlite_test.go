package main

import (
	"bufio"
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/sqlite"
)

// The viewer opens a SQLite database read-only, and a read-only store
// cannot start a dormant change feed (sqlite.Store.StartFeed; its Watch
// fails with session.ErrReadOnly): until a writer starts it, the live view
// looks for new messages at the viewer's interval, without reporting a
// failed feed; once it has started, the feed wakes the view.
func TestViewerEventsSQLiteFeedDormant(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "convo.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	writer, err := sqlite.Open(ctx, open())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := writer.Create(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("first")}); err != nil {
		t.Fatal(err)
	}
	ro, err := sqlite.Open(ctx, open(), sqlite.WithReadOnly(), sqlite.WithFeedPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// stream reads the live view's events after message after for 2 s,
	// while the writer appends text.
	stream := func(poll time.Duration, after, text string) (events, logged string) {
		log := new(lockedLog)
		v, err := newViewer(ro, 50, log)
		if err != nil {
			t.Fatal(err)
		}
		v.poll = poll
		g := newGuard(v, nil, "")
		g.timeout = 2 * time.Second
		srv := httptest.NewServer(g)
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/events/live?after=" + after)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		go func() {
			time.Sleep(100 * time.Millisecond)
			_ = sess.AddMessages(context.Background(), []message.Message{message.NewAssistantMessage(text)})
		}()
		sc := bufio.NewScanner(resp.Body)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return strings.Join(lines, "\n"), log.String()
	}
	events, logged := stream(50*time.Millisecond, "1", "second")
	if !strings.Contains(events, "id: 2\nevent: message\n") || strings.Contains(events, "event: delayed") || logged != "" {
		t.Errorf("dormant feed: the view did not poll quietly; events:\n%s\nlog: %q", events, logged)
	}
	if err := writer.StartFeed(ctx); err != nil {
		t.Fatal(err)
	}
	// Polling slowed to an hour: only the feed can bring the message
	// within the stream's 2 s.
	events, logged = stream(time.Hour, "2", "third")
	if !strings.Contains(events, "id: 3\nevent: message\n") || strings.Contains(events, "event: delayed") || logged != "" {
		t.Errorf("started feed: the feed did not wake the view; events:\n%s\nlog: %q", events, logged)
	}
}
