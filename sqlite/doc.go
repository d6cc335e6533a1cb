// Package sqlite is a convo session store in a SQLite database, the embedded
// default: nothing to install, one file, safe for many goroutines and many
// processes.
//
//	db, err := sql.Open("sqlite", "chat.db") // modernc.org/sqlite, or any driver
//	store, err := sqlite.SessionStore(ctx, db)
//	store, err := sqlite.SessionStore(ctx, db, sqlite.WithTablePrefix("chat_"))
//	myAgent := agent.New(llmClient, agent.WithSession("user-123", store))
//
// SessionStore takes the caller's *sql.DB and imports no driver, so a program
// compiles only the driver it chose. It is tested with modernc.org/sqlite
// (pure Go, the default in convo's examples and CLI), github.com/mattn/go-sqlite3
// (cgo) and github.com/ncruces/go-sqlite3, each running the full
// session/sessiontest conformance suite on a file and on ":memory:" limited
// to one connection (db.SetMaxOpenConns(1): every connection to ":memory:"
// is a separate, empty database).
//
// A call cut short by its context (cancelled, or past its deadline) returns
// an error matching ctx.Err(), whatever words the driver used, and its
// transaction is rolled back on the same connection: the store never lets
// database/sql close a connection because a context ended, which with
// mattn and ncruces would throw away a ":memory:" database whole.
//
// # Tables
//
// The store creates, with an optional prefix (WithTablePrefix("chat_") gives
// chat_sessions, chat_messages, ...):
//
//	sessions           id, owner, title, metadata (JSON), created_at, updated_at (Unix ns),
//	                   version, next_seq, message_count, incarnation,
//	                   parent_id, fork_message_id (a fork's parent and fork point, else '')
//	messages           session_id → sessions(id), seq, id, role, parts (JSON text), model,
//	                   usage (JSON), created_at, src; UNIQUE (session_id, seq), UNIQUE (session_id, id);
//	                   index (src, seq) WHERE src IS NOT NULL; triggers that hand shared parts on
//	messages_search    FTS5 index of the message text's terms, contentless (when the build has FTS5)
//	search_state       the index's high-water mark (indexed_to) and the version of its rules
//	search_pending     indexed messages whose parts were changed in place since
//	changes            the change feed: one row per committed change (seq, session, owner,
//	                   kind, version, the range of message seqs stored or the ids removed)
//	feed_state         the newest change TrimFeed discarded (trimmed_to), and whether
//	                   writes record their changes (active, schema version 8)
//	convo_schema_migrations  the schema versions applied for this prefix
//
// parts hold the message's parts in the versioned JSON format documented in
// package message, except in a row of a fork (src set): such a row holds
// an empty parts text and shares the parts of the row of session src with the same
// seq, which holds its own (see Forks). Every ordered read follows seq, the
// per-session sequence.
// Several prefixes can share one file; each has its own schema version.
//
// # Opening a database that is not (yet) convo's
//
// SessionStore reads what the file holds before it writes anything: tables
// with its names (sessions, messages, with the prefix) that belong to
// another program are refused with ErrForeignTables, those written by
// github.com/joakimcarlsson/ai's memory/sqlite with ErrUpstreamSchema, and
// the file is left byte for byte as it was (no journal-mode switch, no
// table). Upgrade (or `convo upgrade`) converts that project's tables in
// place, in one transaction; see its documentation and docs/cli.md.
// WithReadOnly opens a store that never creates, migrates or writes (a
// read-only file, or a DSN naming the file as "file:PATH?mode=ro": the
// drivers read URI parameters such as mode only in a "file:" name); its
// writes fail with session.ErrReadOnly, and a
// schema older or newer than this release gives ErrSchemaTooOld or
// ErrSchemaTooNew. A row that cannot be decoded can be moved aside with
// Quarantine (session.Quarantiner), into prefix + "messages_quarantine".
//
// # Migrations
//
// The schema is versioned (numbered migrations embedded in the package;
// since version 8, migrations/0008_feed_starts_when_watched.sql, a new
// database's change feed is dormant until it is first watched: see "Change
// feed"). SessionStore creates it or upgrades an older convo schema in
// place, in one transaction that takes SQLite's write lock before reading
// the version, so concurrent openers in any number of processes apply each
// migration once. A database whose schema is newer than the code is
// refused with ErrSchemaTooNew. testdata holds a database of every earlier
// version, and a test upgrades each one.
//
// # Concurrency and the DSN
//
// The store is safe with a plain DSN (a bare file path, no pragmas) on every
// driver, although the drivers' defaults differ (modernc waits 0 ms for a
// lock by default, mattn starts transactions DEFERRED): it sets busy_timeout
// on every connection before its first transaction of the store
// (WithBusyTimeout, default 10 s) and makes the first statement of every
// write transaction a write prepared on that connection beforehand, so it
// holds the write lock
// before it reads and never meets the "database is locked" that SQLite
// returns without waiting when a reader tries to become a writer. Writers of
// one process queue on an in-process lock per *sql.DB. SessionStore switches
// a file database to WAL (readers and the writer do not block each other;
// WithWAL(false) leaves the journal mode alone). Opening waits as a write
// does: processes that open the same new file at once would otherwise meet
// "database is locked" from the switch to WAL, which SQLite returns without
// waiting; SessionStore tries the switch and the schema's creation again
// until they succeed or the busy timeout has passed (a test releases 8
// processes onto a new file at the same instant, 60 times, on each driver).
// Tests start real processes appending to one file, and kill appending
// processes with SIGKILL: no "database is locked", nothing lost or
// reordered, no half-stored call, and PRAGMA integrity_check passes.
//
// # Durability: synchronous=NORMAL or FULL
//
// In WAL mode, synchronous=NORMAL keeps every committed append across a crash
// of the program (the tests' SIGKILLs) but may lose the last commits on a
// power loss or OS crash; FULL also survives those, at the price of an fsync
// per commit (measured here: NORMAL appends a 4-message turn 1.7 to 2 times
// faster than FULL; see docs/performance.md). SQLite refuses to change the
// level inside a transaction, so it comes from the DSN: for example, with
// modernc.org/sqlite,
//
//	file:chat.db?_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)
//
// and with mattn/go-sqlite3 "file:chat.db?_synchronous=FULL". Drivers differ
// in their default (modernc: FULL; mattn and ncruces: NORMAL).
//
// # Full-text search
//
// Store implements session.Searcher, with the query syntax and matching
// rules that every convo store shares (see session.Searcher): words in every
// script, including Chinese, Japanese, Korean and Thai, which are matched by
// character pairs, with diacritics and case ignored.
//
// Appends do not index. Text is extracted and cut into terms in Go and
// indexed later, in batches, into a contentless FTS5 table (so the text is
// not stored twice): by a search, when more than a few hundred messages
// await indexing, or by (*Store).IndexSearch, which a program can call when
// idle. A one-row table holds the high-water mark of indexed messages (by
// rowid). A search reads, in one transaction, the index's hits and every
// message above the mark, which it matches in Go; so it finds every message
// whose append returned before it started, in this process or another, and
// works without writing on a store that must not write. Erasures (pop,
// clear, delete, owner erasure, prune, rewrite) remove the index entries of
// the rows they delete in their own transaction, through a trigger on
// DELETE, so erased text is never found again; the same trigger lowers the
// mark when the rows at the top of the table go, so that a new row, which
// SQLite numbers from the largest rowid left, is never taken as indexed. Every
// change to the index is made in one transaction with what it records, so a
// crash at any instant leaves it consistent; every hit is also checked
// against the stored text before it is returned. (TestKilledWritersLoseNothing
// kills, with SIGKILL, processes that append, index, and change messages in
// place with plain SQL, some within 2 ms of the start of a write; then
// every acknowledged turn is stored whole, no turn in part, and a search
// finds exactly the stored messages containing each word, read-only before
// the index is caught up and after.)
//
// modernc.org/sqlite has FTS5; mattn/go-sqlite3 needs the build tag
// sqlite_fts5; ncruces/go-sqlite3 needs fts5.Register on every connection
// (driver.Open(dsn, fts5.Register), from github.com/ncruces/go-sqlite3/ext/fts5).
// Without FTS5, Search fails with an error matching session.ErrNotSupported
// and ErrNoFTS5, and everything else works. The index is derived data:
// SessionStore creates it when missing (WithFullTextSearch(false) skips
// that) and replaces the trigger-kept index of schema version 1. A build
// without FTS5 refuses to open a file that has an index, since it could not
// remove erased text from it; (*Store).DropSearchIndex, run from a build with
// FTS5, removes it.
//
// Limits. A query uses at most its first 64 terms (words, or character
// pairs in the scripts without spaces), each cut to 100 bytes, so its cost
// does not grow with the length of what a user pastes; and every search is
// bounded in time by WithSearchTimeout (default 30 s, DefaultSearchTimeout,
// the work a search does first included): one still running then fails with
// an error matching context.DeadlineExceeded, as it does at the deadline of
// its context if that comes first.
//
// # Change feed
//
// The store is a session.Watcher: Watch follows the changes to a session,
// to an owner's sessions or to the whole file, live, from a cursor that
// survives restarts. Once the feed has started (below), every write records
// its change in the changes table in its own transaction, so a change is in
// the feed exactly when it is committed; SQLite's single writer commits them
// in seq order, so a reader never sees a change before an older one. A
// change records where its messages are, not a copy: one row of about 100
// bytes per append, whatever its size.
//
// A watch is woken at once by writes through any store on the same
// *sql.DB, and finds commits by other processes (or other *sql.DBs) by
// reading the feed's head every WithFeedPollInterval (100 ms by default),
// on a pooled connection held only for that read, so a pool of one
// connection keeps working. A watch holds no connection while it waits.
//
// The feed starts when it is first watched. A database created at schema
// version 8 or later has it dormant: writes record nothing, so a store
// whose feed nothing reads does not pay for it (the feed's row is one of
// the about 11 pages an append of a 4-message turn writes to the WAL;
// docs/performance.md). The first Watch, by any process, starts it, once
// and for good, through Store.StartFeed, which sets feed_state.active in a
// write transaction. Every write reads active inside its own write
// transaction, after its first statement took SQLite's write lock, and
// SQLite runs one write transaction at a time, each reading every commit
// made before it (https://www.sqlite.org/isolation.html): so each write
// either committed before the feed started or records its change
// (TestStartFeedRacingWriters: writers on four *sql.DBs appending while it
// starts; each session's recorded appends are one unbroken run of versions
// up to the last, and every append begun after StartFeed returned is among
// them). While the feed is dormant a write still runs its feed statement,
// which reads the flag and inserts nothing; a store that has seen the feed
// started no longer reads the flag. Call StartFeed at deployment to record the
// changes made before the first watch; a watch from the oldest change ("")
// starts at the first change after the feed started. A read-only store
// cannot start a dormant feed (its Watch fails with session.ErrReadOnly;
// `convo serve`, which opens the file read-only, then looks for new
// messages once a second). A database upgraded to version 8 whose feed
// recorded changes, or discarded some, keeps recording; one whose feed is
// empty and was never trimmed (a database of version 4 or older upgraded
// now, for one) starts dormant. A process of an earlier release that still
// has the file open records its changes anyway: a watch from the oldest
// change then also sees those, but not the writes of this release between
// them, so their sessions' changes have gaps; and a watch of an earlier
// release on a database upgraded with a dormant feed sees only those (an
// earlier release cannot start the feed, and nothing tells this one it
// watches). Run every process that uses a file on a release with schema
// version 8 once one has upgraded it, or start the feed (StartFeed) when
// upgrading.
//
// History is kept until TrimFeed(ctx, before) discards the changes made
// before a time; run it on a schedule, as Prune. A consumer whose cursor
// is older than the newest discarded change gets session.ErrFeedGap and
// must reread the sessions it follows (Snapshot) and watch from
// session.WatchFromNow. A database upgraded to schema version 5 has an
// empty feed: it holds the changes made since it started.
//
// # Errors
//
// Every error names the operation and session, and wraps the session
// package's sentinels (ErrNotFound, ErrExists, ErrInvalidID, ErrConflict,
// ErrInvalidMessage, ErrTooLarge) for errors.Is. A row whose JSON cannot be
// decoded gives a *session.CorruptError naming the session, the row's seq and
// the message id; other sessions stay readable. A session row that cannot
// be decoded in full (metadata that is not JSON, or text where a time or
// count belongs, which SQLite keeps in an INTEGER column when another
// program writes it) does not stop List: the session is listed in its place
// with the fields that could be read, and ListPage.Unreadable names it and
// the column, matching session.ErrCorrupt; Info returns the same error. A
// table prefix that is not a plain identifier is refused before any SQL
// runs.
//
// # Forks
//
// Fork (session.Forker) makes a session holding another's messages up to one
// of them, linked to it by parent_id and fork_message_id. Since schema
// version 7 the fork shares the parent's message bytes instead of copying
// them: one INSERT ... SELECT, in the transaction that creates the fork,
// writes a row per inherited message with its id, seq, role, model, usage
// and created_at, an empty parts text, and src naming the session whose row (same seq)
// holds the parts: the parent's, or the row the parent's own row shares, so
// a fork of a fork refers to the same rows and no read follows a chain. A
// read of a fork's row takes the parts from that row by the (session_id,
// seq) key; a row that is not shared costs the test of src only.
//
// Parent and fork stay independent. Before a row that others share is
// deleted (pop, clear, replace, quarantine, delete, owner erasure, prune,
// or a DELETE by another program) or has its parts changed in place, a
// trigger writes its parts into one of the rows sharing it and points the
// others at that one, in the same transaction: deleting a parent pays,
// for its shared rows, the copy that the fork did not make, and more (see
// below). The full-text index holds a fork's rows like any other (indexed at
// the next search with the shared text; a hit names the fork), and a row
// that receives the parts it shared keeps its entry. Bulk deletes remove
// the forks' rows before the rows they share, because SQLite leaves
// undefined a statement whose BEFORE trigger changes a row that the same
// statement deletes later.
//
// Measured (BenchmarkFork, a loaded 2-vCPU VM, messages of about 1 KB): a
// fork takes 0.32-0.50 of the time of a raw INSERT ... SELECT copy of the
// same rows (the copying fork of version 6 took 0.94-1.68 of it, in runs
// interleaved with these), 15-26 µs per message at 10,000 whatever their
// size, and 0.12 of the space; the last 20 messages of a fork take 1.3-2.4
// times the parent's, flat in the session's length; deleting a session of
// 10,000 messages that a fork shares takes 2.9-3.9 times deleting one that
// none shares (the parts are written into the fork then, at 2.5-2.8 times
// a raw copy's cost per message).
//
// A fork made before version 7 keeps the copies it was made with. Every
// process that uses a file must run a release with schema version 7 once
// one has upgraded it: an earlier release, refused at open by
// ErrSchemaTooNew, would read the rows of a fork made since, if it already
// had the file open, as corrupt (empty parts). docs/performance.md has the
// figures (BenchmarkFork).
//
// # Performance
//
// Benchmarks in this package compare the store with the raw driver doing the
// same work in the same run (go test -run '^$' -bench . ./sqlite); the figures
// and settings are in docs/performance.md.
//
// Appending, with search on (the default), against a transaction of plain
// INSERTs into a table with only a primary key: 0.39-0.57 of its throughput
// under synchronous=NORMAL and 0.86-0.92 under FULL (issue 11 asks for 0.9:
// missed under NORMAL, and under FULL in four runs of five); against one
// autocommit per message: 0.61-1.08 times its throughput under NORMAL (2 asked
// for: missed) and 2.56-3.55 times under FULL (met); five runs each,
// 2026-11-26, on a loaded 2-vCPU VM. An append's cost follows the pages it
// writes to the WAL: a 4-message turn writes about 11 where the plain table
// writes 5.6, namely the session row (version, next seq, message count,
// activity time), its two listing indexes, the (session_id, seq) index and
// the change feed's row (since schema version 8, only once the feed has
// started; these figures were measured with it recording). BenchmarkAppendLayouts measures the alternatives
// with raw SQL: a layout clustered by session and seq writes 9.7 pages and
// reaches 0.71-0.75 under NORMAL, and no layout that keeps versions, listing
// by activity and the feed reaches 0.9 there.
package sqlite
