package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// readAround reads the stretch of a session that q selects as rg.Range
// does, except that a row that cannot be decoded (an error matching
// session.ErrCorrupt whose *session.CorruptError names a row of the
// stretch) does not fail the read: it takes its place in the page as an
// Entry whose Message holds only the row's id (when known), and bad maps its Seq to the error. One corrupt
// row thus hides nothing else of a session. The rows on each side of it
// are read by further calls of Range (each in its own snapshot); the page
// holds at most q's limit entries, the bad ones counted, and stays
// contiguous from the bad row outwards. Any other error is returned as it
// is.
func readAround(ctx context.Context, rg session.Ranger, q session.RangeQuery) (entries []session.Entry, bad map[int64]error, err error) {
	entries, err = rg.Range(ctx, q)
	var ce *session.CorruptError
	if err == nil || !errors.As(err, &ce) {
		return entries, nil, err
	}
	after, before, limit := q.RangeBounds()
	if ce.Seq <= after || ce.Seq >= before {
		return nil, nil, err // not a row of this stretch: nothing to read around
	}
	bad = map[int64]error{ce.Seq: err}
	// The page's far side is where it grows away from its anchor: older
	// rows for the newest page, newer rows for the oldest. The near side
	// (between the anchor and the bad row) is read whole, contiguous with
	// the bad row; the far side gets the room left.
	near := session.RangeQuery{After: ce.Seq, Before: q.Before, Limit: limit - 1}
	far := session.RangeQuery{After: q.After, Before: ce.Seq, Newest: true}
	if !q.Newest {
		near = session.RangeQuery{After: q.After, Before: ce.Seq, Limit: limit - 1, Newest: true}
		far = session.RangeQuery{After: ce.Seq, Before: q.Before}
	}
	var nearEs, farEs []session.Entry
	if limit > 1 {
		var nb map[int64]error
		if nearEs, nb, err = readAround(ctx, rg, near); err != nil {
			return nil, nil, err
		}
		maps.Copy(bad, nb)
	}
	if room := limit - 1 - len(nearEs); room > 0 {
		far.Limit = room
		var fb map[int64]error
		if farEs, fb, err = readAround(ctx, rg, far); err != nil {
			return nil, nil, err
		}
		maps.Copy(bad, fb)
	}
	// The bad row keeps its id, where the store could read it (show's fork
	// mark finds the fork point by it).
	hole := session.Entry{Seq: ce.Seq, Message: message.Message{ID: ce.MessageID}}
	if q.Newest {
		entries = slices.Concat(farEs, []session.Entry{hole}, nearEs)
	} else {
		entries = slices.Concat(nearEs, []session.Entry{hole}, farEs)
	}
	return entries, bad, nil
}

// readAll reads a whole session (tail == 0) or its last tail messages with
// readAround, a page of session.MaxListLimit messages at a time: what
// GetMessages returns, with each row that cannot be read in its place as
// an Entry holding only its id (its error in bad).
func readAll(ctx context.Context, rg session.Ranger, tail int) ([]session.Entry, map[int64]error, error) {
	var (
		bad   map[int64]error
		pages [][]session.Entry
	)
	if tail == 0 {
		after := int64(0)
		for {
			es, b, err := readAround(ctx, rg, session.RangeQuery{After: after, Limit: session.MaxListLimit})
			if err != nil {
				return nil, nil, err
			}
			pages, bad = append(pages, es), mergeBad(bad, b)
			if len(es) < session.MaxListLimit {
				return slices.Concat(pages...), bad, nil
			}
			after = es[len(es)-1].Seq
		}
	}
	before, got := int64(0), 0
	for got < tail {
		want := min(session.MaxListLimit, tail-got)
		es, b, err := readAround(ctx, rg, session.RangeQuery{Before: before, Limit: want, Newest: true})
		if err != nil {
			return nil, nil, err
		}
		pages, bad = append(pages, es), mergeBad(bad, b)
		got += len(es)
		if len(es) < want {
			break
		}
		before = es[0].Seq
	}
	slices.Reverse(pages)
	return slices.Concat(pages...), bad, nil
}

// unreadableError sums up the rows of a session that could not be read, for
// a command that showed the rest: nil when bad is empty. It names the first
// maxNamedSeqs of them.
func unreadableError(id string, bad map[int64]error) error {
	if len(bad) == 0 {
		return nil
	}
	seqs := make([]int64, 0, len(bad))
	for s := range bad {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var b strings.Builder
	for i, s := range seqs {
		if i == maxNamedSeqs {
			fmt.Fprintf(&b, " and %d more", len(seqs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, s)
	}
	noun := "message"
	if len(seqs) > 1 {
		noun = "messages"
	}
	return fmt.Errorf("%d %s of session %q cannot be read (seq %s; %w): %s", len(seqs), noun, id, b.String(), session.ErrCorrupt, repairHint)
}

// maxNamedSeqs is how many unreadable rows unreadableError names; the
// output above it notes each one in its place.
const maxNamedSeqs = 20

// repairHint is what a person is told to do about rows that cannot be read.
const repairHint = "convo doctor --repair moves such rows aside"

// describeUnreadable is what a page says of a row readAround could not
// read: its message id and what is wrong (the rest of the error, the
// session and seq, is shown beside it).
func describeUnreadable(err error) string {
	var ce *session.CorruptError
	if errors.As(err, &ce) && ce.Err != nil {
		if ce.MessageID == "" {
			return ce.Err.Error()
		}
		return fmt.Sprintf("message %q: %v", ce.MessageID, ce.Err)
	}
	return err.Error()
}
