package encrypted

import (
	"errors"
	"fmt"

	"github.com/convo-dev/convo/session"
)

// Sentinel errors. Test them with errors.Is.
var (
	// ErrKeyDestroyed: the data key a message was encrypted under was
	// destroyed (crypto-erasure, see Store.DestroyOwnerKeys). The message
	// can never be read again, from this store or any copy of it.
	ErrKeyDestroyed = errors.New("data key destroyed")
	// ErrKeyNotFound: the key store holds no data key of the id and
	// version a message names (for example, a message store restored
	// beside a different key store).
	ErrKeyNotFound = errors.New("data key not found")
	// ErrKeyExists: KeyStore.Add of a key id and version that is taken.
	ErrKeyExists = errors.New("data key exists")
	// ErrUnknownKEK: the keyring has no key-encryption key of that id.
	ErrUnknownKEK = errors.New("unknown key-encryption key")
	// ErrUnwrap: a wrapped data key failed authentication: the wrong
	// key-encryption key, or a tampered key row.
	ErrUnwrap = errors.New("cannot unwrap data key")
	// ErrAuth: a message failed authentication: a tampered row, a row moved
	// from another session or message, or a data key that is not the one it
	// was sealed with. It comes inside a *session.CorruptError.
	ErrAuth = errors.New("message authentication failed")
	// ErrNotEncrypted: a stored message is not in the encrypted format (for
	// example written by a program that bypassed the wrapper). It comes
	// inside a *session.CorruptError.
	ErrNotEncrypted = errors.New("message is not encrypted")
)

// KeyError reports a message, or a session write, whose data key cannot be
// used: destroyed (ErrKeyDestroyed), missing (ErrKeyNotFound), or not
// unwrappable with the keyring (ErrUnwrap, ErrUnknownKEK). It names the
// session and, for a read, the message.
type KeyError struct {
	// SessionID is the session read or written.
	SessionID string
	// MessageID is the message whose key failed, or "" for a write.
	MessageID string
	// KeyID and Version name the data key.
	KeyID   string
	Version int64
	// Err is the cause; it matches one of the sentinels above.
	Err error
}

// Error names the session, the message and the key.
func (e *KeyError) Error() string {
	if e.MessageID == "" {
		return fmt.Sprintf("session %q: data key %q version %d: %v", e.SessionID, e.KeyID, e.Version, e.Err)
	}
	return fmt.Sprintf("message %q of session %q: data key %q version %d: %v", e.MessageID, e.SessionID, e.KeyID, e.Version, e.Err)
}

// Unwrap returns the cause.
func (e *KeyError) Unwrap() error { return e.Err }

// corrupt returns the error of a row that cannot be opened: a
// *session.CorruptError (matching session.ErrCorrupt, so tools such as
// `convo doctor` can quarantine it) whose Err matches cause. Seq is 0 here:
// MessageID names the row (Range, which sees the inner store's sequence,
// fills Seq in).
func corrupt(sessionID, msgID string, cause error) error {
	return &session.CorruptError{SessionID: sessionID, MessageID: msgID, Err: cause}
}
