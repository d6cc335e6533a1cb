// Package session defines convo's conversation store: the Store and Session
// interfaces every backend implements, the errors they return, the optional
// capabilities they may add, and MemoryStore, the in-memory reference
// implementation.
//
// Backends live in their own packages (convo/sqlite, convo/postgres) and
// import this one; this package imports none of them, as io/fs imports no
// file system.
//
// # The contract
//
// Every backend keeps these rules, and the conformance suite
// session/sessiontest checks each of them under the name in brackets:
//
//   - GetMessages returns messages oldest first; a nil or negative limit
//     returns all, 0 returns none, n returns the last n, still oldest first.
//     [GetMessages]
//   - An empty read returns a non-nil empty slice, never nil: GetMessages
//     and Snapshot of an empty session or with limit 0, a List page with no
//     session, a Search with no hit (so JSON output is [], not null).
//     [EmptyResults]
//   - AddMessages keeps the order within a call and across calls; an empty
//     call is a no-op. [AddMessages]
//   - Order is the order of appends (a per-session sequence), never the
//     messages' CreatedAt or IDs. [AddMessages]
//   - AddMessages is atomic: a call holding one invalid message (see
//     message.Validate) stores nothing and returns ErrInvalidMessage.
//     [Atomicity]
//   - PopMessage removes and returns the newest message; nil, nil when the
//     session is empty. [PopMessage]
//   - Clear removes every message and keeps the session. [Clear]
//   - Delete removes the session and its messages; deleting a missing
//     session is not an error; every call on a handle of a deleted session
//     returns ErrNotFound, even after the id is created again; a re-created
//     session starts empty. [Delete]
//   - Create of a taken id returns ErrExists; Load of a missing id returns
//     ErrNotFound and creates nothing. [Create, Load, Exists]
//   - Ids are checked with ValidateID: "", ids over MaxIDLength bytes, ids
//     that are not UTF-8 or hold control characters give ErrInvalidID from
//     every method; any other id (CJK, emoji, quotes) works. [SessionIDs]
//   - Sessions are isolated: one session's writes never show in another;
//     ids are compared byte for byte (case matters). [Isolation]
//   - A store copies messages in and out: changing a slice after an append,
//     or a returned message, does not change what is stored. [Aliasing]
//   - A message with an empty ID gets message.NewID (unique, sorting by
//     creation); one with a zero CreatedAt gets the time of the append; both
//     are written into the caller's slice. A set CreatedAt is kept exactly.
//     [MessageIDs, CreatedAt]
//   - A message whose ID the session already holds is skipped (the first of
//     two in one call wins), so a call whose answer was lost can be retried
//     with the same slice. [Retry]
//   - Messages come back exactly: every part type (Unknown included), the
//     reasoning signature, binary data, invalid-JSON tool input, tool-result
//     metadata, unicode and NUL, 1 MiB texts, the model, usage, and
//     CreatedAt to the nanosecond. [Content]
//   - A cancelled context makes every method return an error matching
//     context.Canceled and change nothing. [Cancel]
//   - Stores are safe for concurrent use: concurrent LoadOrCreate of one new
//     id all succeed on one session; concurrent writers lose nothing and
//     never interleave the messages of one call. [Concurrency]
//
// # Capabilities
//
// Beyond the contract a store may implement optional interfaces, found by
// type assertion as io.WriterTo is. Each one a store implements is checked
// by the suite; the others are skipped.
//
//   - Opener: Open loads or creates a session in one atomic step.
//   - Describer: sessions carry an owner, a title and metadata (CreateWith,
//     Info, UpdateInfo).
//   - Lister: List pages through sessions, most recently updated first,
//     with keyset pagination and filters by owner, id prefix and time.
//   - Searcher: full-text search over message text, reasoning and tool
//     results, with highlighted snippets.
//   - OwnerEraser: DeleteOwner erases everything an owner has, in one call.
//   - Pruner: Prune deletes sessions idle since a given time (with a dry run).
//   - Importer: SetUpdatedAt records a session's last activity as it was in
//     another store, so imported sessions keep their order and age.
//   - Quarantiner: Quarantine moves one stored message row aside, bytes
//     kept, so that a session holding a row that cannot be read
//     (ErrCorrupt) is usable again; Quarantined lists such rows.
//   - Forker: Fork makes a new session holding another's history up to a
//     message, linked to it (Info.ParentID, Info.ForkMessageID) and
//     independent of it afterwards: retry a turn, edit and resend.
//   - Watcher: Watch delivers the committed changes to a session, to an
//     owner's sessions or to the whole store (create, append, remove, clear,
//     replace, delete, and info: a title or metadata changed by
//     UpdateInfo), live, in commit order, each once, from a durable
//     cursor, so that a consumer that stops resumes where it was; a cursor
//     behind the history the store keeps gives ErrFeedGap, never a silent
//     loss. FeedTrimmer: TrimFeed discards old feed history.
//   - Versioned (on sessions): Snapshot reads messages and a version
//     together; AddMessagesAt appends only if the session is still at that
//     version, else returns ErrConflict.
//   - Rewriter (on sessions): ReplaceMessages replaces the whole history
//     in one atomic step if the session is still at a version (what
//     repairing damage in the middle of a history needs).
//   - Ranger (on sessions): Range reads a stretch of a session's history by
//     sequence number (a page before or after a Seq) without reading the
//     rest, each message with its Seq; a Seq is never reused, so a reader
//     that has seen up to n finds what came later after n.
//
// For example:
//
//	if l, ok := store.(session.Lister); ok {
//		page, err := l.List(ctx, session.ListQuery{Owner: "alice"})
//		...
//	}
//
// # Helpers
//
// LoadOrCreate opens a session race-free (with Opener when the store has
// it). List, Search, Fork, ForkBefore, Range, Watch and AsVersioned use a
// capability or return an error matching ErrNotSupported; they never fall
// back to a weaker guarantee. Limit makes the *int that GetMessages takes. ValidateID is the id check
// every store applies. Check, Repair and RepairSuffix find and mend broken
// tool-call pairing in a message list. PendingResult records a call whose
// result is still to come (the agent's tool approval): a placeholder that
// keeps the session valid while it waits and that a later result for the
// call supersedes; Superseded leaves the superseded ones out of a history
// sent to a model.
//
// # Errors
//
// Stores wrap the sentinel errors (ErrNotFound, ErrMessageNotFound,
// ErrExists, ErrInvalidID, ErrConflict, ErrInvalidMessage, ErrTooLarge,
// ErrNotSupported, ErrCorrupt, ErrReadOnly, ErrStorageFull, ErrBadCursor,
// ErrFeedGap) with the store and operation; test them with errors.Is, never
// by text. A full disk is ErrStorageFull on every backend;
// nothing of the failed call is stored, and SQLite in WAL mode writes again
// only once about the size of its -wal file is free.
//
// # Testing a store
//
// A third-party backend proves it keeps the contract by running the suite:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) session.Store {
//			return mystore.New(openEmptyTestDB(t)) // fresh and empty for every subtest
//		})
//	}
package session
