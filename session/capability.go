package session

import (
	"context"
	"fmt"

	"github.com/convo-dev/convo/message"
)

// Opener is a Store that can load-or-create a session in one atomic step.
// LoadOrCreate uses it.
type Opener interface {
	// Open loads the session id, creating it first if it does not exist.
	Open(ctx context.Context, id string) (Session, error)
}

// Info describes a session.
type Info struct {
	// ID is the session's id.
	ID string
	// Owner is the tenant or end user the session belongs to, or "".
	Owner string
	// Title is a human-readable title, or "".
	Title string
	// Metadata holds free-form key/values; nil when there are none.
	Metadata map[string]string
	// CreatedAt is when the session was created, in Unix nanoseconds.
	CreatedAt int64
	// UpdatedAt is when the session's messages or info last changed, in
	// Unix nanoseconds.
	UpdatedAt int64
	// MessageCount is how many messages the session holds.
	MessageCount int64
	// Version increases with every change to the session's messages (see
	// Versioned).
	Version int64
}

// CreateOptions are the initial owner and info of a new session.
type CreateOptions struct {
	Owner    string
	Title    string
	Metadata map[string]string
}

// InfoUpdate changes a session's info. Nil fields are left alone.
type InfoUpdate struct {
	// Title, when non-nil, replaces the title.
	Title *string
	// Metadata, when non-nil, replaces all metadata (an empty map clears it).
	Metadata map[string]string
}

// Describer is a Store whose sessions carry an owner, a title and metadata.
type Describer interface {
	// CreateWith is Create with an owner and initial info. It fails with
	// ErrExists if the id is taken.
	CreateWith(ctx context.Context, id string, opts CreateOptions) (Session, error)
	// Info describes the session, or fails with ErrNotFound.
	Info(ctx context.Context, id string) (Info, error)
	// UpdateInfo changes the session's title or metadata, or fails with
	// ErrNotFound.
	UpdateInfo(ctx context.Context, id string, u InfoUpdate) error
}

// ListQuery selects sessions for Lister.List. Zero fields do not filter.
type ListQuery struct {
	// Owner keeps only the sessions of this owner.
	Owner string
	// IDPrefix keeps only the sessions whose id starts with it.
	IDPrefix string
	// UpdatedAfter and UpdatedBefore (Unix nanoseconds, exclusive) keep
	// only sessions last updated in that window.
	UpdatedAfter, UpdatedBefore int64
	// Limit is the page size: 0 means DefaultListLimit; larger than
	// MaxListLimit means MaxListLimit.
	Limit int
	// Cursor continues a listing: pass the Next of the previous page.
	Cursor string
}

// Page sizes for ListQuery.Limit.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListPage is one page of a listing.
type ListPage struct {
	// Sessions are ordered by UpdatedAt, newest first, then by id
	// descending.
	Sessions []Info
	// Next is the cursor of the following page, or "" on the last page.
	Next string
}

// Lister is a Store that lists sessions with keyset pagination: each page
// continues exactly after the last row of the previous one, so a listing
// costs the same at page 1 and page 10,000. A session updated while a
// listing is in progress moves to the front and may be missed or seen twice
// by that listing, as with any keyset pagination over a changing order.
type Lister interface {
	List(ctx context.Context, q ListQuery) (ListPage, error)
}

// Versioned is a Session with optimistic concurrency: a writer reads the
// history with its version, and appends only if nobody changed the session
// since. Two agents on one session use it to never interleave their turns.
//
// The version is 0 for a new session and increases by at least one with
// every AddMessages that stores a message, every PopMessage that removes one,
// and every Clear.
type Versioned interface {
	Session
	// Snapshot returns what GetMessages returns, together with the
	// session's version, read atomically.
	Snapshot(ctx context.Context, limit *int) ([]message.Message, int64, error)
	// AddMessagesAt is AddMessages, done only if the session is still at
	// version expected; otherwise it stores nothing and returns an error
	// matching ErrConflict. It returns the new version. If every message is
	// already stored (a retry of a call whose answer was lost), it stores
	// nothing and succeeds whatever the version.
	AddMessagesAt(ctx context.Context, expected int64, msgs []message.Message) (int64, error)
}

// List lists the sessions of store, or returns an error matching
// ErrNotSupported when store cannot list.
func List(ctx context.Context, store Store, q ListQuery) (ListPage, error) {
	l, ok := store.(Lister)
	if !ok {
		return ListPage{}, fmt.Errorf("session: list: %T: %w", store, ErrNotSupported)
	}
	return l.List(ctx, q)
}

// AsVersioned returns s as a Versioned session, or an error matching
// ErrNotSupported.
func AsVersioned(s Session) (Versioned, error) {
	v, ok := s.(Versioned)
	if !ok {
		return nil, fmt.Errorf("session: %T has no optimistic concurrency: %w", s, ErrNotSupported)
	}
	return v, nil
}
