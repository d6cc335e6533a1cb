// Package postgres is a convo session store in PostgreSQL, for many
// processes on many machines sharing one database. It keeps the same
// contract as the SQLite store and the in-memory reference store (it passes
// session/sessiontest in full) and implements every capability: Opener,
// Describer, Lister, Searcher, OwnerEraser, Pruner, Importer, Quarantiner,
// Forker, Watcher and FeedTrimmer, and sessions that are Versioned,
// Rewriters and Rangers.
//
// # Usage
//
// The store takes a pgx v5 pool (github.com/jackc/pgx/v5/pgxpool, v5.12.0
// or later) that the caller owns and closes:
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db/app?pool_max_conns=32")
//	...
//	store, err := postgres.SessionStore(ctx, pool, postgres.WithSchema("convo"))
//	...
//	sess, err := session.LoadOrCreate(ctx, store, "user-123")
//	err = sess.AddMessages(ctx, turn)
//	last20, err := sess.GetMessages(ctx, session.Limit(20))
//
// SessionStore returns a session.Store whose dynamic type is *Store; Open
// returns the *Store itself, whose methods include the capabilities
// (List, Search, Prune, ...).
//
// # Options
//
//   - WithSchema(name) puts the tables in that schema, created if missing.
//     Without it they are created unqualified, in the first schema of the
//     connection's search_path.
//   - WithTablePrefix(prefix) prefixes every table, index and constraint
//     name ("chat_" gives chat_sessions and chat_messages).
//   - WithMaxMessageBytes(n) bounds a message's encoded parts (default
//     16 MiB); larger ones fail with session.ErrTooLarge.
//   - WithReadOnly() opens a store that creates, migrates and writes
//     nothing (a role with only SELECT on the tables and USAGE on their
//     schema is enough); every write fails with session.ErrReadOnly, and a
//     schema older or newer than this release gives ErrSchemaTooOld or
//     ErrSchemaTooNew instead of being upgraded.
//   - WithCitus() distributes the tables on a Citus coordinator and runs
//     statements Citus routes to one shard (see "Citus" below); without
//     the citus extension SessionStore fails with ErrNoCitus. Such a store
//     has no change feed. Tables that Citus distributes need the option:
//     without it SessionStore fails with ErrNeedsCitus.
//   - WithFeedPollInterval(d) sets how often a watch reads the change feed
//     when no NOTIFY has woken it (default 500 ms; see "Change feed").
//
// The schema name and prefix are spliced into SQL, so they must be plain
// identifiers (ASCII letters, digits and _, not starting with a digit, at
// most 40 bytes); SessionStore refuses anything else before it runs any SQL.
//
// Before it creates anything, SessionStore reads the catalog: tables with
// its names (sessions, messages, with the prefix, in the schema) that are
// neither convo's nor those of github.com/joakimcarlsson/ai are refused
// with ErrForeignTables; that project's memory/postgres tables with
// ErrUpstreamSchema. Either way the database is left as it was. Upgrade
// (or `convo upgrade`) converts that project's tables in place, in one
// transaction; see its documentation and docs/cli.md. A row that cannot be
// decoded can be moved aside with Quarantine (session.Quarantiner), into
// prefix + "messages_quarantine".
// Every value travels as a bind parameter.
//
// # Schema
//
// Version 9, as created in the schema and with the prefix of the options
// (migrations/0001_init.sql, 0002_quarantine.sql, which adds the
// messages_quarantine table not shown here, 0003_search_terms.sql,
// 0004_forks.sql, 0005_quarantine_replica_identity.sql, which gives
// that table, which has no primary key, REPLICA IDENTITY FULL, so that its
// deletes can be published to logical replication and Citus can move its
// shards, 0006_changes.sql, the change feed's tables, shown under "Change
// feed", 0007_feed_notify_from_writer.sql, which drops the NOTIFY
// trigger that 0006 put on changes: the writer notifies instead,
// 0008_fork_sharing.sql, the columns, index and trigger by which forks
// share bytes, see "Forks", and 0009_feed_starts_when_watched.sql, the
// column of feed_state that says whether writes record their changes, see
// "Change feed"):
//
//	CREATE TABLE sessions (
//	    id            text COLLATE "C" NOT NULL,
//	    owner         text COLLATE "C" NOT NULL DEFAULT '',
//	    title         text NOT NULL DEFAULT '',
//	    metadata      json,
//	    created_at    bigint NOT NULL,          -- Unix nanoseconds
//	    updated_at    bigint NOT NULL,          -- strictly increases on every change
//	    version       bigint NOT NULL DEFAULT 0,
//	    next_seq      bigint NOT NULL DEFAULT 1,
//	    message_count bigint NOT NULL DEFAULT 0,
//	    incarnation   bigint NOT NULL,          -- random per Create: tells a re-created id apart
//	    parent_id     text COLLATE "C" NOT NULL DEFAULT '', -- a fork's parent (session.Forker)
//	    fork_message_id text COLLATE "C" NOT NULL DEFAULT '', -- and its fork point
//	    lent          boolean NOT NULL DEFAULT false, -- forks may borrow this session's bytes
//	    CONSTRAINT sessions_pkey PRIMARY KEY (id)
//	);
//	CREATE INDEX sessions_by_update ON sessions (updated_at DESC, id DESC);
//	CREATE INDEX sessions_by_owner  ON sessions (owner, updated_at DESC, id DESC);
//	CREATE TABLE messages (
//	    session_id text COLLATE "C" NOT NULL,
//	    seq        bigint NOT NULL,             -- order within the session
//	    id         text COLLATE "C" NOT NULL,   -- message id: retries are no-ops
//	    role       text NOT NULL,
//	    parts      json,                        -- message.MarshalParts, byte for byte; NULL: borrowed
//	    model      text NOT NULL DEFAULT '',
//	    usage      json,
//	    created_at bigint NOT NULL,
//	    tsv        tsvector,                    -- search terms of the message's text (see Search); NULL: borrowed
//	    shared_from text COLLATE "C",           -- a fork's row: the session whose row (same seq, id) owns parts and tsv
//	    CONSTRAINT messages_pkey PRIMARY KEY (session_id, seq),
//	    CONSTRAINT messages_msg_id UNIQUE (session_id, id),
//	    CONSTRAINT messages_session_fk FOREIGN KEY (session_id)
//	        REFERENCES sessions (id) ON DELETE CASCADE
//	);
//	CREATE INDEX messages_tsv ON messages USING gin (tsv);
//	CREATE INDEX messages_shared_from ON messages (shared_from, seq) WHERE shared_from IS NOT NULL;
//	CREATE TABLE search_index (                 -- one row: the rules tsv follows
//	    singleton     boolean NOT NULL DEFAULT true CHECK (singleton) PRIMARY KEY,
//	    version       integer NOT NULL,         -- searchtext's rules; 0: to_tsvector, as before
//	    after_session text COLLATE "C" NOT NULL, -- how far a rewrite of tsv got
//	    after_seq     bigint NOT NULL
//	);
//	CREATE TABLE convo_schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL);
//
// Ids and owners use the "C" collation, so that listing orders ids byte by
// byte, as every convo store does, whatever the database's locale.
//
// # Change feed
//
// The store is a session.Watcher (on plain PostgreSQL 13 or later; not
// WithCitus): Watch follows the changes to a session, to an owner's
// sessions or to the whole store, live, from a cursor that survives
// restarts. Once the feed has started (below), every write records its
// change, in the statement or transaction that makes it, in
//
//	CREATE TABLE changes (
//	    xid bigint DEFAULT pg_current_xact_id(), -- the writer's transaction
//	    id  bigint GENERATED ALWAYS AS IDENTITY, -- its rows' order within it
//	    session_id, owner, incarnation, kind, version,
//	    first_seq, last_seq,  -- the message seqs an append, replace or fork stored
//	    removed text[],       -- the message ids a remove removed
//	    at bigint,
//	    PRIMARY KEY (xid, id));
//	CREATE TABLE feed_state (...);  -- the newest (xid, id) TrimFeed discarded;
//	                                -- active: whether writes record (version 9)
//
// The table is the source of truth; NOTIFY only wakes watches. A sequence
// alone would not do as a cursor: writers take numbers in one order and
// commit in another, so a reader that has seen 11 can see 10 commit later
// and skip it. Changes are ordered by (xid, id) instead, and a watch reads
// only those whose xid is below every transaction of the database still
// running (and below the next xid): no change it reads later can sort
// before one it has read, and writers of different sessions never wait for
// each other. A transaction gets its xid at its first write, and an UPDATE
// (or SELECT ... FOR UPDATE) gets it before it waits for the session row's
// lock: so with several writers of one session, one with a lower xid
// could commit after one with a higher xid, and the feed delivered that
// session's changes out of version order (about 300 of 721 changes with
// 12 writers appending to one session). So every write that records a
// change of a session first takes a transaction-level advisory lock on a
// 64-bit hash of the table's name and the session id
// (pg_advisory_xact_lock, which assigns no xid), held to its commit: two
// writes of one session then get their xids in the order they commit, and
// a session's changes come in version order
// (TestFeedOrderUnderContention). An append takes it in its one statement
// (a CTE its UPDATE's WHERE depends on: no extra round trip); see
// "Measured" for its cost.
//
// A statement that locks many rows gets its xid at the first, so a writer
// could change and commit a later row before the statement reaches it, the
// change sorting after the delete it preceded. DeleteOwner and Prune
// therefore delete in rounds of up to 1000 sessions, each its own
// transaction: it takes its xid, locks the matching rows no writer holds
// (SELECT ... FOR UPDATE SKIP LOCKED), then, in a statement that sees
// every change committed before those locks, deletes the locked sessions
// that no change with a larger xid touched and records the deletes. A
// session left out (a writer held it, or changed it during the round) is
// taken by a later round; once only held rows are left, each is deleted in
// a round of its own that takes the session's feed lock first, waiting
// for its writer. No writer of another session waits for them, and a
// session's writer waits at most for one round; an erasure is no longer
// one transaction (the rounds that committed stay done if a later one
// fails; calling again finishes it).
//
// The cost of the feed's order: a transaction of the database left open
// (idle in transaction, a long batch that wrote something) holds back
// every change committed after it began, until it ends. Nothing is lost or reordered meanwhile.
//
// The store's watches share one connection of their own, made from the
// pool's configuration (not taken from the pool), that LISTENs on
// convo_feed_<the oid of changes> while any watch runs and registers in
// feed_listeners (renewed every 10 s, expiring after 30 s; a read-only
// store cannot register, and its watches poll; nor does a listener that
// does not hear the notification it sends itself when it starts, as
// through PgBouncer in transaction mode: see "PgBouncer"). Writers send
// the NOTIFY, in the transaction that records the change, so it arrives
// when the change commits. NOTIFY takes a lock at commit that all notifying
// transactions of the cluster share, which takes group commit from
// concurrent writers: so a store (one Store value) notifies at most once
// per 50 ms, and then only if a listener is registered and no other
// writer of the table is notifying at that moment (an advisory lock held
// to commit); a woken watch reads again 100 ms later for the changes that
// were not announced. Each watch also reads the feed every
// WithFeedPollInterval. Only a write that is due to notify asks the
// database whether anyone listens (one more statement in the same round
// trip, a pgx.Batch); every other append is its one statement, with the
// change's row inserted from the session row it updates. Before schema
// version 7 a trigger on changes made that check at every write, which
// cost about a tenth of an append; see "Measured".
//
// The feed starts when it is first watched. A database created at schema
// version 9 or later has it dormant: writes record nothing and take no
// feed lock, so a store whose feed nothing reads does not pay for it (the
// row and the lock cost an append 3-8 %; docs/performance.md). The first
// Watch, by any process, starts it, once and for good, through
// Store.StartFeed: it sets feed_state.active while it holds sessions in
// SHARE mode, which waits for the transactions writing sessions to end and
// holds new writers back until it commits (once in the database's life,
// for a few milliseconds; it waits in rounds of 200 ms (lock_timeout) and
// lets writers through in between, for longer after each round, so a long
// transaction never stalls them for long, and gives up after 30 s, leaving
// the feed dormant, while a transaction writing sessions stays open: idle
// in transaction, for example). Every write's statement reads active in its own snapshot,
// which PostgreSQL takes after the statement has locked sessions, so each
// write either ended before the feed started or records its change
// (TestStartFeedRacingWriters: 8 writers appending while it starts; each
// session's recorded appends are one unbroken run of versions up to the
// last, and every append begun after StartFeed returned is among them).
// Call StartFeed at deployment to record the changes made before the first
// watch; a watch from the oldest change ("") starts at the first change
// after the feed started. A read-only store cannot start a dormant feed
// (its Watch fails with session.ErrReadOnly). A writable store whose
// connections default to REPEATABLE READ or SERIALIZABLE starts the feed
// when it is opened: there a statement's snapshot is its transaction's,
// taken before the statement locks sessions. A database upgraded to
// version 9 whose feed recorded changes, or discarded some, or to which a
// (writable) watch of an earlier release is listening, keeps recording. A
// process of an earlier release writing to a database whose feed is
// dormant records its changes anyway: a watch from the oldest change then
// also sees those, but not the writes of this release between them, so
// their sessions' changes have gaps (start the feed first).
//
// History is kept until TrimFeed(ctx, before) discards the changes made
// before a time; run it on a schedule, as Prune. A consumer whose cursor is
// older than the newest discarded change gets session.ErrFeedGap and must
// reread the sessions it follows (Snapshot) and watch from
// session.WatchFromNow. A database upgraded to version 6 has an empty
// feed: it holds the changes made since.
//
// # Why parts is json, not jsonb
//
// The parts column is PostgreSQL's json type, which stores the text it is
// given, validated but unchanged. jsonb would break convo's promise that a
// message comes back exactly as it went in: it refuses the escape \u0000
// (a NUL in text, which the conformance suite stores), and it rewrites
// documents (key order, spacing, duplicate keys), which would change the
// unknown parts a later convo release wrote and this one must keep byte for
// byte. Queries can still cast: parts::jsonb works on every row without a
// NUL. The search index does not read parts at all: the store extracts the
// searchable text and its terms in Go and stores them as a tsvector in the
// same INSERT (see Search). Metadata is json for the same reason; role, model, title and owner
// are text, which cannot hold NUL: an append with a NUL in a message's id,
// role or model fails with session.ErrInvalidMessage.
//
// # Semantics
//
// AddMessages is one statement, so one round trip and one implicit
// transaction, in the common case: it advances the session row (next_seq,
// message_count, version, updated_at; the UPDATE also serialises
// concurrent appends to one session) and inserts the messages after the
// old next_seq. It stores nothing when the session is at another version
// or gone, and fails, storing nothing, when one of the ids is stored
// already (the unique constraint on (session_id, id)). After either, and
// after any other error the server reports for it, whatever its SQLSTATE,
// a second statement locks the row, finds which ids the session holds,
// appends the others (ON CONFLICT (session_id, id) DO NOTHING skips an id
// committed meanwhile) and tells a retry from a conflict from a deleted
// session. That statement cannot fail on the unique constraint, so no
// retry depends on the SQLSTATE of a unique violation (Citus reports a
// worker's as XX000, not 23505: a test rewrites every violation to XX000
// on the wire, and the Citus target retries on a real cluster), a row is
// skipped only for an id the session holds (the store checks it when one
// is), and a real failure (a full disk, say) fails the second statement
// too and is returned from there. A retry of stored messages leaves one
// ERROR line (the unique violation) in the server's log.
// Calls above 1,000 messages or
// 32 MiB run several such statements in one explicit transaction. A message
// whose id the session holds is skipped, so a call that failed ambiguously
// (a dropped connection after the commit) can be retried as is. The version
// increases by one per call that stores a message, per pop that removes one
// and per Clear; AddMessagesAt appends only at the expected version. seq
// orders a session's messages; it may have gaps (after a pop, or where a
// racing retry skipped a message).
// PopMessage locks the session row and deletes the highest seq in one
// transaction; Clear does the same for every message, and ReplaceMessages
// clears and appends in one transaction, at an expected version. A session handle
// remembers its session's incarnation, so after a Delete every call on it
// fails with session.ErrNotFound, even if the id was created again.
//
// A cancelled context fails the call with an error matching ctx.Err(). With
// pgx's default context handling the client closes the connection and the
// server may still finish (and commit) a statement already running, so an
// append whose context ends mid-flight is stored whole or not at all;
// configure pgconn.CancelRequestContextWatcherHandler in the pool's
// ConnConfig.BuildContextWatcherHandler to have the server abort it
// instead. Either way no call leaves half its work done: the tests kill
// backends with pg_terminate_backend and cancel contexts in the middle of
// an insert to show it.
//
// Migrations are numbered SQL files embedded in the package. SessionStore
// reads the version from convo_schema_migrations; if it is behind, one
// transaction takes pg_advisory_xact_lock (key: FNV-1a of "convo/postgres:"
// + schema + "." + prefix), re-reads the version, applies what is missing
// and records it, so any number of processes may start at once. A database
// newer than the code fails with ErrSchemaTooNew.
//
// A newer release may migrate while processes of an older one keep
// appending and reading. Before its first migration statement the
// migration takes both tables with one LOCK TABLE sessions, messages IN
// ACCESS EXCLUSIVE MODE, in the order every statement of the store takes
// them (sessions, then messages): appends and reads then wait for the
// migration, and it only for statements already running, so no lock cycle
// (deadlock) can form between them; appends pause for as long as the
// migration runs. A store opened WithCitus takes the same lock on the
// coordinator, and Citus takes it on every worker too (tried on Citus
// 13.2.2: TestCitusMigrationTakesTheTableLocks checks both, and
// TestCitusMigrationWhileAppending runs the test below on distributed
// tables). A transaction that PostgreSQL still aborts as a deadlock
// victim (SQLSTATE 40P01; it needs other DDL or a program that locks
// messages before sessions) changed nothing, and the store runs it again,
// up to 6 times with a short pause: appends (a message whose id is stored
// is skipped, so a retry never duplicates), reads of a session, searches
// (one filtered by owner reads messages before sessions), and migrations. Tests: 8 writers append and read without a pause while 6
// migrations that alter both tables, in either order, run on another pool
// (0 failures; before this, every writer failed with 40P01), and an append
// and a migration made the victims of a deadlock on purpose both succeed.
//
// # Search
//
// Store.Search follows the rules every convo store shares (package
// session, Searcher; defined once in internal/searchtext): the searchable
// text of a message is its text parts, reasoning text and tool-result
// content; it is normalised (Unicode NFKC, full case folding, diacritics
// removed in the Latin, Greek, Cyrillic, Arabic and Hebrew scripts, so
// café, CAFÉ and cafe match) and cut into words at every character that is
// not a letter, digit or mark, and in the scripts written without spaces
// (Chinese, Japanese, Korean, Thai, Lao, Khmer, Myanmar) into overlapping
// pairs of characters, so 東京 is found inside 明日は東京へ行きます. A query
// is words that must all match, "phrases" (words in order, next to each
// other) and prefix* words; no other character is an operator.
//
// How. The append computes each message's terms in Go and writes them,
// with their positions, as the row's tsv (a tsvector cast from quoted
// lexemes: no parser or dictionary of PostgreSQL's is involved), indexed by
// GIN. Search parses the query in Go and sends it as one bound value, a
// tsquery of quoted lexemes (phrases joined by <->, prefixes with :*);
// PostgreSQL finds and ranks the matches (ts_rank, then session id and
// position), and the store checks each and computes its snippet in Go by
// the same rules, so hits and highlights are those of the SQLite and
// in-memory stores. PostgreSQL's limits on a tsvector apply
// (https://www.postgresql.org/docs/current/textsearch-limitations.html):
// every word of a message is indexed, but positions past 16,383 are stored
// as 16,383 and a word keeps its first 255 positions, so a phrase beyond
// those is not found; and a message of about a megabyte of distinct words
// has its later new words left out of the index.
//
// Limits. A query uses at most its first 64 terms (words, or character
// pairs in the scripts without spaces), each cut to 100 bytes, so its cost
// does not grow with the length of what a user pastes; and every search is
// bounded in time by WithSearchTimeout (default 30 s, DefaultSearchTimeout,
// the work a search does first included): one still running then fails with
// an error matching context.DeadlineExceeded, as it does at the deadline of
// its context if that comes first.
//
// What a search sees. The terms are written by the statement that stores
// the message, so the index is never behind the rows and never ahead: a
// search (one statement, one snapshot) finds every message whose append
// returned before the search started, from any process, and none that was
// popped, cleared, replaced, deleted, erased with its owner or pruned
// before it started, because those remove the row and its terms together.
// A crash at any instant leaves each append stored whole with its terms or
// not at all, so the index never claims text that is not stored nor misses
// text that is; nothing needs rebuilding after a crash. A search running
// while an append commits may or may not see it.
//
// Upgrading. Schema versions 1 and 2 indexed to_tsvector('simple', text),
// which missed CJK words inside sentences and diacritic variants. Migration 3
// adds the search_index table, and SessionStore then rewrites the tsv of
// every stored message, in (session_id, seq) order, 500 messages per
// transaction, each of which records how far it got, before it returns.
// A crash loses at most one batch; processes that open the store together
// share the batches. Appends of the new release write the new terms at
// once; a search over rows not yet rewritten (from a process of the old
// release, or one that opened with a read-only option that does not
// rewrite) matches them by their old terms, which find fewer messages and
// never wrong ones, since every hit is checked in Go. The rewrite costs a read, a tokenisation and an UPDATE per
// message (a new row version, so plan a VACUUM after it): BenchmarkReindex
// measured the figure in "Measured"; at millions of messages expect
// minutes to tens of minutes, during which SessionStore does not return.
// Run the upgrade from one process before deploying the new release
// everywhere: a process of the old release still writes old terms.
//
// # Running at scale
//
// Pool size. Give the pool at least as many connections as calls you expect
// in flight (pool_max_conns in the URL; pgxpool's default is max(4, CPUs)).
// No call holds a connection between calls, and only PopMessage and very
// large appends use an explicit transaction. The server's max_connections
// caps the sum over all processes; past a few hundred connections put
// PgBouncer in front.
//
// PgBouncer. In transaction mode (pool_mode = transaction) PgBouncer
// gives a client a server connection only for one transaction
// (https://www.pgbouncer.org/features.html). The store's calls need no
// more: every lock it takes is transaction-scoped (pg_advisory_xact_lock,
// row locks, LOCK TABLE), its one SET is SET LOCAL, its temporary tables
// (Upgrade) are ON COMMIT DROP, and migrations run in one transaction, so
// a first SessionStore through PgBouncer creates the tables. What breaks
// is what outlives a transaction or spans two round trips:
//
//   - Prepared statements. pgx prepares every statement on its connection
//     by default (QueryExecMode cache_statement). PgBouncer keeps them in
//     transaction mode only from 1.21 on, with max_prepared_statements
//     above 0 (the default from 1.24 on;
//     https://www.pgbouncer.org/config.html#max_prepared_statements).
//     With an older one, or with it 0, calls fail, from the second process
//     or connection on, with "ERROR: prepared statement "stmtcache_..."
//     already exists (SQLSTATE 42P05)" or "... does not exist (SQLSTATE
//     26000)"; the store adds to such an error that a pooler swapped the
//     connection and what to do: add default_query_exec_mode=exec to the
//     URL (cache_describe and simple_protocol work too).
//   - The unnamed statement. pgx's describe_exec prepares each statement
//     unnamed in one round trip and runs it in the next, which PgBouncer
//     may send to another server connection, whose unnamed statement is
//     whatever another client prepared last: the call fails or, if the
//     parameters fit, that statement runs in place of the caller's
//     (measured: "unnamed prepared statement does not exist (SQLSTATE
//     26000)", "bind message supplies 9 parameters, but prepared statement
//     "" requires 1 (SQLSTATE 08P01)", and a Load that reported a stored
//     session missing). SessionStore and Upgrade refuse describe_exec
//     through any pooler, session mode included, before they read or
//     change anything: they compare the process id the connection was
//     given (PgBouncer's own key) with the server's pg_backend_pid().
//   - LISTEN. Notifications reach whichever client holds the server
//     connection next, or no one (PgBouncer 1.18 logs "got packet 'A' from
//     server when not linked" and drops them). A watch's listener finds
//     that out when it starts: it sends a notification to itself from the
//     pool and waits up to 10 s for it. When it does not come, the
//     listener does not register (so writers do not NOTIFY for it), tries
//     again a minute later, and the watches poll the feed every
//     WithFeedPollInterval (500 ms by default): they still deliver every
//     change, in order, but up to that interval late. To have them woken
//     at once, open the store you watch with on a pool of its own with a
//     direct URL (or one through PgBouncer in session mode): its listener
//     registers, and writers through PgBouncer in transaction mode notify
//     it, since their NOTIFY is sent inside their transaction.
//
// Other settings in the URL: PgBouncer refuses a connection that sets a
// startup parameter it does not track (it tracks client_encoding,
// DateStyle, TimeZone, standard_conforming_strings and application_name;
// https://www.pgbouncer.org/config.html#ignore_startup_parameters),
// search_path and options included:
// "FATAL: unsupported startup parameter: search_path (SQLSTATE 08P01)".
// One that names it in ignore_startup_parameters drops it without a word
// (measured: the URL's search_path=chat gave a session with "$user",
// public), so SessionStore without WithSchema, when the URL sets
// search_path, checks that the session has it, and otherwise fails
// ("the connection's search_path is not the one the URL sets ...") rather
// than use the tables of another schema. Use WithSchema, or set
// search_path on the role (ALTER ROLE ... SET search_path), or, from
// PgBouncer 1.20 on, name the parameter in its track_extra_parameters
// (not tried here). Give WithSchema behind
// PgBouncer in transaction mode in any case: a session-level SET by any
// other client of the same pool stays on the server connection and
// reaches the next client (SET is not supported in transaction pooling,
// and PgBouncer does not reset it). Measured: after one client ran
// the statement of a pg_dump file that empties search_path for the
// session (set_config with is_local false), the next clients got
// that server connection with an empty search_path, and a store without
// WithSchema failed with "ERROR: no schema has been selected to create in
// (SQLSTATE 3F000)" or "relation "messages" does not exist"; a store
// opened WithSchema qualifies every name and works with an empty
// search_path (TestWithSchemaNeedsNoSearchPath). Session mode
// (pool_mode = session) keeps every server connection for its client, so
// all of the above works there with the default URL.
//
// Measured on Debian 12's PgBouncer 1.18.0 in front of PostgreSQL 15
// (TestPgBouncer*, which CI runs through .ci/start-pgbouncer.sh; set
// CONVO_TEST_PGBOUNCER to run them): in transaction mode with
// default_query_exec_mode exec, cache_describe and simple_protocol the
// conformance suite (session/sessiontest) passes in full, Watcher
// included (by polling); with describe_exec it failed as above. With exec, so do the store's other
// tests, except those that cannot work through a pooler by their design:
// that LISTEN on a connection of the pool themselves, read
// pg_prepared_statements, find or kill backends by pg_stat_activity (which
// show PgBouncer's server connections, not the test's), set another
// startup parameter (default_transaction_isolation), connect as a role
// PgBouncer does not know, or restore a pg_dump (above). In session mode
// with the default URL the conformance suite, the change feed across
// processes and the NOTIFY of every kind of write pass. With the default
// URL in transaction mode, `convo ls` worked in the first process and
// failed in the next ones as above, and a new pool failed at its first
// statement on a server connection that another had prepared on. A pool
// whose ConnConfig sends cancel requests
// (pgconn.CancelRequestContextWatcherHandler, see "Semantics") made
// PgBouncer 1.18.0 exit ("FATAL @src/objects.c:1060 in function
// disconnect_client(): bad client state: 0") in both runs of the
// cancellation tests: PgBouncer's issue 801, fixed after 1.18 (its pull
// request 846); with that PgBouncer keep pgx's default context handling.
//
// Indexes. Every read the store makes uses one:
//
//   - messages_pkey (session_id, seq): history reads, the last n (a
//     backward index scan: a 100,000-message session reads as fast as a
//     100-message one), pop, clear, and the cascade of a delete;
//   - messages_msg_id (session_id, id): skipping ids already stored;
//   - messages_tsv (GIN): Search;
//   - sessions_by_update (updated_at DESC, id DESC): List, keyset pages
//     (a page costs the same at page 1 and page 10,000), and Prune;
//   - sessions_by_owner (owner, updated_at DESC, id DESC): List and Search
//     by owner, DeleteOwner, Prune by owner.
//
// Every append updates its session row and, because updated_at is indexed,
// the update cannot be HOT: keep autovacuum aggressive on sessions (for
// example autovacuum_vacuum_scale_factor = 0.01 on that table) when
// millions of sessions are active.
//
// Citus. Both tables are keyed by session id, so a Citus cluster can
// spread sessions over nodes and keep each session's messages on one node.
// Open the store WithCitus against the coordinator and it does the rest:
// in the transaction that creates the tables it runs
//
//	SELECT create_distributed_table('convo.sessions', 'id', colocate_with => 'none');
//	SELECT create_distributed_table('convo.messages', 'session_id', colocate_with => 'convo.sessions');
//	SELECT create_distributed_table('convo.messages_quarantine', 'session_id', colocate_with => 'convo.sessions');
//
// (with a prefix, convo.<prefix>sessions and so on), so no process ever
// sees them undistributed. The three tables form a colocation group of
// their own: by default Citus would put sessions in the group of any table
// the database already distributes by text with as many shards, and
// refuse it when that column's collation is not "C" ("cannot colocate
// tables sessions and ...: Distribution column collations don't match";
// TestCitusBesideOtherDistributedTables). The tables
// convo_schema_migrations and search_index stay local tables of the
// coordinator. Reopening is idempotent, and tables an
// earlier SessionStore created without the option are distributed by the
// first open with it. The reverse is refused: an open without the option
// of distributed tables (writable or read-only) fails with ErrNeedsCitus
// and changes nothing, because the plain statements do not work there
// (Citus cannot materialise the append's feed lock, "column
// "pg_advisory_xact_lock" has pseudo-type void"; it refuses the bulk
// deletes' FOR UPDATE across shards; and the coordinator's change feed
// would miss the changes of WithCitus writers). Migrations of distributed
// tables run as on plain PostgreSQL, in one transaction, except that the
// store sends each migration's statements one at a time: Citus sends the
// text of some DDL (CREATE INDEX among them) to the workers whole, and a
// worker refuses a text of several statements ("cannot insert multiple
// commands into a prepared statement"); and a migration's ALTER TABLE adds
// a constraint in a statement of its own, which Citus requires. Every
// upgrade, from each earlier version of tables distributed as WithCitus
// distributed them then, is tested on the cluster
// (TestCitusUpgradeFromEachVersion). The schema meets Citus's rules: every primary key
// and unique constraint includes the distribution column (sessions_pkey
// (id), messages_pkey (session_id, seq), messages_msg_id (session_id, id)),
// and the foreign key messages_session_fk joins the two distribution
// columns of colocated tables (TestSchemaFollowsCitusRules checks the
// catalog of every new schema, on plain PostgreSQL too).
//
// WithCitus also changes how the store talks to the cluster, because Citus
// routes a statement to one shard only if it is a SELECT, UPDATE, DELETE or
// INSERT ... SELECT filtered by the distribution column, never one with an
// INSERT in a WITH clause (as the plain append has: Citus runs that in
// steps through the coordinator), and because Citus opens a transaction on
// a worker only inside a transaction block: the statements of a pgx.Batch
// sent without BEGIN each commit on their worker by themselves (measured:
// a batch whose second statement failed kept its first). So with WithCitus
// an append is BEGIN; lock the session row; INSERT ... SELECT from that row
// with ON CONFLICT (session_id, id) DO NOTHING; UPDATE the row by what was
// stored; COMMIT, sent in one round trip; Clear and Store.Open are
// likewise routed statements in a transaction block. Every per-session
// statement is then a router query on the session's shard
// (TestRouterQueries checks each with EXPLAIN: one task, no subplan), and
// List, Search, DeleteOwner and Prune run on every shard (they use no
// data-modifying CTE, which Citus refuses across shards). The routed
// statements also pass the conformance suite on plain PostgreSQL in CI
// (TestConformanceRouted).
//
// Moving shards needs no special handling: while 16 writers appended, the
// Citus test target moved every shard to the other worker and back
// (citus_move_shard_placement, logical replication, wal_level = logical)
// and the writers saw no error at all, so the store has no retry for
// Citus-specific errors. Logical replication needs a replica identity on
// every table of the colocation group: messages_quarantine, which has no
// primary key, has REPLICA IDENTITY FULL (schema version 5; before it,
// every move failed). When a worker is down, calls on the sessions it
// holds fail with Citus's error, which names the node (for example
// "postgres: append to "w02": ERROR: connection to the remote node
// postgres@127.0.0.1:9702 failed ... (SQLSTATE 08006)"), calls on other
// sessions keep working, and all work again once the worker is back; List
// and Search, which read every shard, fail while it is down.
//
// Sizing a Citus deployment, from BenchmarkCitus (2026-11-26, the cluster
// below with the default 32 shards, beside a plain PostgreSQL 15 on the
// same VM, in the same run, alternating call by call; two runs, of 200 and
// 300 iterations, on a VM so loaded by other jobs that a plain append took
// 7.8-13.6 ms instead of the 0.7 ms below, so read the ratios, not the
// times):
//
//	                                     Citus           plain          Citus/plain throughput
//	append a 4-message turn              15.3-34.4 ms     7.8-13.6 ms   0.40-0.51
//	last 20 of 1,000 (Load + read)        9.7-13.1 ms     1.1-5.6 ms    0.12-0.43
//	List, first page of 50 of 2,000      62.1-68.7 ms     2.3-2.6 ms    0.033-0.042
//	Search, top 20 over 20,000 messages  58.8-116.9 ms   14.1-22.3 ms   0.19-0.24
//	32 writers on 32 sessions, msgs/s      238-282         860-1,061    0.27-0.28
//
// Re-measured at df7fab8 (schema version 8, a cluster built afresh; two
// runs of 200 iterations, load average 9-13 from other jobs), Citus/plain
// throughput: append 0.34-0.41, last 20 0.66-1.19, List page 0.013-0.037,
// Search 0.78-0.79, 32 writers 0.28-0.30 (676-764 against 2,465-2,552
// msgs/s). Append, List and the 32 writers are where they were. Last 20
// and Search came out nearer to plain, the Citus calls taking about what
// they did (last 20 2.3-9.0 ms, Search 43-56 ms) while plain took longer
// than before (last 20 2.7-5.9 ms, Search 34-44 ms against 14-22 ms):
// plain Search now also finds the hits of forks that borrow their
// parent's rows (schema 8), or the VM was busier; these runs do not tell
// which. The sizing below does not change.
//
// On one machine Citus only adds work: the coordinator plans and forwards
// every statement, and a per-session call crosses two connections instead
// of one. Its use is capacity past one machine: sessions spread over the
// workers' disks, memory and CPUs, and a per-session call touches one shard
// however many there are. The costs scale with the shard count for the
// calls that read every shard (List, Search, DeleteOwner, Prune: one task
// per shard, each using its shard's indexes, merged on the coordinator),
// not with the number of sessions. So:
//
//   - Shards: a small multiple of the workers' total cores (for example
//     2 x cores: 32 for four 4-core workers), set with citus.shard_count
//     before the store's first open; millions of sessions fit in tens of
//     shards, since each shard is an ordinary table with the indexes
//     above. More shards than that make every List and Search slower (32
//     shards on this one VM: 0.03-0.04 of plain for a List page) without
//     speeding per-session calls; rebalance (citus_rebalance_start) when
//     adding workers rather than adding shards.
//   - Pools: the application's pool to the coordinator is sized as for
//     plain PostgreSQL (calls in flight). Each coordinator backend opens
//     one connection to a worker for a per-session call and up to
//     citus.max_adaptive_executor_pool_size (default 16) per worker for a
//     call that reads every shard, capped by citus.max_shared_pool_size;
//     give workers max_connections above the coordinator's, and keep
//     List and Search off the hot path of every request.
//   - Indexes: the same as above, on every shard; Search's GIN index and
//     List's sessions_by_update are searched per shard and the coordinator
//     merges the top rows of each.
//
// Running the Citus tests. CI has no Citus (Debian does not package it).
// Build Citus 13.2.2 from its source (github.com/citusdata/citus, tag
// v13.2.2) against Debian's postgresql-server-dev-15 (also liblz4-dev,
// libzstd-dev, libkrb5-dev, libssl-dev, flex, bison; ./configure
// --without-libcurl; with Debian's 15.20 headers delete the static inline
// have_createdb_privilege from src/include/pg_version_compat.h, which
// clashes with the server's own), then create a coordinator and two workers
// (pg_createcluster on three ports, shared_preload_libraries = 'citus',
// wal_level = logical for shard moves, trust on loopback), CREATE EXTENSION
// citus in one database on each, and on the coordinator
// citus_set_coordinator_host and citus_add_node for each worker (make -j2
// took 12 minutes on this 2-core VM; where systemd does not run, give
// pg_ctlcluster --skip-systemctl-redirect). Then:
//
//	CONVO_TEST_POSTGRES=... CONVO_TEST_CITUS='postgres://postgres@127.0.0.1:9700/convo?sslmode=disable' \
//	CONVO_TEST_CITUS_WORKER=127.0.0.1:9702 \
//	CONVO_TEST_CITUS_WORKER_STOP='pg_ctlcluster 15 citus_w2 stop -m fast' \
//	CONVO_TEST_CITUS_WORKER_START='pg_ctlcluster 15 citus_w2 start' \
//	    go test -p 1 -run 'Citus|Router' ./postgres/
//
// Without CONVO_TEST_CITUS these tests skip. Runs so far (Citus 13.2.2 on
// PostgreSQL 15.20, a coordinator and two workers on one 2-core VM, tables
// of 4 shards):
//
//	2026-11-26  A cluster built afresh as above (database test). At main
//	            e00c35b every test PASSED except TestCitusRetriesUnrouted:
//	            "column "pg_advisory_xact_lock" has pseudo-type void"
//	            (42P16): since the change feed's per-session lock the
//	            plain append takes that lock in a CTE, which Citus
//	            materialises, so the plain statements no longer append to
//	            distributed tables (with the lock rewritten by hand, the
//	            conformance suite on them still failed 12 checks:
//	            DeleteOwner and Prune, "could not run distributed query
//	            with FOR UPDATE/SHARE commands", and the Watcher).
//	            Conformance 287 passed, 1 skipped (Watcher) (266 s); 8
//	            shard moves under 48,048 appended messages. At 1cb418d
//	            (schema 7, another change) the same (287 and 1, 174 s; 8
//	            moves under 68,864), and a store of schema 6 that
//	            e00c35b's build wrote on the cluster (24 sessions of 20
//	            messages and a fork) opened with 1cb418d's: upgraded to 7,
//	            every row read back; append, retry, List and Search work.
//	            At 4b2ab8c (schema 8, another change) upgrading a
//	            distributed store FAILED: "migration 8 (fork_sharing):
//	            cannot execute ADD CONSTRAINT command with other
//	            subcommands" (the schema-7 store that 1cb418d's build
//	            wrote, and TestCitusUpgradeFromVersion1); with that ALTER
//	            split, "cannot insert multiple commands into a prepared
//	            statement" (its CREATE INDEX sent with other statements).
//	            TestCitusDistributesItsTables failed too, reading through
//	            the handle of a plain store after distributing ("complex
//	            joins are only supported when all distributed tables are
//	            co-located", the fork-aware read), and
//	            TestCitusRetriesUnrouted as before; the others passed
//	            (conformance 293 passed, 1 skipped, 294 s). Fixed at
//	            df7fab8: WithCitus sends a migration's
//	            statements one by one, 0008 adds its constraint in an ALTER
//	            TABLE of its own, an open without WithCitus of distributed
//	            tables fails with ErrNeedsCitus (TestCitusRefusesAPlainStore
//	            replaces TestCitusRetriesUnrouted), and WithCitus migrations
//	            take the LOCK TABLE too; and sessions is distributed into a
//	            colocation group of its own, since a database that already
//	            distributed a table by a text column of the default
//	            collation made every WithCitus open fail ("cannot colocate
//	            tables sessions and other", seen when a scratch table was
//	            left on the cluster; TestCitusBesideOtherDistributedTables).
//	            Then every test PASSED (two runs, the second with every
//	            fix): conformance 293 passed, 1 skipped (397 s, 262 s);
//	            TestCitusUpgradeFromEachVersion (distributed tables of
//	            versions 1 to 7, each upgraded to 8, forked, parent
//	            deleted); TestCitusMigrationTakesTheTableLocks (the
//	            migration holds ACCESS EXCLUSIVE on both tables on the
//	            coordinator and on both workers);
//	            TestCitusMigrationWhileAppending (6 migrations under 8
//	            writers, 418 and 512 messages appended, 0 failures); 8
//	            shard moves under 50,772 and 68,916 messages, no error;
//	            and the schema-7 store of 1cb418d's build upgraded to 8
//	            (every row kept, 25 sessions listed, 148 search hits).
//	2026-11-26  At main 82041ef: TestCitusShardMoveUnderWriters FAILED
//	            at its first move: "cannot use logical replication to
//	            transfer shards of the relation messages_quarantine since it
//	            doesn't have a REPLICA IDENTITY or PRIMARY KEY" (that table,
//	            schema version 2, had not been on a cluster before); the
//	            other tests passed. Fixed by schema version 5 (REPLICA
//	            IDENTITY FULL on it). At d305316, every test PASSED:
//	            TestCitusConformance with the Corrupt and Twin hooks, so
//	            with the Quarantiner and corrupt-row checks: 283 subtests
//	            passed, 1 skipped (Watcher, which the store does not
//	            implement) (131 s). TestCitusDistributesItsTables (the three
//	            tables, and the replica identity on every quarantine shard,
//	            also when migration 5 runs on a distributed table).
//	            TestCitusUpgradeFromVersion1 (distributed version-1 tables,
//	            1,007 messages in four sessions: the quarantine table created
//	            with its foreign key and distributed; every row's search
//	            terms rewritten across shards by UPDATE ... FROM unnest).
//	            TestCitusRetriesUnrouted (the plain statements on
//	            distributed tables: Citus reports the unique violation as
//	            XX000; every retry succeeds, nothing stored twice).
//	            TestRouterQueries, TestCitusAcrossShards, TestCitus32Writers,
//	            TestCitusWorkerDown. TestCitusShardMoveUnderWriters: 8 moves
//	            while 16 writers appended 80,192 messages; no error, nothing
//	            lost or doubled. At 6d09abc (the append as VALUES rows, and
//	            fork links from another change) the same: 287 conformance
//	            subtests passed, 1 skipped (179 s); 8 shard moves under
//	            74,836 appended messages; TestRouterQueries failed only
//	            because it passed the create statement 7 of the 9
//	            parameters the fork links gave it, and passes with the test
//	            fixed. At 16b70a9 (and schema version 6, the change feed,
//	            from another change; Watcher is still skipped: "a store
//	            opened WithCitus has no change feed") the same again (287
//	            passed, 1 skipped; 8 moves under
//	            77,876 messages), except TestCitusDistributesItsTables,
//	            whose replay of migration 5 (by deleting its record) the
//	            recorded version 6 prevented; it now runs that migration's
//	            SQL on the distributed table. At 9dd01f3 every test PASSED
//	            (conformance: 287 passed, 1 skipped, 214 s; 8 shard moves
//	            under 70,428 appended messages, no error).
//	2026-11-26  TestCitusConformance: the whole conformance suite on
//	            distributed tables, a fresh schema per subtest: PASS, 241
//	            subtests passed, 8 skipped as on plain PostgreSQL (the
//	            corrupt-row and Quarantiner checks, which need a
//	            sessiontest.Options.Corrupt hook this package's conformance
//	            tests do not pass) (198-230 s; two runs).
//	            TestRouterQueries (22 statements, each one task): PASS.
//	            TestCitusAcrossShards (40 sessions on both workers; List in
//	            pages, by owner; Search; DeleteOwner; Prune): PASS.
//	            TestCitus32Writers (32 x 10 turns of 4): PASS.
//	            TestCitusShardMoveUnderWriters: 8 shard moves while 16
//	            writers appended 134,200 (and, a second run, 115,500)
//	            messages; no error, nothing lost or doubled: PASS.
//	            TestCitusWorkerDown (worker 9702 stopped and restarted):
//	            PASS.
//	            TestCitusDistributesItsTables: PASS.
//	2026-11-26  At 245f821 (schema 8), on a cluster built afresh by the
//	            recipe above on another machine: every test PASSED.
//	            TestCitusConformance: 295 subtests passed, 1 skipped
//	            (Watcher) (63 s); TestCitusUpgradeFromVersion1 and
//	            FromEachVersion; TestCitusMigrationWhileAppending (6
//	            migrations under 8 writers, 830 messages, 0 failures);
//	            TestCitusShardMoveUnderWriters (8 shard moves while 16
//	            writers appended 82,244 messages; no error, nothing lost
//	            or doubled); TestCitusWorkerDown (sessions on the stopped
//	            worker fail with "connection to the remote node ... 9702
//	            failed", the others work, all recover);
//	            TestRouterQueries, TestCitusAcrossShards, TestCitus32Writers,
//	            TestCitusRefusesAPlainStore, TestCitusDistributesItsTables,
//	            TestCitusBesideOtherDistributedTables (113 s in all).
//	2026-11-26  Schema 9 (the feed dormant until first watched; a store
//	            WithCitus has no feed and its migration only adds the
//	            column): every test PASSED: conformance 295 passed, 1
//	            skipped; 8 shard moves under 80,000 appended messages;
//	            TestCitusWorkerDown; TestCitusUpgradeFromEachVersion
//	            failed at version 8 only because its setup distributed a
//	            version-8 table that still had the hand-over trigger, which
//	            Citus refuses ("cannot distribute relation ... because it
//	            has triggers") and which a store opened WithCitus drops
//	            first; with the setup doing the same, versions 1 to 8
//	            upgrade to 9 and pass. At d33456d (0009 also keeps the
//	            feed of a database with a live listener active; StartFeed
//	            bounded; the encrypted fork fix) every test PASSED again:
//	            conformance 295 passed, 1 skipped (73 s); 6 migrations
//	            under 8 writers, 770 messages, 0 failures; 8 shard moves
//	            under 95,840 appended messages; worker down.
//	2026-11-26  At ad9f0c8 (UpdateInfo records a session.ChangeInfo in
//	            the feed; WithCitus keeps the plain UPDATE), on a cluster
//	            built afresh by the recipe above: every test PASSED:
//	            conformance 295 passed, 1 skipped (Watcher) (57 s); 8 shard
//	            moves under 96,924 appended messages; worker down;
//	            upgrades from versions 1 to 8 (106 s in all).
//	2026-11-26  At a33787f (since ad9f0c8: Open's checks for a pooler,
//	            checkExecMode and checkSearchPath; the Watch listener's
//	            probe; search asking for more candidates when near misses
//	            leave a page short), on a cluster built afresh by the
//	            recipe above: every test PASSED: conformance 297 passed
//	            (the two new Search checks among them), 1 skipped (Watcher)
//	            (154 s); 6 migrations under 8 writers, 520 messages, 0
//	            failures; 8 shard moves under 69,768 appended messages;
//	            worker down (6 sessions on the stopped worker and List
//	            failed, all recovered); upgrades from versions 1 to 8
//	            (217 s in all).
//	2026-11-26  Before this release (issue 13): the conformance suite on
//	            tables distributed by hand passed 225 of 234 checks; every
//	            retry of stored messages failed with XX000.
//
// Retention. Pruner deletes the sessions idle since a time, with their
// messages (ON DELETE CASCADE), in rounds of up to 1000 sessions that each
// commit (WithCitus: in one statement; there, to delete millions at once,
// call it repeatedly with an UpdatedBefore that moves forward in steps, so
// that no single transaction is huge); run it on a schedule (for example
// daily, UpdatedBefore = now - 90 days). OwnerEraser deletes everything of
// one owner, in the same rounds (see "Change feed"). Time-based partitioning of messages, with old
// partitions dropped, does not fit: the primary key must then include the
// partition key, and an old session can receive a message today. To bound
// table and index sizes, partition messages by HASH (session_id) instead
// (or let Citus shard it), and keep deleting by session.
//
// # Forks
//
// Fork (session.Forker) makes a session holding another's messages up to one
// of them, linked to it by parent_id and fork_message_id. Since schema
// version 8 the fork shares the messages' bytes: one INSERT ... SELECT in
// the transaction that creates the fork (the parent's row locked, and its
// lent set, meanwhile) copies each inherited row's header (id, seq, role,
// model, usage, created_at) with parts and tsv NULL and shared_from
// naming the session whose row at that seq owns them: the parent, or the
// session the parent's row borrows from, so that no row borrows from a
// borrower. Reads take COALESCE(parts, the owner's parts), which looks up
// the owner row (one probe of its primary key) only for a borrowed row;
// a search finds the owner rows by their terms and, through
// messages_shared_from, the rows that borrow them, each a hit of its own
// session with its owner's rank.
//
// Bytes are never lost with their owner row: whatever deletes it first
// copies parts and tsv into the rows that borrow them, which then own
// them (the hand-over). PopMessage, Clear, ReplaceMessages and Quarantine
// do it in their own statements (one probe of messages_shared_from, which
// holds only borrowed rows, when nothing borrows); a deleted session
// (Delete, DeleteOwner, Prune, or a DELETE of a sessions row by hand)
// does it in the trigger Convo_fork_handover, which runs only for a
// session whose lent is set, after the sessions row is deleted and before
// the foreign key's cascade deletes its messages (triggers of one kind run
// in the order of their names), so that forks deleted by the same
// statement get nothing. A DELETE of messages rows by hand bypasses the
// hand-over, and a fork's reads of the rows that borrowed from them then
// fail with session.ErrCorrupt. The hand-over updates rows of other
// sessions, so deletes of related sessions can deadlock; Delete runs again
// when PostgreSQL aborts it as a deadlock victim.
//
// Costs, on a loaded 2-vCPU VM (BenchmarkFork, BenchmarkForkParentDelete;
// "Forks" in docs/performance.md has the runs): a fork of 1,000 or 10,000
// messages of 1 KB costs 0.61-1.05 of a raw INSERT ... SELECT of the rows
// with their bytes (inserting a header row and its index entries is most
// of what inserting the row is), and does not grow with the bytes: 56-108
// ms for 1,000 messages of 16 KB, whose raw copy took 46-55 s (mostly
// their search terms entering the GIN index). The last 20 messages of a
// fork read in 0.81-1.23 of the parent's time, a whole fork in 0.72-1.98.
// Deleting a parent while a fork borrows all its rows costs 7-29 times
// deleting an unforked session (the copy the fork no longer made).
//
// With WithCitus a fork copies the rows, bytes included, as before version
// 8: a row may not borrow from another shard, and Citus refuses the
// trigger on a distributed table. The migration does not make the trigger
// on distributed tables, and distributing the tables of a store opened
// earlier without WithCitus first copies every borrowed row's bytes and
// drops the trigger. The fork may be on another node than its parent, and
// Citus moves the rows through the coordinator: the conformance suite's
// fork checks pass on the Citus cluster (TestCitusConformance), and
// TestCitusUpgradeFromEachVersion forks upgraded sessions and deletes
// their parent; the cost is not measured.
//
// # Measured
//
// 26 November 2026, 12:21-12:28 UTC, an idle VM (issues 11 and 13; schema
// version 9: the feed dormant until first watched, see "Change feed";
// docs/performance.md has the table): BenchmarkAppendTurn, -benchtime
// 1500x, six rotating rounds, store-vs-raw from the totals, medians (lower
// of the two per round):
//
//	                                  vs pgx.Batch   vs 4-row INSERT   lower, per round
//	fd31146 (before Citus, no feed)   0.956          0.925             0.881-0.951
//	245f821 (feed always records)     0.939          0.914             0.858-0.945
//	version 9, feed dormant           0.977          0.927             0.910-0.940
//
// By median turns the default store is at 0.906-0.922 of the 4-row INSERT
// in every round (245f821: 0.869-0.899). Issue 11's goal (0.90 of the
// faster raw baseline in every round) is met, and the store is level with
// the build before the Citus work (issue 13). A store whose feed has
// started runs 245f821's statement and pays as before.
// BenchmarkLast20VsRaw, same build: 0.88, 0.94, 0.89 (goal at most 1.10).
//
// 26 November 2026, 11:25-12:30 UTC, an idle VM (a fresh machine, load
// average below 1; issues 11 and 13; docs/performance.md, "Where the
// append's time goes", has the tables): BenchmarkAppendTurn,
// -benchtime 1500x, six rounds of three test binaries, store-vs-raw from
// the totals, medians (lower of the two per round):
//
//	                                  vs pgx.Batch   vs 4-row INSERT   lower, per round
//	fd31146 (before Citus, no feed)   0.957          0.915             0.909-0.931
//	245f821 (feed, schema 8)          0.953          0.881             0.796-0.898
//	a HOT session row (not merged)    0.957          0.883             0.817-0.909
//
// The feed's row costs 3-8 points in a scratch benchmark that edits the
// statement; its advisory lock 0-5; a non-HOT session UPDATE 1-4. A
// prototype that kept the append's UPDATE of the session row off its
// indexes (updated_at moved only every 30 s, List sorting the sessions
// within 30 s of its page's end) passed every test and made every UPDATE
// HOT, but moved the benchmark by 0-1 point and made List read more rows;
// it was not merged. Issue 11's goal (0.90 in every round) and issue 13's
// "without losing the append speed" are missed.
//
// 26 November 2026, 10:09 UTC, an idle VM (load average 0.8-1.9, nothing
// else running; issues 11 and 13; docs/performance.md has the table):
// BenchmarkAppendTurn, -benchtime 2000x, six rounds each running three
// test binaries in rotating order, store-vs-raw from the totals, medians
// (lower of the two per round):
//
//	                                  vs pgx.Batch   vs 4-row INSERT   lower, per round
//	fd31146 (before Citus, no feed)   0.964          0.925             0.919-0.935
//	8259022 (Citus work, no feed)     0.975          0.914             0.907-0.931
//	be94698 (feed, schema 8)          0.965          0.899             0.879-0.939
//
// The Citus work kept the append (at or above 0.907 in every round); the
// change feed's row costs about 2.5 points against the 4-row INSERT, and
// the goal of 0.90 in every round is missed in three rounds of six.
// BenchmarkLast20VsRaw, same minute, be94698: 0.92, 0.89, 0.89 (goal at
// most 1.10: met).
//
// 26 November 2026, 08:15-09:40 UTC (issues 11 and 13: schema version 7,
// the feed's NOTIFY sent by the writer instead of a trigger;
// docs/performance.md has the details and the per-part profile). The VM
// (AMD EPYC, 2 vCPUs) was under load from other jobs (load average
// 7-16), PostgreSQL 15.20 stock settings, pgx v5.12.0.
// BenchmarkAppendTurn, -benchtime 2000x, five rounds alternating the test
// binary of fd31146 (before the Citus work: no feed) with this change's
// (1cb418d), store-vs-raw from the totals:
//
//	                                 fd31146 (no feed)          version 7
//	store / raw pgx.Batch            0.91-1.00, median 0.917    0.87-1.01, median 0.884
//	store / raw 4-row INSERT         0.87-1.07, median 0.927    0.87-0.94, median 0.904
//	lower of the two, per round      0.866-0.941                0.869-0.929
//
// In five more rounds of 800 turns the lower ratio was 0.912-0.965
// without a feed and 0.857-0.942 with version 7. So the trigger's share is
// gone (version 6 was 8-9 points behind the build without a feed on an
// idle VM: 0.812-0.876), but issue 11's goal, 0.90 of the faster raw
// baseline in every round, is not met on this loaded VM: 7 of 10 rounds
// of version 7 fell below it (and 1 of 10 of the build without a feed).
// What the feed still costs an append is its row in changes (about 4 % of
// the CPU with synchronous_commit off) and the advisory lock (inside the
// noise). BenchmarkLast20VsRaw (target <= 1.10): 0.84-0.89 at 1cb418d;
// 0.98-1.10 at 4b2ab8c (version 8, whose reads COALESCE a borrowed row's
// parts).
//
// 26 November 2026, later (issues 11 and 13: the ordinary append without
// id probes, as VALUES rows, unsorted; docs/performance.md has the
// details): BenchmarkAppendTurn, five runs of the new build alternated
// with five of the previous one (in brackets), on the same VM under load
// from other jobs (load average 10-18; a turn took 2.4-8 ms at stock
// settings, fsync-bound, 0.5-3 ms without the flush), each figure the
// range over the runs of store-vs-raw-p50 (median turn against median
// turn):
//
//	                                        stock settings           synchronous_commit off
//	store / raw pgx.Batch                   0.89-0.99 [0.84-0.99]    0.93-0.95 [0.85-0.89]
//	store / raw 4-row INSERT                0.86-0.99 [0.72-0.90]    0.90-0.92 [0.84-0.86]
//	store / raw batch plus session UPDATE   0.94-1.00 [0.88-1.07]    0.92-1.03 [0.95-0.98]
//
// The 4-row INSERT is the faster raw baseline (2-8 % faster than the
// batch), and against it the goal of 0.90 is met only without the flush,
// barely; at stock settings the medians of the five runs are 0.886 (0.917
// from the totals), where the fsync wait of a loaded VM hides the CPU
// the change saves. What remains is the session row: in a scratch
// harness that interleaved the statements call by call (not kept in the
// repository), the same statement without its UPDATE measured 0.90-0.95
// of the 4-row INSERT without the flush, 0.92-1.02 at stock settings.
// BenchmarkLast20VsRaw (code unchanged), three runs at the same time:
// 0.90, 0.90 and 1.16 (one above the goal of 1.10 on this loaded VM).
//
// 26 November 2026 (issue 11: search by Go-side terms; the last-n
// statement; docs/performance.md has the details), an AMD EPYC 2-vCPU VM
// under heavy load from other jobs, three interleaved runs each:
//
//	last 20 of a 10,000-message session, store / raw pgx query
//	  with encoding/json decode of the parts (target <= 1.10)   0.83-0.91
//	  with no decode at all                                    1.23-1.32
//	4-message turn with search on, store / raw pgx.Batch       0.89-0.96
//	  store / raw 4-row INSERT (same terms, cast ::tsvector)   0.90-0.94
//	  store / raw batch plus the session-row UPDATE            0.92-0.99
//	search index rewrite after an upgrade (BenchmarkReindex)   3,470-3,810 messages/s
//
// The change feed (BenchmarkAppendFeedCost, 26 November 2026, the same
// loaded VM, 1,600 turns, three runs each): two stores, one whose append
// statement has the feed's record cut out, appending 4-message turns in
// turns (sequential: alternating turn by turn; 8 writers: alternating
// rounds of 8 concurrent writers). Time with the feed / time without:
//
//	sequential, no watch running                              1.04-1.15
//	8 writers, no watch running                               0.98-1.01
//	8 writers, a listener registered (writers NOTIFY)         1.11-1.20
//	sequential, a watch reading every change                  1.02-1.16
//	8 writers, a watch reading every change (on the same VM)  1.15-1.52
//
// Before writers took turns to notify (the advisory lock and the 50 ms
// window of migrations/0006_changes.sql), every append notified, and 8
// writers took 1.28-2.32 times as long with a listener registered and
// 1.96-3.28 with a watch reading: NOTIFY's lock at commit had cost them
// their group commit.
//
// The feed's per-session advisory lock (BenchmarkAppendTurn/vs_raw_batch,
// 26 November 2026, the same loaded 2-vCPU VM, 1,000 turns, two test
// binaries, one whose lock statement takes no lock, run alternately, three
// runs each): raw time / store time 0.79-0.92 with the lock, 0.80-0.92
// without; the difference is inside the runs' noise.
//
// The figures below are from before that work.
//
// go test -bench, 24 November 2026, on 2-vCPU VMs shared with other jobs
// (client and server on the same VM; PostgreSQL 15.20 with its stock
// configuration: fsync and synchronous_commit on; pgx v5.12.0; Go 1.26),
// turns of four ~1 KB messages; the store and the raw baseline alternate
// call by call in one benchmark, so both see the same load. On an Intel
// Xeon VM, six runs of 2,000 or 3,000 turns for the append and the last-20
// read (the reproduce command below, run twice), three for the others; in
// brackets, an AMD EPYC VM measured earlier the same day, before the lean
// append statement:
//
//	append a 4-message turn, store (one statement)          0.70-0.73 ms [1.12-2.20]
//	  raw: pgx.Batch of 4 INSERTs of the same rows         0.66-0.69 ms [1.04-1.93]
//	  store throughput / raw throughput                    0.93-0.97 [0.87-0.93]
//	  raw: one 4-row INSERT instead                        store/raw 0.92-0.96 [0.84-0.89]
//	  raw: the batch plus the store's session UPDATE       store/raw 0.96-1.00 [0.92-0.94]
//	last 20 messages of a 100,000-message session          0.24-0.26 ms [0.46-0.58]
//	  of a 100-message session                             0.24-0.25 ms [0.45-0.57]
//	  ratio, 100,000 vs 100                                0.95-1.02 [0.98-1.02]
//	32 goroutines on 32 sessions, pool of 32: store        11,800-12,470 messages/s [5,000-5,800]
//	  raw pgx.Batch, same setup                            13,570-13,930 messages/s [6,500-7,600]
//
// A turn costs mostly CPU (with synchronous_commit off the ratios are the
// same): to_tsvector of the text and the JSON checks, which the raw rows pay
// too. The store also advances the session row (version, next_seq,
// message_count, updated_at, and so three index entries, since updated_at
// is indexed), in the same statement as the INSERT, and saves the per-
// statement overhead of inserting message by message. An ordinary append
// runs appendFresh: the session UPDATE and the INSERT. When that stores
// nothing (the session is gone or at another version) or fails (a message
// id is stored already: a retry), the full append statement runs, which
// checks the stored ids, skips them and tells a retry from a conflict from
// a deleted session. Before
// this split every append ran the full statement: 0.86-0.87 of the raw batch
// and 0.88-0.91 of the batch with the session UPDATE on the Intel VM. The
// margin over 0.90 against bare inserts is small: a review run on a loaded
// machine measured 0.91 and 0.95 of the batch, 0.90 and 0.93 of the 4-row
// INSERT. The 32-writer figures come from separate sub-benchmarks, not
// interleaved.
// Under 32 concurrent writers the store reaches 0.85-0.92 of raw: the 32
// session rows share one heap page and every append writes the right edge
// of sessions_by_update; with many sessions the rows spread over many
// pages, but the index edge stays one hot page.
//
// Retries that do not depend on a SQLSTATE (issue 13) first cost the
// common append one probe of messages_msg_id per message and one of
// sessions_pkey, so that it could not meet the unique constraint: 2-5 %
// (0.940 to 0.894 of the raw batch, medians of four runs on a quieter VM,
// earlier the same day).
// Now the ordinary append probes nothing and the store runs the full
// statement after any error the server reports for it, whatever the
// SQLSTATE (see Semantics), which gave the 5 % back; writing the rows as
// VALUES instead of arrays and dropping their sort gave about 3 % more
// (figures above). A variant that locked the row first (SELECT ... FOR
// UPDATE) and counted what ON CONFLICT skipped measured 0.82-0.95 and was
// dropped.
//
// The append must run on a generic plan, or the planner's work is added to
// every append. PostgreSQL
// keeps the generic plan only if it judges it no worse than the custom ones
// of the first five calls, and small edits to a statement change that;
// TestAppendGetsAGenericPlan checks it. An earlier variant that checked
// stored ids with NOT EXISTS got a generic plan (planned while the table
// was empty) that scanned the whole session on every append and fell to
// 0.3 of raw after a few thousand turns; the full statement probes the
// unique index once per id whatever the plan (TestGenericPlansStayIndexed).
//
// To reproduce:
//
//	.ci/start-postgres.sh
//	CONVO_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	    go test -run '^$' -bench . -benchtime 2000x -count 3 ./postgres/
//
// (CONVO_BENCH_SYNC_COMMIT=off repeats them with synchronous_commit off.)
// Absolute times on a shared VM vary by several times with its load (an
// fsync took 3.4 ms at one point of these runs, 0.17 ms on a quiet one);
// compare the ratios, which are measured within one run.
//
// # Tests
//
// The tests need a server: they read its URL from CONVO_TEST_POSTGRES and
// skip without it, unless CI=true, when they use
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable and fail if it
// does not answer. Each test works in a schema of its own, dropped at the
// end, so runs can overlap. The tests through PgBouncer (TestPgBouncer*)
// read its URL, in transaction mode, from CONVO_TEST_PGBOUNCER, and the
// session-mode one from CONVO_TEST_PGBOUNCER_SESSION; under CI=true they
// use .ci/start-pgbouncer.sh's (databases test and test_session on
// 127.0.0.1:6432) and fail if it does not answer.
package postgres
