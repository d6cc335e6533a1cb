package encrypted

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// sess wraps a session of the inner store.
type sess struct {
	b     *base
	inner session.Session
	id    string

	mu sync.Mutex
	// keyID is the data key this handle writes with, "" until known (a
	// loaded session's owner is read on its first write).
	keyID string
	// fresh is set on a handle from Create of a session without owner:
	// its first write makes a new version of the session's key if one
	// exists (left by a deleted session of the same id), so that the
	// Delete of that old session, destroying the old versions, cannot
	// destroy the new session's key.
	fresh bool
	// minVersion is the version the handle wrote with last: a later write
	// never uses an older one.
	minVersion int64
}

// vsess is a sess whose inner session is session.Versioned.
type vsess struct {
	*sess
	v session.Versioned
}

// rsess is a sess whose inner session is session.Rewriter.
type rsess struct {
	vsess
	r session.Rewriter
}

// rng adds session.Ranger to a wrapped session whose inner one has it.
type rng struct {
	s *sess
	r session.Ranger
}

var (
	_ session.Versioned = vsess{}
	_ session.Rewriter  = rsess{}
	_ session.Ranger    = struct {
		*sess
		rng
	}{}
)

// wrapSession wraps inner, keeping its Versioned or Rewriter capability.
// keyID is "" when it must be found from the session's owner.
func (b *base) wrapSession(inner session.Session, keyID string, fresh bool) session.Session {
	s := &sess{b: b, inner: inner, id: inner.ID(), keyID: keyID, fresh: fresh && keyID == sessionKeyID(inner.ID())}
	if b.desc == nil || b.opts.perSession {
		s.keyID = sessionKeyID(s.id)
	}
	r, isRanger := inner.(session.Ranger)
	switch v := inner.(type) {
	case session.Rewriter:
		if isRanger {
			return struct {
				rsess
				rng
			}{rsess{vsess{s, v}, v}, rng{s, r}}
		}
		return rsess{vsess{s, v}, v}
	case session.Versioned:
		if isRanger {
			return struct {
				vsess
				rng
			}{vsess{s, v}, rng{s, r}}
		}
		return vsess{s, v}
	}
	if isRanger {
		return struct {
			*sess
			rng
		}{s, rng{s, r}}
	}
	return s
}

// Range reads a stretch of the inner session, decrypted; a message that
// cannot be decrypted fails the call as for GetMessages, and a
// *session.CorruptError then names the row's Seq too (Range sees it), so
// that a reader can read around the row (as convo's viewer does).
func (r rng) Range(ctx context.Context, q session.RangeQuery) ([]session.Entry, error) {
	es, err := r.r.Range(ctx, q)
	if err != nil {
		return nil, err
	}
	var lin lineage
	for i := range es {
		if es[i].Message, err = r.s.b.openMessage(ctx, r.s.id, es[i].Message, &lin); err != nil {
			if ce, ok := errors.AsType[*session.CorruptError](err); ok && ce.Seq == 0 {
				ce.Seq = es[i].Seq
			}
			return nil, err
		}
	}
	return es, nil
}

// ID returns the session's id.
func (s *sess) ID() string { return s.id }

// writeKey returns the data key this handle encrypts with.
func (s *sess) writeKey(ctx context.Context) (string, int64, cipher.AEAD, error) {
	s.mu.Lock()
	keyID, fresh, minVersion := s.keyID, s.fresh, s.minVersion
	s.mu.Unlock()
	if keyID == "" {
		info, err := s.b.desc.Info(ctx, s.id)
		if err != nil {
			return "", 0, nil, err
		}
		keyID = s.b.keyIDFor(s.id, info.Owner)
	}
	if fresh {
		latest, err := s.b.latestVersion(ctx, keyID)
		if err != nil {
			return "", 0, nil, err
		}
		minVersion = latest + 1
		if latest == 0 {
			minVersion = 1
		}
	}
	version, aead, err := s.b.writeKey(ctx, keyID, minVersion)
	if err != nil {
		return "", 0, nil, &KeyError{SessionID: s.id, KeyID: keyID, Version: minVersion, Err: err}
	}
	s.mu.Lock()
	s.keyID, s.fresh, s.minVersion = keyID, false, max(s.minVersion, version)
	s.mu.Unlock()
	return keyID, version, aead, nil
}

// sealAll validates msgs, gives them IDs and times (in the caller's slice,
// as every store does), and returns them encrypted.
func (s *sess) sealAll(ctx context.Context, msgs []message.Message) ([]message.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	for i := range msgs {
		if err := msgs[i].Validate(); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", session.ErrInvalidMessage, i, err)
		}
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
	keyID, version, aead, err := s.writeKey(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]message.Message, len(msgs))
	for i, m := range msgs {
		out[i], err = sealMessage(aead, s.id, keyID, version, m)
		if err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", session.ErrInvalidMessage, i, err)
		}
	}
	return out, nil
}

// openAll decrypts msgs in place; the first that cannot be read fails the
// call (no row is skipped).
func (s *sess) openAll(ctx context.Context, msgs []message.Message) ([]message.Message, error) {
	var lin lineage
	for i := range msgs {
		m, err := s.b.openMessage(ctx, s.id, msgs[i], &lin)
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	return msgs, nil
}

// GetMessages returns the session's messages, decrypted. A message that
// cannot be decrypted fails the call: with a *KeyError (ErrKeyDestroyed,
// ErrKeyNotFound, ErrUnwrap) or a *session.CorruptError (ErrAuth,
// ErrNotEncrypted) naming the session and the message.
func (s *sess) GetMessages(ctx context.Context, limit *int) ([]message.Message, error) {
	msgs, err := s.inner.GetMessages(ctx, limit)
	if err != nil {
		return nil, err
	}
	return s.openAll(ctx, msgs)
}

// AddMessages encrypts msgs and appends them to the inner session. A retry
// with the same messages is skipped by the inner store, which compares
// message ids, not ciphertexts.
func (s *sess) AddMessages(ctx context.Context, msgs []message.Message) error {
	sealed, err := s.sealAll(ctx, msgs)
	if err != nil {
		return fmt.Errorf("encrypted: append to %q: %w", s.id, err)
	}
	return s.inner.AddMessages(ctx, sealed) // even empty: a deleted session says ErrNotFound
}

// PopMessage removes the newest message and returns it decrypted. If it
// cannot be decrypted, it is removed all the same and the error says why.
func (s *sess) PopMessage(ctx context.Context) (*message.Message, error) {
	m, err := s.inner.PopMessage(ctx)
	if err != nil || m == nil {
		return m, err
	}
	out, err := s.b.openMessage(ctx, s.id, *m, nil)
	if err != nil {
		return nil, fmt.Errorf("encrypted: pop from %q (the message was removed): %w", s.id, err)
	}
	return &out, nil
}

// Clear removes every message of the inner session.
func (s *sess) Clear(ctx context.Context) error { return s.inner.Clear(ctx) }

// Snapshot is GetMessages with the inner session's version.
func (v vsess) Snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error) {
	msgs, version, err := v.v.Snapshot(ctx, limit)
	if err != nil {
		return nil, 0, err
	}
	msgs, err = v.openAll(ctx, msgs)
	if err != nil {
		return nil, 0, err
	}
	return msgs, version, nil
}

// AddMessagesAt is AddMessages at version expected of the inner session.
func (v vsess) AddMessagesAt(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	sealed, err := v.sealAll(ctx, msgs)
	if err != nil {
		return 0, fmt.Errorf("encrypted: append to %q at version %d: %w", v.id, expected, err)
	}
	return v.v.AddMessagesAt(ctx, expected, sealed)
}

// ReplaceMessages encrypts msgs and replaces the inner session's history
// with them.
func (r rsess) ReplaceMessages(ctx context.Context, expected int64, msgs []message.Message) (int64, error) {
	ids := make(map[string]struct{}, len(msgs))
	for i, m := range msgs {
		if m.ID == "" {
			continue
		}
		if _, dup := ids[m.ID]; dup {
			return 0, fmt.Errorf("encrypted: replace messages of %q: %w: message %d: id %q appears twice", r.id, session.ErrInvalidMessage, i, m.ID)
		}
		ids[m.ID] = struct{}{}
	}
	sealed, err := r.sealAll(ctx, msgs)
	if err != nil {
		return 0, fmt.Errorf("encrypted: replace messages of %q: %w", r.id, err)
	}
	return r.r.ReplaceMessages(ctx, expected, sealed)
}
