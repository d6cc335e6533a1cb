package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/convo-dev/convo/session"
)

var (
	_ session.OwnerEraser = (*Store)(nil)
	_ session.Pruner      = (*Store)(nil)
)

// DeleteOwner deletes every session of owner with its messages (and search
// index entries) in one transaction, and reports what it deleted.
func (s *Store) DeleteOwner(ctx context.Context, owner string) (session.DeleteReport, error) {
	if owner == "" {
		return session.DeleteReport{}, errors.New("sqlite: delete owner: empty owner")
	}
	rep, err := s.bulkDelete(ctx, `owner = ?`, []any{owner}, false)
	if err != nil {
		return rep, fmt.Errorf("sqlite: delete owner %q: %w", owner, err)
	}
	return rep, nil
}

// Prune deletes the sessions last updated before q.UpdatedBefore (of
// q.Owner, if set) in one transaction, or with q.DryRun only reports them.
func (s *Store) Prune(ctx context.Context, q session.PruneQuery) (session.DeleteReport, error) {
	if q.UpdatedBefore <= 0 {
		return session.DeleteReport{}, errors.New("sqlite: prune: UpdatedBefore must be set")
	}
	where, args := `updated_at < ?`, []any{q.UpdatedBefore}
	if q.Owner != "" {
		where, args = where+` AND owner = ?`, append(args, q.Owner)
	}
	rep, err := s.bulkDelete(ctx, where, args, q.DryRun)
	if err != nil {
		return rep, fmt.Errorf("sqlite: prune: %w", err)
	}
	return rep, nil
}

// bulkDelete deletes the sessions matching where (a condition on the
// sessions table with bind parameters) and their messages.
func (s *Store) bulkDelete(ctx context.Context, where string, args []any, dryRun bool) (session.DeleteReport, error) {
	var rep session.DeleteReport
	sel := `SELECT id, message_count FROM ` + s.q.sessions + ` WHERE ` + where + ` ORDER BY id`
	collect := func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sel, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			rep.SessionIDs = append(rep.SessionIDs, id)
			rep.Messages += n
		}
		return rows.Err()
	}
	if dryRun {
		return rep, s.read(ctx, collect)
	}
	err := s.write(ctx, false, func(tx *sql.Tx) error {
		// write took the lock: the selection reads a current snapshot and
		// the deletes remove exactly what it reported.
		if err := collect(tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.recordDeletes+where, append([]any{time.Now().UnixNano()}, args...)...); err != nil {
			return err
		}
		// The rows of forks that share parts first, then the others: no
		// statement deletes a row that its trigger hands parts on to (see
		// migrations/0007_shared_forks.sql).
		msgs := `DELETE FROM ` + s.q.messages + ` WHERE session_id IN (SELECT id FROM ` + s.q.sessions + ` WHERE ` + where + `)`
		if _, err := tx.ExecContext(ctx, msgs+` AND src IS NOT NULL`, args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, msgs, args...); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM `+s.q.sessions+` WHERE `+where, args...)
		return err
	})
	if err != nil {
		return session.DeleteReport{}, err
	}
	return rep, nil
}
