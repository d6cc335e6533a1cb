package session

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/convo-dev/convo/message"
)

// ChangeKind says what a Change did to its session. Consumers ignore kinds
// they do not know: later releases may add some.
type ChangeKind string

// The kinds of change a Watcher delivers.
const (
	// ChangeCreate: the session was created (Create, CreateWith, Open,
	// Fork) at version 0: empty, or for a fork holding Change.Messages, the
	// history it starts with.
	ChangeCreate ChangeKind = "create"
	// ChangeAppend: messages were appended (AddMessages, AddMessagesAt).
	// Change.Messages holds them.
	ChangeAppend ChangeKind = "append"
	// ChangeRemove: messages were removed and the others kept (PopMessage
	// removes the newest, Quarantine one anywhere). Change.Removed holds
	// their ids.
	ChangeRemove ChangeKind = "remove"
	// ChangeClear: every message was removed; the session is kept (Clear).
	ChangeClear ChangeKind = "clear"
	// ChangeReplace: every message was replaced by Change.Messages
	// (Rewriter.ReplaceMessages).
	ChangeReplace ChangeKind = "replace"
	// ChangeDelete: the session was deleted, with its messages (Delete,
	// DeleteOwner, Prune). Its id may be created again later, which is a
	// ChangeCreate.
	ChangeDelete ChangeKind = "delete"
	// ChangeInfo: the session's title or metadata changed
	// (Describer.UpdateInfo). Describer.Info reads the new ones; Version is
	// unchanged (UpdateInfo does not advance it), so it equals the version
	// of the change before, and the change carries no Messages. Every
	// UpdateInfo that succeeds records one, even one that sets the values
	// the session already has: the stores do not compare. An UpdateInfo
	// that fails (ErrNotFound for a missing session) records none.
	// Importer.SetUpdatedAt, which changes only UpdatedAt, records nothing.
	// Added after the other kinds: a consumer of an earlier release ignores
	// it.
	ChangeInfo ChangeKind = "info"
)

// Change is one committed change to one session, as a Watcher delivers it.
type Change struct {
	// Cursor is the change's position in the store's feed: pass it as
	// WatchQuery.After to resume after this change. It is durable (it
	// means the same after a restart of either side) and opaque: compare
	// cursors only for equality.
	Cursor string
	// SessionID is the session changed.
	SessionID string
	// Owner is the session's owner (see Describer), or "".
	Owner string
	// Kind says what changed.
	Kind ChangeKind
	// Version is the session's version (see Versioned) after the change:
	// 0 for ChangeCreate, the last version for ChangeDelete, the version
	// it already had for ChangeInfo.
	Version int64
	// Messages are, for ChangeAppend and ChangeReplace (and ChangeCreate
	// of a fork), the messages the change stored, oldest first, as GetMessages returns them. The feed
	// records where they are, not a copy: a message removed again by a
	// later change (which the feed delivers after this one) is no longer
	// in the store when this change is read, and is left out here.
	Messages []message.Message
	// Removed holds, for ChangeRemove, the ids of the messages removed.
	Removed []string
	// At is when the change was made, in Unix nanoseconds.
	At int64
}

// WatchFromNow, as WatchQuery.After, starts a watch at the end of the feed:
// it delivers only changes committed after Watch returns.
const WatchFromNow = "now"

// WatchQuery selects the changes a Watcher delivers.
type WatchQuery struct {
	// SessionID, when set, keeps only the changes to that session (every
	// incarnation of the id: after a ChangeDelete, a later ChangeCreate
	// starts its next life). The session need not exist.
	SessionID string
	// Owner, when set, keeps only the changes to sessions of that owner.
	// With neither field set, the watch delivers every change in the
	// store.
	Owner string
	// After is where to start: "" from the oldest change the store keeps,
	// a Change.Cursor to resume after that change, or WatchFromNow. A
	// value the store did not make gives an error matching ErrBadCursor.
	After string
}

// Watcher is a Store with a live change feed: Watch delivers the committed
// changes to one session, to the sessions of one owner, or to every
// session, as they happen, whichever process or store instance makes them.
//
// Guarantees. Changes come in the order they were committed, each exactly
// once: none is skipped and none repeated, across restarts of the consumer
// too, as long as it resumes from the Cursor of the last change it
// processed. Applying every change in order to a session's messages as
// they were at the first change's cursor gives the messages the session
// holds (see Change.Messages for appends that a later change undid).
// Changes of one session come in version order.
//
// Retention. A store keeps a bounded history, stated by each store (for
// example, the SQL stores keep what FeedTrimmer.TrimFeed has not
// discarded, and record from the first watch of their database on, see
// sqlite.Store.StartFeed and postgres.Store.StartFeed). A watch whose
// After, or a consumer so slow that its position, lies before the oldest
// change the store kept fails with an error matching ErrFeedGap (a
// *FeedGapError): changes were discarded that it never saw. It is never
// silently skipped. To recover, read the current state
// (Versioned.Snapshot) and watch from WatchFromNow.
//
// Ending. Watch returns an error at once for an invalid WatchQuery
// (ErrInvalidID, ErrBadCursor, ErrFeedGap) or a cancelled context. The
// iterator it returns may be ranged over once. It blocks waiting for
// changes and ends when ctx is done, with a last pair whose error matches
// ctx.Err(), or with any error reading the feed (ErrFeedGap if the
// consumer fell behind the store's retention). Breaking out of the loop
// stops the watch and releases what it holds.
//
// A watch started with WatchFromNow, then a Snapshot, shows a session live
// without a gap or a repeat: skip the changes whose Version is at most the
// snapshot's. That rule is for the changes to messages: a ChangeInfo keeps
// the version, so handle it whatever its Version (read Describer.Info
// again, which is harmless if the snapshot already saw the new title).
type Watcher interface {
	// Watch delivers the changes q selects, as described above.
	Watch(ctx context.Context, q WatchQuery) (iter.Seq2[Change, error], error)
}

// FeedTrimmer is a Watcher whose feed history is discarded on demand: a
// retention policy for the feed, as Pruner is for sessions.
type FeedTrimmer interface {
	// TrimFeed discards the changes recorded before the time before (Unix
	// nanoseconds) and returns how many it discarded. A watch whose
	// position lies before the newest change discarded gets ErrFeedGap.
	TrimFeed(ctx context.Context, before int64) (int64, error)
}

// ErrFeedGap is matched (with errors.Is) by the error a Watcher returns
// when changes after the watch's position are no longer kept. The error is
// a *FeedGapError.
var ErrFeedGap = errors.New("change feed gap: changes after the cursor were discarded")

// FeedGapError reports a watch that cannot continue without losing
// changes. It matches ErrFeedGap with errors.Is.
type FeedGapError struct {
	// After is the watch's position (a Change.Cursor, or "" for the
	// beginning of the feed).
	After string
	// Kept is the cursor after which the store still has every change:
	// the newest change it discarded.
	Kept string
}

// Error names the watch's position and what the store kept.
func (e *FeedGapError) Error() string {
	after := e.After
	if after == "" {
		after = "the beginning"
	}
	return fmt.Sprintf("%v: watching from %s, changes up to cursor %s were discarded", ErrFeedGap, after, e.Kept)
}

// Is reports whether target is ErrFeedGap.
func (e *FeedGapError) Is(target error) bool { return target == ErrFeedGap }

// Watch watches store, or returns an error matching ErrNotSupported when
// store has no change feed.
func Watch(ctx context.Context, store Store, q WatchQuery) (iter.Seq2[Change, error], error) {
	w, ok := store.(Watcher)
	if !ok {
		return nil, fmt.Errorf("session: watch: %T: %w", store, ErrNotSupported)
	}
	return w.Watch(ctx, q)
}
