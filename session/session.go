package session

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/convo-dev/convo/message"
)

// Session is one conversation: an ordered list of messages.
//
// Implementations are safe for concurrent use by multiple goroutines. Every
// method honours ctx: a cancelled context returns an error and changes
// nothing. After the session is deleted, every method returns an error
// matching ErrNotFound.
type Session interface {
	// ID returns the session's id.
	ID() string
	// GetMessages returns messages oldest first. A nil or negative limit
	// returns all of them, 0 returns none, and n returns the last n, still
	// oldest first. No message is a non-nil empty slice, never nil.
	GetMessages(ctx context.Context, limit *int) ([]message.Message, error)
	// AddMessages appends msgs atomically and in order: every message is
	// stored or none is. A message with an empty ID is given one (see
	// message.NewID), one with a zero CreatedAt the current time; a message
	// whose ID the session already holds is skipped, so a failed call can
	// be retried with the same messages. An empty call is a no-op. A
	// message that message.Validate refuses gives an error matching
	// ErrInvalidMessage; one larger than the store's limit, ErrTooLarge.
	AddMessages(ctx context.Context, msgs []message.Message) error
	// PopMessage removes and returns the newest message, or nil, nil when
	// the session is empty.
	PopMessage(ctx context.Context) (*message.Message, error)
	// Clear removes every message and keeps the session.
	Clear(ctx context.Context) error
}

// Store holds sessions.
//
// Implementations are safe for concurrent use. Ids are checked with
// ValidateID: an invalid id gives an error matching ErrInvalidID.
type Store interface {
	// Exists reports whether a session with this id exists.
	Exists(ctx context.Context, id string) (bool, error)
	// Create makes a new, empty session. It fails with ErrExists if the id
	// is taken.
	Create(ctx context.Context, id string) (Session, error)
	// Load opens an existing session. It fails with ErrNotFound if there is
	// none.
	Load(ctx context.Context, id string) (Session, error)
	// Delete removes the session and its messages. Deleting a session that
	// does not exist is not an error.
	Delete(ctx context.Context, id string) error
}

// MaxIDLength is the longest session id, in bytes, that a store accepts.
const MaxIDLength = 255

// ValidateID returns an error matching ErrInvalidID unless id is non-empty,
// valid UTF-8, at most MaxIDLength bytes and free of NUL and other ASCII
// control characters. Stores call it on every id they are given.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty id", ErrInvalidID)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: id is %d bytes, longer than %d", ErrInvalidID, len(id), MaxIDLength)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: id is not valid UTF-8", ErrInvalidID)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: id holds control character %U", ErrInvalidID, r)
		}
	}
	return nil
}

// LoadOrCreate loads the session id, creating it if it does not exist. It is
// race-free: when several callers, in one process or many, open the same new
// id at once, all get the same session and none gets ErrExists. It uses the
// store's Opener capability when present.
func LoadOrCreate(ctx context.Context, store Store, id string) (Session, error) {
	if o, ok := store.(Opener); ok {
		return o.Open(ctx, id)
	}
	// Without Opener: Create and Load are each atomic, so retrying between
	// them converges unless the session is deleted and recreated in a loop.
	var err error
	for range 8 {
		var s Session
		s, err = store.Load(ctx, id)
		if err == nil {
			return s, nil
		}
		if !isErr(err, ErrNotFound) {
			return nil, err
		}
		s, err = store.Create(ctx, id)
		if err == nil {
			return s, nil
		}
		if !isErr(err, ErrExists) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("session: load or create %q: %w", id, err)
}

// Limit returns a pointer to n, for GetMessages.
func Limit(n int) *int { return &n }
