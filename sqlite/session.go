package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// sqliteSession is a handle on one session. It remembers the incarnation of
// the session it was opened on, so that a handle from before a Delete (and a
// re-Create of the same id) reports session.ErrNotFound instead of writing
// into the new session.
type sqliteSession struct {
	s   *Store
	id  string
	inc int64
}

func (ss *sqliteSession) ID() string { return ss.id }

func (ss *sqliteSession) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, _, err := ss.snapshot(ctx, limit)
	return msgs, wrap("get messages of", ss.id, err)
}

// Snapshot returns what GetMessages returns, together with the session's
// version, read in one transaction.
func (ss *sqliteSession) Snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	msgs, v, err := ss.snapshot(ctx, limit)
	return msgs, v, wrap("snapshot", ss.id, err)
}

func (ss *sqliteSession) snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	msgs := []message.Message{} // never nil: an empty read is [], not null
	var version int64
	err := ss.s.read(ctx, func(tx *sql.Tx) error {
		if err := ss.s.queryRow(ctx, tx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&version); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return session.ErrNotFound
			}
			return err
		}
		var rows *sql.Rows
		var err error
		switch {
		case limit == nil || *limit < 0:
			rows, err = ss.s.query(ctx, tx, ss.s.q.all, ss.id)
		case *limit == 0:
			return nil
		default:
			rows, err = ss.s.query(ctx, tx, ss.s.q.lastN, ss.id, *limit)
		}
		if err != nil {
			return err
		}
		msgs, err = ss.scanMessages(rows)
		if err != nil {
			return err
		}
		if limit != nil && *limit > 0 {
			for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
				msgs[i], msgs[j] = msgs[j], msgs[i]
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return msgs, version, nil
}

// Range returns the stretch of the history q selects, oldest first, with
// each message's Seq (see session.Ranger), in one read transaction. It reads
// only the stretch's rows, by the (session_id, seq) key.
func (ss *sqliteSession) Range(ctx context.Context, q session.RangeQuery) ([]session.Entry, error) {
	after, before, limit := q.RangeBounds()
	query := ss.s.q.rangeAsc
	if q.Newest {
		query = ss.s.q.rangeDesc
	}
	out := []session.Entry{}
	err := ss.s.read(ctx, func(tx *sql.Tx) error {
		var version int64
		if err := ss.s.queryRow(ctx, tx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&version); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return session.ErrNotFound
			}
			return err
		}
		rows, err := ss.s.query(ctx, tx, query, ss.id, after, before, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		var parts, usage sql.RawBytes // valid until the next Next: decoded at once
		for rows.Next() {
			var e session.Entry
			var role string
			if err := rows.Scan(&e.Seq, &e.Message.ID, &role, &parts, &e.Message.Model, &usage, &e.Message.CreatedAt); err != nil {
				return err
			}
			if err := ss.decode(&e.Message, e.Seq, role, parts, usage); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("range of", ss.id, err)
	}
	if q.Newest {
		slices.Reverse(out)
	}
	return out, nil
}

func (ss *sqliteSession) scanMessages(rows *sql.Rows) ([]message.Message, error) {
	defer rows.Close()
	msgs := []message.Message{}
	var parts, usage sql.RawBytes // valid until the next Next: decoded at once
	for rows.Next() {
		var m message.Message
		var seq int64
		var role string
		if err := rows.Scan(&seq, &m.ID, &role, &parts, &m.Model, &usage, &m.CreatedAt); err != nil {
			return nil, err
		}
		if err := ss.decode(&m, seq, role, parts, usage); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

func (ss *sqliteSession) scanRow(r *sql.Row) (message.Message, error) {
	var m message.Message
	var seq int64
	var role string
	var parts, usage []byte
	if err := r.Scan(&seq, &m.ID, &role, &parts, &m.Model, &usage, &m.CreatedAt); err != nil {
		return m, err
	}
	return m, ss.decode(&m, seq, role, parts, usage)
}

func (ss *sqliteSession) decode(m *message.Message, seq int64, role string, parts, usage []byte) error {
	m.Role = message.Role(role)
	var err error
	if m.Parts, err = message.UnmarshalParts(parts); err != nil {
		return &session.CorruptError{SessionID: ss.id, Seq: seq, MessageID: m.ID, Err: err}
	}
	if m.Usage, err = message.UnmarshalUsage(usage); err != nil {
		return &session.CorruptError{SessionID: ss.id, Seq: seq, MessageID: m.ID, Err: err}
	}
	return nil
}

func (ss *sqliteSession) AddMessages(ctx context.Context, msgs []message.Message) error {
	_, err := ss.add(ctx, msgs, -1)
	return wrap("append to", ss.id, err)
}

// AddMessagesAt appends msgs only if the session is still at version
// expected, else fails with session.ErrConflict and stores nothing.
func (ss *sqliteSession) AddMessagesAt(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	if expected < 0 {
		return 0, wrap("append to", ss.id, fmt.Errorf("%w: negative expected version %d", session.ErrConflict, expected))
	}
	v, err := ss.add(ctx, msgs, expected)
	return v, wrap("append to", ss.id, err)
}

// encoded is a message's parts and usage as the JSON text the store
// writes; usage is empty when the message has none.
type encoded struct {
	parts string
	usage string
}

// text returns b as a string without copying it. b must not change
// afterwards: it is used only on buffers the encoder has just returned,
// which nothing else holds (an append spared four copies of about 1 KB).
func text(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// encode validates and encodes msgs, then fills in missing IDs and times in
// the caller's slice, so that a caller who lost the answer can retry with
// the very same messages.
func (ss *sqliteSession) encode(msgs []message.Message) ([]encoded, error) {
	enc := make([]encoded, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", session.ErrInvalidMessage, i, err)
		}
		p, err := message.MarshalParts(m.Parts)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %v", session.ErrInvalidMessage, i, err)
		}
		if len(p) > ss.s.opts.maxMessageBytes {
			return nil, fmt.Errorf("%w: message %d is %d bytes encoded, the limit is %d", session.ErrTooLarge, i, len(p), ss.s.opts.maxMessageBytes)
		}
		u, err := message.MarshalUsage(m.Usage)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d usage: %v", session.ErrInvalidMessage, i, err)
		}
		enc[i] = encoded{parts: text(p), usage: text(u)}
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
	return enc, nil
}

// add appends msgs; expected < 0 means no version check. It returns the
// session's version after the call.
func (ss *sqliteSession) add(ctx context.Context, msgs []message.Message, expected int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if ss.s.opts.readOnly {
		return 0, errReadOnly
	}
	enc, err := ss.encode(msgs)
	if err != nil {
		return 0, err
	}
	msgs, enc = firstOfEachID(msgs, enc)
	if len(msgs) == 0 {
		// Nothing to store (so no conflict either: every message of the
		// call is stored), but a deleted session is still reported.
		_, v, err := ss.snapshot(ctx, session.Limit(0))
		return v, err
	}
	var version int64
	// A turn's INSERT is prepared on every connection, so it can take the
	// write lock itself; a larger batch's is prepared in the transaction.
	firstPrepared := len(msgs) <= preparedBatchSizes
	err = ss.s.write(ctx, firstPrepared, func(tx *sql.Tx) error {
		version = 0
		changed := false
		var advanced int64 // seqs handed out, for the feed's record
		for start := 0; start < len(msgs); start += maxInsertRows {
			end := min(start+maxInsertRows, len(msgs))
			exp := expected
			if changed {
				exp = -1 // this call moved the version on; it was checked
			}
			n, err := ss.insertChunk(ctx, tx, msgs[start:end], enc[start:end], exp)
			if err != nil {
				return err
			}
			if n < end-start {
				// Some rows did not go in: their ids are stored already
				// (a retry), or the session is gone or has moved on. Tell
				// which, and never let a row go missing for another reason.
				v, err := ss.explainShortInsert(ctx, tx, msgs[start:end], exp, n)
				if n == 0 {
					version = v
					if errors.Is(err, errNoChange) {
						continue // a retried chunk: already stored
					}
				}
				if err != nil {
					return err
				}
			}
			// The version moves on once per call, however many chunks it
			// takes, as in the other stores.
			step := 1
			if changed {
				step = 0
			}
			if _, err := ss.s.exec(ctx, tx, ss.s.q.touchNoReturn, end-start, step, n, time.Now().UnixNano(), ss.id, ss.inc); err != nil {
				return err
			}
			advanced += int64(end - start)
			if exp >= 0 {
				// The insert checked the session was at exp; the touch moved
				// it on by one. (RETURNING would cost a quarter of an append.)
				version = exp + 1
			} else {
				version += int64(step)
			}
			changed = true
		}
		if !changed {
			return errNoChange
		}
		return ss.s.record(ctx, tx, session.ChangeAppend, ss.id, advanced, nil)
	})
	if errors.Is(err, errNoChange) {
		return version, nil
	}
	return version, err
}

// firstOfEachID drops the messages whose ID an earlier message of the same
// call has: the first wins, as for an ID the session already holds.
func firstOfEachID(msgs []message.Message, enc []encoded) ([]message.Message, []encoded) {
	if len(msgs) < 2 {
		return msgs, enc
	}
	seen := make(map[string]bool, len(msgs))
	var outM []message.Message
	var outE []encoded
	for i := range msgs {
		if seen[msgs[i].ID] {
			if outM == nil {
				outM, outE = append([]message.Message{}, msgs[:i]...), append([]encoded{}, enc[:i]...)
			}
			continue
		}
		seen[msgs[i].ID] = true
		if outM != nil {
			outM, outE = append(outM, msgs[i]), append(outE, enc[i])
		}
	}
	if outM == nil {
		return msgs, enc
	}
	return outM, outE
}

// errNoChange ends a write transaction that had nothing to do.
var errNoChange = errors.New("no change")

func (ss *sqliteSession) insertChunk(ctx context.Context, tx *sql.Tx, msgs []message.Message, enc []encoded, expected int64) (int, error) {
	check := expected >= 0
	args := make([]any, 0, 7*len(msgs)+3)
	for i := range msgs {
		var usage any
		if enc[i].usage != "" {
			usage = enc[i].usage
		}
		args = append(args, int64(i), msgs[i].ID, string(msgs[i].Role), enc[i].parts, msgs[i].Model, usage, msgs[i].CreatedAt)
	}
	args = append(args, ss.id, ss.inc)
	if check {
		args = append(args, expected)
	}
	res, err := ss.s.exec(ctx, tx, ss.s.q.insertSQL(len(msgs), check), args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// explainShortInsert runs when a batch inserted fewer rows than it was given
// (inserted of len(msgs)), inside its (write) transaction. The INSERT skips
// rows silently (OR IGNORE, which spares SQLite a statement journal), so
// this is where a row skipped for any reason but an id the session already
// holds becomes an error. With nothing inserted, it reports a gone session
// (session.ErrNotFound), a version that moved on (session.ErrConflict) or a
// retry of a stored call (errNoChange); with some rows inserted it returns
// nil when every skipped row's id is stored.
func (ss *sqliteSession) explainShortInsert(ctx context.Context, tx *sql.Tx, msgs []message.Message, expected int64, inserted int) (version int64, err error) {
	if inserted == 0 {
		if err := ss.s.queryRow(ctx, tx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&version); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return 0, session.ErrNotFound
			}
			return 0, err
		}
	}
	ids := make([]any, 0, 1+len(msgs))
	ids = append(ids, ss.id)
	for _, m := range msgs {
		ids = append(ids, m.ID) // add removed duplicate ids beforehand
	}
	rows, err := tx.QueryContext(ctx, ss.s.q.existingIDsSQL(len(ids)-1), ids...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		found++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	switch {
	case found == len(msgs) && inserted == 0:
		return version, errNoChange // a retry of a stored call: success
	case found == len(msgs):
		return version, nil // the skipped rows were stored before
	case inserted == 0 && expected >= 0 && version != expected:
		return version, fmt.Errorf("%w: expected version %d, session is at %d", session.ErrConflict, expected, version)
	}
	return version, fmt.Errorf("sqlite: internal error: %d of %d messages were neither stored nor already present", len(msgs)-found, len(msgs))
}

// PopMessage removes and returns the newest message. A newest row that
// cannot be decoded is reported with a *session.CorruptError and left in
// place, like every failed call.
func (ss *sqliteSession) PopMessage(ctx context.Context) (*message.Message, error) {
	var popped *message.Message
	err := ss.s.write(ctx, false, func(tx *sql.Tx) error {
		m, err := ss.scanRow(tx.QueryRowContext(ctx, ss.s.q.popDelete, ss.id, ss.inc))
		if errors.Is(err, sql.ErrNoRows) {
			var v int64
			err := ss.s.queryRow(ctx, tx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return session.ErrNotFound
			}
			if err != nil {
				return err
			}
			return errNoChange // empty
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, ss.s.q.popTouch, time.Now().UnixNano(), ss.id, ss.inc); err != nil {
			return err
		}
		popped = &m
		return ss.s.record(ctx, tx, session.ChangeRemove, ss.id, 0, []string{m.ID})
	})
	if errors.Is(err, errNoChange) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("pop from", ss.id, err)
	}
	return popped, nil
}

func (ss *sqliteSession) Clear(ctx context.Context) error {
	return wrap("clear", ss.id, ss.s.write(ctx, false, func(tx *sql.Tx) error {
		if err := execChanging(ctx, tx, session.ErrNotFound, ss.s.q.clearSess, time.Now().UnixNano(), ss.id, ss.inc); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, ss.s.q.clearMsgs, ss.id); err != nil {
			return err
		}
		return ss.s.record(ctx, tx, session.ChangeClear, ss.id, 0, nil)
	}))
}

// ReplaceMessages replaces every message of the session with msgs in one
// transaction, if the session is still at version expected; otherwise it
// changes nothing and fails with session.ErrConflict.
func (ss *sqliteSession) ReplaceMessages(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	v, err := ss.replace(ctx, expected, msgs)
	return v, wrap("replace messages of", ss.id, err)
}

func (ss *sqliteSession) replace(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	ids := make(map[string]bool, len(msgs))
	for i, m := range msgs {
		if m.ID != "" && ids[m.ID] {
			return 0, fmt.Errorf("%w: message id %q appears twice", session.ErrInvalidMessage, m.ID)
		}
		ids[msgs[i].ID] = true
	}
	enc, err := ss.encode(msgs)
	if err != nil {
		return 0, err
	}
	var version int64
	err = ss.s.write(ctx, false, func(tx *sql.Tx) error {
		// The version check is the first statement and a write: it takes
		// the lock, and touches the session only if it is current.
		res, err := tx.ExecContext(ctx, ss.s.q.replaceSess, time.Now().UnixNano(), ss.id, ss.inc, expected)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			v, err := ss.currentVersion(ctx, tx)
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: expected version %d, session is at %d", session.ErrConflict, expected, v)
		}
		if _, err := tx.ExecContext(ctx, ss.s.q.clearMsgs, ss.id); err != nil {
			return err
		}
		for start := 0; start < len(msgs); start += maxInsertRows {
			end := min(start+maxInsertRows, len(msgs))
			n, err := ss.insertChunk(ctx, tx, msgs[start:end], enc[start:end], -1)
			if err != nil {
				return err
			}
			if n != end-start {
				return fmt.Errorf("sqlite: internal error: replace stored %d of %d messages", n, end-start)
			}
			if err := ss.s.queryRow(ctx, tx, ss.s.q.touchAfterInsert, end-start, 0, n, time.Now().UnixNano(), ss.id, ss.inc).Scan(&version); err != nil {
				return err
			}
		}
		// A replace is one change.
		if err := tx.QueryRowContext(ctx, ss.s.q.setVersion, expected+1, ss.id, ss.inc).Scan(&version); err != nil {
			return err
		}
		return ss.s.record(ctx, tx, session.ChangeReplace, ss.id, int64(len(msgs)), nil)
	})
	return version, err
}

func (ss *sqliteSession) currentVersion(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v int64
	err := ss.s.queryRow(ctx, tx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, session.ErrNotFound
	}
	return v, err
}
