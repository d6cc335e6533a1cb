package encrypted

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/convo-dev/convo/message"
)

// PartType is the type of the one part an encrypted message holds in the
// inner store: a part no release of convo knows, so every store keeps it
// byte for byte (see message.Unknown).
const PartType = "convo_encrypted"

// envelope is the JSON object of that part:
//
//	{"type":"convo_encrypted","v":1,"alg":"A256GCM","key":"owner:alice","kv":1,"ct":"<base64>"}
//
// ct is nonce (12 bytes) || AES-256-GCM ciphertext of the message's parts
// in the JSON encoding of package message || tag (16 bytes).
type envelope struct {
	Type    string `json:"type"`
	V       int    `json:"v"`
	Alg     string `json:"alg"`
	Key     string `json:"key"`
	Version int64  `json:"kv"`
	CT      []byte `json:"ct"`
}

const algAES256GCM = "A256GCM"

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
	raw, err := appendEnvelope(keyID, version, seal(aead, pt, messageAD(sessionID, keyID, version, m)))
	if err != nil {
		return message.Message{}, err
	}
	m.Parts = []message.Part{message.Unknown{Type: PartType, Raw: raw}}
	return m, nil
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
	aead, err := b.aeadFor(ctx, env.Key, env.Version)
	if err != nil {
		if ctx.Err() != nil {
			return message.Message{}, fmt.Errorf("encrypted: read %q: %w", sessionID, err)
		}
		return message.Message{}, &KeyError{SessionID: sessionID, MessageID: m.ID, KeyID: env.Key, Version: env.Version, Err: err}
	}
	pt, err := open(aead, env.CT, messageAD(sessionID, env.Key, env.Version, m))
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
	u, isU := m.Parts[0].(message.Unknown)
	if !isU || u.Type != PartType {
		return envelope{}, false, nil
	}
	env, fast := parseEnvelopeFast(u.Raw)
	if !fast {
		env = envelope{}
		if err := json.Unmarshal(u.Raw, &env); err != nil {
			return envelope{}, true, fmt.Errorf("damaged envelope: %w", err)
		}
	}
	if env.V != 1 || env.Alg != algAES256GCM {
		return envelope{}, true, fmt.Errorf("envelope version %d, algorithm %q: %w", env.V, env.Alg, errUnsupported)
	}
	if env.Key == "" || env.Version <= 0 {
		return envelope{}, true, errors.New("envelope names no data key")
	}
	return env, true, nil
}

var errUnsupported = errors.New("not supported by this release")

// The envelope as sealMessage writes it, in this order. parseEnvelopeFast
// reads exactly that layout without encoding/json (which cost three
// quarters of a read); anything else (a store that reformats JSON) goes
// through encoding/json.
const (
	envPrefix = `{"type":"` + PartType + `","v":1,"alg":"` + algAES256GCM + `","key":`
	envKV     = `,"kv":`
	envCT     = `,"ct":"`
	envEnd    = `"}`
)

// appendEnvelope returns the JSON of an envelope.
func appendEnvelope(keyID string, version int64, ct []byte) ([]byte, error) {
	key, err := json.Marshal(keyID)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(envPrefix)+len(key)+len(envKV)+20+len(envCT)+base64.StdEncoding.EncodedLen(len(ct))+len(envEnd))
	b = append(b, envPrefix...)
	b = append(b, key...)
	b = append(b, envKV...)
	b = strconv.AppendInt(b, version, 10)
	b = append(b, envCT...)
	b = base64.StdEncoding.AppendEncode(b, ct)
	return append(b, envEnd...), nil
}

// parseEnvelopeFast reads an envelope in appendEnvelope's layout; ok is
// false for any other text.
func parseEnvelopeFast(raw []byte) (envelope, bool) {
	rest, ok := bytes.CutPrefix(raw, []byte(envPrefix))
	if !ok || len(rest) == 0 || rest[0] != '"' {
		return envelope{}, false
	}
	end := 1
	for end < len(rest) && rest[end] != '"' {
		if rest[end] == '\\' || rest[end] < 0x20 {
			return envelope{}, false // escapes: leave them to encoding/json
		}
		end++
	}
	if end == len(rest) {
		return envelope{}, false
	}
	key := string(rest[1:end])
	rest, ok = bytes.CutPrefix(rest[end+1:], []byte(envKV))
	if !ok {
		return envelope{}, false
	}
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
		i++
	}
	version, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return envelope{}, false
	}
	rest, ok = bytes.CutPrefix(rest[i:], []byte(envCT))
	if !ok {
		return envelope{}, false
	}
	b64, ok := bytes.CutSuffix(rest, []byte(envEnd))
	if !ok {
		return envelope{}, false
	}
	ct, err := base64.StdEncoding.AppendDecode(nil, b64)
	if err != nil {
		return envelope{}, false
	}
	return envelope{Type: PartType, V: 1, Alg: algAES256GCM, Key: key, Version: version, CT: ct}, true
}
