package postgres

import (
	"time"

	"github.com/convo-dev/convo/internal/migrations"
)

// Option configures a store. Options only record values; SessionStore
// validates them and returns any error.
type Option func(*storeOptions)

type storeOptions struct {
	prefix          string
	schema          string
	schemaSet       bool
	maxMessageBytes int
	citus           bool
	// routed runs the statements of WithCitus without distributing (tests
	// use it to run them on plain PostgreSQL).
	routed        bool
	readOnly      bool
	feedPoll      time.Duration
	searchTimeout time.Duration
	// extraMigrations follow the embedded ones (tests use them to run a
	// "newer release" against stores of this one).
	extraMigrations []migrations.Migration
}

func defaultOptions() storeOptions {
	return storeOptions{maxMessageBytes: 16 << 20, feedPoll: 500 * time.Millisecond, searchTimeout: DefaultSearchTimeout}
}

// WithTablePrefix sets a prefix for every table and index the store creates.
// For example, WithTablePrefix("chat_") creates "chat_sessions" and
// "chat_messages" instead of "sessions" and "messages". The prefix is spliced
// into SQL, so it must be a plain identifier: lowercase ASCII letters, digits and
// underscores, not starting with a digit, at most 40 bytes (uppercase is
// refused on every backend because SQLite table names ignore case, so
// "Chat_" and "chat_" would share tables there and not on PostgreSQL). SessionStore
// refuses anything else before running any SQL. Several prefixes can share
// one schema; each has its own schema version.
func WithTablePrefix(prefix string) Option {
	return func(o *storeOptions) { o.prefix = prefix }
}

// WithSchema puts the store's tables in the named PostgreSQL schema, which
// SessionStore creates if it does not exist. Without it, tables are created
// unqualified, in the first schema of the connection's search_path (usually
// "public"). The name follows the same rules as WithTablePrefix and must not
// be empty.
func WithSchema(name string) Option {
	return func(o *storeOptions) { o.schema = name; o.schemaSet = true }
}

// WithMaxMessageBytes sets the largest encoded message (its parts as JSON)
// that AddMessages accepts; larger ones fail with session.ErrTooLarge. The
// default is 16 MiB; it must be positive.
func WithMaxMessageBytes(n int) Option {
	return func(o *storeOptions) { o.maxMessageBytes = n }
}

// WithReadOnly makes a store that only reads. SessionStore then creates,
// migrates and writes nothing (no schema, table, index or version table),
// so it works with a role that has only SELECT on convo's tables (and
// USAGE on their schema). The schema must be this release's: an older convo
// schema gives ErrSchemaTooOld (it is not upgraded), a newer one
// ErrSchemaTooNew, a database without convo's tables ErrNoSchema. Every
// method that writes fails with an error matching session.ErrReadOnly and
// changes nothing.
func WithReadOnly() Option {
	return func(o *storeOptions) { o.readOnly = true }
}

// WithFeedPollInterval sets how often a watch (Store.Watch) reads the feed
// when no notification has woken it: a NOTIFY, sent by every write that
// records a change, wakes it at once, so this bounds the delay only when a
// notification is lost (the listening connection broke), cannot be heard
// (through a pooler in transaction mode, where the watches only poll; see
// "PgBouncer" in the package documentation) or a change is held back by a
// transaction still running. The default is 500 ms; d must be positive.
func WithFeedPollInterval(d time.Duration) Option {
	return func(o *storeOptions) { o.feedPoll = d }
}

// DefaultSearchTimeout is how long a search (Store.Search) may run when
// WithSearchTimeout does not say otherwise.
const DefaultSearchTimeout = 30 * time.Second

// WithSearchTimeout bounds the time of every search (Store.Search): a
// search still running after d is cancelled on the server and fails with an
// error matching context.DeadlineExceeded. A context with an earlier
// deadline stops it earlier. The default is DefaultSearchTimeout (30 s);
// d <= 0 removes the bound, leaving only the context's.
func WithSearchTimeout(d time.Duration) Option {
	return func(o *storeOptions) { o.searchTimeout = d }
}
