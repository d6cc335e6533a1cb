package sqlite

import "time"

// Option configures a store. Options only record values; SessionStore
// validates them and returns any error.
type Option func(*storeOptions)

type storeOptions struct {
	prefix          string
	busyTimeout     time.Duration
	maxMessageBytes int
	wal             bool
	search          bool
	readOnly        bool
	feedPoll        time.Duration
	searchTimeout   time.Duration
}

func defaultOptions() storeOptions {
	return storeOptions{
		busyTimeout:     10 * time.Second,
		maxMessageBytes: 16 << 20,
		wal:             true,
		search:          true,
		feedPoll:        100 * time.Millisecond,
		searchTimeout:   DefaultSearchTimeout,
	}
}

// WithTablePrefix sets a prefix for every table and index the store creates.
// For example, WithTablePrefix("chat_") creates "chat_sessions" and
// "chat_messages" instead of "sessions" and "messages". The prefix is spliced
// into SQL, so it must be a plain identifier: lowercase ASCII letters, digits and
// underscores, not starting with a digit, at most 40 bytes (uppercase is
// refused on every backend because SQLite table names ignore case, so
// "Chat_" and "chat_" would share tables there and not on PostgreSQL). SessionStore
// refuses anything else before running any SQL. Several prefixes can share
// one database file; each has its own schema version.
func WithTablePrefix(prefix string) Option {
	return func(o *storeOptions) { o.prefix = prefix }
}

// WithBusyTimeout sets how long a write waits for another connection or
// process that holds SQLite's write lock before giving up. The store sets it
// on every connection before the connection's first transaction of the
// store, whatever the DSN says. The
// default is 10 seconds; it must be positive.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *storeOptions) { o.busyTimeout = d }
}

// WithMaxMessageBytes sets the largest encoded message (its parts as JSON)
// that AddMessages accepts; larger ones fail with session.ErrTooLarge. The
// default is 16 MiB; it must be positive.
func WithMaxMessageBytes(n int) Option {
	return func(o *storeOptions) { o.maxMessageBytes = n }
}

// WithWAL sets whether SessionStore switches a file database to write-ahead
// logging (journal_mode=WAL), which lets readers and the writer proceed at
// once. It is on by default; WAL is a property of the file and persists.
// Pass false to leave the journal mode as the caller set it.
func WithWAL(on bool) Option {
	return func(o *storeOptions) { o.wal = on }
}

// WithFullTextSearch sets whether SessionStore creates the full-text search
// index (an FTS5 table, see the package documentation) when it is missing.
// It is on by default. Off, an existing index is kept (and searched), and
// Search works only if one exists. Appends do not index either way; the
// index costs a search (or IndexSearch) the indexing of what was appended
// since, and space for the terms (see docs/performance.md).
func WithFullTextSearch(on bool) Option {
	return func(o *storeOptions) { o.search = on }
}

// WithReadOnly makes a store that only reads. SessionStore then creates,
// migrates and writes nothing: no table, no index, no journal-mode switch,
// no search index. It works on a read-only file (a file mode of 0444, or a
// DSN "file:PATH?mode=ro": the drivers read URI parameters only in a
// "file:" name) and on a database another program is writing. The schema
// must be this release's: an older convo schema gives ErrSchemaTooOld (it
// is not upgraded), a newer one ErrSchemaTooNew, a database without convo's
// tables ErrNoSchema. Every method that writes fails with an error matching
// session.ErrReadOnly and changes nothing. Search works when the database
// has its full-text index.
func WithReadOnly() Option {
	return func(o *storeOptions) { o.readOnly = true }
}

// WithFeedPollInterval sets how often a watch (Store.Watch) looks for
// changes committed through another *sql.DB or by another process: it
// reads the feed's head, one row, every d. Changes made through a store on
// the same *sql.DB wake it at once. The default is 100 ms; d must be
// positive.
func WithFeedPollInterval(d time.Duration) Option {
	return func(o *storeOptions) { o.feedPoll = d }
}

// DefaultSearchTimeout is how long a search (Store.Search) may run when
// WithSearchTimeout does not say otherwise.
const DefaultSearchTimeout = 30 * time.Second

// WithSearchTimeout bounds the time of every search (Store.Search),
// indexing of the backlog included: a search still running after d stops
// and fails with an error matching context.DeadlineExceeded. A context with
// an earlier deadline stops it earlier. The default is DefaultSearchTimeout
// (30 s); d <= 0 removes the bound, leaving only the context's.
func WithSearchTimeout(d time.Duration) Option {
	return func(o *storeOptions) { o.searchTimeout = d }
}
