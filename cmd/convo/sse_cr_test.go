package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// sseEvent is one event as a browser's EventSource dispatches it.
type sseEvent struct {
	id, event, data string
}

// parseSSE parses an event stream as the HTML standard says a browser
// does: a line ends at CRLF, LF or a lone CR.
func parseSSE(stream string) []sseEvent {
	var (
		out  []sseEvent
		id   string
		ev   string
		data []string
		has  bool
	)
	stream = strings.ReplaceAll(stream, "\r\n", "\n")
	stream = strings.ReplaceAll(stream, "\r", "\n")
	for _, line := range strings.Split(stream, "\n") {
		if line == "" {
			if has {
				out = append(out, sseEvent{id: id, event: ev, data: strings.Join(data, "\n")})
			}
			ev, data, has = "", nil, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			ev = value
		case "data":
			data, has = append(data, value), true
		}
	}
	return out
}

// A message whose text holds a lone carriage return (a progress line of a
// tool's output, an old Mac line end) reached the live view cut at it: an
// event stream ends a line at CR as at LF, so the rest of the message's
// HTML was read as unknown fields (and dropped) or, for text such as
// "id: 1", as the stream's own fields.
func TestEventsKeepCarriageReturns(t *testing.T) {
	mem := session.NewMemoryStore()
	sess, _ := mem.Create(t.Context(), "cr")
	text := "downloading 10%\rdownloading 100%\rid: 1\r\revent: delayed\rdata: forged\r\rend of output"
	if err := sess.AddMessages(t.Context(), []message.Message{
		message.NewUserMessage("first"),
		message.NewUserMessage(text),
		message.NewUserMessage("third"),
	}); err != nil {
		t.Fatal(err)
	}
	v, err := newViewer(mem, 50, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	v.poll = time.Hour
	srv := httptest.NewServer(v)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events/cr?after=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := new(strings.Builder)
	_, _ = bufio.NewReader(resp.Body).WriteTo(b)
	resp.Body.Close()
	var msgs []sseEvent
	for _, e := range parseSSE(b.String()) {
		if e.event == "info" {
			continue // the session's title (TestViewerEventsFollowTheTitle)
		}
		if e.event != "message" {
			t.Errorf("an event %q: %q", e.event, e.data)
			continue
		}
		msgs = append(msgs, e)
	}
	if len(msgs) != 2 || msgs[0].id != "2" || msgs[1].id != "3" {
		t.Fatalf("events %+v\nstream %q", msgs, b.String())
	}
	for _, want := range []string{"downloading 10%", "downloading 100%", "end of output", `id="m2"`, "</li>"} {
		if !strings.Contains(msgs[0].data, want) {
			t.Errorf("message 2 as streamed lacks %q:\n%s", want, msgs[0].data)
		}
	}
}
