// Package feedtest is issue 15's test of a store's change feed across
// processes, shared by the SQLite and PostgreSQL tests: writer processes
// append to a session while consumer processes, started one after
// another, each print the next messages of the session's feed and the
// cursor of the last change they processed, from which the next resumes.
// Together the consumers must see every message exactly once, in each
// writer's order. It also holds StartRacingWriters, the stores' test of a
// dormant feed started while writers append.
package feedtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"testing"

	"github.com/convo-dev/convo/session"
)

// Follow is a consumer: it ranges over changes, writes a line "msg TEXT"
// for each message of each change, and once it has written n, a line
// "cursor CURSOR" with the cursor of the change that held the last, and
// returns. A change with more messages than are left to write is an error.
func Follow(w io.Writer, changes iter.Seq2[session.Change, error], n int) error {
	got := 0
	for c, err := range changes {
		if err != nil {
			return err
		}
		if got+len(c.Messages) > n {
			return fmt.Errorf("change %s holds %d messages, %d were left to print", c.Cursor, len(c.Messages), n-got)
		}
		for _, m := range c.Messages {
			if _, err := fmt.Fprintf(w, "msg %s\n", m.Content()); err != nil {
				return err
			}
			got++
		}
		if got == n {
			_, err := fmt.Fprintf(w, "cursor %s\n", c.Cursor)
			return err
		}
	}
	return fmt.Errorf("the feed ended after %d of %d messages", got, n)
}

// Consume runs consumers, one after another, until they have printed
// total messages, each asked for at most perConsumer: run starts one that
// resumes after cursor after ("" at first) and returns what it printed
// (Follow's lines). Message texts are "WRITER-I". It returns the messages'
// indexes by writer, in the order printed, the last cursor and how many
// consumers ran.
func Consume(t testing.TB, total, perConsumer int, run func(after string, n int) ([]byte, error)) (seen map[string][]int, cursor string, runs int) {
	t.Helper()
	seen = map[string][]int{}
	for done := 0; done < total; runs++ {
		n := min(perConsumer, total-done)
		out, err := run(cursor, n)
		if err != nil {
			t.Fatalf("consumer %d (after %q): %v\n%s", runs, cursor, err, out)
		}
		got := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
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
		done += got
	}
	return seen, cursor, runs
}

// CheckOrder fails t unless seen holds, for each writer w0 ... w(writers-1),
// the indexes 0 ... perWriter-1 in order, each once.
func CheckOrder(t testing.TB, seen map[string][]int, writers, perWriter int) {
	t.Helper()
	for w := range writers {
		got := seen[fmt.Sprintf("w%d", w)]
		ok := len(got) == perWriter
		for i := 0; ok && i < len(got); i++ {
			ok = got[i] == i
		}
		if !ok {
			t.Errorf("writer w%d: consumers saw %v, want 0..%d in order, each once", w, got, perWriter-1)
		}
	}
}
