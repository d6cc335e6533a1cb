package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convo-dev/convo/session"
)

var _ session.Quarantiner = (*Store)(nil)

// Quarantine moves the message msgID of session id, bytes unchanged, into
// the quarantine table (prefix + "messages_quarantine"), in one statement,
// and moves the session's version on. See session.Quarantiner.
func (s *Store) Quarantine(ctx context.Context, id, msgID, reason string) error {
	if err := s.writable(); err != nil {
		return wrap(ctx, "quarantine in", id, err)
	}
	if err := checkID(ctx, id); err != nil {
		return wrap(ctx, "quarantine in", id, err)
	}
	var n int
	var err error
	if s.feedOn() {
		n, err = s.quarantineFeed(ctx, id, msgID, reason)
	} else {
		err = s.pool.QueryRow(ctx, s.q.quarantine1, id, msgID, time.Now().UnixNano(), reason).Scan(&n)
	}
	if err != nil {
		return wrap(ctx, "quarantine in", id, err)
	}
	if n == 0 {
		return wrap(ctx, "quarantine in", id, fmt.Errorf("%w: no message %q", session.ErrNotFound, msgID))
	}
	return nil
}

// Quarantined lists the rows moved aside from session id, by seq.
func (s *Store) Quarantined(ctx context.Context, id string) ([]session.QuarantinedRow, error) {
	if err := checkID(ctx, id); err != nil {
		return nil, wrap(ctx, "list quarantined of", id, err)
	}
	var found bool
	if err := s.pool.QueryRow(ctx, s.q.exists, id).Scan(&found); err != nil {
		return nil, wrap(ctx, "list quarantined of", id, err)
	}
	if !found {
		return nil, wrap(ctx, "list quarantined of", id, session.ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, s.q.quarantineList, id)
	if err != nil {
		return nil, wrap(ctx, "list quarantined of", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (session.QuarantinedRow, error) {
		q := session.QuarantinedRow{SessionID: id}
		err := r.Scan(&q.Seq, &q.MessageID, &q.Role, &q.Parts, &q.Model, &q.Usage, &q.CreatedAt, &q.QuarantinedAt, &q.Reason)
		return q, err
	})
	if err != nil {
		return nil, wrap(ctx, "list quarantined of", id, err)
	}
	if out == nil {
		out = []session.QuarantinedRow{}
	}
	return out, nil
}

// quarantineFeed is quarantine1 in a transaction that locks the session row
// first (so that its xid orders it after the writes before it, see
// migrations/0006_changes.sql) and records the removal in the feed.
func (s *Store) quarantineFeed(ctx context.Context, id, msgID, reason string) (n int, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer rollbackOnError(ctx, tx, &err)
	if err := s.lockFeed(ctx, tx, id); err != nil {
		return 0, err
	}
	var one int
	if err := tx.QueryRow(ctx, s.q.lockSessionRow, id).Scan(&one); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, tx.Commit(ctx)
		}
		return 0, err
	}
	if err := tx.QueryRow(ctx, s.q.quarantine1, id, msgID, time.Now().UnixNano(), reason).Scan(&n); err != nil {
		return 0, err
	}
	if n > 0 {
		if err := s.record(ctx, tx, session.ChangeRemove, id, 0, []string{msgID}); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit(ctx)
}
