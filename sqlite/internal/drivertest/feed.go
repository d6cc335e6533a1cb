package drivertest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/internal/feedtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// testFeedProcesses is issue 15's test of the change feed: writer
// processes append to a session while a consumer process follows its feed;
// the consumer stops after every few messages and a new consumer process
// resumes from the cursor the last one printed. Together the consumers see
// every message exactly once, in each writer's order.
func testFeedProcesses(t *testing.T, d Driver) {
	defer watchdog(t, 3*time.Minute)()
	path := filepath.Join(t.TempDir(), "convo.db")
	// The consumers follow the feed from its oldest change, the session's
	// creation, which their first watch would be too late to record.
	st := StartFeed(t, OpenStore(t, d, d.FileDSN(path)))
	ctx := t.Context()
	if _, err := st.Create(ctx, "feed"); err != nil {
		t.Fatal(err)
	}
	const writers, perWriter, perConsumer = 2, 60, 25
	var cmds []*exec.Cmd
	outs := make([]*strings.Builder, writers)
	for w := range writers {
		cmd := child(t, "feed-append", "CONVO_DT_DB="+path, fmt.Sprintf("CONVO_DT_NAME=w%d", w), fmt.Sprintf("CONVO_DT_TURNS=%d", perWriter))
		outs[w] = &strings.Builder{}
		cmd.Stdout, cmd.Stderr = outs[w], outs[w]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// From the oldest change, the session's creation.
	seen, cursor, runs := feedtest.Consume(t, writers*perWriter, perConsumer, func(after string, n int) ([]byte, error) {
		cmd := child(t, "feed-consume", "CONVO_DT_DB="+path, "CONVO_DT_AFTER="+after, fmt.Sprintf("CONVO_DT_TURNS=%d", n))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		// A consumer that misses a message waits for it forever: a
		// minute without its n messages is a failure, not a slow run.
		timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		defer timer.Stop()
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		return out, err
	})
	for w, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer w%d: %v\n%s", w, err, outs[w])
		}
	}
	feedtest.CheckOrder(t, seen, writers, perWriter)
	// Nothing is left over: after the last cursor comes only what is
	// appended next.
	seq, err := st.Watch(ctx, session.WatchQuery{SessionID: "feed", After: cursor})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(ctx, "feed")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("marker")}); err != nil {
		t.Fatal(err)
	}
	for c, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind != session.ChangeAppend || len(c.Messages) != 1 || c.Messages[0].Content() != "marker" {
			t.Errorf("after the last consumer's cursor: %q change with %d messages; want the marker's append", c.Kind, len(c.Messages))
		}
		break
	}
	t.Logf("%d writer processes, %d messages, %d consumer processes", writers, writers*perWriter, runs)
}

// feedChild runs the feed test's child roles on st.
func feedChild(ctx context.Context, st session.Store, role string) error {
	n, err := strconv.Atoi(os.Getenv("CONVO_DT_TURNS"))
	if err != nil {
		return err
	}
	switch role {
	case "feed-append":
		s, err := st.Load(ctx, "feed")
		if err != nil {
			return err
		}
		name := os.Getenv("CONVO_DT_NAME")
		for i := range n {
			// A pause between appends, so that consumers follow the feed
			// live (waiting, then woken by the poll) as well as catching
			// up on what was committed while none ran.
			time.Sleep(3 * time.Millisecond)
			if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprintf("%s-%d", name, i))}); err != nil {
				return fmt.Errorf("append %d: %w", i, err)
			}
		}
		return nil
	case "feed-consume":
		// Stop after n messages, printing each, then the cursor of the
		// change that held the last one.
		seq, err := session.Watch(ctx, st, session.WatchQuery{SessionID: "feed", After: os.Getenv("CONVO_DT_AFTER")})
		if err != nil {
			return err
		}
		out := bufio.NewWriter(os.Stdout)
		if err := feedtest.Follow(out, seq, n); err != nil {
			return err
		}
		return out.Flush()
	}
	return fmt.Errorf("unknown child role %q", role)
}
