package encrypted

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// MIMEType is the MIME type of the one part an encrypted message holds in
// the inner store: a message.Binary, a part type every store keeps byte for
// byte and decodes on its fast path, and that full-text search does not
// index. Its Data is the envelope:
//
//	byte      format, 1: AES-256-GCM, additional data as below
//	uvarint   data key version
//	uvarint   length of the data key id, then the id ("owner:alice")
//	uvarint   length of the origin session id, then the id: the session
//	          the message was sealed in (a fork holds its parent's rows)
//	12 bytes  nonce
//	rest      ciphertext of the message's parts in the JSON encoding of
//	          package message, and the 16-byte tag
//
// A program reading the inner store without the wrapper sees one binary
// attachment of this type per message.
const MIMEType = "application/vnd.convo.encrypted"

const formatAES256GCM = 1

// messageAD is the additional data a message's ciphertext is bound to: the
// session it was sealed in, the message's id, role, model and creation
// time, and the data key's id (which holds the owner) and version. A
// ciphertext copied to another message, or a clear field changed under it,
// fails authentication; one copied to another session is refused unless
// that session is a fork of the one it was sealed in (see lineage).
func messageAD(sessionID, keyID string, version int64, m message.Message) []byte {
	ad := make([]byte, 0, 64+len(sessionID)+len(m.ID)+len(m.Role)+len(m.Model)+len(keyID))
	ad = append(ad, "convo/encrypted/msg/v1"...)
	for _, f := range []string{sessionID, m.ID, string(m.Role), m.Model, keyID} {
		ad = binary.AppendUvarint(ad, uint64(len(f)))
		ad = append(ad, f...)
	}
	ad = binary.BigEndian.AppendUint64(ad, uint64(m.CreatedAt))
	return binary.BigEndian.AppendUint64(ad, uint64(version))
}

// sealMessage returns m with its parts replaced by one encrypted part.
func sealMessage(aead cipher.AEAD, sessionID, keyID string, version int64, m message.Message) (message.Message, error) {
	pt, err := message.MarshalParts(m.Parts)
	if err != nil {
		return message.Message{}, err
	}
	env := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(keyID)+len(sessionID)+aead.NonceSize()+len(pt)+aead.Overhead())
	env = append(env, formatAES256GCM)
	env = binary.AppendUvarint(env, uint64(version))
	env = binary.AppendUvarint(env, uint64(len(keyID)))
	env = append(env, keyID...)
	env = binary.AppendUvarint(env, uint64(len(sessionID)))
	env = append(env, sessionID...)
	env = append(env, seal(aead, pt, messageAD(sessionID, keyID, version, m))...)
	m.Parts = []message.Part{message.Binary{MIMEType: MIMEType, Data: env}}
	return m, nil
}

// envelope is a parsed envelope.
type envelope struct {
	key     string
	version int64
	origin  string // the session it was sealed in
	sealed  []byte // nonce || ciphertext || tag
}

// openMessage returns the stored message m of session sessionID decrypted.
// lin, which may be nil, remembers the session's ancestors across the
// messages of one read.
func (b *base) openMessage(ctx context.Context, sessionID string, m message.Message, lin *lineage) (message.Message, error) {
	env, ok, err := parseEnvelope(m)
	if err != nil {
		return message.Message{}, corrupt(sessionID, m.ID, fmt.Errorf("%w: %w", ErrAuth, err))
	}
	if !ok {
		if b.opts.plaintextReads {
			return m, nil
		}
		return message.Message{}, corrupt(sessionID, m.ID, ErrNotEncrypted)
	}
	var aead cipher.AEAD
	if env.origin != sessionID {
		if lin == nil {
			lin = &lineage{}
		}
		ancestor, broken, lerr := lin.descends(ctx, b, sessionID, env.origin)
		if lerr != nil {
			return message.Message{}, fmt.Errorf("encrypted: read %q: ancestry: %w", sessionID, lerr)
		}
		if !ancestor && !broken {
			return message.Message{}, corrupt(sessionID, m.ID, fmt.Errorf("%w: sealed in session %q, which is not an ancestor", ErrAuth, env.origin))
		}
		var copied bool
		aead, copied, err = lin.inheritedKey(ctx, b, sessionID, env.key, env.version)
		if err == nil && !ancestor && !copied && env.key != lin.scope {
			// Beyond a broken chain the origin cannot be checked: accept
			// only a row under the session's own key or one that Fork gave
			// it a copy of, not any row of any session copied in.
			return message.Message{}, corrupt(sessionID, m.ID, fmt.Errorf("%w: sealed in session %q, which is not a known ancestor, under data key %q, which the session holds no copy of", ErrAuth, env.origin, env.key))
		}
	} else {
		aead, err = b.aeadFor(ctx, env.key, env.version)
	}
	if err != nil {
		if ctx.Err() != nil {
			return message.Message{}, fmt.Errorf("encrypted: read %q: %w", sessionID, err)
		}
		return message.Message{}, &KeyError{SessionID: sessionID, MessageID: m.ID, KeyID: env.key, Version: env.version, Err: err}
	}
	pt, err := open(aead, env.sealed, messageAD(env.origin, env.key, env.version, m))
	if err != nil {
		return message.Message{}, corrupt(sessionID, m.ID, err)
	}
	parts, err := message.UnmarshalParts(pt)
	if err != nil {
		return message.Message{}, corrupt(sessionID, m.ID, err)
	}
	m.Parts = parts
	return m, nil
}

// parseEnvelope finds the envelope of a stored message. ok is false when
// the message is not in the encrypted format at all; err is set when it
// claims to be but its envelope is damaged.
func parseEnvelope(m message.Message) (envelope, bool, error) {
	if len(m.Parts) != 1 {
		return envelope{}, false, nil
	}
	p, isBin := m.Parts[0].(message.Binary)
	if !isBin || p.MIMEType != MIMEType {
		return envelope{}, false, nil
	}
	d := p.Data
	if len(d) == 0 || d[0] != formatAES256GCM {
		return envelope{}, true, errors.New("unknown envelope format")
	}
	d = d[1:]
	version, n := binary.Uvarint(d)
	if n <= 0 || version == 0 || version > 1<<62 {
		return envelope{}, true, errors.New("envelope names no data key version")
	}
	d = d[n:]
	klen, n := binary.Uvarint(d)
	if n <= 0 || klen == 0 || klen > uint64(len(d)-n) {
		return envelope{}, true, errors.New("envelope names no data key")
	}
	d = d[n:]
	key := string(d[:klen])
	d = d[klen:]
	olen, n := binary.Uvarint(d)
	if n <= 0 || olen == 0 || olen > uint64(len(d)-n) {
		return envelope{}, true, errors.New("envelope names no session")
	}
	d = d[n:]
	return envelope{key: key, version: int64(version), origin: string(d[:olen]), sealed: d[olen:]}, true, nil
}

// lineage is what a read learns about a session that holds rows sealed
// in another (a fork holding its parent's rows): its ancestors (ParentID,
// the parent's ParentID, and so on, from Describer.Info) and its data key
// scope. It is read once per read call, and only for such rows.
type lineage struct {
	loaded    bool
	scope     string
	ancestors map[string]bool
	// broken is set when an ancestor no longer exists: the chain beyond it
	// cannot be read, and a row sealed in a session beyond it is accepted
	// under the session's own key or a copy Fork made (openMessage).
	broken bool
	// missing remembers key copies that do not exist.
	missing map[keyRef]bool
}

// maxForkDepth bounds the walk up a chain of forks.
const maxForkDepth = 256

func (l *lineage) load(ctx context.Context, b *base, id string) error {
	if l.loaded {
		return nil
	}
	l.ancestors, l.missing = map[string]bool{}, map[keyRef]bool{}
	if b.desc == nil {
		l.loaded = true
		return nil
	}
	cur := id
	for range maxForkDepth {
		info, err := b.desc.Info(ctx, cur)
		if errors.Is(err, session.ErrNotFound) && cur != id {
			l.broken = true
			break
		}
		if err != nil {
			return err
		}
		if cur == id {
			l.scope = b.keyIDFor(id, info.Owner)
		}
		if info.ParentID == "" || l.ancestors[info.ParentID] {
			break
		}
		l.ancestors[info.ParentID] = true
		cur = info.ParentID
	}
	l.loaded = true
	return nil
}

// descends reports whether origin is one of the ancestors of session id,
// and, if not, whether the chain of ancestors is broken by a deleted
// session before it ends (so origin may be an ancestor beyond the break).
func (l *lineage) descends(ctx context.Context, b *base, id, origin string) (ancestor, broken bool, err error) {
	if err := l.load(ctx, b, id); err != nil {
		return false, false, err
	}
	if l.ancestors[origin] {
		return true, false, nil
	}
	return false, l.broken && len(l.ancestors) > 0, nil
}

// inheritedKey returns the data key of a row that session id inherited: the
// session's own copy of the key (made by Fork, so that erasing the owner of
// the session it was forked from does not erase it), with copied set, else
// the key itself.
func (l *lineage) inheritedKey(ctx context.Context, b *base, id, keyID string, version int64) (aead cipher.AEAD, copied bool, err error) {
	if err := l.load(ctx, b, id); err != nil {
		return nil, false, err
	}
	if l.scope != "" {
		ref := keyRef{copyKeyID(l.scope, id, keyID), version}
		if !l.missing[ref] {
			aead, err := b.aeadFor(ctx, ref.id, version)
			if !errors.Is(err, ErrKeyNotFound) {
				return aead, err == nil, err
			}
			l.missing[ref] = true
		}
	}
	aead, err = b.aeadFor(ctx, keyID, version)
	return aead, false, err
}
