package postgres

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/session"
)

// Store is a session store in a PostgreSQL database. It is safe for
// concurrent use by many goroutines, and any number of processes and
// machines may use one database at once. Create one with SessionStore or
// Open.
type Store struct {
	pool *pgxpool.Pool
	opts storeOptions
	q    *queries

	// An append larger than either bound is split into several statements
	// in one transaction. Tests lower them to reach that path.
	chunkRows  int
	chunkBytes int

	hub      feedHub      // the LISTEN connection shared by the store's watches
	notifier feedNotifier // when the store's writes last notified watches
	// feedStarted is set once this store has seen the database's feed
	// recording (StartFeed).
	feedStarted atomic.Bool
	// feedStartPatience overrides feedStartPatience (tests).
	feedStartPatience time.Duration
	// listenProbeTimeout overrides listenProbeTimeout (tests).
	listenProbeTimeout time.Duration
}

// Compile-time checks of the capabilities the store implements.
var (
	_ session.Store       = (*Store)(nil)
	_ session.Opener      = (*Store)(nil)
	_ session.Describer   = (*Store)(nil)
	_ session.Lister      = (*Store)(nil)
	_ session.Searcher    = (*Store)(nil)
	_ session.OwnerEraser = (*Store)(nil)
	_ session.Pruner      = (*Store)(nil)
	_ session.Importer    = (*Store)(nil)
	_ session.Versioned   = (*pgSession)(nil)
	_ session.Rewriter    = (*pgSession)(nil)
	_ session.Ranger      = (*pgSession)(nil)
)

// Default bounds of one append statement.
const (
	defaultChunkRows  = 1000
	defaultChunkBytes = 32 << 20
)

// SessionStore returns a session store on pool, creating its schema and
// tables if they do not exist and upgrading an older convo schema in place
// (see the package documentation). Many processes may call it at once on
// the same database: migrations run under an advisory lock.
//
// It fails before running any SQL if an option is invalid (a table prefix or
// schema name that is not a plain identifier, a non-positive limit), and
// with ErrSchemaTooNew if a newer convo has upgraded the database. The
// result is a *Store; use Open to get it without a type assertion.
func SessionStore(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (session.Store, error) {
	s, err := Open(ctx, pool, opts...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Open is SessionStore returning the concrete *Store.
func Open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s, err := open(ctx, pool, opts...)
	if err != nil {
		return nil, explainPooler(err)
	}
	return s, nil
}

// open is Open before its errors are explained (explainPooler).
func open(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("postgres: nil *pgxpool.Pool")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := connect(ctx, pool, "open"); err != nil {
		return nil, err
	}
	if err := checkExecMode(ctx, pool); err != nil {
		return nil, err
	}
	if err := checkSearchPath(ctx, pool, o); err != nil {
		return nil, err
	}
	s := &Store{pool: pool, opts: o, q: buildQueries(o.schema, o.prefix, !o.citus && !o.routed),
		chunkRows: defaultChunkRows, chunkBytes: defaultChunkBytes}
	if !o.citus {
		if err := s.checkNotDistributed(ctx); err != nil {
			return nil, err
		}
	}
	if o.readOnly {
		// Looking never writes: check the schema, create nothing.
		if _, err := s.checkSchema(ctx); err != nil {
			return nil, err
		}
	} else {
		if err := s.migrate(ctx); err != nil {
			return nil, err
		}
		// A read-only store searches the index as it is (see
		// "Upgrading" in the package documentation).
		if err := s.reindex(ctx); err != nil {
			return nil, err
		}
	}
	if s.feedOn() {
		// Appends take the statement that records at once if the feed
		// has started.
		active, err := s.feedActive(ctx)
		if err != nil {
			return nil, fmt.Errorf("postgres: open: %w", err)
		}
		if !active && !o.readOnly {
			if err := s.startFeedUnlessReadCommitted(ctx); err != nil {
				return nil, fmt.Errorf("postgres: open: %w", err)
			}
		}
	}
	return s, nil
}

// connect acquires a connection from pool and releases it, so that a
// server that cannot be reached (refused, a wrong password, a missing
// database) is reported as a failure to connect, named after op, and not
// as the failure of whichever catalog check happens to run first. The
// connection stays in the pool for the queries that follow.
func connect(ctx context.Context, pool *pgxpool.Pool, op string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %s: connect: %w", op, err)
	}
	conn.Release()
	return nil
}

// errReadOnly is what every write of a read-only store returns.
var errReadOnly = fmt.Errorf("%w (opened with postgres.WithReadOnly)", session.ErrReadOnly)

// writable returns errReadOnly for a read-only store.
func (s *Store) writable() error {
	if s.opts.readOnly {
		return errReadOnly
	}
	return nil
}

// buildOptions applies and validates opts.
func buildOptions(opts []Option) (storeOptions, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := sqlident.ValidatePrefix(o.prefix); err != nil {
		return o, fmt.Errorf("postgres: %w", err)
	}
	if o.schemaSet {
		if err := sqlident.ValidateName("schema name", o.schema); err != nil {
			return o, fmt.Errorf("postgres: %w", err)
		}
	}
	if o.maxMessageBytes <= 0 {
		return o, fmt.Errorf("postgres: max message bytes must be positive, got %d", o.maxMessageBytes)
	}
	if o.feedPoll <= 0 {
		return o, fmt.Errorf("postgres: feed poll interval must be positive, got %v", o.feedPoll)
	}
	return o, nil
}

// Pool returns the pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Prefix returns the table prefix.
func (s *Store) Prefix() string { return s.opts.prefix }

// Schema returns the schema name given with WithSchema, or "".
func (s *Store) Schema() string { return s.opts.schema }

func newIncarnation() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// wrap is the one place errors leave the store: it adds the package, the
// operation and the session id, and maps the driver's errors (see mapErr).
func wrap(ctx context.Context, op, id string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %s %q: %w", op, id, mapErr(ctx, err))
}

// wrapOp is wrap for an operation on no single session.
func wrapOp(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %s: %w", op, mapErr(ctx, err))
}

// mapErr makes an error caused by the end of ctx match ctx's error: with
// pgx's cancel-request context handler, a cancelled query fails with the
// server's "canceling statement due to user request" (SQLSTATE 57014).
//
// It also makes a full disk match session.ErrStorageFull: SQLSTATE 53100
// disk_full (https://www.postgresql.org/docs/current/errcodes-appendix.html),
// and explains a prepared statement lost to a connection pooler
// (explainPooler).
func mapErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" {
		return fmt.Errorf("%w: %w", session.ErrStorageFull, err)
	}
	return explainPooler(err)
}

// deadlockAttempts bounds how often retryDeadlock runs a call.
const deadlockAttempts = 6

// isDeadlock reports whether err is PostgreSQL's deadlock_detected (SQLSTATE
// 40P01, https://www.postgresql.org/docs/current/errcodes-appendix.html):
// the server broke a cycle of lock waits by aborting this transaction,
// which therefore changed nothing.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// retryDeadlock runs fn, and runs it again, after a short pause that grows
// with each attempt, while it fails with deadlock_detected, up to
// deadlockAttempts times or until ctx ends. fn must be a whole transaction
// (or statements each in its own) that can be run again: appends are, since
// a message whose id the session holds is skipped. The store's own
// statements take sessions before messages and migrations lock both tables
// in that order first (see migrateLocked), so a deadlock needs a writer
// outside the store (an older release's migration, an administrator's
// DDL); retrying is what the server's documentation advises for it.
func retryDeadlock(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if !isDeadlock(err) || attempt >= deadlockAttempts {
			return err
		}
		pause := time.Duration(attempt) * 20 * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

// checkID returns ctx's error or session.ValidateID's.
func checkID(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return session.ValidateID(id)
}

// storable reports whether PostgreSQL can hold s in a text column: valid
// UTF-8 without NUL bytes.
func storable(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s holds a NUL byte, which PostgreSQL text cannot store", what)
	}
	return nil
}

// Exists reports whether the session id exists.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	if err := checkID(ctx, id); err != nil {
		return false, wrap(ctx, "exists", id, err)
	}
	var found bool
	err := s.pool.QueryRow(ctx, s.q.exists, id).Scan(&found)
	return found, wrap(ctx, "exists", id, err)
}

// Create makes a new, empty session, or fails with session.ErrExists.
func (s *Store) Create(ctx context.Context, id string) (session.Session, error) {
	return s.CreateWith(ctx, id, session.CreateOptions{})
}

// CreateWith is Create with an owner, a title, metadata and, for an
// imported session, its original creation time. It fails with
// session.ErrExists if the id is taken.
func (s *Store) CreateWith(ctx context.Context, id string, o session.CreateOptions) (session.Session, error) {
	if err := s.writable(); err != nil {
		return nil, wrap(ctx, "create", id, err)
	}
	if err := checkID(ctx, id); err != nil {
		return nil, wrap(ctx, "create", id, err)
	}
	if err := errors.Join(storable("owner", o.Owner), storable("title", o.Title)); err != nil {
		return nil, wrap(ctx, "create", id, err)
	}
	meta, err := encodeMetadata(o.Metadata)
	if err != nil {
		return nil, wrap(ctx, "create", id, err)
	}
	var inc int64
	parent, forkAt, err := forkLink(o)
	if err != nil {
		return nil, wrap(ctx, "create", id, err)
	}
	args := []any{id, o.Owner, o.Title, meta, time.Now().UnixNano(), newIncarnation(), o.CreatedAt, parent, forkAt}
	if s.feedOn() {
		err = s.feedRow(ctx, s.q.createFeed, args...).Scan(&inc)
	} else {
		err = s.pool.QueryRow(ctx, s.q.create, args...).Scan(&inc)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = session.ErrExists
	}
	if err != nil {
		return nil, wrap(ctx, "create", id, err)
	}
	return &pgSession{s: s, id: id, inc: inc}, nil
}

// Load opens an existing session, or fails with session.ErrNotFound.
func (s *Store) Load(ctx context.Context, id string) (session.Session, error) {
	if err := checkID(ctx, id); err != nil {
		return nil, wrap(ctx, "load", id, err)
	}
	var inc int64
	err := s.pool.QueryRow(ctx, s.q.load, id).Scan(&inc)
	if errors.Is(err, pgx.ErrNoRows) {
		err = session.ErrNotFound
	}
	if err != nil {
		return nil, wrap(ctx, "load", id, err)
	}
	return &pgSession{s: s, id: id, inc: inc}, nil
}

// Open loads the session id, creating it first if it does not exist.
// Concurrent openers of a new id, in any process, all get the same session.
func (s *Store) Open(ctx context.Context, id string) (session.Session, error) {
	if err := s.writable(); err != nil {
		return nil, wrap(ctx, "open", id, err)
	}
	if err := checkID(ctx, id); err != nil {
		return nil, wrap(ctx, "open", id, err)
	}
	// Each attempt either inserts the row or sees it, unless a concurrent
	// creator commits while the attempt waits on it (then the attempt's
	// snapshot is too old to see the row); the next attempt sees it.
	for range 10 {
		var inc int64
		var err error
		if s.routed() {
			// Citus does not route an INSERT in a WITH clause: two routed
			// statements instead (citus.go).
			inc, err = s.openRouted(ctx, id)
		} else {
			err = s.feedRow(ctx, s.q.openFeed, id, time.Now().UnixNano(), newIncarnation()).Scan(&inc)
		}
		if err == nil {
			return &pgSession{s: s, id: id, inc: inc}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, wrap(ctx, "open", id, err)
		}
	}
	return nil, wrap(ctx, "open", id, errors.New("session is being deleted and created again concurrently"))
}

// Delete removes the session and its messages. Deleting a missing session
// is not an error. A handle on the deleted session fails with
// session.ErrNotFound from then on, even if the id is created again.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.writable(); err != nil {
		return wrap(ctx, "delete", id, err)
	}
	if err := checkID(ctx, id); err != nil {
		return wrap(ctx, "delete", id, err)
	}
	// Deleting a parent of forks updates rows of other sessions (the
	// hand-over of migrations/0008_fork_sharing.sql): a deadlock with
	// deletes of related sessions in another order is possible, and the
	// statement, which then changed nothing, runs again.
	err := retryDeadlock(ctx, func() error {
		if s.feedOn() {
			return s.feedExec(ctx, s.q.deleteFeed, id, time.Now().UnixNano())
		}
		_, err := s.pool.Exec(ctx, s.q.deleteSess, id)
		return err
	})
	return wrap(ctx, "delete", id, err)
}

// Info describes the session, or fails with session.ErrNotFound.
func (s *Store) Info(ctx context.Context, id string) (session.Info, error) {
	if err := checkID(ctx, id); err != nil {
		return session.Info{}, wrap(ctx, "info", id, err)
	}
	info, err := scanInfo(s.pool.QueryRow(ctx, s.q.info, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = session.ErrNotFound
	}
	return info, wrap(ctx, "info", id, err)
}

// UpdateInfo changes the session's title or metadata, or fails with
// session.ErrNotFound. It advances UpdatedAt, not the version. It records
// a session.ChangeInfo in the change feed (once the feed has started, see
// StartFeed; a store opened WithCitus has no feed) in the same statement,
// on every success, even one that sets the values already there.
func (s *Store) UpdateInfo(ctx context.Context, id string, u session.InfoUpdate) error {
	if err := s.writable(); err != nil {
		return wrap(ctx, "update info", id, err)
	}
	if err := checkID(ctx, id); err != nil {
		return wrap(ctx, "update info", id, err)
	}
	var title *string
	if u.Title != nil {
		if err := storable("title", *u.Title); err != nil {
			return wrap(ctx, "update info", id, err)
		}
		title = u.Title
	}
	meta, err := encodeMetadata(u.Metadata)
	if err != nil {
		return wrap(ctx, "update info", id, err)
	}
	now := time.Now().UnixNano()
	if !s.feedOn() {
		tag, err := s.pool.Exec(ctx, s.q.updateInfo, id, title, u.Metadata != nil, meta, now)
		if err == nil && tag.RowsAffected() == 0 {
			err = session.ErrNotFound
		}
		return wrap(ctx, "update info", id, err)
	}
	var one int
	err = s.feedRow(ctx, s.q.updateInfoFeed, id, title, u.Metadata != nil, meta, now).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		err = session.ErrNotFound
	}
	return wrap(ctx, "update info", id, err)
}

// SetUpdatedAt sets the session's UpdatedAt to updatedAt (Unix
// nanoseconds), exactly, without changing its messages, version or info: an
// import or migration records when the session was last active where it
// came from. It records no change in the change feed (the agent's lease
// renews it every few seconds). It fails with session.ErrNotFound if the
// session does not exist, and refuses a zero or negative updatedAt.
func (s *Store) SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error {
	if err := s.writable(); err != nil {
		return wrap(ctx, "set updated time", id, err)
	}
	if err := checkID(ctx, id); err != nil {
		return wrap(ctx, "set updated time", id, err)
	}
	if updatedAt <= 0 {
		return wrap(ctx, "set updated time", id, fmt.Errorf("%d is not a positive Unix time in nanoseconds", updatedAt))
	}
	tag, err := s.pool.Exec(ctx, s.q.setUpdatedAt, id, updatedAt)
	if err == nil && tag.RowsAffected() == 0 {
		err = session.ErrNotFound
	}
	return wrap(ctx, "set updated time", id, err)
}

func scanInfo(r pgx.Row) (session.Info, error) {
	var info session.Info
	var meta []byte
	if err := r.Scan(&info.ID, &info.Owner, &info.Title, &meta, &info.CreatedAt, &info.UpdatedAt, &info.MessageCount, &info.Version,
		&info.ParentID, &info.ForkMessageID); err != nil {
		return session.Info{}, err
	}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &info.Metadata); err != nil {
			// The fields read so far are returned: List shows them.
			info.Metadata = nil
			return info, fmt.Errorf("%w: session %q metadata: %v", session.ErrCorrupt, info.ID, err)
		}
		if len(info.Metadata) == 0 {
			info.Metadata = nil
		}
	}
	return info, nil
}

// encodeMetadata returns m as JSON text, or nil (SQL NULL) when empty. The
// column is json, not jsonb, so values may hold any string, NUL included.
func encodeMetadata(m map[string]string) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata %q is not valid UTF-8", k)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	str := string(b)
	return &str, nil
}

// List lists sessions, most recently updated first, then by id descending,
// with keyset pagination: the cursor holds the last row's (updated_at, id),
// and the next page starts strictly after it, served by the index on
// (updated_at DESC, id DESC) (or (owner, updated_at DESC, id DESC)). A
// cursor that List did not make gives an error matching session.ErrBadCursor.
func (s *Store) List(ctx context.Context, lq session.ListQuery) (session.ListPage, error) {
	if err := ctx.Err(); err != nil {
		return session.ListPage{}, wrapOp(ctx, "list", err)
	}
	limit := lq.Limit
	switch {
	case limit <= 0:
		limit = session.DefaultListLimit
	case limit > session.MaxListLimit:
		limit = session.MaxListLimit
	}
	var f int
	var args []any
	if lq.Owner != "" {
		f |= listOwner
		args = append(args, lq.Owner)
	}
	if lq.IDPrefix != "" {
		f |= listPrefix
		args = append(args, lq.IDPrefix)
	}
	if lq.UpdatedAfter != 0 || lq.UpdatedBefore != 0 {
		after, before := int64(math.MinInt64), int64(math.MaxInt64)
		if lq.UpdatedAfter != 0 {
			after = lq.UpdatedAfter
		}
		if lq.UpdatedBefore != 0 {
			before = lq.UpdatedBefore
		}
		f |= listWindow
		args = append(args, after, before)
	}
	if lq.Cursor != "" {
		upd, id, err := session.DecodeCursor(lq.Cursor)
		if err != nil {
			return session.ListPage{}, wrapOp(ctx, "list", err)
		}
		f |= listCursor
		args = append(args, upd, id)
	}
	args = append(args, limit+1)
	rows, err := s.pool.Query(ctx, s.q.list[f], args...)
	if err != nil {
		return session.ListPage{}, wrapOp(ctx, "list", err)
	}
	defer rows.Close()
	page := session.ListPage{Sessions: []session.Info{}} // never nil: an empty page lists []
	for rows.Next() {
		info, err := scanInfo(rows)
		if errors.Is(err, session.ErrCorrupt) {
			// Listed with what could be read; the page says which.
			if len(page.Sessions) < limit {
				page.Unreadable = append(page.Unreadable, wrapOp(ctx, "list", err))
			}
		} else if err != nil {
			return session.ListPage{}, wrapOp(ctx, "list", err)
		}
		page.Sessions = append(page.Sessions, info)
	}
	if err := rows.Err(); err != nil {
		return session.ListPage{}, wrapOp(ctx, "list", err)
	}
	if len(page.Sessions) > limit {
		page.Sessions = page.Sessions[:limit]
		last := page.Sessions[limit-1]
		page.Next = session.EncodeCursor(last.UpdatedAt, last.ID)
	}
	return page, nil
}

// DeleteOwner deletes every session of owner, with its messages and their
// search index entries, and reports what it deleted. An empty owner is
// refused: it would erase every session that has none.
//
// WithCitus it deletes in one statement. Otherwise it deletes in rounds of
// up to 1000 sessions, each its own transaction that records its deletes
// in the change feed (see "Change feed" in the package doc), until none of
// owner's sessions is left, sessions created meanwhile included: writers
// of other sessions never wait for it. If it fails part way, the rounds
// that committed stay deleted, and the report returned with the error
// lists them; calling it again finishes the erasure.
func (s *Store) DeleteOwner(ctx context.Context, owner string) (session.DeleteReport, error) {
	if err := s.writable(); err != nil {
		return session.DeleteReport{}, wrap(ctx, "delete owner", owner, err)
	}
	if err := ctx.Err(); err != nil {
		return session.DeleteReport{}, wrap(ctx, "delete owner", owner, err)
	}
	if owner == "" {
		return session.DeleteReport{}, errors.New("postgres: delete owner: empty owner")
	}
	var r session.DeleteReport
	var err error
	if s.feedOn() {
		r, err = s.bulkDeleteFeed(ctx, s.q.bulkFeed[bulkOwner], owner)
	} else {
		r, err = s.deleteReport(ctx, s.q.deleteOwner, owner)
	}
	if err != nil {
		// r lists what rounds that committed deleted before the error.
		return r, wrap(ctx, "delete owner", owner, err)
	}
	return r, nil
}

// Prune deletes the sessions last updated before q.UpdatedBefore (only
// q.Owner's, if set) and reports them; with q.DryRun it only reports. A
// zero UpdatedBefore is refused. The index on (updated_at DESC, id DESC)
// finds the sessions; each deletion cascades to the session's messages.
// It deletes as DeleteOwner does: WithCitus in one statement, otherwise in
// rounds that each commit, so that a failure part way leaves the rounds
// before it done (the report returned with the error lists them), and
// calling it again finishes the pruning. WithCitus, to
// prune millions of sessions without one long transaction, call it
// repeatedly with an UpdatedBefore that moves forward in steps.
func (s *Store) Prune(ctx context.Context, pq session.PruneQuery) (session.DeleteReport, error) {
	if err := s.writable(); err != nil && !pq.DryRun {
		return session.DeleteReport{}, wrapOp(ctx, "prune", err)
	}
	if err := ctx.Err(); err != nil {
		return session.DeleteReport{}, wrapOp(ctx, "prune", err)
	}
	if pq.UpdatedBefore == 0 {
		return session.DeleteReport{}, errors.New("postgres: prune: UpdatedBefore is not set")
	}
	qs := s.q.prune
	if pq.DryRun {
		qs = s.q.pruneDry
	}
	args := []any{pq.UpdatedBefore}
	sql := qs[0]
	if pq.Owner != "" {
		sql = qs[1]
		args = append(args, pq.Owner)
	}
	var r session.DeleteReport
	var err error
	if !pq.DryRun && s.feedOn() {
		// The same deletes, in rounds, each recorded in the feed.
		kind := bulkPrune
		if pq.Owner != "" {
			kind = bulkPruneOwner
		}
		r, err = s.bulkDeleteFeed(ctx, s.q.bulkFeed[kind], args...)
	} else {
		r, err = s.deleteReport(ctx, sql, args...)
	}
	if err != nil {
		// r lists what rounds that committed deleted before the error.
		return r, wrapOp(ctx, "prune", err)
	}
	return r, nil
}

func (s *Store) deleteReport(ctx context.Context, sql string, args ...any) (session.DeleteReport, error) {
	return queryReport(ctx, s.pool, sql, args...)
}

// bulkRound is how many sessions a round of bulkDeleteFeed deletes at
// most (a variable for tests).
var bulkRound = 1000

// bulkHook, when set (by tests), is called in each round of
// bulkDeleteFeed once the round's transaction has its xid, before it locks
// any row.
var bulkHook func()

// bulkDeleteFeed deletes what bq selects (pred's arguments args) and
// records the deletes in the feed, in rounds that each commit (see
// bulkFeedQueries): no writer of the table waits for it, and the writer
// of a session it deletes waits at most for one round. A round locks the
// rows no writer holds (SKIP LOCKED); once none is left, it deletes each
// row that still matches in a round of its own that waits for the row's
// writer; then it starts again, until nothing matches, which also takes
// the sessions that came to match meanwhile. On an error it returns, with
// it, what the rounds that committed before it deleted.
func (s *Store) bulkDeleteFeed(ctx context.Context, bq bulkFeedQueries, args ...any) (session.DeleteReport, error) {
	var r session.DeleteReport
	add := func(part session.DeleteReport) {
		r.SessionIDs = append(r.SessionIDs, part.SessionIDs...)
		r.Messages += part.Messages
	}
	done := func(err error) (session.DeleteReport, error) {
		slices.Sort(r.SessionIDs)
		return r, err
	}
	for {
		locked, part, err := s.bulkDeleteRound(ctx, "", bq.lock, bq.del, append([]any{bulkRound}, args...))
		if err != nil {
			return done(err)
		}
		add(part)
		if locked > 0 {
			continue
		}
		// Every row left is held by a writer (or none is left).
		left, err := queryIDs(ctx, s.pool, bq.remaining, args...)
		if err != nil {
			return done(err)
		}
		if len(left) == 0 {
			break
		}
		for _, id := range left {
			_, part, err := s.bulkDeleteRound(ctx, id, bq.lockOne, bq.del, append([]any{id}, args...))
			if err != nil {
				return done(err)
			}
			add(part)
		}
	}
	return done(nil)
}

// bulkDeleteRound is one round of bulkDeleteFeed, in one transaction: it
// takes an xid, locks the rows lock selects (lockArgs its arguments:
// first the limit or the id, then pred's), deletes (del) those that no
// change with a larger xid touched and commits. A round for one session
// (one, its id) first takes the session's feed lock (feedLock), waiting
// for its writer: its xid then follows theirs, and no writer of the
// session can change it before the round deletes it. It returns how many
// rows it locked and what it deleted.
func (s *Store) bulkDeleteRound(ctx context.Context, one, lock, del string, lockArgs []any) (locked int, r session.DeleteReport, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, r, err
	}
	defer rollbackOnError(ctx, tx, &err)
	if one != "" {
		if err := s.lockFeed(ctx, tx, one); err != nil {
			return 0, r, err
		}
	}
	var xid int64
	if err := tx.QueryRow(ctx, s.q.currentXid).Scan(&xid); err != nil {
		return 0, r, err
	}
	if bulkHook != nil {
		bulkHook()
	}
	ids, err := queryIDs(ctx, tx, lock, lockArgs...)
	if err != nil {
		return 0, r, err
	}
	if len(ids) > 0 {
		delArgs := append([]any{ids, time.Now().UnixNano(), xid}, lockArgs[1:]...)
		if r, err = queryReport(ctx, tx, del, delArgs...); err != nil {
			return 0, r, err
		}
		if len(r.SessionIDs) > 0 {
			if err := s.notifyTx(ctx, tx); err != nil {
				return 0, session.DeleteReport{}, err
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, session.DeleteReport{}, err
	}
	return len(ids), r, nil
}

// querier is a pool or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// queryIDs returns the ids sql selects.
func queryIDs(ctx context.Context, q querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func queryReport(ctx context.Context, q querier, sql string, args ...any) (session.DeleteReport, error) {
	var r session.DeleteReport
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return session.DeleteReport{}, err
		}
		r.SessionIDs = append(r.SessionIDs, id)
		r.Messages += n
	}
	if err := rows.Err(); err != nil {
		return session.DeleteReport{}, err
	}
	slices.Sort(r.SessionIDs)
	return r, nil
}
