package session_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestMemoryFeedRetention writes one and a half times MemoryFeedRetention
// changes (about 98,000: before the feed trimmed in steps, each write past
// the retention moved the whole feed, 1.2 ms a write instead of 1.5 us).
// A watch from the first change then fails with ErrFeedGap; one from the
// last MemoryFeedRetention changes gets each of them, in order, without a
// gap.
func TestMemoryFeedRetention(t *testing.T) {
	ctx := t.Context()
	m := session.NewMemoryStore()
	s, err := m.Create(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	writes := session.MemoryFeedRetention * 3 / 2
	for range writes {
		if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("x")}); err != nil {
			t.Fatal(err)
		}
	}
	last := int64(writes) + 1 // the create, then the appends
	if _, err := m.Watch(ctx, session.WatchQuery{After: "1"}); !errors.Is(err, session.ErrFeedGap) {
		t.Fatalf("watch from change 1 after %d changes: %v, want ErrFeedGap", last, err)
	}
	from := last - session.MemoryFeedRetention
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seq, err := m.Watch(wctx, session.WatchQuery{After: strconv.FormatInt(from, 10)})
	if err != nil {
		t.Fatalf("watch from change %d of %d: %v", from, last, err)
	}
	want := from + 1
	for c, err := range seq {
		if err != nil {
			t.Fatalf("after change %d: %v", want-1, err)
		}
		if c.Cursor != strconv.FormatInt(want, 10) {
			t.Fatalf("change %s, want %d", c.Cursor, want)
		}
		if want == last {
			break
		}
		want++
	}
}
