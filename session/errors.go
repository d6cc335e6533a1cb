package session

import (
	"errors"
	"fmt"
)

// Sentinel errors. Stores wrap them with context; test with errors.Is.
var (
	// ErrNotFound: the session does not exist (Load, and any call on a
	// session that was deleted).
	ErrNotFound = errors.New("session not found")
	// ErrMessageNotFound: a session holds no message with the ID a call
	// named (Forker.Fork's fork point). The session itself exists.
	ErrMessageNotFound = errors.New("message not found in session")
	// ErrExists: Create of an id that is taken.
	ErrExists = errors.New("session already exists")
	// ErrInvalidID: the id is empty, too long, not valid UTF-8 or holds
	// control characters (see ValidateID).
	ErrInvalidID = errors.New("invalid session id")
	// ErrConflict: an optimistic-concurrency write found the session at a
	// version other than the one the caller read.
	ErrConflict = errors.New("session changed concurrently")
	// ErrNotSupported: the store lacks the capability a helper needs.
	ErrNotSupported = errors.New("not supported by this store")
	// ErrInvalidMessage: a message cannot be stored (see message.Validate).
	ErrInvalidMessage = errors.New("invalid message")
	// ErrTooLarge: a message is larger than the store accepts.
	ErrTooLarge = errors.New("message too large")
	// ErrCorrupt: a stored row cannot be decoded: a message (the error
	// is then a *CorruptError naming the session and row) or a session's
	// own row, its info (the error names the session and the field).
	ErrCorrupt = errors.New("corrupt stored row")
	// ErrReadOnly: a write to a store opened read-only (such as
	// sqlite.WithReadOnly or postgres.WithReadOnly).
	ErrReadOnly = errors.New("store is read-only")
	// ErrStorageFull: the database has no room for the write (the disk is
	// full, or a size limit is reached): SQLite's SQLITE_FULL or an
	// operating system's "no space left on device", PostgreSQL's SQLSTATE
	// 53100 disk_full. Nothing of the failed call is stored; writes work
	// again once space is freed (for SQLite in WAL mode, about the size of
	// the -wal file beside the database, which must grow before it can be
	// checkpointed back).
	ErrStorageFull = errors.New("storage full")
)

// CorruptError reports a stored message that cannot be decoded. Other rows
// and sessions stay readable. It matches ErrCorrupt with errors.Is.
type CorruptError struct {
	// SessionID is the session holding the row.
	SessionID string
	// Seq is the row's position in the session's sequence.
	Seq int64
	// MessageID is the stored message id, if it could be read.
	MessageID string
	// Err is the decoding error.
	Err error
}

// Error names the session, the row and the decoding error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt message %q (seq %d) in session %q: %v", e.MessageID, e.Seq, e.SessionID, e.Err)
}

// Unwrap returns the decoding error.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func isErr(err, target error) bool { return errors.Is(err, target) }
