package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/internal/wake"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

var (
	_ session.Watcher     = (*Store)(nil)
	_ session.FeedTrimmer = (*Store)(nil)
)

// feedOn reports whether the store's writes record their changes. A store
// whose appends Citus routes (WithCitus) does not: its feed table would be
// a table of the coordinator, which a routed statement cannot write.
func (s *Store) feedOn() bool { return !s.routed() }

// StartFeed makes every write to the store's tables, in every process,
// record its change in the change feed from now on, if none does yet, and
// returns once they do. Watch calls it; call it yourself (at deployment,
// for example) to keep the changes made before the first watch.
//
// A database created by schema version 9 or later starts with its feed
// dormant: writes record nothing, and so pay nothing for a feed that
// nothing reads (an append's row in changes and its advisory lock, 3-8 %
// of an append). The feed starts once and for good: StartFeed sets
// feed_state.active while it holds sessions in SHARE mode, which waits for
// every transaction writing sessions to end, and holds new ones back until
// it commits (a few milliseconds, once in the database's life). It gives
// up each wait after lockTimeout (200 ms) and tries again after a pause
// that grows to 2 s, letting the writers through, so that a long
// transaction never holds every writer back for long; if such a
// transaction is still open after feedStartPatience (30 s), it fails and
// leaves the feed dormant (call it again later). Each write reads active in a
// snapshot taken after it locked sessions, so it either ended before the
// feed started, or records its change. A watch from the oldest change ("")
// therefore starts at the first change after the feed started. A database
// upgraded from version 8 or earlier that had recorded changes keeps
// recording.
//
// A writable store whose pool's transactions default to REPEATABLE READ
// or SERIALIZABLE (default_transaction_isolation) starts the feed when it
// is opened: its writes take their snapshots before they lock sessions.
//
// It fails with session.ErrNotSupported for a store opened WithCitus
// (which has no feed), and with session.ErrReadOnly for a read-only store
// while the feed is dormant.
func (s *Store) StartFeed(ctx context.Context) error {
	if !s.feedOn() {
		return wrapOp(ctx, "start feed", fmt.Errorf("a store opened WithCitus has no change feed: %w", session.ErrNotSupported))
	}
	if s.feedStarted.Load() {
		return nil
	}
	active, err := s.feedActive(ctx)
	if err != nil {
		return wrapOp(ctx, "start feed", err)
	}
	if !active {
		if err := s.writable(); err != nil {
			return wrapOp(ctx, "start feed", fmt.Errorf("the change feed is dormant and only a writable store can start it: %w", err))
		}
		patience := s.feedStartPatience
		if patience == 0 {
			patience = feedStartPatience
		}
		deadline := time.Now().Add(patience)
		for attempt := 1; ; attempt++ {
			err := retryDeadlock(ctx, func() error { return s.startFeedOnce(ctx) })
			if err == nil {
				break
			}
			if !isLockTimeout(err) {
				return wrapOp(ctx, "start feed", err)
			}
			// A transaction writing sessions did not end within
			// lockTimeout: let the writers queued behind the wait go,
			// for longer after each round (so they are held back
			// less and less of the time), and wait again, up to
			// patience.
			pause := min(time.Duration(attempt)*lockTimeout, 2*time.Second)
			if time.Now().Add(pause).After(deadline) {
				return wrapOp(ctx, "start feed", fmt.Errorf("a transaction writing %s stayed open for %s (look for it in pg_stat_activity; "+
					"idle in transaction?): the change feed was not started, call again: %w", s.q.sessions, patience, err))
			}
			select {
			case <-ctx.Done():
				return wrapOp(ctx, "start feed", errors.Join(err, ctx.Err()))
			case <-time.After(pause):
			}
		}
	}
	s.feedStarted.Store(true)
	return nil
}

// startFeedUnlessReadCommitted starts the feed (StartFeed) if the pool's
// transactions default to an isolation level above READ COMMITTED. A
// dormant feed relies on each write taking its snapshot after it locked
// sessions, which holds only in READ COMMITTED: in REPEATABLE READ and
// SERIALIZABLE a statement runs in its transaction's snapshot, which
// PostgreSQL takes when it binds the statement, before GetCachedPlan
// takes the plan's locks (src/backend/tcop/postgres.c,
// exec_bind_message), so a write waiting for StartFeed's lock would read
// the feed as dormant and commit, unrecorded, after it started
// (TestStartFeedWithRepeatableReadWriters). Such a store records from the
// start, as schema version 8 did.
func (s *Store) startFeedUnlessReadCommitted(ctx context.Context) error {
	var iso string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('transaction_isolation')`).Scan(&iso); err != nil {
		return err
	}
	if iso == "read committed" {
		return nil
	}
	return s.StartFeed(ctx)
}

// feedActive reads whether the database's feed has started, and
// remembers it if so (it never stops).
func (s *Store) feedActive(ctx context.Context) (bool, error) {
	if s.feedStarted.Load() {
		return true, nil
	}
	var active bool
	if err := s.pool.QueryRow(ctx, s.q.feedActive).Scan(&active); err != nil {
		return false, err
	}
	if active {
		s.feedStarted.Store(true)
	}
	return active, nil
}

// feedStartPatience is how long StartFeed tries to start the feed while a
// transaction writing sessions stays open, before it gives up with an
// error: each try holds every new writer of sessions back for up to
// lockTimeout, so it must not go on for ever.
const feedStartPatience = 30 * time.Second

// lockTimeout bounds each wait of StartFeed for the transactions that
// write sessions.
const lockTimeout = 200 * time.Millisecond

// startFeedOnce is one attempt of StartFeed's transaction.
func (s *Store) startFeedOnce(ctx context.Context) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollbackOnError(ctx, tx, &err)
	for _, sql := range []string{`SET LOCAL lock_timeout = '` + strconv.FormatInt(lockTimeout.Milliseconds(), 10) + `ms'`,
		`LOCK TABLE ` + s.q.sessions + ` IN SHARE MODE`, s.q.startFeed} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// isLockTimeout reports whether err is PostgreSQL's lock_not_available
// (SQLSTATE 55P03), which lock_timeout gives.
func isLockTimeout(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// record writes a change of session id into the feed, in tx, the
// transaction that makes it: n is the number of message seqs, just below
// next_seq, that it stored; removed the ids it removed. It also sends the
// feed's notification, if one is due (notifyTx).
func (s *Store) record(ctx context.Context, tx pgx.Tx, kind session.ChangeKind, id string, n int64, removed []string) error {
	if !s.feedOn() {
		return nil
	}
	if _, err := tx.Exec(ctx, s.q.recordChange, id, string(kind), n, removed, time.Now().UnixNano()); err != nil {
		return err
	}
	return s.notifyTx(ctx, tx)
}

// notifyEvery is the shortest time between two notifications of one
// store's writes. A watch woken by one reads the feed again followUpDelay
// later, which finds the changes whose notification was skipped.
const notifyEvery = 50 * time.Millisecond

// feedNotifier spaces out the notifications of one store's writes: at
// most one per notifyEvery. Up to schema version 6 a trigger on changes
// decided, at every insert, with a query of feed_listeners; the store
// now decides in Go and asks the database only when a notification is
// due (migrations/0007_feed_notify_from_writer.sql).
type feedNotifier struct {
	last atomic.Int64 // Unix ns of the latest claim, 0 if none
}

// claim reports whether a notification is due, and if so records it as
// sent now; tok undoes the claim (unclaim) if the write that was to carry
// it fails.
func (n *feedNotifier) claim() (tok [2]int64, ok bool) {
	now := time.Now().UnixNano()
	prev := n.last.Load()
	if d := now - prev; d >= 0 && d < notifyEvery.Nanoseconds() {
		return tok, false
	}
	return [2]int64{prev, now}, n.last.CompareAndSwap(prev, now)
}

// unclaim gives back a claim whose write failed, unless another write has
// claimed since.
func (n *feedNotifier) unclaim(tok [2]int64) { n.last.CompareAndSwap(tok[1], tok[0]) }

// notifyTx sends the feed's notification in tx, which records a change,
// if one is due: the statement notifyFeed, delivered when tx commits.
func (s *Store) notifyTx(ctx context.Context, tx pgx.Tx) error {
	tok, ok := s.notifier.claim()
	if !ok {
		return nil
	}
	if _, err := tx.Exec(ctx, s.q.notifyFeed, s.q.changes); err != nil {
		s.notifier.unclaim(tok)
		return err
	}
	return nil
}

// feedRow runs sql, a single statement of the feed that records a change,
// on the pool in its own implicit transaction and returns its row. When a
// notification is due it sends notifyFeed after it, in the same round trip
// and the same implicit transaction (a pgx.Batch: one Sync for both), so
// that the notification is delivered when the change commits and not
// otherwise. Most calls are a plain QueryRow.
func (s *Store) feedRow(ctx context.Context, sql string, args ...any) pgx.Row {
	tok, ok := s.notifier.claim()
	if !ok {
		return s.pool.QueryRow(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	b.Queue(s.q.notifyFeed, s.q.changes)
	return &notifyingRow{s: s, tok: tok, br: s.pool.SendBatch(ctx, b)}
}

// notifyingRow is the row of feedRow when it notifies.
type notifyingRow struct {
	s   *Store
	tok [2]int64
	br  pgx.BatchResults
}

func (r *notifyingRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil || errors.Is(err, pgx.ErrNoRows) && cerr != nil {
		err = cerr
	}
	if err != nil {
		r.s.notifier.unclaim(r.tok)
	}
	return err
}

// feedExec is feedRow for a statement that returns no rows.
func (s *Store) feedExec(ctx context.Context, sql string, args ...any) error {
	tok, ok := s.notifier.claim()
	if !ok {
		_, err := s.pool.Exec(ctx, sql, args...)
		return err
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	b.Queue(s.q.notifyFeed, s.q.changes)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		s.notifier.unclaim(tok)
		return err
	}
	return nil
}

// lockFeed takes the feed lock of session id in tx (see feedLock in
// queries.go), before tx's first write: a store without a feed takes none.
func (s *Store) lockFeed(ctx context.Context, tx pgx.Tx, id string) error {
	if !s.feedOn() {
		return nil
	}
	_, err := tx.Exec(ctx, s.q.lockFeed, id)
	return err
}

// position is a place in the feed: every change at or before it has been
// looked at. Changes are ordered by (xid, id).
type position struct{ xid, id int64 }

func (p position) less(q position) bool { return p.xid < q.xid || p.xid == q.xid && p.id < q.id }

func (p position) String() string {
	return strconv.FormatInt(p.xid, 10) + "-" + strconv.FormatInt(p.id, 10)
}

// parsePosition reads a cursor that position.String made.
func parsePosition(c string) (position, bool) {
	a, b, ok := strings.Cut(c, "-")
	x, err1 := strconv.ParseInt(a, 10, 64)
	i, err2 := strconv.ParseInt(b, 10, 64)
	p := position{x, i}
	return p, ok && err1 == nil && err2 == nil && x >= 0 && i >= 0 && p.String() == c
}

// Watch delivers the changes q selects, in commit order, from the changes
// table (see session.Watcher and migrations/0006_changes.sql for how the
// order is kept without serialising writers). Cursors are "xid-id".
//
// It starts the database's feed first if no watch has (StartFeed): a
// watch sees the changes committed after the feed started.
//
// Writes that record a change send a NOTIFY while a watch listens (at
// most one per 50 ms per Store; see feedNotifier); the store's watches
// share one connection of their own (made from the pool's configuration,
// not taken from the pool) that LISTENs while any watch runs, and each
// watch also reads the feed every WithFeedPollInterval (500 ms by
// default). The notification only wakes watches: what they deliver is
// what the table holds. A listener that does not hear the notification
// it sends itself when it starts (through a pooler in transaction mode,
// such as PgBouncer, where LISTEN cannot work) does not register, and the
// watches poll; see "PgBouncer" in the package documentation.
//
// A change becomes visible to watches once every transaction of the
// database that was running when it committed has ended: a transaction
// left open for minutes (idle in transaction, a long batch) holds back the
// feed, never losing or reordering anything, until it ends. The feed keeps
// every change until TrimFeed discards it; a watch behind the newest
// discarded change gets session.ErrFeedGap. A store opened WithCitus has
// no feed: Watch returns an error matching session.ErrNotSupported.
func (s *Store) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	fail := func(err error) (iter.Seq2[session.Change, error], error) {
		return nil, wrapOp(ctx, "watch", err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if !s.feedOn() {
		return fail(fmt.Errorf("a store opened WithCitus has no change feed: %w", session.ErrNotSupported))
	}
	if q.SessionID != "" {
		if err := checkID(ctx, q.SessionID); err != nil {
			return fail(err)
		}
	}
	if err := s.StartFeed(ctx); err != nil {
		return nil, err
	}
	var horizon int64
	var trimmed position
	if err := s.pool.QueryRow(ctx, s.q.feedHorizon).Scan(&horizon, &trimmed.xid, &trimmed.id); err != nil {
		return fail(err)
	}
	var pos position
	var now *nowFilter
	switch q.After {
	case "":
	case session.WatchFromNow:
		var err error
		if pos, now, err = s.feedNowPosition(ctx); err != nil {
			return fail(err)
		}
	default:
		var ok bool
		pos, ok = parsePosition(q.After)
		// Every change a watch delivered was below the horizon then, and
		// the horizon never goes back.
		if !ok || pos.xid >= horizon {
			return fail(fmt.Errorf("%w: %q is not a change of this store's feed", session.ErrBadCursor, q.After))
		}
	}
	if pos.less(trimmed) {
		return fail(&session.FeedGapError{After: q.After, Kept: trimmed.String()})
	}
	return func(yield func(session.Change, error) bool) {
		signal, release := s.hub.join(ctx, s)
		defer release()
		followUp := false
		for {
			if err := ctx.Err(); err != nil {
				yield(session.Change{}, wrapOp(ctx, "watch", err))
				return
			}
			w := signal.Wait()
			batch, next, err := s.feedRead(ctx, q, pos)
			if now != nil {
				batch = now.drop(batch)
				if next.xid >= now.xmax {
					now = nil // past the snapshot: nothing more to drop
				}
			}
			if err != nil {
				yield(session.Change{}, wrapOp(ctx, "watch", err))
				return
			}
			for _, c := range batch {
				if !yield(c, nil) {
					return
				}
			}
			if pos.less(next) {
				pos = next
				if len(batch) > 0 {
					continue // there may be more
				}
			}
			wait := s.opts.feedPoll
			if followUp {
				// A store notifies at most once per notifyEvery: look
				// again once that window has passed, for the changes it
				// did not announce.
				wait, followUp = min(wait, followUpDelay), false
			}
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-w:
				followUp = true
			case <-timer.C:
			}
			timer.Stop()
		}
	}, nil
}

// followUpDelay is how long after a notification a watch reads the feed
// again.
const followUpDelay = 100 * time.Millisecond

// nowFilter drops the changes that a watch from now would otherwise
// deliver although they committed before it started: those of the
// transactions that the snapshot taken then saw as committed (below its
// xmax and not running), but whose xid is at or above the horizon, since
// a transaction older than them was still running.
type nowFilter struct {
	xmax    int64
	running map[int64]bool
}

func (f *nowFilter) drop(batch []session.Change) []session.Change {
	out := batch[:0]
	for _, c := range batch {
		p, _ := parsePosition(c.Cursor)
		if p.xid < f.xmax && !f.running[p.xid] {
			continue
		}
		out = append(out, c)
	}
	return out
}

// feedNowPosition returns where a watch from now starts, and the filter
// for the changes between there and the end of the snapshot it took.
func (s *Store) feedNowPosition(ctx context.Context) (position, *nowFilter, error) {
	var xmax int64
	var all, ours []int64
	if err := s.pool.QueryRow(ctx, s.q.feedNow).Scan(&xmax, &all, &ours); err != nil {
		return position{}, nil, err
	}
	horizon := xmax
	for _, x := range ours {
		horizon = min(horizon, x)
	}
	f := &nowFilter{xmax: xmax, running: make(map[int64]bool, len(all))}
	for _, x := range all {
		f.running[x] = true
	}
	return position{horizon - 1, math.MaxInt64}, f, nil
}

// feedBatch caps the changes one read of the feed returns.
const feedBatch = 256

// feedRead returns the final changes after pos that q selects (at most
// feedBatch), with the messages they stored that are still there, and the
// position after the last change it looked at.
func (s *Store) feedRead(ctx context.Context, q session.WatchQuery, pos position) ([]session.Change, position, error) {
	rows, err := s.pool.Query(ctx, s.q.feedRead, pos.xid, pos.id, q.SessionID, q.Owner, feedBatch)
	if err != nil {
		return nil, pos, err
	}
	type rec struct {
		c           session.Change
		inc         int64
		first, last int64
	}
	var (
		recs    []rec
		horizon int64
		trimmed position
		next    = pos
	)
	for rows.Next() {
		var (
			xid, id, inc, version, first, last, at *int64
			sid, owner, kind                       *string
			removed                                []string
		)
		if err := rows.Scan(&horizon, &trimmed.xid, &trimmed.id, &xid, &id, &sid, &owner, &inc, &kind,
			&version, &first, &last, &removed, &at); err != nil {
			rows.Close()
			return nil, pos, err
		}
		if xid == nil {
			continue // no change after pos: the row only carries the horizon
		}
		p := position{*xid, *id}
		recs = append(recs, rec{
			c: session.Change{Cursor: p.String(), SessionID: *sid, Owner: *owner, Kind: session.ChangeKind(*kind),
				Version: *version, Removed: removed, At: *at},
			inc: *inc, first: *first, last: *last,
		})
		next = p
	}
	if err := rows.Err(); err != nil {
		return nil, pos, err
	}
	if pos.less(trimmed) {
		return nil, pos, &session.FeedGapError{After: pos.String(), Kept: trimmed.String()}
	}
	if len(recs) < feedBatch {
		// Every final change has been looked at: move up to the horizon.
		if h := (position{horizon - 1, math.MaxInt64}); next.less(h) {
			next = h
		}
	}
	// The messages of appends, replaces and forks, in one round trip.
	b := &pgx.Batch{}
	var want []int
	for i, r := range recs {
		if r.first <= r.last {
			b.Queue(s.q.feedMessages, r.c.SessionID, r.inc, r.first, r.last)
			want = append(want, i)
		}
	}
	out := make([]session.Change, len(recs))
	for i := range recs {
		out[i] = recs[i].c
	}
	if len(want) == 0 {
		return out, next, nil
	}
	br := s.pool.SendBatch(ctx, b)
	for _, i := range want {
		ss := &pgSession{s: s, id: recs[i].c.SessionID, inc: recs[i].inc}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return nil, pos, err
		}
		msgs, err := ss.scanFeedMessages(rows)
		if err != nil {
			br.Close()
			return nil, pos, err
		}
		out[i].Messages = msgs
	}
	if err := br.Close(); err != nil {
		return nil, pos, err
	}
	return out, next, nil
}

// scanFeedMessages reads the rows of feedMessages.
func (ss *pgSession) scanFeedMessages(rows pgx.Rows) ([]message.Message, error) {
	defer rows.Close()
	var out []message.Message
	for rows.Next() {
		var (
			m            message.Message
			seq          int64
			role         string
			parts, usage []byte
		)
		if err := rows.Scan(&seq, &m.ID, &role, &parts, &m.Model, &usage, &m.CreatedAt); err != nil {
			return nil, err
		}
		m.Role = message.Role(role)
		if err := ss.decode(&m, seq, parts, usage); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// TrimFeed discards the feed's changes made before the time before (Unix
// nanoseconds) and returns how many it discarded. A watch behind the newest
// change discarded gets session.ErrFeedGap. Run it on a schedule to bound
// the feed, as Prune bounds sessions: the changes table holds one row of
// about 100 bytes per change until then.
func (s *Store) TrimFeed(ctx context.Context, before int64) (n int64, err error) {
	if err := s.writable(); err != nil {
		return 0, wrapOp(ctx, "trim feed", err)
	}
	if !s.feedOn() {
		return 0, wrapOp(ctx, "trim feed", fmt.Errorf("a store opened WithCitus has no change feed: %w", session.ErrNotSupported))
	}
	err = func() (err error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer rollbackOnError(ctx, tx, &err)
		var to position
		err = tx.QueryRow(ctx, s.q.feedTrimTo, before).Scan(&to.xid, &to.id)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.Commit(ctx)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.q.feedTrim, to.xid, to.id)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, s.q.feedSetTrim, to.xid, to.id); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}()
	if err != nil {
		return 0, wrapOp(ctx, "trim feed", err)
	}
	return n, nil
}

// feedHub runs one LISTEN connection while any watch of the store runs.
type feedHub struct {
	mu     sync.Mutex
	users  int
	cancel context.CancelFunc
	wake   wake.Signal
	// deaf is set while the listener found that notifications do not
	// reach its connection (errListenUndelivered): the watches poll.
	deaf atomic.Bool
}

// join registers a watch and returns the wake-up it waits on and the
// function that unregisters it. The first watch starts the listener; the
// last one to leave stops it. The listener keeps ctx's values, not its
// cancellation: it ends when its last watch does.
func (h *feedHub) join(ctx context.Context, s *Store) (*wake.Signal, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users++
	if h.users == 1 {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.cancel = cancel
		go h.listen(lctx, s)
	}
	var once sync.Once
	return &h.wake, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.users--
			if h.users == 0 {
				h.cancel()
			}
		})
	}
}

// listen LISTENs on the feed's channel on a connection of its own and
// wakes the watches at each notification, until ctx ends. When the
// connection fails it wakes them (they read the feed) and connects again
// after the poll interval; watches poll meanwhile.
//
// A connection on which notifications do not arrive (a pooler in
// transaction mode between the store and PostgreSQL: see
// errListenUndelivered) is closed without registering, so that writers do
// not notify for it; the watches then poll every WithFeedPollInterval,
// and the listener tries again after listenRetry.
func (h *feedHub) listen(ctx context.Context, s *Store) {
	defer h.deaf.Store(false)
	for ctx.Err() == nil {
		err := h.listenOnce(ctx, s)
		h.wake.Notify()
		if err == nil || ctx.Err() != nil {
			return
		}
		retry := s.opts.feedPoll
		if errors.Is(err, errListenUndelivered) {
			h.deaf.Store(true)
			retry = max(retry, listenRetry)
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

// errListenUndelivered is listenOnce's error when a notification the
// store sent (from a connection of the pool) did not reach its LISTEN
// connection within listenProbeTimeout. A pooler in transaction mode does
// that: it runs LISTEN on whichever server connection is free and hands
// that connection to other clients after the statement, so the
// notifications reach them, or no one ("LISTEN/NOTIFY: Never" in
// transaction pooling, https://www.pgbouncer.org/features.html; PgBouncer
// 1.18 logs "got packet 'A' from server when not linked" and drops them).
var errListenUndelivered = errors.New("a notification did not reach the LISTEN connection: " +
	"a pooler in transaction mode (PgBouncer?) is between the store and PostgreSQL, so watches poll")

// How long the listener waits for its probe notification, and how long it
// waits after one did not arrive before it tries again. The wait costs
// nothing but time: the watches poll meanwhile, and no writer notifies for
// a listener that has not registered yet; a direct connection hears the
// probe in milliseconds.
const (
	listenProbeTimeout = 10 * time.Second
	listenRetry        = time.Minute
)

// How long a listener's registration lasts, and how often it is renewed:
// writers stop notifying at most listenTTL after a listener dies.
const (
	listenTTL   = 30 * time.Second
	listenRenew = 10 * time.Second
)

func (h *feedHub) listenOnce(ctx context.Context, s *Store) error {
	var oid int64
	if err := s.pool.QueryRow(ctx, s.q.feedOid, s.q.changes).Scan(&oid); err != nil {
		return err
	}
	cfg := s.pool.Config().ConnConfig.Copy()
	// Waits end at a deadline, which must leave the connection usable: a
	// pool configured to send a cancel request instead has no query to
	// cancel here.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	bg := context.WithoutCancel(ctx)
	defer conn.Close(bg)
	channel := "convo_feed_" + strconv.FormatInt(oid, 10)
	if _, err := conn.Exec(ctx, "LISTEN "+sqlident.Quote(channel)); err != nil {
		return err
	}
	if err := h.probe(ctx, s, conn, channel); err != nil {
		// Best effort: through a pooler in transaction mode this may
		// reach another server connection than the LISTEN did.
		_, _ = conn.Exec(bg, "UNLISTEN "+sqlident.Quote(channel))
		return err
	}
	// Writers notify only while a listener is registered; a read-only
	// store cannot register, and its watches find changes by polling.
	token := message.NewID()
	register := func() error {
		if s.opts.readOnly {
			return nil
		}
		_, err := conn.Exec(ctx, s.q.feedListen, token, listenTTL.Nanoseconds())
		return err
	}
	if err := register(); err != nil {
		return err
	}
	if !s.opts.readOnly {
		defer conn.Exec(bg, s.q.feedUnlisten, token)
	}
	h.wake.Notify() // a change may have come before the LISTEN
	renew := time.Now().Add(listenRenew)
	for {
		wctx, cancel := context.WithDeadline(ctx, renew)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			h.wake.Notify()
		case errors.Is(err, context.DeadlineExceeded):
			if err := register(); err != nil {
				return err
			}
			renew = time.Now().Add(listenRenew)
		default:
			return err
		}
	}
}

// probe sends a notification on channel from a connection of the pool and
// waits for it on conn, which LISTENs on channel: it returns
// errListenUndelivered if it does not come within listenProbeTimeout.
// Notifications of writes that arrive meanwhile wake the watches as usual.
// (pg_notify needs no privilege and works in a read-only transaction; a
// standby, where it does not, refuses the LISTEN before it.)
func (h *feedHub) probe(ctx context.Context, s *Store, conn *pgx.Conn, channel string) error {
	payload := "probe " + message.NewID()
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("send the listener's probe notification: %w", err)
	}
	wait := s.listenProbeTimeout
	if wait == 0 {
		wait = listenProbeTimeout
	}
	deadline := time.Now().Add(wait)
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return errListenUndelivered
		case err != nil:
			return err
		case n.Payload == payload:
			h.deaf.Store(false)
			return nil
		default:
			h.wake.Notify()
		}
	}
}
