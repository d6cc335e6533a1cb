package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/convo-dev/convo/session"
)

var (
	_ session.OwnerEraser = (*Store)(nil)
	_ session.Pruner      = (*Store)(nil)
)

// DeleteOwner deletes every session of owner with its messages (and search
// index entries), and reports what it deleted. It deletes in rounds, each
// its own write transaction of at most about a thousand sessions (and ten
// thousand messages, a session always whole), so that the application's
// writers wait for one round, not for the whole erasure: SQLite has one
// writer at a time, and an erasure of tens of thousands of sessions in one
// transaction held the lock for longer than their busy timeout. It goes on
// until the owner has no session left, sessions created meanwhile
// included. If it fails part way, the rounds that committed stay deleted,
// the report returned with the error lists them, and calling it again
// finishes the erasure (session.OwnerEraser).
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
// q.Owner, if set), in rounds as DeleteOwner does, or with q.DryRun only
// reports them (in one read, which blocks no writer).
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

// The bounds of one round of a bulk deletion (variables for tests). A
// round of a thousand sessions of a few messages each holds the write lock
// for 0.2-0.4 s on a loaded 2-vCPU VM (docs/performance.md, "The CLI on
// a large store").
var (
	bulkRoundSessions = 1000
	bulkRoundMessages = int64(10000)
)

// bulkRoundHook, when set (by tests), is called after each round of a bulk
// deletion commits, with what the round deleted.
var bulkRoundHook func(round session.DeleteReport)

// bulkSelect returns the query that selects a round's sessions: those
// matching where (a condition on the sessions table with bind parameters),
// found through the index that serves where (no ORDER BY, which would make
// SQLite walk the table in id order past every session that does not
// match, again in every round), at most bulkRoundSessions of them.
func (s *Store) bulkSelect(where string) string {
	return `SELECT id, message_count FROM ` + s.q.sessions + ` WHERE ` + where + ` LIMIT ?`
}

// bulkDelete deletes the sessions matching where (a condition on the
// sessions table with bind parameters) and their messages, in rounds (see
// DeleteOwner); with dryRun it only reports them. On an error it returns,
// with it, what the rounds that committed deleted.
func (s *Store) bulkDelete(ctx context.Context, where string, args []any, dryRun bool) (session.DeleteReport, error) {
	var rep session.DeleteReport
	if dryRun {
		err := s.read(ctx, func(tx *sql.Tx) error {
			rep = session.DeleteReport{}
			rows, err := tx.QueryContext(ctx, `SELECT id, message_count FROM `+s.q.sessions+` WHERE `+where, args...)
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
		})
		slices.Sort(rep.SessionIDs)
		return rep, err
	}
	sel := s.bulkSelect(where)
	for {
		var round session.DeleteReport
		err := s.write(ctx, false, func(tx *sql.Tx) error {
			// write took the lock: the selection reads a current snapshot
			// and the deletes remove exactly what it reported.
			round = session.DeleteReport{}
			rows, err := tx.QueryContext(ctx, sel, append(slices.Clip(args), bulkRoundSessions)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				var n int64
				if err := rows.Scan(&id, &n); err != nil {
					rows.Close()
					return err
				}
				// A session goes whole; the round stops before the one
				// that would take it past bulkRoundMessages.
				if len(round.SessionIDs) > 0 && round.Messages+n > bulkRoundMessages {
					break
				}
				round.SessionIDs = append(round.SessionIDs, id)
				round.Messages += n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(round.SessionIDs) == 0 {
				return nil
			}
			in := `(?` + strings.Repeat(`, ?`, len(round.SessionIDs)-1) + `)`
			ids := make([]any, len(round.SessionIDs))
			for i, id := range round.SessionIDs {
				ids[i] = id
			}
			if _, err := tx.ExecContext(ctx, s.q.recordDeletes+`id IN `+in, append([]any{time.Now().UnixNano()}, ids...)...); err != nil {
				return err
			}
			// The rows of forks that share parts first, then the others: no
			// statement deletes a row that its trigger hands parts on to (see
			// migrations/0007_shared_forks.sql).
			msgs := `DELETE FROM ` + s.q.messages + ` WHERE session_id IN ` + in
			if _, err := tx.ExecContext(ctx, msgs+` AND src IS NOT NULL`, ids...); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, msgs, ids...); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM `+s.q.sessions+` WHERE id IN `+in, ids...)
			return err
		})
		if err != nil {
			slices.Sort(rep.SessionIDs)
			return rep, err
		}
		if len(round.SessionIDs) == 0 {
			break
		}
		rep.SessionIDs = append(rep.SessionIDs, round.SessionIDs...)
		rep.Messages += round.Messages
		if bulkRoundHook != nil {
			bulkRoundHook(round)
		}
	}
	slices.Sort(rep.SessionIDs)
	return rep, nil
}
