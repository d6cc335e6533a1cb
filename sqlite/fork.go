package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/convo-dev/convo/session"
)

// Fork creates the session id as a fork of parentID at the message
// atMessageID (see session.Forker): it holds the parent's messages up to and
// including that one ("" for none), and its Info records the parent and the
// fork point.
//
// The fork shares the parent's message bytes instead of copying them
// (schema version 7): one INSERT ... SELECT, in the transaction that creates
// the fork, writes for each inherited message a row of its own with the
// message's id, role, model, usage and created_at, and a reference to the
// row that holds its parts (the parent's, or the one the parent's row
// refers to, so references never chain). No message passes through Go, the
// parts are neither read nor written, and the fork is made from one
// consistent state of the parent. The cost grows with the number of
// messages, not with their size (the package documentation has the
// figures). Reads of the fork take the parts from the rows referred to.
//
// The fork stays independent of its parent: before a row that others refer
// to is deleted (pop, clear, replace, quarantine, delete, owner erasure,
// prune, or another program's DELETE) or has its parts changed in place, a
// trigger hands its parts on to one of the rows referring to it, in the
// same transaction; those are the only writes that pay for sharing. The
// fork's rows enter the full-text index the way appended rows do, at the
// next search or IndexSearch, with the shared text, and a search hit names
// the fork.
func (s *Store) Fork(ctx context.Context, parentID, atMessageID, id string, opts session.CreateOptions) (session.Session, error) {
	fail := func(err error) (session.Session, error) {
		return nil, wrap(fmt.Sprintf("fork %q at %q into", parentID, atMessageID), id, err)
	}
	if err := errors.Join(session.ValidateID(parentID), session.ValidateID(id)); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	meta, err := encodeMetadata(opts.Metadata)
	if err != nil {
		return fail(err)
	}
	inc := newIncarnation()
	err = s.write(ctx, false, func(tx *sql.Tx) error {
		var owner, title string
		var parentMeta sql.NullString
		err := tx.QueryRowContext(ctx, s.q.forkParent, parentID).Scan(&owner, &title, &parentMeta)
		if errors.Is(err, sql.ErrNoRows) {
			return session.ErrNotFound
		}
		if err != nil {
			return err
		}
		var at int64 // the fork point's seq; 0 for none
		if atMessageID != "" {
			err := tx.QueryRowContext(ctx, s.q.forkPoint, parentID, atMessageID).Scan(&at)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: no message %q in %q", session.ErrMessageNotFound, atMessageID, parentID)
			}
			if err != nil {
				return err
			}
		}
		if opts.Owner != "" {
			owner = opts.Owner
		}
		if opts.Title != "" {
			title = opts.Title
		}
		if opts.Metadata == nil && parentMeta.Valid {
			meta = parentMeta.String
		}
		now := time.Now().UnixNano()
		created := now
		if opts.CreatedAt != 0 {
			created = opts.CreatedAt
		}
		if err := execChanging(ctx, tx, session.ErrExists, s.q.forkCreate,
			id, owner, title, meta, created, max(now, created), inc, at+1, parentID, atMessageID); err != nil {
			return err
		}
		if at == 0 {
			return s.record(ctx, tx, session.ChangeCreate, id, 0, nil)
		}
		res, err := tx.ExecContext(ctx, s.q.forkShare, id, parentID, at)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, s.q.forkCount, n, id); err != nil {
			return err
		}
		// The fork's create carries the seqs it starts with, 1..at.
		return s.record(ctx, tx, session.ChangeCreate, id, at, nil)
	})
	if err != nil {
		return fail(err)
	}
	return &sqliteSession{s: s, id: id, inc: inc}, nil
}

// forkLink returns the fork link that o records (session.CreateOptions):
// ParentID, valid, and ForkMessageID only with it.
func forkLink(o session.CreateOptions) (parent, at string, err error) {
	if o.ParentID == "" {
		return "", "", nil
	}
	if err := session.ValidateID(o.ParentID); err != nil {
		return "", "", fmt.Errorf("parent: %w", err)
	}
	return o.ParentID, o.ForkMessageID, nil
}
