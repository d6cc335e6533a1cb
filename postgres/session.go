package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// pgSession is a handle on one session. It remembers the incarnation of the
// session it was opened on, so that a handle from before a Delete (and a
// re-Create of the same id) reports session.ErrNotFound instead of reading
// or writing the new session.
type pgSession struct {
	s   *Store
	id  string
	inc int64
}

// ID returns the session's id.
func (ss *pgSession) ID() string { return ss.id }

// GetMessages returns messages oldest first: all for a nil or negative
// limit, none for 0, the last n for n. It reads the session's row and its
// messages in one statement.
func (ss *pgSession) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, _, err := ss.snapshot(ctx, limit)
	return msgs, wrap(ctx, "get messages of", ss.id, err)
}

// snapshot reads the session, again if the read was chosen as a deadlock
// victim (retryDeadlock).
func (ss *pgSession) snapshot(ctx context.Context, limit *int) (msgs []message.Message, v int64, err error) {
	err = retryDeadlock(ctx, func() error {
		msgs, v, err = ss.snapshotOnce(ctx, limit)
		return err
	})
	return msgs, v, err
}

// Snapshot returns what GetMessages returns, together with the session's
// version, read in one statement (one snapshot).
func (ss *pgSession) Snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	msgs, v, err := ss.snapshot(ctx, limit)
	return msgs, v, wrap(ctx, "snapshot of", ss.id, err)
}

func (ss *pgSession) snapshotOnce(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var rows pgx.Rows
	var err error
	switch {
	case limit == nil || *limit < 0:
		rows, err = ss.s.pool.Query(ctx, ss.s.q.all, ss.id, ss.inc)
	case *limit > 0 && *limit <= maxLiteralLimit:
		rows, err = ss.s.pool.Query(ctx, ss.s.q.lastNLimit(*limit), ss.id, ss.inc)
	default:
		rows, err = ss.s.pool.Query(ctx, ss.s.q.lastN, ss.id, ss.inc, int64(*limit))
	}
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	msgs := []message.Message{} // never nil: an empty read is [], not null
	var (
		seqs    []int64 // of msgs, to put them in order
		version int64
		found   bool
		seq     pgtype.Int8
		id      pgtype.Text
		role    pgtype.Text
		parts   []byte
		model   pgtype.Text
		usage   []byte
		created pgtype.Int8
	)
	for rows.Next() {
		found = true
		if err := rows.Scan(&version, &seq, &id, &role, &parts, &model, &usage, &created); err != nil {
			return nil, 0, err
		}
		if !seq.Valid { // the session has no message (to return)
			continue
		}
		m := message.Message{ID: id.String, Role: message.Role(role.String), Model: model.String, CreatedAt: created.Int64}
		if err := ss.decode(&m, seq.Int64, parts, usage); err != nil {
			return nil, 0, err
		}
		msgs = append(msgs, m)
		seqs = append(seqs, seq.Int64)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, session.ErrNotFound
	}
	inOrder(msgs, seqs)
	return msgs, version, nil
}

// Range returns the stretch of the history q selects, oldest first, with
// each message's Seq (see session.Ranger). It reads the session's row and
// only the stretch's messages, by the (session_id, seq) key, in one
// statement.
func (ss *pgSession) Range(ctx context.Context, q session.RangeQuery) ([]session.Entry, error) {
	out, err := ss.readRange(ctx, q)
	return out, wrap(ctx, "range of", ss.id, err)
}

func (ss *pgSession) readRange(ctx context.Context, q session.RangeQuery) ([]session.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	after, before, limit := q.RangeBounds()
	query := ss.s.q.rangeAsc
	if q.Newest {
		query = ss.s.q.rangeDesc
	}
	rows, err := ss.s.pool.Query(ctx, query, ss.id, ss.inc, after, before, int64(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []session.Entry{}
	var (
		version int64
		found   bool
		seq     pgtype.Int8
		id      pgtype.Text
		role    pgtype.Text
		parts   []byte
		model   pgtype.Text
		usage   []byte
		created pgtype.Int8
	)
	for rows.Next() {
		found = true
		if err := rows.Scan(&version, &seq, &id, &role, &parts, &model, &usage, &created); err != nil {
			return nil, err
		}
		if !seq.Valid { // no message in the stretch
			continue
		}
		m := message.Message{ID: id.String, Role: message.Role(role.String), Model: model.String, CreatedAt: created.Int64}
		if err := ss.decode(&m, seq.Int64, parts, usage); err != nil {
			return nil, err
		}
		out = append(out, session.Entry{Seq: seq.Int64, Message: m})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, session.ErrNotFound
	}
	if q.Newest {
		slices.Reverse(out)
	}
	return out, nil
}

// inOrder puts msgs, whose sequence numbers are seqs, oldest first. The
// last-n statement returns them newest first and the whole-session one
// oldest first; anything else is sorted.
func inOrder(msgs []message.Message, seqs []int64) {
	switch {
	case slices.IsSorted(seqs):
	case slices.IsSortedFunc(seqs, func(a, b int64) int { return cmp.Compare(b, a) }):
		slices.Reverse(msgs)
	default:
		idx := make([]int, len(msgs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(seqs[a], seqs[b]) })
		sorted := make([]message.Message, len(msgs))
		for i, j := range idx {
			sorted[i] = msgs[j]
		}
		copy(msgs, sorted)
	}
}

// decode fills m's parts and usage, or reports the row as corrupt.
func (ss *pgSession) decode(m *message.Message, seq int64, parts, usage []byte) error {
	var err error
	if m.Parts, err = message.UnmarshalParts(parts); err != nil {
		return &session.CorruptError{SessionID: ss.id, Seq: seq, MessageID: m.ID, Err: err}
	}
	if m.Usage, err = message.UnmarshalUsage(usage); err != nil {
		return &session.CorruptError{SessionID: ss.id, Seq: seq, MessageID: m.ID, Err: err}
	}
	return nil
}

// AddMessages appends msgs atomically and in order: in one statement (one
// round trip) in the common case; in two or three when an id is stored
// already or the session moved on (the first stores nothing); and, when the
// call is larger than 1,000 messages or 32 MiB, in several statements in one
// transaction. See session.Session for
// the rules on ids, times, retries and invalid messages.
func (ss *pgSession) AddMessages(ctx context.Context, msgs []message.Message) error {
	if err := ss.s.writable(); err != nil {
		return wrap(ctx, "append to", ss.id, err)
	}
	_, err := ss.add(ctx, msgs, -1)
	return wrap(ctx, "append to", ss.id, err)
}

// AddMessagesAt appends msgs only if the session is still at version
// expected, else fails with session.ErrConflict and stores nothing. A call
// whose messages are all stored already succeeds whatever the version. It
// returns the session's version after the call.
func (ss *pgSession) AddMessagesAt(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	if err := ss.s.writable(); err != nil {
		return 0, wrap(ctx, "append to", ss.id, err)
	}
	if expected < 0 {
		return 0, wrap(ctx, "append to", ss.id, fmt.Errorf("%w: negative expected version %d", session.ErrConflict, expected))
	}
	v, err := ss.add(ctx, msgs, expected)
	return v, wrap(ctx, "append to", ss.id, err)
}

// batch is the encoded form of messages, as the append statement's arrays.
type batch struct {
	// Strings, not []byte: in pgx's exec and simple-protocol modes
	// (PgBouncer) a []byte would be sent as bytea, not as JSON text.
	ids, roles, models, search, parts []string
	usages                            []*string
	created                           []int64
	bytes                             int
}

func (b *batch) add(m *message.Message, parts, usage []byte, search string) {
	b.ids = append(b.ids, m.ID)
	b.roles = append(b.roles, string(m.Role))
	b.models = append(b.models, m.Model)
	// The encoder's buffers are fresh and nothing else holds them: hand
	// them over as strings without copying (unsafe.String; they are never
	// written again).
	b.parts = append(b.parts, unsafe.String(unsafe.SliceData(parts), len(parts)))
	var u *string
	if usage != nil {
		s := unsafe.String(unsafe.SliceData(usage), len(usage))
		u = &s
	}
	b.usages = append(b.usages, u)
	b.created = append(b.created, m.CreatedAt)
	b.search = append(b.search, search)
	b.bytes += len(parts) + len(usage) + len(search) + len(m.ID) + len(m.Model) + len(m.Role)
}

func (b *batch) len() int { return len(b.ids) }

// add appends msgs; expected < 0 means no version check. It returns the
// session's version after the call. An append that the server chose as a
// deadlock victim stored nothing and runs again (retryDeadlock); one whose
// answer was lost after it stored is found stored by the next attempt,
// as any retry is.
func (ss *pgSession) add(ctx context.Context, msgs []message.Message, expected int64) (v int64, err error) {
	err = retryDeadlock(ctx, func() error {
		v, err = ss.addOnce(ctx, msgs, expected)
		return err
	})
	return v, err
}

// addOnce is one attempt of add.
func (ss *pgSession) addOnce(ctx context.Context, msgs []message.Message, expected int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	chunks, err := ss.encode(msgs, false)
	if err != nil {
		return 0, err
	}
	switch {
	case len(chunks) == 0:
		// Nothing to store, but a deleted session is still reported.
		_, v, err := ss.snapshot(ctx, session.Limit(0))
		return v, err
	case len(chunks) == 1 && ss.s.routed():
		return ss.addRouted(ctx, chunks[0], expected)
	case len(chunks) == 1:
		return ss.addOne(ctx, chunks[0], expected)
	}
	return ss.addMany(ctx, chunks, expected)
}

// encode validates and encodes msgs, gives those without an ID or a
// creation time one (in the caller's slice, so that a caller who lost the
// answer can retry with the very same messages), and splits them into
// batches for the append statement. A repeated id is dropped (the first
// wins), or with unique refused with session.ErrInvalidMessage.
func (ss *pgSession) encode(msgs []message.Message, unique bool) ([]*batch, error) {
	type enc struct {
		parts, usage []byte
		search       string
	}
	encs := make([]enc, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", session.ErrInvalidMessage, i, err)
		}
		if err := errors.Join(storable("id", m.ID), storable("role", string(m.Role)), storable("model", m.Model)); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", session.ErrInvalidMessage, i, err)
		}
		p, err := message.MarshalParts(m.Parts)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", session.ErrInvalidMessage, i, err)
		}
		if len(p) > ss.s.opts.maxMessageBytes {
			return nil, fmt.Errorf("%w: message %d is %d bytes encoded, the limit is %d", session.ErrTooLarge, i, len(p), ss.s.opts.maxMessageBytes)
		}
		u, err := message.MarshalUsage(m.Usage)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d usage: %w", session.ErrInvalidMessage, i, err)
		}
		encs[i] = enc{parts: p, usage: u, search: searchVector(m.Parts)}
	}
	now := time.Now().UnixNano()
	for i := range msgs {
		if msgs[i].ID == "" {
			msgs[i].ID = message.NewID()
		}
		if msgs[i].CreatedAt == 0 {
			msgs[i].CreatedAt = now
		}
	}
	var chunks []*batch
	seen := make(map[string]bool, len(msgs))
	cur := &batch{}
	for i := range msgs {
		if seen[msgs[i].ID] {
			if unique {
				return nil, fmt.Errorf("%w: message id %q appears twice", session.ErrInvalidMessage, msgs[i].ID)
			}
			continue
		}
		seen[msgs[i].ID] = true
		if cur.len() > 0 && (cur.len() >= ss.s.chunkRows || cur.bytes+len(encs[i].parts)+len(encs[i].search) > ss.s.chunkBytes) {
			chunks = append(chunks, cur)
			cur = &batch{}
		}
		cur.add(&msgs[i], encs[i].parts, encs[i].usage, encs[i].search)
	}
	if cur.len() > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, nil
}

// appendResult is what the append statement returns.
type appendResult struct {
	found           bool  // the session, as of the statement's snapshot
	before          int64 // its version then
	fresh, inserted int64 // messages new as of the snapshot, and stored
	after           int64 // the version after, if something was stored
	locked          bool  // the session row, at the expected version, was locked
	lockedVersion   int64 // its version then
}

func (ss *pgSession) exec(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, b *batch, expected *int64, step int64) (appendResult, error) {
	var r appendResult
	err := q.QueryRow(ctx, ss.s.q.append, ss.id, ss.inc, expected,
		b.ids, b.roles, b.parts, b.models, b.usages, b.created, b.search,
		step, time.Now().UnixNano()).Scan(&r.found, &r.before, &r.fresh, &r.inserted, &r.after, &r.locked, &r.lockedVersion)
	return r, err
}

// addOne appends one batch. The common case takes one statement
// (appendFreshRows, or appendFresh for more than maxValuesRows messages); when that stores nothing, or fails with an error the
// server reports (as it does for an id the session holds), the full append
// statement follows, and perhaps a read of the session row, each in its own
// implicit transaction (safe, as the first stored nothing). The full
// statement cannot fail on the unique constraint on (session_id, id): it
// skips stored ids with ON CONFLICT DO NOTHING on that constraint alone. So
// no retry depends on the SQLSTATE of a unique violation, which Citus does
// not keep; a real failure fails the full statement too, and is returned
// from there.
func (ss *pgSession) addOne(ctx context.Context, b *batch, expected int64) (int64, error) {
	var exp *int64
	if expected >= 0 {
		exp = &expected
	}
	// The common case first: a session at the expected version (or any)
	// and messages it does not hold yet. Any other case stores nothing
	// here and is sorted out by the full statement below.
	var version int64
	var err error
	for {
		// While the feed is dormant (as far as this store knows), the
		// statement that does not record; it stores nothing once the
		// feed has started.
		dormant := !ss.s.feedStarted.Load()
		// A dormant statement records nothing, so it has nothing to
		// notify watches of either.
		query := ss.s.feedRow
		if dormant {
			query = ss.s.pool.QueryRow
		}
		if n := b.len(); n <= maxValuesRows {
			args := make([]any, 5, 5+7*n)
			args[0], args[1], args[2], args[3], args[4] = ss.id, ss.inc, exp, int64(n), time.Now().UnixNano()
			for i := range n {
				args = append(args, b.ids[i], b.roles[i], b.parts[i], b.models[i], b.usages[i], b.created[i], b.search[i])
			}
			sql := ss.s.q.appendFreshRows[n]
			if dormant {
				sql = ss.s.q.appendFreshRowsDormant[n]
			}
			err = query(ctx, sql, args...).Scan(&version)
		} else {
			sql := ss.s.q.appendFresh
			if dormant {
				sql = ss.s.q.appendFreshDormant
			}
			err = query(ctx, sql, ss.id, ss.inc, exp,
				b.ids, b.roles, b.parts, b.models, b.usages, b.created, b.search,
				int64(b.len()), time.Now().UnixNano()).Scan(&version)
		}
		if dormant && errors.Is(err, pgx.ErrNoRows) {
			// Stored nothing: the session is gone or at another version,
			// or the feed has started.
			started, ferr := ss.s.feedActive(ctx)
			if ferr != nil {
				return 0, ferr
			}
			if started {
				continue // with the statement that records
			}
		}
		break
	}
	switch {
	case err == nil:
		return version, nil
	case !errors.Is(err, pgx.ErrNoRows) && !statementFailed(ctx, err):
		return 0, err
	}
	for attempt := 1; ; attempt++ {
		r, err := ss.exec(ctx, feedPool{ss.s}, b, exp, 1)
		switch {
		case err != nil:
			return 0, err
		case r.inserted > 0 || (r.locked && r.fresh > 0):
			if r.inserted < r.fresh {
				// A writer stored some of them after the snapshot (a retry
				// racing its original), or all of them (then nothing moved).
				if err := ss.checkSkipped(ctx, ss.s.pool, b.ids); err != nil {
					return 0, err
				}
			}
			if r.inserted == 0 {
				return r.lockedVersion, nil
			}
			return r.after, nil
		case r.fresh == 0 && r.found:
			return r.before, nil // every message was stored already: a retry
		case !r.locked && !r.found:
			return 0, session.ErrNotFound
		case r.locked:
			return r.lockedVersion, nil // nothing new and nothing to store
		}
		// Something was new, but the row was not locked: the session is
		// gone or at another version (after the snapshot, perhaps).
		var now int64
		err = ss.s.pool.QueryRow(ctx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&now)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return 0, session.ErrNotFound
		case err != nil:
			return 0, err
		case expected >= 0 && now != expected:
			return 0, fmt.Errorf("%w: expected version %d, session is at %d", session.ErrConflict, expected, now)
		case attempt >= maxAppendAttempts:
			return 0, fmt.Errorf("session changed under the append %d times in a row", attempt)
		}
		// The session changed and changed back (delete and re-create is
		// ruled out by the incarnation): try again.
	}
}

// feedPool runs single statements on the store's pool that record a
// change, with the feed's notification when one is due (Store.feedRow).
type feedPool struct{ s *Store }

func (p feedPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return p.s.feedRow(ctx, sql, args...)
}

// statementFailed reports whether err is the server's report that a
// statement failed, and so rolled back, on a connection that stays usable:
// an ERROR, whatever its SQLSTATE, other than a cancellation (57014: the
// context's, or statement_timeout's, which a second statement would wait
// out again). Not a FATAL error, which ends the connection, nor an error of
// the network or the context, after which the caller cannot know whether
// the statement committed.
func statementFailed(ctx context.Context, err error) bool {
	var pe *pgconn.PgError
	if ctx.Err() != nil || !errors.As(err, &pe) || pe.Code == "57014" {
		return false
	}
	sev := pe.SeverityUnlocalized
	if sev == "" {
		sev = pe.Severity
	}
	return sev == "ERROR"
}

// maxAppendAttempts bounds how often the full append statement runs when
// the session changes between its snapshot and the lock.
const maxAppendAttempts = 5

// checkSkipped is the check behind every row an append skipped: it must be
// a message whose id the session holds. ON CONFLICT (session_id, id) skips
// only those, so this never fails unless the schema was altered; it runs
// only when a row was skipped.
func (ss *pgSession) checkSkipped(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, ids []string) error {
	var stored int
	if err := q.QueryRow(ctx, ss.s.q.countIDs, ss.id, ids).Scan(&stored); err != nil {
		return err
	}
	if stored != len(ids) {
		return fmt.Errorf("append skipped %d messages whose ids the session does not hold", len(ids)-stored)
	}
	return nil
}

// addMany appends several batches in one transaction: it locks the session
// row, checks the version, runs the append statement per batch without a
// version step, and then advances the version once.
func (ss *pgSession) addMany(ctx context.Context, chunks []*batch, expected int64) (version int64, err error) {
	tx, err := ss.s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer rollbackOnError(ctx, tx, &err)
	if err := ss.s.lockFeed(ctx, tx, ss.id); err != nil {
		return 0, err
	}
	if err := tx.QueryRow(ctx, ss.s.q.lockSession, ss.id, ss.inc).Scan(&version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, session.ErrNotFound
		}
		return 0, err
	}
	if expected >= 0 && version != expected {
		var ids []string
		for _, c := range chunks {
			ids = append(ids, c.ids...)
		}
		var stored int
		if err := tx.QueryRow(ctx, ss.s.q.countIDs, ss.id, ids).Scan(&stored); err != nil {
			return 0, err
		}
		if stored != len(ids) {
			return 0, fmt.Errorf("%w: expected version %d, session is at %d", session.ErrConflict, expected, version)
		}
		return version, tx.Commit(ctx) // every message was stored already: a retry
	}
	var inserted, advanced int64
	for _, c := range chunks {
		n, a, err := ss.execLocked(ctx, tx, c)
		if err != nil {
			return 0, err
		}
		inserted, advanced = inserted+n, advanced+a
	}
	if inserted > 0 {
		if err := tx.QueryRow(ctx, ss.s.q.bumpVersion, ss.id, ss.inc).Scan(&version); err != nil {
			return 0, err
		}
		if err := ss.s.record(ctx, tx, session.ChangeAppend, ss.id, advanced, nil); err != nil {
			return 0, err
		}
	}
	return version, tx.Commit(ctx)
}

// execLocked stores one batch inside tx, which holds the session row
// locked, without moving the version, and returns how many messages it
// stored and how far it moved next_seq on; a row it skipped must be a
// message whose id the session holds.
func (ss *pgSession) execLocked(ctx context.Context, tx pgx.Tx, c *batch) (inserted, advanced int64, err error) {
	var fresh int64
	if ss.s.routed() {
		tag, err := tx.Exec(ctx, ss.s.q.routedInsert, ss.id, ss.inc, nil,
			c.ids, c.roles, c.parts, c.models, c.usages, c.created, c.search)
		if err != nil {
			return 0, 0, err
		}
		inserted, fresh = tag.RowsAffected(), int64(c.len())
		var v int64
		if err := tx.QueryRow(ctx, ss.s.q.routedAdvance, ss.id, ss.inc, int64(0), fresh, time.Now().UnixNano()).Scan(&v); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, 0, err
		}
	} else {
		r, err := ss.exec(ctx, tx, c, nil, 0)
		if err != nil {
			return 0, 0, err
		}
		inserted, fresh = r.inserted, r.fresh
	}
	if inserted < fresh {
		if err := ss.checkSkipped(ctx, tx, c.ids); err != nil {
			return 0, 0, err
		}
	}
	if inserted > 0 {
		advanced = fresh // the statement moves next_seq on only when it stores
	}
	return inserted, advanced, nil
}

// ReplaceMessages replaces every message of the session with msgs, in one
// transaction, if the session is still at version expected; otherwise it
// changes nothing and fails with session.ErrConflict. Messages are
// validated and given ids and times as by AddMessages; an id that appears
// twice in msgs is refused with session.ErrInvalidMessage. It returns the
// new version, one more than expected.
func (ss *pgSession) ReplaceMessages(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	if err := ss.s.writable(); err != nil {
		return 0, wrap(ctx, "replace messages of", ss.id, err)
	}
	v, err := ss.replace(ctx, expected, msgs)
	return v, wrap(ctx, "replace messages of", ss.id, err)
}

func (ss *pgSession) replace(ctx context.Context, expected int64, msgs []message.Message) (version int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	chunks, err := ss.encode(msgs, true)
	if err != nil {
		return 0, err
	}
	tx, err := ss.s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer rollbackOnError(ctx, tx, &err)
	if err := ss.s.lockFeed(ctx, tx, ss.id); err != nil {
		return 0, err
	}
	if err := tx.QueryRow(ctx, ss.s.q.lockSession, ss.id, ss.inc).Scan(&version); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, session.ErrNotFound
		}
		return 0, err
	}
	if version != expected {
		return 0, fmt.Errorf("%w: expected version %d, session is at %d", session.ErrConflict, expected, version)
	}
	// Clear (one version step), then append without version steps.
	if err := tx.QueryRow(ctx, ss.s.q.clearSess, ss.id, ss.inc, time.Now().UnixNano()).Scan(&version); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, ss.s.q.clearMsgs, ss.id, ss.inc); err != nil {
		return 0, err
	}
	var advanced int64
	for _, c := range chunks {
		n, a, err := ss.execLocked(ctx, tx, c)
		if err != nil {
			return 0, err
		}
		if n != int64(c.len()) {
			return 0, fmt.Errorf("replace stored %d of %d messages", n, c.len())
		}
		advanced += a
	}
	if err := ss.s.record(ctx, tx, session.ChangeReplace, ss.id, advanced, nil); err != nil {
		return 0, err
	}
	return version, tx.Commit(ctx)
}

// PopMessage removes and returns the newest message, or nil, nil when the
// session is empty. It runs in one transaction: a newest row that cannot be
// decoded is reported with a *session.CorruptError and left in place.
func (ss *pgSession) PopMessage(ctx context.Context) (m *message.Message, err error) {
	if err := ss.s.writable(); err != nil {
		return nil, wrap(ctx, "pop from", ss.id, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, wrap(ctx, "pop from", ss.id, err)
	}
	m, err = ss.pop(ctx)
	return m, wrap(ctx, "pop from", ss.id, err)
}

func (ss *pgSession) pop(ctx context.Context) (_ *message.Message, err error) {
	tx, err := ss.s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer rollbackOnError(ctx, tx, &err)
	b := &pgx.Batch{}
	if ss.s.feedOn() {
		b.Queue(ss.s.q.lockFeed, ss.id) // see feedLock
	}
	b.Queue(ss.s.q.popLock, ss.id, ss.inc)
	b.Queue(ss.s.q.popDelete, ss.id, ss.inc, time.Now().UnixNano())
	br := tx.SendBatch(ctx, b)
	if ss.s.feedOn() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	var one int
	if err := br.QueryRow().Scan(&one); err != nil {
		br.Close()
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, session.ErrNotFound
		}
		return nil, err
	}
	var (
		popped  *message.Message
		seq     int64
		parts   []byte
		usage   []byte
		role    string
		scanErr error
	)
	m := message.Message{}
	scanErr = br.QueryRow().Scan(&seq, &m.ID, &role, &parts, &m.Model, &usage, &m.CreatedAt)
	if err := br.Close(); err != nil {
		return nil, err
	}
	switch {
	case errors.Is(scanErr, pgx.ErrNoRows):
		// Empty: nothing changed.
	case scanErr != nil:
		return nil, scanErr
	default:
		m.Role = message.Role(role)
		if err := ss.decode(&m, seq, parts, usage); err != nil {
			return nil, err
		}
		popped = &m
		if err := ss.s.record(ctx, tx, session.ChangeRemove, ss.id, 0, []string{m.ID}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return popped, nil
}

// Clear removes every message and keeps the session, in one round trip.
func (ss *pgSession) Clear(ctx context.Context) error {
	if err := ss.s.writable(); err != nil {
		return wrap(ctx, "clear", ss.id, err)
	}
	if err := ctx.Err(); err != nil {
		return wrap(ctx, "clear", ss.id, err)
	}
	if ss.s.routed() {
		// Citus commits each statement of a batch by itself outside a
		// transaction block (citus.go, inTx).
		err := ss.s.inTx(ctx, func(b *pgx.Batch) {
			b.Queue(ss.s.q.clearSess, ss.id, ss.inc, time.Now().UnixNano())
			b.Queue(ss.s.q.clearMsgs, ss.id, ss.inc)
		}, func(br pgx.BatchResults) error {
			var v int64
			if err := br.QueryRow().Scan(&v); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return session.ErrNotFound
				}
				return err
			}
			_, err := br.Exec()
			return err
		})
		return wrap(ctx, "clear", ss.id, err)
	}
	b := &pgx.Batch{}
	now := time.Now().UnixNano()
	b.Queue(ss.s.q.lockFeed, ss.id) // see feedLock
	b.Queue(ss.s.q.clearSess, ss.id, ss.inc, now)
	b.Queue(ss.s.q.clearMsgs, ss.id, ss.inc)
	b.Queue(ss.s.q.recordChange, ss.id, string(session.ChangeClear), int64(0), nil, now) // a missing session records nothing
	tok, notify := ss.s.notifier.claim()
	if notify {
		b.Queue(ss.s.q.notifyFeed, ss.s.q.changes)
	}
	br := ss.s.pool.SendBatch(ctx, b)
	var v int64
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&v)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = session.ErrNotFound
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && notify {
		ss.s.notifier.unclaim(tok)
	}
	return wrap(ctx, "clear", ss.id, err)
}
