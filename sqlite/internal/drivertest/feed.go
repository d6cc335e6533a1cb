package drivertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	st := OpenStore(t, d, d.FileDSN(path))
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
	cursor := "" // the oldest change: the session's creation
	seen := map[string][]int{}
	total, runs := 0, 0
	for total < writers*perWriter {
		n := min(perConsumer, writers*perWriter-total)
		cmd := child(t, "feed-consume", "CONVO_DT_DB="+path, "CONVO_DT_AFTER="+cursor, fmt.Sprintf("CONVO_DT_TURNS=%d", n))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		// A consumer that misses a message waits for it forever: a
		// minute without its n messages is a failure, not a slow run.
		timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		out, err := cmd.Output()
		timer.Stop()
		if err != nil {
			t.Fatalf("consumer %d (after %q): %v\n%s", runs, cursor, err, stderr.String())
		}
		runs++
		got := 0
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			kind, arg, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "msg":
				w, i, ok := strings.Cut(arg, "-")
				k, err := strconv.Atoi(i)
				if !ok || err != nil {
					t.Fatalf("consumer %d: unexpected message %q", runs, arg)
				}
				seen[w] = append(seen[w], k)
				got++
			case "cursor":
				cursor = arg
			}
		}
		if got != n {
			t.Fatalf("consumer %d printed %d messages, want %d:\n%s", runs, got, n, out)
		}
		total += got
	}
	for w, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer w%d: %v\n%s", w, err, outs[w])
		}
	}
	for w := range writers {
		got := seen[fmt.Sprintf("w%d", w)]
		if len(got) != perWriter {
			t.Errorf("writer w%d: consumers saw %d messages, want %d (%v)", w, len(got), perWriter, got)
			continue
		}
		for i, k := range got {
			if k != i {
				t.Errorf("writer w%d: consumers saw %v, want 0..%d in order, each once", w, got, perWriter-1)
				break
			}
		}
	}
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
		got := 0
		for c, err := range seq {
			if err != nil {
				return err
			}
			if c.Kind != session.ChangeAppend && c.Kind != session.ChangeCreate {
				return fmt.Errorf("unexpected %q change", c.Kind)
			}
			if got+len(c.Messages) > n {
				return errors.New("a change holds more messages than asked for") // each append holds one
			}
			for _, m := range c.Messages {
				fmt.Fprintf(out, "msg %s\n", m.Content())
				got++
			}
			if got == n {
				fmt.Fprintf(out, "cursor %s\n", c.Cursor)
				break
			}
		}
		return out.Flush()
	}
	return fmt.Errorf("unknown child role %q", role)
}
