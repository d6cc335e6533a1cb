package session

import (
	"context"
	"fmt"
	"math"
	"slices"

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
	// ParentID is the session this one was forked from (see Forker), or
	// "" for a session that is not a fork. The parent may since have been
	// changed or deleted: the link is a record of where the fork came
	// from, and nothing of the fork depends on it.
	ParentID string
	// ForkMessageID is the ID of the parent's message the fork was made
	// at (the last message it inherited), or "" for a fork made before
	// the parent's first message, or a session that is not a fork.
	ForkMessageID string
}

// CreateOptions are the initial owner and info of a new session.
type CreateOptions struct {
	// Owner, Title and Metadata are the session's (see Info).
	Owner    string
	Title    string
	Metadata map[string]string
	// CreatedAt, when non-zero, is the creation time to record (Unix
	// nanoseconds), for importing sessions made elsewhere; zero means now.
	CreatedAt int64
	// ParentID, when set, records the new session as a fork of ParentID
	// made elsewhere, at ForkMessageID (see Info), for importing or
	// migrating a fork with its link: only the link is recorded, nothing
	// is copied, and the parent need not exist. ParentID must be a valid
	// session id (ErrInvalidID otherwise); ForkMessageID is recorded only
	// with it. A Forker records the link of every session it creates this
	// way; Forker.Fork ignores both fields and records its own.
	ParentID, ForkMessageID string
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
	// ErrNotFound. A store that is also a Watcher records a ChangeInfo in
	// the same transaction, on every success (even one that sets the
	// values already there), and none on failure.
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
	// descending. It is never nil: a page with no session holds an empty
	// slice.
	Sessions []Info
	// Next is the cursor of the following page, or "" on the last page.
	Next string
	// Unreadable holds one error per session of this page whose stored
	// info could not be decoded in full (corrupt metadata), each matching
	// ErrCorrupt and naming the session. Such a session is still listed,
	// in its place, with the fields that could be read (Metadata nil), so
	// that one bad row does not hide the others or break the paging.
	Unreadable []error
}

// Lister is a Store that lists sessions with keyset pagination: each page
// continues exactly after the last row of the previous one, so a listing
// costs the same at page 1 and page 10,000. A session updated while a
// listing is in progress moves to the front and may be missed or seen twice
// by that listing, as with any keyset pagination over a changing order.
type Lister interface {
	// List returns the page of sessions q selects.
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

// Rewriter is a Versioned session whose whole history can be replaced in one
// atomic step: what repairing damage in the middle of a history needs
// (appending cannot fix it), for example `convo doctor --repair`.
type Rewriter interface {
	Versioned
	// ReplaceMessages replaces every message of the session with msgs,
	// atomically, if the session is still at version expected; otherwise
	// it changes nothing and returns an error matching ErrConflict. Messages
	// are validated, and given IDs and times, as by AddMessages; IDs must be
	// unique within msgs. It returns the new version.
	ReplaceMessages(ctx context.Context, expected int64, msgs []message.Message) (int64, error)
}

// Forker is a Store that can fork a session at a message: the new session
// starts with the parent's history up to and including that message, and
// goes its own way from there. It is what "retry this turn" and "edit and
// resend" need: fork at the message before the user message to redo, then
// send that message (or an edited one) in the fork; ForkBefore does the
// first step.
//
// The fork is a session like any other: it is listed, searched (its
// inherited messages are found in it, with the same IDs and positions as in
// the parent), exported (with its link: CreateOptions.ParentID records it
// on import), pruned and erased with its owner, and its Info records
// ParentID and ForkMessageID. Its messages keep their IDs,
// contents, models and times, so a retried AddMessages of an inherited
// message stores nothing. Parent and fork are independent: nothing done to
// one afterwards (append, pop, clear, replace, quarantine, delete, owner
// erasure, prune) changes the other.
//
// How the history is carried over is the store's affair, and each store
// documents it with its cost. MemoryStore shares the parent's message
// values (no message is encoded or copied). The SQLite and PostgreSQL
// stores share the messages' bytes: a fork's rows hold each inherited
// message's header (ID, role, model, usage, time) and borrow its parts
// from the row that owns them (on PostgreSQL its search terms too), so a
// fork costs in proportion to the number of messages it inherits, not
// their size; whatever removes a row that others borrow from (pop, clear,
// replace, quarantine, delete, owner erasure, prune) first hands its bytes
// over to the rows that borrow them, in the same transaction: removing a
// parent that has forks costs more than removing one without, the bytes
// moving then (on SQLite measured at 2.5-2.8 times what copying them at
// the fork would have cost; a fork whose parent is deleted soon after is
// dearer than a copy, one whose parent lives on much cheaper). The
// PostgreSQL store opened WithCitus (a row may not borrow from another
// shard) copies the rows inside the database, in one statement of one
// transaction (no message passes through Go). A search hit is a message of
// one session: a message shared by a parent and its fork is a hit in each.
// Each package's documentation gives the measured cost.
type Forker interface {
	// Fork creates the session id as a fork of parentID at the message
	// atMessageID: it holds the parent's messages up to and including that
	// one, in the same order, and none after it. An empty atMessageID
	// forks before the parent's first message: the fork holds no message
	// and keeps the link.
	//
	// The fork's owner, title and metadata are those of opts, each one
	// that is empty (nil for Metadata) taken from the parent; its
	// CreatedAt is opts.CreatedAt or now; its version starts at 0, as for
	// any new session. A fork keeps the parent's owner unless told
	// otherwise, so that erasing an owner (OwnerEraser) erases the forks
	// of their sessions too.
	//
	// It fails with ErrNotFound if parentID does not exist, with
	// ErrMessageNotFound if it holds no message atMessageID, with
	// ErrExists if id is taken, and with ErrInvalidID for an invalid id;
	// on any error it creates nothing. The fork is made in one atomic
	// step, from one consistent state of the parent: a concurrent append,
	// pop or clear of the parent happens wholly before or after it.
	Fork(ctx context.Context, parentID, atMessageID, id string, opts CreateOptions) (Session, error)
}

// Fork forks the session parentID of store at the message atMessageID into
// the new session id (see Forker), or returns an error matching
// ErrNotSupported when store cannot fork.
func Fork(ctx context.Context, store Store, parentID, atMessageID, id string, opts CreateOptions) (Session, error) {
	f, ok := store.(Forker)
	if !ok {
		return nil, fmt.Errorf("session: fork %q: %T: %w", parentID, store, ErrNotSupported)
	}
	return f.Fork(ctx, parentID, atMessageID, id, opts)
}

// ForkBefore forks the session parentID of store into the new session id
// just before the message msgID: the fork holds every message before it,
// and ForkBefore returns that message as stored. It is the first step of
// "retry this turn" (fork before the turn's user message, then send the
// returned message again in the fork, for another answer) and of "edit and
// resend" (send an edited copy of it instead, with a new or an empty ID).
//
// It reads the parent's messages to find the one before msgID, then forks
// there (see Forker); a parent changed in between is forked as it is then,
// and a fork point popped in between gives ErrMessageNotFound. It fails
// with ErrMessageNotFound if the parent holds no message msgID, with
// ErrNotSupported if store cannot fork, and as Forker.Fork otherwise.
func ForkBefore(ctx context.Context, store Store, parentID, msgID, id string, opts CreateOptions) (Session, message.Message, error) {
	f, ok := store.(Forker)
	if !ok {
		return nil, message.Message{}, fmt.Errorf("session: fork %q: %T: %w", parentID, store, ErrNotSupported)
	}
	p, err := store.Load(ctx, parentID)
	if err != nil {
		return nil, message.Message{}, fmt.Errorf("session: fork %q before %q: %w", parentID, msgID, err)
	}
	msgs, err := p.GetMessages(ctx, nil)
	if err != nil {
		return nil, message.Message{}, fmt.Errorf("session: fork %q before %q: %w", parentID, msgID, err)
	}
	i := slices.IndexFunc(msgs, func(m message.Message) bool { return m.ID == msgID })
	if i < 0 {
		return nil, message.Message{}, fmt.Errorf("session: fork %q before %q: %w", parentID, msgID, ErrMessageNotFound)
	}
	at := ""
	if i > 0 {
		at = msgs[i-1].ID
	}
	s, err := f.Fork(ctx, parentID, at, id, opts)
	if err != nil {
		return nil, message.Message{}, err
	}
	return s, msgs[i], nil
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

// Highlight markers that Searcher puts around matched terms in
// SearchHit.Snippet. They are control characters that message text rarely
// holds, so a renderer can escape the snippet first and then replace them
// (with <mark> in HTML, or a terminal colour).
const (
	HighlightStart = "\x02"
	HighlightEnd   = "\x03"
)

// SearchQuery is a full-text search over message text.
type SearchQuery struct {
	// Text is the query, in the syntax every Searcher shares (see
	// Searcher): words that must all occur, "quoted phrases" and prefix*
	// words. No other character is an operator, so user input cannot
	// inject syntax into a backend's query language.
	Text string
	// Owner, when set, searches only that owner's sessions.
	Owner string
	// SessionID, when set, searches only that session. An id that no
	// session can have (see ValidateID) is an error matching
	// ErrInvalidID.
	SessionID string
	// Limit caps the hits: 0 means DefaultListLimit; larger than
	// MaxListLimit means MaxListLimit. A store returns Limit hits whenever
	// at least that many messages match (a store whose index proposes
	// candidates that do not match drops them without shortening the
	// page; see each store's Search for its bound).
	Limit int
}

// SearchHit is one message that matched, best first.
type SearchHit struct {
	// SessionID and MessageID name the message.
	SessionID string
	MessageID string
	// Seq is the message's position in its session.
	Seq int64
	// Role and CreatedAt (Unix nanoseconds) are the message's.
	Role      message.Role
	CreatedAt int64
	// Snippet is an excerpt of the matching text, matched terms wrapped in
	// HighlightStart and HighlightEnd.
	Snippet string
}

// Searcher is a Store with full-text search over the text of messages (text,
// reasoning and tool-result content). Every store gives the same answers to
// the same query:
//
// Matching. Text is normalised (Unicode NFKC, full case folding, and
// diacritics removed in the Latin, Greek, Cyrillic, Arabic and Hebrew
// scripts, so "Café", "CAFE" and "cafe" match) and cut into words at every
// character that is not a letter, digit or mark. In scripts written without
// spaces (Chinese, Japanese, Korean, Thai, Lao, Khmer, Myanmar) text is
// matched by overlapping pairs of characters, so a word of two or more
// characters such as 東京 is found anywhere, inside a longer run too, and a
// single character matches wherever it occurs.
//
// Query syntax. Clauses separated by spaces must all match (AND). A word
// matches the same word, not a longer one; a word that normalises to several
// (snake_case, e-mail, 東京都) matches them in order, next to each other.
// "A quoted phrase" matches its words in order, next to each other. A
// trailing * makes the last word a prefix: conf* matches "configuration".
// There is no OR, NOT or NEAR: those words and every other character are
// text.
//
// Snippets. SearchHit.Snippet is an excerpt of the matching text, about 120
// characters, with each matched word or phrase (for a single character of a
// script without spaces, that character) between HighlightStart and
// HighlightEnd.
//
// Guarantees. A search finds every message whose append returned before the
// search started, whichever process or store instance made it, and never
// finds a message that was popped, cleared, deleted, erased with its owner,
// pruned or replaced before the search started. Search is safe for
// concurrent use. A cancelled context gives an error. A store that cannot
// search (a SQLite build without FTS5 that has no index to read) returns an
// error matching ErrNotSupported.
type Searcher interface {
	// Search returns the hits, best first; with none, a non-nil empty
	// slice.
	Search(ctx context.Context, q SearchQuery) ([]SearchHit, error)
}

// Search searches store, or returns an error matching ErrNotSupported when
// store cannot search (for SQLite, a build without FTS5).
func Search(ctx context.Context, store Store, q SearchQuery) ([]SearchHit, error) {
	s, ok := store.(Searcher)
	if !ok {
		return nil, fmt.Errorf("session: search: %T: %w", store, ErrNotSupported)
	}
	return s.Search(ctx, q)
}

// DeleteReport says what a bulk deletion removed (or, for a dry run, would
// remove).
type DeleteReport struct {
	// SessionIDs are the sessions deleted, in id order.
	SessionIDs []string
	// Messages is how many messages they held.
	Messages int64
}

// OwnerEraser is a Store that deletes everything an owner has, sessions,
// messages and search index: what a data-deletion request needs.
//
// Each session goes whole (its row, messages and index entries in one
// transaction). The memory store deletes all of the owner's sessions in
// one transaction; a store may instead delete them in several (the SQLite
// and PostgreSQL stores do, in rounds, so that writers of other sessions
// wait for a round at most, never for a whole erasure). Then an error part way leaves the sessions
// deleted before it deleted, the report returned with the error lists
// them, and calling DeleteOwner again finishes the erasure.
type OwnerEraser interface {
	// DeleteOwner deletes every session of owner and reports what it
	// deleted (on an error, what it deleted before the error).
	DeleteOwner(ctx context.Context, owner string) (DeleteReport, error)
}

// PruneQuery selects sessions for Pruner.Prune.
type PruneQuery struct {
	// UpdatedBefore (Unix nanoseconds) selects sessions last updated
	// before it. It must be set.
	UpdatedBefore int64
	// Owner, when set, limits pruning to that owner.
	Owner string
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
}

// Pruner is a Store that deletes sessions idle since a given time: a
// retention policy. Each session goes whole, and the sessions go in one
// transaction or in several, as for OwnerEraser: on an error the report
// returned with it lists what was deleted before it, and pruning again
// finishes the work.
type Pruner interface {
	// Prune deletes the sessions q selects (none with q.DryRun) and
	// reports them.
	Prune(ctx context.Context, q PruneQuery) (DeleteReport, error)
}

// Importer is a Store that can record a session's last activity time as it
// was in another store, so that sessions copied in by an import or a
// migration keep their order by activity (Lister) and their age for
// retention (Pruner) instead of all looking active at the time of the copy.
// convo import and convo migrate use it after copying a session's messages.
type Importer interface {
	// SetUpdatedAt sets the UpdatedAt of the session id to updatedAt (Unix
	// nanoseconds), exactly: earlier or later than the current value, and
	// even earlier than the session's CreatedAt, since the store records
	// an imported history as it was. It changes nothing else: not the
	// messages, the version, the owner, the title or the metadata, and
	// records no change in a Watcher's feed (the agent's lease renews it
	// every few seconds). Later
	// writes advance UpdatedAt from there as usual (an append sets it to
	// the time of the append, or just past updatedAt if that is later).
	//
	// It fails with ErrNotFound if the session does not exist, with
	// ErrInvalidID for an invalid id, and with an error if updatedAt is
	// zero or negative (which no store records), changing nothing.
	SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error
}

// QuarantinedRow is a stored message row that Quarantine moved out of its
// session, as it was stored.
type QuarantinedRow struct {
	// SessionID and Seq say where the row was: its session and its
	// position in the session's sequence.
	SessionID string
	Seq       int64
	// MessageID is the row's message id.
	MessageID string
	// Role and Model are the row's role and model.
	Role  string
	Model string
	// Parts and Usage are the row's encoded parts and usage, byte for byte
	// as they were stored (Usage is nil when the row had none).
	Parts []byte
	Usage []byte
	// CreatedAt is the message's creation time, QuarantinedAt when it was
	// moved (Unix nanoseconds).
	CreatedAt     int64
	QuarantinedAt int64
	// Reason says why the row was moved.
	Reason string
}

// Quarantiner is a Store that can move one stored message row out of its
// session and keep it aside, bytes unchanged. It is how a session holding a
// row that cannot be read (an error matching ErrCorrupt, whose
// *CorruptError names the row's Seq) is made usable again without deleting
// the whole session or losing the row: `convo doctor --repair` uses it.
type Quarantiner interface {
	// Quarantine moves the message msgID of session id (the MessageID of
	// a *CorruptError) aside, with reason, in one step: the session keeps
	// its other messages in order, its version moves on (as for any change
	// to its messages), and it no longer holds msgID. It fails with
	// ErrNotFound if the session does not exist or holds no message msgID.
	Quarantine(ctx context.Context, id, msgID, reason string) error
	// Quarantined lists the rows moved aside from session id, by Seq; a
	// session with none gives a non-nil empty slice, a missing session
	// ErrNotFound. Deleting the session deletes them.
	Quarantined(ctx context.Context, id string) ([]QuarantinedRow, error)
}

// Entry is a stored message with its place in the session's sequence.
type Entry struct {
	// Seq is the message's position in the session's sequence (the Seq of
	// SearchHit and CorruptError): a later message has a larger Seq, and a
	// Seq is never given to another message of the session, not even after
	// PopMessage or Clear. Seqs need not be contiguous (a popped or
	// quarantined row leaves a gap).
	Seq     int64
	Message message.Message
}

// RangeQuery selects a stretch of a session's history for Ranger.Range.
type RangeQuery struct {
	// After and Before, when positive, keep only the messages whose Seq is
	// greater than After and less than Before. Zero does not bound.
	After, Before int64
	// Limit caps how many messages come back: 0 means DefaultListLimit;
	// larger than MaxListLimit means MaxListLimit.
	Limit int
	// Newest takes the newest Limit messages of the stretch (the page
	// just before Before); otherwise the oldest (the page just after
	// After).
	Newest bool
}

// Ranger is a Session that reads a stretch of its history by sequence
// number without reading the rest: keyset pagination over a session, so
// that a page of a 100,000-message session costs what a page of a short
// one does, and a reader that has seen up to Seq n asks for what came
// after n. The web viewer of convo serve pages long sessions with it.
type Ranger interface {
	Session
	// Range returns the messages of the stretch q selects, oldest first,
	// each with its Seq; with none, a non-nil empty slice. It reads the
	// session's rows in one snapshot. It fails with ErrNotFound when the
	// session does not exist, with an error matching ErrCorrupt (a
	// *CorruptError) when a row of the stretch cannot be decoded, and
	// with an error when ctx is done. Safe for concurrent use.
	Range(ctx context.Context, q RangeQuery) ([]Entry, error)
}

// Range reads a stretch of the history of s (see Ranger), or returns an
// error matching ErrNotSupported when s cannot.
func Range(ctx context.Context, s Session, q RangeQuery) ([]Entry, error) {
	r, ok := s.(Ranger)
	if !ok {
		return nil, fmt.Errorf("session: range of %q: %T: %w", s.ID(), s, ErrNotSupported)
	}
	return r.Range(ctx, q)
}

// limit returns the page size q asks for.
func (q RangeQuery) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultListLimit
	case q.Limit > MaxListLimit:
		return MaxListLimit
	}
	return q.Limit
}

// RangeBounds returns the limits of q as a store applies them: the
// exclusive Seq bounds (before is math.MaxInt64 when q.Before is not
// positive) and the page size (DefaultListLimit for 0, at most
// MaxListLimit).
func (q RangeQuery) RangeBounds() (after, before int64, limit int) {
	after, before = max(q.After, 0), q.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	return after, before, q.limit()
}
