package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/convo-dev/convo/internal/wake"
	"github.com/convo-dev/convo/session"
)

var (
	_ session.Watcher     = (*Store)(nil)
	_ session.FeedTrimmer = (*Store)(nil)
)

// StartFeed makes every write to the store's tables, through any store on
// the file, in every process, record its change in the change feed from
// now on, if none does yet, and returns once they do. Watch calls it; call
// it yourself (at deployment, for example) to keep the changes made before
// the first watch.
//
// A database created by schema version 8 or later starts with its feed
// dormant: writes record nothing, and so pay nothing for a feed that
// nothing reads (the feed's row is one of the about 11 pages an append of
// a 4-message turn writes to the WAL; docs/performance.md). The feed
// starts once and for good: StartFeed sets feed_state.active in a write
// transaction. Every write reads active inside its own write transaction,
// after its first statement has taken SQLite's write lock (see write), and
// that needs no lock of its own: "SQLite implements serializable
// transactions by actually serializing the writes. There can only be a
// single writer at a time to an SQLite database"
// (https://www.sqlite.org/isolation.html), and a write transaction reads
// every commit made before it took the lock (in WAL mode a connection whose
// snapshot is older than the newest commit cannot start writing at all:
// SQLITE_BUSY_SNAPSHOT, https://www.sqlite.org/rescode.html#busy_snapshot).
// So each write either commits before StartFeed's transaction takes the
// lock, or reads active set and records its change: no write that read the
// feed as dormant commits after StartFeed returns. A watch from the
// oldest change ("") therefore starts at the first change after the feed
// started. A database upgraded from version 7 or earlier whose feed
// recorded or discarded changes keeps recording. A process of an earlier
// release that still has the file open records its changes anyway, so a
// watch from the oldest change sees those with gaps where this release's
// writes went unrecorded, and a watch of an earlier release sees only
// those (see "Change feed" in the package documentation).
//
// It fails with an error matching session.ErrReadOnly on a read-only store
// while the feed is dormant, and returns nil on any store once it has
// started.
func (s *Store) StartFeed(ctx context.Context) error {
	if s.feedStarted.Load() {
		return nil
	}
	var active bool
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.q.feedActive).Scan(&active)
	})
	if err == nil && !active {
		if s.opts.readOnly {
			return fmt.Errorf("sqlite: start feed: the change feed is dormant and only a writable store can start it: %w", errReadOnly)
		}
		err = s.write(ctx, false, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, s.q.startFeed)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: start feed: %w", err)
	}
	s.feedStarted.Store(true)
	return nil
}

// record writes a change of session id into the feed, in tx, the
// transaction that makes it, if the feed has started (see StartFeed). n
// is the number of message seqs, just below the session's next_seq, that
// the change stored (0 for kinds that store none); removed lists removed
// message ids.
func (s *Store) record(ctx context.Context, tx *sql.Tx, kind session.ChangeKind, id string, n int64, removed []string) error {
	if s.noFeed {
		return nil
	}
	var rm any
	if removed != nil {
		b, err := json.Marshal(removed)
		if err != nil {
			return err
		}
		rm = string(b)
	}
	at := time.Now().UnixNano()
	if s.feedStarted.Load() {
		_, err := s.exec(ctx, tx, s.q.recordChange, string(kind), n, rm, at, id)
		return err
	}
	// The feed may be dormant: the statement inserts nothing unless
	// feed_state.active, which it reads in tx, after tx took the write
	// lock, is set. A row inserted means the feed has started, and it
	// never stops: the next writes take the plain statement.
	res, err := s.exec(ctx, tx, s.q.recordChangeIfActive, string(kind), n, rm, at, id)
	if err != nil {
		return err
	}
	if rows, err := res.RowsAffected(); err == nil && rows > 0 {
		s.feedStarted.Store(true)
	}
	return nil
}

// changed wakes the watches of every store on the same *sql.DB once a
// write that recorded a change has committed. Watches on other *sql.DBs
// and in other processes see it at their next poll.
func (s *Store) changed() { s.wake.Notify() }

// feedWakes holds one wake.Signal per *sql.DB, as writeLocks does.
var feedWakes sync.Map // weak.Pointer[sql.DB] -> *wake.Signal

func wakeFor(db *sql.DB) *wake.Signal {
	key := weak.Make(db)
	if w, ok := feedWakes.Load(key); ok {
		return w.(*wake.Signal)
	}
	w, loaded := feedWakes.LoadOrStore(key, &wake.Signal{})
	if !loaded {
		runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { feedWakes.Delete(k) }, key)
	}
	return w.(*wake.Signal)
}

// feedBatch caps the changes one read of the feed returns.
const feedBatch = 256

// Watch delivers the changes q selects, in commit order, from the changes
// table (see session.Watcher). Cursors are the table's seq in decimal.
//
// A write through any store on the same *sql.DB wakes the watch at once.
// Commits by other connections pools and processes are found by polling:
// every WithFeedPollInterval (100 ms by default) the watch reads the
// feed's head (the largest seq, one index lookup) on a pooled connection that it
// holds only for that read. It does not pin a connection to poll PRAGMA
// data_version, which must be read on one connection throughout: that
// would starve a pool of one connection (a private in-memory database).
//
// It starts the database's feed first if no watch has (StartFeed): a
// watch sees the changes committed after the feed started.
//
// The feed keeps every change until TrimFeed discards it; a watch behind
// the newest discarded change gets session.ErrFeedGap. Watch works on a
// read-only store once the feed has started, and fails with an error
// matching session.ErrReadOnly before (a read-only store cannot start it).
func (s *Store) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	fail := func(err error) (iter.Seq2[session.Change, error], error) {
		return nil, fmt.Errorf("sqlite: watch: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if q.SessionID != "" {
		if err := session.ValidateID(q.SessionID); err != nil {
			return fail(err)
		}
	}
	if err := s.StartFeed(ctx); err != nil {
		return nil, err
	}
	var pos int64
	err := s.read(ctx, func(tx *sql.Tx) error {
		head, trimmed, err := s.feedBounds(ctx, tx)
		if err != nil {
			return err
		}
		switch q.After {
		case "":
			pos = 0
		case session.WatchFromNow:
			pos = head
			return nil
		default:
			pos, err = strconv.ParseInt(q.After, 10, 64)
			if err != nil || pos < 0 || pos > head || strconv.FormatInt(pos, 10) != q.After {
				return fmt.Errorf("%w: %q is not a change of this store's feed", session.ErrBadCursor, q.After)
			}
		}
		if pos < trimmed {
			return &session.FeedGapError{After: q.After, Kept: strconv.FormatInt(trimmed, 10)}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return func(yield func(session.Change, error) bool) {
		for {
			if err := ctx.Err(); err != nil {
				yield(session.Change{}, fmt.Errorf("sqlite: watch: %w", err))
				return
			}
			// Take the wake-up channel before reading, so that a change
			// committed after the read wakes the wait below.
			woken := s.wake.Wait()
			batch, next, err := s.feedRead(ctx, q, pos)
			if err != nil {
				yield(session.Change{}, fmt.Errorf("sqlite: watch: %w", err))
				return
			}
			for _, c := range batch {
				if !yield(c, nil) {
					return
				}
			}
			if next > pos || len(batch) > 0 {
				pos = next
				continue // there may be more
			}
			timer := time.NewTimer(s.opts.feedPoll)
			select {
			case <-ctx.Done():
			case <-woken:
			case <-timer.C:
			}
			timer.Stop()
		}
	}, nil
}

// feedBounds returns the feed's head (the newest seq handed out) and the
// newest seq trimmed.
func (s *Store) feedBounds(ctx context.Context, tx *sql.Tx) (head, trimmed int64, err error) {
	if err := tx.QueryRowContext(ctx, s.q.feedHead).Scan(&head); err != nil {
		return 0, 0, err
	}
	if err := tx.QueryRowContext(ctx, s.q.feedTrimmed).Scan(&trimmed); err != nil {
		return 0, 0, err
	}
	return head, trimmed, nil
}

// feedRead reads, in one read transaction, the changes after pos that q
// selects (at most feedBatch), with their messages, and returns them and
// the position after the last change it looked at. When nothing was
// committed after pos, it returns pos.
func (s *Store) feedRead(ctx context.Context, q session.WatchQuery, pos int64) ([]session.Change, int64, error) {
	var out []session.Change
	next := pos
	err := s.read(ctx, func(tx *sql.Tx) error {
		out, next = out[:0], pos
		head, trimmed, err := s.feedBounds(ctx, tx)
		if err != nil {
			return err
		}
		if pos < trimmed {
			return &session.FeedGapError{After: strconv.FormatInt(pos, 10), Kept: strconv.FormatInt(trimmed, 10)}
		}
		if head <= pos {
			return nil
		}
		rows, err := tx.QueryContext(ctx, s.q.feedRead, pos, head, q.SessionID, q.Owner, feedBatch)
		if err != nil {
			return err
		}
		type rec struct {
			c           session.Change
			inc         int64
			first, last int64
		}
		var recs []rec
		for rows.Next() {
			var r rec
			var seq int64
			var kind string
			var removed sql.NullString
			if err := rows.Scan(&seq, &r.c.SessionID, &r.c.Owner, &r.inc, &kind, &r.c.Version, &r.first, &r.last, &removed, &r.c.At); err != nil {
				rows.Close()
				return err
			}
			r.c.Cursor, r.c.Kind = strconv.FormatInt(seq, 10), session.ChangeKind(kind)
			if removed.Valid {
				if err := json.Unmarshal([]byte(removed.String), &r.c.Removed); err != nil {
					rows.Close()
					return fmt.Errorf("change %d: removed ids: %w", seq, err)
				}
			}
			recs = append(recs, r)
			next = seq
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(recs) < feedBatch {
			next = head // every change up to head was looked at
		}
		for _, r := range recs {
			if r.first <= r.last {
				ss := &sqliteSession{s: s, id: r.c.SessionID, inc: r.inc}
				rows, err := tx.QueryContext(ctx, s.q.feedMessages, r.c.SessionID, r.first, r.last, r.inc)
				if err != nil {
					return err
				}
				if r.c.Messages, err = ss.scanMessages(rows); err != nil {
					return err
				}
			}
			out = append(out, r.c)
		}
		return nil
	})
	return out, next, err
}

// TrimFeed discards the feed's changes made before the time before (Unix
// nanoseconds) and returns how many it discarded. A watch behind the newest
// change discarded gets session.ErrFeedGap. Run it on a schedule to bound
// the feed, as Prune bounds sessions: the changes table holds one row of
// about 100 bytes per change until then. It fails with session.ErrReadOnly
// on a read-only store.
func (s *Store) TrimFeed(ctx context.Context, before int64) (int64, error) {
	var n int64
	err := s.write(ctx, false, func(tx *sql.Tx) error {
		var to int64
		if err := tx.QueryRowContext(ctx, s.q.feedTrimTo, before).Scan(&to); err != nil {
			return err
		}
		if to == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, s.q.feedTrim, to)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.feedSetTrim, to); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q.feedKeepHead, to)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: trim feed: %w", err)
	}
	return n, nil
}
