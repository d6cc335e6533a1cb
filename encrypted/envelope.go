package encrypted

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/message"
)

// MIMEType is the MIME type of the one part an encrypted message holds in
// the inner store: a message.Binary, a part type every store keeps byte for
// byte and decodes on its fast path, and that full-text search does not
// index. Its Data is the envelope:
//
//	byte      format, 1: AES-256-GCM, additional data as below
//	uvarint   data key version
//	uvarint   length of the data key id, then the id ("owner:alice")
//	12 bytes  nonce
//	rest      ciphertext of the message's parts in the JSON encoding of
//	          package message, and the 16-byte tag
//
// A program reading the inner store without the wrapper sees one binary
// attachment of this type per message.
const MIMEType = "application/vnd.convo.encrypted"

const formatAES256GCM = 1

// messageAD is the additional data a message's ciphertext is bound to: the
// session id, the message's id, role, model and creation time, and the
// data key's id (which holds the owner) and version. A ciphertext copied to
// another session or message, or a clear field changed under it, fails
// authentication.
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
	env := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(keyID)+aead.NonceSize()+len(pt)+aead.Overhead())
	env = append(env, formatAES256GCM)
	env = binary.AppendUvarint(env, uint64(version))
	env = binary.AppendUvarint(env, uint64(len(keyID)))
	env = append(env, keyID...)
	env = append(env, seal(aead, pt, messageAD(sessionID, keyID, version, m))...)
	m.Parts = []message.Part{message.Binary{MIMEType: MIMEType, Data: env}}
	return m, nil
}

// envelope is a parsed envelope.
type envelope struct {
	key     string
	version int64
	sealed  []byte // nonce || ciphertext || tag
}

// openMessage returns the stored message m of session sessionID decrypted.
func (b *base) openMessage(ctx context.Context, sessionID string, m message.Message) (message.Message, error) {
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
	aead, err := b.aeadFor(ctx, env.key, env.version)
	if err != nil {
		if ctx.Err() != nil {
			return message.Message{}, fmt.Errorf("encrypted: read %q: %w", sessionID, err)
		}
		return message.Message{}, &KeyError{SessionID: sessionID, MessageID: m.ID, KeyID: env.key, Version: env.version, Err: err}
	}
	pt, err := open(aead, env.sealed, messageAD(sessionID, env.key, env.version, m))
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
	return envelope{key: string(d[:klen]), version: int64(version), sealed: d[klen:]}, true, nil
}
