package session

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"time"
)

var (
	_ Watcher     = (*MemoryStore)(nil)
	_ FeedTrimmer = (*MemoryStore)(nil)
)

// MemoryFeedRetention is how many changes a MemoryStore's feed keeps at
// least: when it holds a quarter more, the oldest are discarded down to
// this many (in one step, so that a write does not move the whole feed),
// and a watch that had not read them yet fails with ErrFeedGap.
const MemoryFeedRetention = 1 << 16

// memFeed is a MemoryStore's change feed. Guarded by MemoryStore.mu.
type memFeed struct {
	log     []memChange // contiguous seqs, oldest first
	last    int64       // seq of the newest change recorded (0: none yet)
	trimmed int64       // seq of the newest change discarded (0: none)
	wake    chan struct{}
}

// memChange records a change; the messages of an append or a replace are
// read from the session when the change is delivered.
type memChange struct {
	seq      int64
	id       string
	owner    string
	kind     ChangeKind
	version  int64
	inc      uint64
	from, to int64 // message seqs stored by an append or replace
	removed  []string
	at       int64
}

// record adds c to the feed and wakes the watches. Call with m.mu held for
// writing.
func (m *MemoryStore) record(id string, s *memSession, kind ChangeKind, from, to int64, removed []string) {
	f := &m.feed
	f.last++
	f.log = append(f.log, memChange{
		seq: f.last, id: id, owner: s.owner, kind: kind, version: s.version, inc: s.inc,
		from: from, to: to, removed: removed, at: time.Now().UnixNano(),
	})
	if len(f.log) > MemoryFeedRetention+MemoryFeedRetention/4 {
		n := len(f.log) - MemoryFeedRetention
		f.trimmed = f.log[n-1].seq
		f.log = append(make([]memChange, 0, MemoryFeedRetention+MemoryFeedRetention/4+1), f.log[n:]...)
	}
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

// TrimFeed discards the feed's changes made before the time before (Unix
// nanoseconds) and returns how many it discarded.
func (m *MemoryStore) TrimFeed(ctx context.Context, before int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: trim feed: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &m.feed
	n := 0
	for n < len(f.log) && f.log[n].at < before {
		n++
	}
	if n > 0 {
		f.trimmed = f.log[n-1].seq
		f.log = slices.Delete(f.log, 0, n)
	}
	return int64(n), nil
}

// Watch delivers the changes selected by q, in commit order (see Watcher).
// The feed keeps at least the last MemoryFeedRetention changes (up to a
// quarter more), and what TrimFeed has not discarded; cursors are decimal
// change numbers.
func (m *MemoryStore) Watch(ctx context.Context, q WatchQuery) (iter.Seq2[Change, error], error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: watch: %w", err)
	}
	if q.SessionID != "" {
		if err := ValidateID(q.SessionID); err != nil {
			return nil, fmt.Errorf("memory: watch: %w", err)
		}
	}
	m.mu.RLock()
	pos, err := m.feedPosition(q.After)
	m.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("memory: watch: %w", err)
	}
	return func(yield func(Change, error) bool) {
		for {
			if err := ctx.Err(); err != nil {
				yield(Change{}, fmt.Errorf("memory: watch: %w", err))
				return
			}
			batch, next, wake, err := m.feedRead(q, pos)
			if err != nil {
				yield(Change{}, fmt.Errorf("memory: watch: %w", err))
				return
			}
			for _, c := range batch {
				if !yield(c, nil) {
					return
				}
			}
			pos = next
			if wake == nil {
				continue // more to read
			}
			select {
			case <-ctx.Done():
				yield(Change{}, fmt.Errorf("memory: watch: %w", ctx.Err()))
				return
			case <-wake:
			}
		}
	}, nil
}

// feedPosition turns a WatchQuery.After into a change number. Call with
// m.mu held.
func (m *MemoryStore) feedPosition(after string) (int64, error) {
	f := &m.feed
	switch after {
	case "":
		if f.trimmed > 0 {
			return 0, &FeedGapError{After: after, Kept: strconv.FormatInt(f.trimmed, 10)}
		}
		return 0, nil
	case WatchFromNow:
		return f.last, nil
	}
	pos, err := strconv.ParseInt(after, 10, 64)
	if err != nil || pos < 0 || pos > f.last || strconv.FormatInt(pos, 10) != after {
		return 0, fmt.Errorf("%w: %q is not a change of this store's feed", ErrBadCursor, after)
	}
	if pos < f.trimmed {
		return 0, &FeedGapError{After: after, Kept: strconv.FormatInt(f.trimmed, 10)}
	}
	return pos, nil
}

// feedBatch caps the changes one read of the feed returns.
const feedBatch = 256

// feedRead returns the changes after pos that q selects, at most feedBatch
// of them, and the position after the last change it looked at. When it
// has read to the end of the feed it also returns a channel that is closed
// when the next change is recorded (else nil).
func (m *MemoryStore) feedRead(q WatchQuery, pos int64) ([]Change, int64, chan struct{}, error) {
	m.mu.Lock() // for f.wake; reads are short
	defer m.mu.Unlock()
	f := &m.feed
	if pos < f.trimmed {
		return nil, pos, nil, &FeedGapError{After: strconv.FormatInt(pos, 10), Kept: strconv.FormatInt(f.trimmed, 10)}
	}
	var out []Change
	i := int(pos - f.trimmed) // index of the change after pos
	for ; i < len(f.log) && len(out) < feedBatch; i++ {
		c := f.log[i]
		pos = c.seq
		if q.SessionID != "" && c.id != q.SessionID || q.Owner != "" && c.owner != q.Owner {
			continue
		}
		out = append(out, m.deliver(c))
	}
	if i < len(f.log) || len(out) > 0 {
		return out, pos, nil, nil
	}
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return nil, pos, f.wake, nil
}

// deliver makes the Change of c, reading the messages of an append or a
// replace that the session still holds. Call with m.mu held.
func (m *MemoryStore) deliver(c memChange) Change {
	out := Change{
		Cursor: strconv.FormatInt(c.seq, 10), SessionID: c.id, Owner: c.owner, Kind: c.kind,
		Version: c.version, Removed: slices.Clone(c.removed), At: c.at,
	}
	if c.to < c.from {
		return out
	}
	s, ok := m.sessions[c.id]
	if !ok || s.inc != c.inc {
		return out
	}
	i, _ := slices.BinarySearchFunc(s.msgs, c.from, func(mm memMessage, seq int64) int { return int(mm.seq - seq) })
	for ; i < len(s.msgs) && s.msgs[i].seq <= c.to; i++ {
		out.Messages = append(out.Messages, cloneMessage(s.msgs[i].msg))
	}
	return out
}
