package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/convo-dev/convo/session"
)

var _ session.Quarantiner = (*Store)(nil)

// Quarantine moves the message msgID of session id, bytes unchanged, into
// the quarantine table (prefix + "messages_quarantine"), in one
// transaction, and moves the session's version on. See
// session.Quarantiner.
func (s *Store) Quarantine(ctx context.Context, id, msgID, reason string) error {
	if err := session.ValidateID(id); err != nil {
		return wrap("quarantine in", id, err)
	}
	return wrap("quarantine in", id, s.write(ctx, false, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		if err := execChanging(ctx, tx, fmt.Errorf("%w: no message %q", session.ErrNotFound, msgID), s.q.quarantineCopy, now, reason, id, msgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.quarantineDelete, id, msgID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.quarantineTouch, now, id); err != nil {
			return err
		}
		return s.record(ctx, tx, session.ChangeRemove, id, 0, []string{msgID})
	}))
}

// Quarantined lists the rows moved aside from session id, by seq.
func (s *Store) Quarantined(ctx context.Context, id string) ([]session.QuarantinedRow, error) {
	if err := session.ValidateID(id); err != nil {
		return nil, wrap("list quarantined of", id, err)
	}
	out := []session.QuarantinedRow{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.q.exists, id).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return session.ErrNotFound
			}
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q.quarantineList, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := session.QuarantinedRow{SessionID: id}
			if err := rows.Scan(&r.Seq, &r.MessageID, &r.Role, &r.Parts, &r.Model, &r.Usage, &r.CreatedAt, &r.QuarantinedAt, &r.Reason); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("list quarantined of", id, err)
	}
	return out, nil
}
