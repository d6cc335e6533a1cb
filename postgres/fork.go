package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convo-dev/convo/session"
)

var _ session.Forker = (*Store)(nil)

// Fork creates the session id as a fork of parentID at the message
// atMessageID (see session.Forker): it holds the parent's messages up to and
// including that one ("" for none), and its Info records the parent and the
// fork point.
//
// The fork shares the messages' bytes (schema version 8,
// migrations/0008_fork_sharing.sql): one INSERT ... SELECT, in the
// transaction that creates the fork, copies each inherited row's header
// (id, seq, role, model, usage, time) with the name of the session whose
// row at that seq owns the parts and search terms, the parent's or the one
// the parent's row borrows from; nothing passes through Go or the network,
// nothing is re-tokenised, and no fork borrows from a borrower, so a read
// takes one index probe per inherited row it returns. The parent's row is
// locked (and marked as lent) meanwhile, so the fork is made from one
// state of the parent, and the parent's writers and other forks of it
// wait for the fork; so are (FOR SHARE) the rows of the sessions whose
// bytes the parent's rows borrow, whose pops, clears, quarantines and
// deletes wait for the fork too, or the fork for them. The fork costs in proportion to the number of rows
// inherited, not their size; whatever removes a row that forks borrow
// from (pop, clear, replace, quarantine, delete, owner erasure, prune)
// first copies its bytes into them, in its own transaction. A fork that
// PostgreSQL aborts as a deadlock victim runs again, as appends do. The
// package documentation has the figures.
//
// With WithCitus, parent and fork may live on different nodes, and a row
// may not borrow from another shard: the fork copies the rows, bytes and
// search terms included, and Citus moves them through the coordinator.
func (s *Store) Fork(ctx context.Context, parentID, atMessageID, id string, opts session.CreateOptions) (session.Session, error) {
	op := fmt.Sprintf("fork %q at %q into", parentID, atMessageID)
	if err := s.writable(); err != nil {
		return nil, wrap(ctx, op, id, err)
	}
	if err := errors.Join(checkID(ctx, parentID), session.ValidateID(id)); err != nil {
		return nil, wrap(ctx, op, id, err)
	}
	if err := errors.Join(storable("owner", opts.Owner), storable("title", opts.Title), storable("message id", atMessageID)); err != nil {
		return nil, wrap(ctx, op, id, err)
	}
	meta, err := encodeMetadata(opts.Metadata)
	if err != nil {
		return nil, wrap(ctx, op, id, err)
	}
	// A fork locks sessions, then reads messages, as appends do; a
	// deadlock with a writer that locks them in the other order (DDL run
	// outside the store) or with the bytes' hand-over of a concurrent
	// delete aborts the whole transaction, which then runs again.
	var inc int64
	err = retryDeadlock(ctx, func() (err error) {
		inc, err = s.fork(ctx, parentID, atMessageID, id, opts, meta)
		return err
	})
	if err != nil {
		return nil, wrap(ctx, op, id, err)
	}
	return &pgSession{s: s, id: id, inc: inc}, nil
}

func (s *Store) fork(ctx context.Context, parentID, atMessageID, id string, opts session.CreateOptions, meta *string) (inc int64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer rollbackOnError(ctx, tx, &err)
	// The fork's create is a change of id (and so follows the delete of
	// an earlier session id), and forkParent's row lock gives tx its xid.
	if err := s.lockFeed(ctx, tx, id); err != nil {
		return 0, err
	}
	var owner, title string
	var parentMeta *string
	err = tx.QueryRow(ctx, s.q.forkParent, parentID).Scan(&owner, &title, &parentMeta)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, session.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	var at int64 // the fork point's seq; 0 for none
	if atMessageID != "" {
		err := tx.QueryRow(ctx, s.q.forkPoint, parentID, atMessageID).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("%w: no message %q in %q", session.ErrMessageNotFound, atMessageID, parentID)
		}
		if err != nil {
			return 0, err
		}
	}
	if opts.Owner != "" {
		owner = opts.Owner
	}
	if opts.Title != "" {
		title = opts.Title
	}
	if opts.Metadata == nil {
		meta = parentMeta
	}
	err = tx.QueryRow(ctx, s.q.forkCreate, id, owner, title, meta, time.Now().UnixNano(), newIncarnation(), opts.CreatedAt,
		at+1, parentID, atMessageID).Scan(&inc)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, session.ErrExists
	}
	if err != nil {
		return 0, err
	}
	if at > 0 && s.q.forkLockOwners != "" {
		if _, err := tx.Exec(ctx, s.q.forkLockOwners, parentID, at); err != nil {
			return 0, err
		}
	}
	if at > 0 {
		tag, err := tx.Exec(ctx, s.q.forkCopy, id, parentID, at)
		if err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, s.q.forkCount, id, tag.RowsAffected()); err != nil {
			return 0, err
		}
	}
	// The fork's create carries the seqs it starts with, 1..at.
	if err := s.record(ctx, tx, session.ChangeCreate, id, at, nil); err != nil {
		return 0, err
	}
	return inc, tx.Commit(ctx)
}

// forkLink returns the fork link that o records (session.CreateOptions):
// ParentID, valid, and ForkMessageID only with it, both storable as text.
func forkLink(o session.CreateOptions) (parent, at string, err error) {
	if o.ParentID == "" {
		return "", "", nil
	}
	if err := session.ValidateID(o.ParentID); err != nil {
		return "", "", fmt.Errorf("parent: %w", err)
	}
	if err := storable("fork message id", o.ForkMessageID); err != nil {
		return "", "", err
	}
	return o.ParentID, o.ForkMessageID, nil
}
