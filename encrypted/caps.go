package encrypted

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// The optional capabilities, each added to the wrapper (combos.go) only
// when the inner store has it. Each calls the inner store: listing, owners,
// titles and metadata, retention and quarantine work on clear fields.

type opener struct{ b *base }

// Open loads or creates the session id in one atomic step of the inner
// store.
func (o opener) Open(ctx context.Context, id string) (session.Session, error) {
	s, err := o.b.inner.(session.Opener).Open(ctx, id)
	if err != nil {
		return nil, err
	}
	return o.b.wrapSession(s, "", false), nil
}

type describer struct{ b *base }

// CreateWith creates a session with an owner and info. The owner's data key
// encrypts its messages (the session's own key without owner, or under
// WithPerSessionKeys). Title and metadata are stored in the clear.
func (d describer) CreateWith(ctx context.Context, id string, opts session.CreateOptions) (session.Session, error) {
	s, err := d.b.desc.CreateWith(ctx, id, opts)
	if err != nil {
		return nil, err
	}
	return d.b.wrapSession(s, d.b.keyIDFor(id, opts.Owner), true), nil
}

// Info describes the session id (clear fields only).
func (d describer) Info(ctx context.Context, id string) (session.Info, error) {
	return d.b.desc.Info(ctx, id)
}

// UpdateInfo changes the title or metadata of the session id, in the clear.
func (d describer) UpdateInfo(ctx context.Context, id string, u session.InfoUpdate) error {
	return d.b.desc.UpdateInfo(ctx, id, u)
}

type lister struct{ b *base }

// List lists sessions of the inner store.
func (l lister) List(ctx context.Context, q session.ListQuery) (session.ListPage, error) {
	return l.b.inner.(session.Lister).List(ctx, q)
}

type ownerEraser struct{ b *base }

// DeleteOwner deletes every session of owner from the inner store, then
// destroys the owner's data keys (the versions that existed when it
// started) and, under WithPerSessionKeys, the keys of the deleted sessions:
// the owner's messages are then unreadable in every copy of the store.
func (e ownerEraser) DeleteOwner(ctx context.Context, owner string) (session.DeleteReport, error) {
	if err := ctx.Err(); err != nil {
		return session.DeleteReport{}, fmt.Errorf("encrypted: delete owner %q: %w", owner, err)
	}
	if owner == "" {
		return session.DeleteReport{}, errors.New("encrypted: delete owner: empty owner")
	}
	kid := ownerKeyID(owner)
	through, err := e.b.latestVersion(ctx, kid)
	if err != nil {
		return session.DeleteReport{}, fmt.Errorf("encrypted: delete owner %q: %w", owner, err)
	}
	r, err := e.b.inner.(session.OwnerEraser).DeleteOwner(ctx, owner)
	if err != nil {
		return r, err
	}
	if through > 0 {
		if _, err := e.b.destroy(ctx, kid, through); err != nil {
			return r, fmt.Errorf("encrypted: delete owner %q: sessions deleted, keys not destroyed: %w", owner, err)
		}
	}
	if _, err := e.b.destroyPrefix(ctx, copyPrefix(kid)); err != nil {
		return r, fmt.Errorf("encrypted: delete owner %q: sessions deleted, keys not destroyed: %w", owner, err)
	}
	return r, e.b.destroySessions(ctx, r.SessionIDs)
}

// destroySessions destroys the per-session keys of deleted sessions.
func (b *base) destroySessions(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if _, err := b.destroyScope(ctx, sessionKeyID(id), math.MaxInt64); err != nil {
			return fmt.Errorf("encrypted: session %q deleted, key not destroyed: %w", id, err)
		}
	}
	return nil
}

type pruner struct{ b *base }

// Prune deletes idle sessions from the inner store, then (unless DryRun)
// destroys their per-session data keys. Owner keys stay: other sessions of
// the owner use them.
func (p pruner) Prune(ctx context.Context, q session.PruneQuery) (session.DeleteReport, error) {
	r, err := p.b.inner.(session.Pruner).Prune(ctx, q)
	if err != nil || q.DryRun {
		return r, err
	}
	return r, p.b.destroySessions(ctx, r.SessionIDs)
}

type importer struct{ b *base }

// SetUpdatedAt sets the UpdatedAt of the session id in the inner store.
func (i importer) SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error {
	return i.b.inner.(session.Importer).SetUpdatedAt(ctx, id, updatedAt)
}

type quarantiner struct{ b *base }

// Quarantine moves the message msgID of session id aside in the inner
// store (a row that cannot be decrypted, named by a *session.CorruptError).
func (q quarantiner) Quarantine(ctx context.Context, id, msgID, reason string) error {
	return q.b.inner.(session.Quarantiner).Quarantine(ctx, id, msgID, reason)
}

// Quarantined lists the rows moved aside from session id. A row that can
// still be decrypted comes back with its clear parts (in the JSON encoding
// of package message); one that cannot (the usual reason it was moved)
// comes back byte for byte as stored.
func (q quarantiner) Quarantined(ctx context.Context, id string) ([]session.QuarantinedRow, error) {
	rows, err := q.b.inner.(session.Quarantiner).Quarantined(ctx, id)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		parts, err := message.UnmarshalParts(r.Parts)
		if err != nil {
			continue
		}
		m, err := q.b.openMessage(ctx, id, message.Message{ID: r.MessageID, Role: message.Role(r.Role), Model: r.Model, CreatedAt: r.CreatedAt, Parts: parts}, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("encrypted: quarantined of %q: %w", id, ctx.Err())
			}
			continue
		}
		if clear, err := message.MarshalParts(m.Parts); err == nil {
			rows[i].Parts = clear
		}
	}
	return rows, nil
}

type forker struct{ b *base }

// Fork forks the session parentID at atMessageID in the inner store (see
// session.Forker). The inner store copies or shares the parent's rows as
// they are, sealed in the parent (or further up); the fork reads them
// because those sessions are its ancestors. Fork then gives the fork its
// own copy of each data key its inherited rows use (wrapped under the
// current KEK), so that erasing the owner of an ancestor, or deleting an
// ancestor, leaves the fork readable, and erasing the fork's owner (or
// deleting a fork without owner) destroys those copies. This reads the
// fork's rows once (no decryption). On an error, the fork is deleted
// again.
func (f forker) Fork(ctx context.Context, parentID, atMessageID, id string, opts session.CreateOptions) (session.Session, error) {
	s, err := f.b.inner.(session.Forker).Fork(ctx, parentID, atMessageID, id, opts)
	if err != nil {
		return nil, err
	}
	if err := f.copyKeys(ctx, parentID, s); err != nil {
		dctx := context.WithoutCancel(ctx)
		if derr := f.b.inner.Delete(dctx, id); derr != nil {
			err = errors.Join(err, fmt.Errorf("and deleting the fork again: %w", derr))
		}
		return nil, fmt.Errorf("encrypted: fork %q of %q: %w", id, parentID, err)
	}
	return f.b.wrapSession(s, "", false), nil
}

// copyKeys gives the fork s of parentID its copies of the data keys of its
// rows.
func (f forker) copyKeys(ctx context.Context, parentID string, s session.Session) error {
	if f.b.desc == nil {
		return nil
	}
	msgs, err := s.GetMessages(ctx, nil)
	if err != nil || len(msgs) == 0 {
		return err
	}
	var forkLin, parentLin lineage
	if err := forkLin.load(ctx, f.b, s.ID()); err != nil {
		return err
	}
	if err := parentLin.load(ctx, f.b, parentID); err != nil {
		return err
	}
	type use struct {
		origin, key string
		version     int64
	}
	done := map[use]bool{}
	for _, m := range msgs {
		env, ok, err := parseEnvelope(m)
		if err != nil || !ok {
			continue // read errors are the reader's to report
		}
		u := use{env.origin, env.key, env.version}
		if done[u] || env.key == forkLin.scope {
			continue
		}
		done[u] = true
		src := env.key
		if env.origin != parentID && parentLin.scope != "" {
			// A row the parent inherited: the parent's copy, if it has one.
			pc := copyKeyID(parentLin.scope, parentID, env.key)
			if _, err := f.b.keys.Get(ctx, pc, env.version); err == nil {
				src = pc
			} else if !errors.Is(err, ErrKeyNotFound) {
				return err
			}
		}
		err = f.b.copyKey(ctx, src, copyKeyID(forkLin.scope, s.ID(), env.key), env.version)
		switch {
		case errors.Is(err, errKeyGone) && env.origin == parentID:
			// The parent's own key went after the inner store made the
			// fork: the parent was deleted (or its owner erased)
			// meanwhile, and the rows it sealed could no longer be read.
			// The fork fails (and is deleted again) rather than exist
			// unreadable.
			return fmt.Errorf("%w: %q was deleted while it was forked (its data key %q is gone)", session.ErrNotFound, parentID, env.key)
		case errors.Is(err, errKeyGone):
			// A row the parent inherited from an ancestor whose key was
			// destroyed before: unreadable in the parent too; nothing to
			// copy.
		case err != nil:
			return err
		}
	}
	return nil
}

type watcher struct{ b *base }

// Watch delivers the inner store's changes with their messages decrypted.
// A change holding a message that cannot be decrypted comes with the error
// (a *KeyError or *session.CorruptError naming the session and message) and
// with no messages; the watch goes on if the loop does, and the change's
// Cursor lets a consumer resume after it.
func (w watcher) Watch(ctx context.Context, q session.WatchQuery) (iter.Seq2[session.Change, error], error) {
	seq, err := w.b.inner.(session.Watcher).Watch(ctx, q)
	if err != nil {
		return nil, err
	}
	return func(yield func(session.Change, error) bool) {
		for c, err := range seq {
			if err == nil && len(c.Messages) > 0 {
				var lin lineage
				msgs := make([]message.Message, len(c.Messages))
				for i, m := range c.Messages {
					if msgs[i], err = w.b.openMessage(ctx, c.SessionID, m, &lin); err != nil {
						c.Messages = nil
						break
					}
				}
				if err == nil {
					c.Messages = msgs
				}
			}
			if !yield(c, err) {
				return
			}
		}
	}, nil
}

type feedTrimmer struct{ b *base }

// TrimFeed discards the inner store's feed history before before.
func (f feedTrimmer) TrimFeed(ctx context.Context, before int64) (int64, error) {
	return f.b.inner.(session.FeedTrimmer).TrimFeed(ctx, before)
}
