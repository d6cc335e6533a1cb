package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/internal/wake"
	"github.com/convo-dev/convo/session"
)

// Store is a session store in a SQLite database. It is safe for concurrent
// use by many goroutines, and many processes may use one database file at
// once. Create one with SessionStore.
//
// It implements every optional capability of package session: Opener,
// Describer, Lister, Searcher, OwnerEraser, Pruner, Importer, Quarantiner,
// Forker, Watcher and FeedTrimmer; its sessions are Versioned, Rewriters
// and Rangers.
type Store struct {
	db    *sql.DB
	opts  storeOptions
	q     *queries
	wlock chan struct{} // serialises this process's writers on db
	wake  *wake.Signal  // wakes the watches on db after a write
	// noFeed turns the feed's records off, for the benchmark that
	// measures their cost (SetFeedRecording in export_test.go).
	noFeed bool
	// feedStarted is set once this store has seen the database's feed
	// recording (StartFeed): it never stops, so writes need not read the
	// flag any more.
	feedStarted atomic.Bool

	stmts map[string]*sql.Stmt // prepared at Open, read-only afterwards
	hot   []*sql.Stmt          // the statements a connection gets ready before its first transaction

	// ready holds the driver connections that have the store's busy
	// timeout and hot statements (see conn).
	readyMu sync.Mutex
	ready   map[any]struct{}

	search    *searchSQL
	searchErr error // why Search cannot run, or nil
}

var (
	_ session.Store     = (*Store)(nil)
	_ session.Opener    = (*Store)(nil)
	_ session.Describer = (*Store)(nil)
	_ session.Lister    = (*Store)(nil)
	_ session.Importer  = (*Store)(nil)
	_ session.Forker    = (*Store)(nil)
	_ session.Versioned = (*sqliteSession)(nil)
	_ session.Rewriter  = (*sqliteSession)(nil)
	_ session.Ranger    = (*sqliteSession)(nil)
)

// writeLocks holds one write lock per *sql.DB, shared by every store on it
// (stores with different prefixes share SQLite's single write lock too). It
// is keyed by a weak pointer, and an entry goes when its *sql.DB is
// collected.
// (stores with different prefixes share SQLite's single write lock too).
var writeLocks sync.Map // weak.Pointer[sql.DB] -> chan struct{}

func writeLock(db *sql.DB) chan struct{} {
	key := weak.Make(db)
	if l, ok := writeLocks.Load(key); ok {
		return l.(chan struct{})
	}
	l, loaded := writeLocks.LoadOrStore(key, make(chan struct{}, 1))
	if !loaded {
		runtime.AddCleanup(db, func(k weak.Pointer[sql.DB]) { writeLocks.Delete(k) }, key)
	}
	return l.(chan struct{})
}

// SessionStore returns a session store on db, creating its tables if they
// do not exist and upgrading an older convo schema in place. db may come from
// any SQLite driver for database/sql: modernc.org/sqlite, mattn/go-sqlite3 or
// ncruces/go-sqlite3. The store does not depend on the DSN's settings for
// safety: it sets busy_timeout on every connection before it uses it and
// takes SQLite's write lock with the first statement of every write.
//
// It fails before running any SQL if an option is invalid (a table prefix
// that is not a plain identifier, a non-positive limit), and with
// ErrSchemaTooNew if a newer convo has upgraded the database.
func SessionStore(ctx context.Context, db *sql.DB, opts ...Option) (session.Store, error) {
	return Open(ctx, db, opts...)
}

// Open is SessionStore returning the concrete *Store, for callers that want
// its methods without type assertions.
func Open(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	s, err := newStore(db, opts)
	if err != nil {
		return nil, err
	}
	o := s.opts
	if o.readOnly {
		// Looking never writes: check the schema, create nothing.
		err := s.retryBusy(ctx, func() error { return s.checkSchema(ctx) })
		if err != nil {
			return nil, err
		}
	} else if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	s.search = newSearchSQL(o.prefix, s.q)
	if err := s.setupSearch(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: set up full-text search: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newStore validates opts and returns a store on db that has done no I/O.
func newStore(db *sql.DB, opts []Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if db == nil {
		return nil, errors.New("sqlite: nil *sql.DB")
	}
	if err := sqlident.ValidatePrefix(o.prefix); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if o.busyTimeout <= 0 {
		return nil, fmt.Errorf("sqlite: busy timeout must be positive, got %v", o.busyTimeout)
	}
	if o.maxMessageBytes <= 0 {
		return nil, fmt.Errorf("sqlite: max message bytes must be positive, got %d", o.maxMessageBytes)
	}
	if o.feedPoll <= 0 {
		return nil, fmt.Errorf("sqlite: feed poll interval must be positive, got %v", o.feedPoll)
	}
	return &Store{db: db, opts: o, q: newQueries(o.prefix, o.busyTimeout), wlock: writeLock(db), wake: wakeFor(db), stmts: map[string]*sql.Stmt{}, ready: map[any]struct{}{}}, nil
}

// DB returns the database the store uses.
func (s *Store) DB() *sql.DB { return s.db }

// Prefix returns the table prefix.
func (s *Store) Prefix() string { return s.opts.prefix }

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) setBusyTimeout(ctx context.Context, e execer) error {
	_, err := e.ExecContext(ctx, s.q.busyTimeout)
	return err
}

// write runs fn in a transaction that may write. Writers of this process
// queue on a channel (so they do not spin in SQLite's busy handler against
// each other), and every connection gets the store's busy_timeout before its
// first transaction, so that writers of other processes are waited for,
// whatever the DSN says.
//
// A transaction must write before it reads: a read first would leave a
// snapshot that SQLite refuses to upgrade, with SQLITE_BUSY and no wait.
// When fn's first statement is a write prepared on every connection
// beforehand (firstPrepared), that statement takes the lock; otherwise write
// takes it with a write to a table without triggers before fn runs, because
// preparing a statement on the messages table inside the transaction can
// read (the FTS5 trigger's table is opened).
func (s *Store) write(ctx context.Context, firstPrepared bool, fn func(tx *sql.Tx) error) (err error) {
	if s.opts.readOnly {
		return errReadOnly
	}
	select {
	case s.wlock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wlock }()
	conn, err := s.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	defer func() {
		if err == nil {
			s.changed()
		}
	}()
	err = s.writeOn(ctx, conn, !firstPrepared, fn)
	if firstPrepared && isBusy(err) && ctx.Err() == nil {
		// Whatever made the first statement read before it could write
		// (its connection had to re-read a schema another process
		// changed), it stored nothing: try once more, taking the lock
		// first. (A lock held by another process for longer than
		// busy_timeout is waited for twice.)
		err = s.writeOn(ctx, conn, true, fn)
	}
	return ctxErr(ctx, err)
}

// beginTx begins a transaction on conn that database/sql does not end by
// itself when ctx ends: its statements still take ctx (the driver
// interrupts them), and the caller's deferred rollback ends it. database/sql
// closes the connection of a transaction whose context ends first unless the
// driver implements driver.SessionResetter and driver.Validator (Tx.awaitDone
// and DB.beginDC in database/sql, Go 1.26); mattn and ncruces do not, and a
// closed connection is the end of a private in-memory database, which lives
// only as long as its one connection. The transaction's statements can also
// fail with "statement is closed" when database/sql closes it under them.
func beginTx(ctx context.Context, conn *sql.Conn, opts *sql.TxOptions) (*sql.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return conn.BeginTx(context.WithoutCancel(ctx), opts)
}

// ctxErr returns err, or, when ctx has ended and err does not say so, an
// error that matches ctx.Err() too: the drivers report a statement stopped by
// the end of its context in their own words ("interrupted"), and callers
// branch on context.Canceled and context.DeadlineExceeded.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w: %w", cerr, err)
}

func (s *Store) writeOn(ctx context.Context, conn *sql.Conn, lock bool, fn func(tx *sql.Tx) error) (err error) {
	tx, err := beginTx(ctx, conn, nil)
	if err != nil {
		return err
	}
	defer rollbackOnError(tx, &err)
	if lock {
		if _, err := s.exec(ctx, tx, s.q.lock); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// errReadOnly is what every write of a read-only store returns.
var errReadOnly = fmt.Errorf("%w (opened with sqlite.WithReadOnly)", session.ErrReadOnly)

// isBusy reports whether err is SQLite's SQLITE_BUSY, as every driver
// words it.
func isBusy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "database is locked")
}

// read runs fn in a read-only transaction, so that what it reads is one
// consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	conn, err := s.conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := beginTx(ctx, conn, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer endReadOnly(tx, &err)
	return ctxErr(ctx, fn(tx))
}

// maxReady bounds the connections a store remembers as ready. The set holds
// each connection (so its address cannot be reused by another while it is
// in the set); when it is full it is emptied, and connections still in use
// get ready once more.
const maxReady = 1024

// conn takes a connection from the pool and, the first time the store sees
// it, sets its busy_timeout and prepares the hot statements on it, outside
// any transaction. Setting busy_timeout once per connection rather than in
// every transaction saves a statement per call; a program that changes
// busy_timeout on the pool's connections behind the store's back takes the
// consequences.
func (s *Store) conn(ctx context.Context) (*sql.Conn, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var dc any
	ready := false
	if err := conn.Raw(func(c any) error {
		dc = c
		s.readyMu.Lock()
		_, ready = s.ready[c]
		s.readyMu.Unlock()
		return nil
	}); err != nil {
		conn.Close()
		return nil, err
	}
	if ready {
		return conn, nil
	}
	if err := s.getReady(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	s.readyMu.Lock()
	if len(s.ready) >= maxReady {
		clear(s.ready)
	}
	s.ready[dc] = struct{}{}
	s.readyMu.Unlock()
	return conn, nil
}

func (s *Store) getReady(ctx context.Context, conn *sql.Conn) (err error) {
	if _, err := conn.ExecContext(ctx, s.q.busyTimeout); err != nil {
		return err
	}
	// database/sql prepares a statement on a connection the first time a
	// transaction on it uses the statement; do it here, in a transaction
	// that writes nothing, so that no later transaction has to.
	tx, err := beginTx(ctx, conn, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer endReadOnly(tx, &err)
	for _, st := range s.hot {
		if err := tx.StmtContext(ctx, st).Close(); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// endReadOnly ends a transaction that wrote nothing: it has nothing to keep,
// so it is rolled back whatever happened (database/sql's Rollback takes no
// context, so a cancelled call still ends it). A failed rollback is reported
// in *errp unless an error is there already.
func endReadOnly(tx *sql.Tx, errp *error) {
	if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) && *errp == nil {
		*errp = rerr
	}
}

// rollbackOnError rolls tx back when *errp is set. database/sql's Rollback
// does not take a context, so a cancelled call still cleans up.
func rollbackOnError(tx *sql.Tx, errp *error) {
	if *errp != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			*errp = errors.Join(*errp, fmt.Errorf("rollback: %w", rerr))
		}
	}
}

// preparedBatchSizes are the AddMessages batch sizes whose INSERT is
// prepared when the store opens; other sizes are prepared by SQLite on each
// call (a few microseconds more).
const preparedBatchSizes = 8

// prepare prepares the statements of the hot paths once. It runs before any
// transaction of the store, so it works on a pool of one connection too.
func (s *Store) prepare(ctx context.Context) error {
	qs := []string{s.q.lock, s.q.sessionState, s.q.lastN, s.q.all, s.q.touchAfterInsert, s.q.touchNoReturn, s.q.recordChange, s.q.recordChangeIfActive}
	for n := 1; n <= preparedBatchSizes; n++ {
		qs = append(qs, s.q.insertSQL(n, false), s.q.insertSQL(n, true))
	}
	for _, q := range qs {
		st, err := s.prepareOne(ctx, q)
		if err != nil {
			s.Close()
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		s.stmts[q] = st
		s.hot = append(s.hot, st)
	}
	return nil
}

// prepareOne prepares q on some pooled connection. That connection may have
// no busy_timeout yet (it is set when the store first uses it), and preparing can read
// the schema while another process is creating it, so a failure is retried
// for a while before it is returned.
func (s *Store) prepareOne(ctx context.Context, q string) (st *sql.Stmt, err error) {
	err = s.retry(ctx, func(error) bool { return true }, func() error {
		st, err = s.db.PrepareContext(ctx, q)
		return err
	})
	return st, err
}

// retryBusy runs fn, and runs it again while it fails with SQLITE_BUSY
// (isBusy), for up to the store's busy timeout or until ctx ends. It is for
// idempotent steps that SQLite can refuse with "database is locked" without
// waiting in its busy handler, such as switching the journal mode.
func (s *Store) retryBusy(ctx context.Context, fn func() error) error {
	return s.retry(ctx, isBusy, fn)
}

// retry runs fn, and runs it again, with a growing pause (1 ms doubling up
// to 100 ms), while it fails with an error for which again is true, for up
// to the store's busy timeout or until ctx ends. It returns fn's last error,
// joined with ctx's when ctx ended.
func (s *Store) retry(ctx context.Context, again func(error) bool, fn func() error) error {
	delay := time.Millisecond
	deadline := time.Now().Add(s.opts.busyTimeout)
	for {
		err := fn()
		if err == nil || !again(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// exec runs query in tx, through its prepared statement when there is one.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// Close releases the store's prepared statements. It does not close the
// database, which belongs to the caller.
func (s *Store) Close() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

func newIncarnation() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

func wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	if storageFull(err) {
		err = fmt.Errorf("%w: %w", session.ErrStorageFull, err)
	}
	return fmt.Errorf("sqlite: %s %q: %w", op, id, err)
}

// storageFull reports whether err is SQLite's SQLITE_FULL, "database or
// disk is full" (https://sqlite.org/rescode.html#full), or an operating
// system's ENOSPC. The store imports no driver, so it reads the message
// that all three drivers pass on from SQLite (and the errno text, which
// ncruces wraps in its "disk I/O error").
func storageFull(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "database or disk is full") || strings.Contains(msg, "no space left on device")
}

// Exists reports whether the session id exists.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	if err := session.ValidateID(id); err != nil {
		return false, wrap("exists", id, err)
	}
	var found bool
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.q.exists, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, wrap("exists", id, err)
}

// Create makes a new, empty session, or fails with session.ErrExists.
func (s *Store) Create(ctx context.Context, id string) (session.Session, error) {
	return s.CreateWith(ctx, id, session.CreateOptions{})
}

// CreateWith is Create with an owner, title and metadata.
func (s *Store) CreateWith(ctx context.Context, id string, o session.CreateOptions) (session.Session, error) {
	if err := session.ValidateID(id); err != nil {
		return nil, wrap("create", id, err)
	}
	meta, err := encodeMetadata(o.Metadata)
	if err != nil {
		return nil, wrap("create", id, err)
	}
	parent, forkAt, err := forkLink(o)
	if err != nil {
		return nil, wrap("create", id, err)
	}
	inc := newIncarnation()
	err = s.write(ctx, false, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		created := now
		if o.CreatedAt != 0 {
			created = o.CreatedAt
		}
		if err := execChanging(ctx, tx, session.ErrExists, s.q.create, id, o.Owner, o.Title, meta, created, max(now, created), inc, parent, forkAt); err != nil {
			return err
		}
		return s.record(ctx, tx, session.ChangeCreate, id, 0, nil)
	})
	if err != nil {
		return nil, wrap("create", id, err)
	}
	return &sqliteSession{s: s, id: id, inc: inc}, nil
}

// Load opens an existing session, or fails with session.ErrNotFound.
func (s *Store) Load(ctx context.Context, id string) (session.Session, error) {
	if err := session.ValidateID(id); err != nil {
		return nil, wrap("load", id, err)
	}
	var inc int64
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q.load, id).Scan(&inc)
		if errors.Is(err, sql.ErrNoRows) {
			return session.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, wrap("load", id, err)
	}
	return &sqliteSession{s: s, id: id, inc: inc}, nil
}

// Open loads the session id, creating it first if it does not exist, in one
// transaction: concurrent openers of a new id all get the same session.
func (s *Store) Open(ctx context.Context, id string) (session.Session, error) {
	if err := session.ValidateID(id); err != nil {
		return nil, wrap("open", id, err)
	}
	var inc int64
	err := s.write(ctx, false, func(tx *sql.Tx) error {
		now := time.Now().UnixNano()
		res, err := tx.ExecContext(ctx, s.q.create, id, "", "", nil, now, now, newIncarnation(), "", "")
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			if err := s.record(ctx, tx, session.ChangeCreate, id, 0, nil); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, s.q.load, id).Scan(&inc)
	})
	if err != nil {
		return nil, wrap("open", id, err)
	}
	return &sqliteSession{s: s, id: id, inc: inc}, nil
}

// Delete removes the session and its messages. Deleting a missing session is
// not an error.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := session.ValidateID(id); err != nil {
		return wrap("delete", id, err)
	}
	return wrap("delete", id, s.write(ctx, false, func(tx *sql.Tx) error {
		// The feed's record first (while the row is there to read): a
		// write that takes the lock; then the session and its messages,
		// explicitly (ON DELETE CASCADE works only where the connection has
		// foreign_keys on, which the store cannot see).
		if err := s.record(ctx, tx, session.ChangeDelete, id, 0, nil); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.deleteSess, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.deleteMsgs, id)
		return err
	}))
}

// Info describes the session, or fails with session.ErrNotFound.
func (s *Store) Info(ctx context.Context, id string) (session.Info, error) {
	if err := session.ValidateID(id); err != nil {
		return session.Info{}, wrap("info", id, err)
	}
	var info session.Info
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		info, err = scanInfo(tx.QueryRowContext(ctx, s.q.info, id))
		if errors.Is(err, sql.ErrNoRows) {
			return session.ErrNotFound
		}
		return err
	})
	return info, wrap("info", id, err)
}

// UpdateInfo changes the session's title or metadata, or fails with
// session.ErrNotFound. It records a session.ChangeInfo in the change feed
// (once the feed has started, see StartFeed) in the same transaction, on
// every success, even one that sets the values already there.
func (s *Store) UpdateInfo(ctx context.Context, id string, u session.InfoUpdate) error {
	if err := session.ValidateID(id); err != nil {
		return wrap("update info", id, err)
	}
	meta, err := encodeMetadata(u.Metadata)
	if err != nil {
		return wrap("update info", id, err)
	}
	return wrap("update info", id, s.write(ctx, false, func(tx *sql.Tx) error {
		var title any
		if u.Title != nil {
			title = *u.Title
		}
		if err := execChanging(ctx, tx, session.ErrNotFound, s.q.updateInfo, title, u.Metadata != nil, meta, time.Now().UnixNano(), id); err != nil {
			return err
		}
		return s.record(ctx, tx, session.ChangeInfo, id, 0, nil)
	}))
}

// SetUpdatedAt sets the session's UpdatedAt to updatedAt (Unix
// nanoseconds), exactly, without changing its messages, version or info: an
// import or migration records when the session was last active where it
// came from. It records no change in the change feed (the agent's lease
// renews it every few seconds). It fails with session.ErrNotFound if the
// session does not exist, and refuses a zero or negative updatedAt.
func (s *Store) SetUpdatedAt(ctx context.Context, id string, updatedAt int64) error {
	if err := session.ValidateID(id); err != nil {
		return wrap("set updated time", id, err)
	}
	if updatedAt <= 0 {
		return wrap("set updated time", id, fmt.Errorf("%d is not a positive Unix time in nanoseconds", updatedAt))
	}
	return wrap("set updated time", id, s.write(ctx, false, func(tx *sql.Tx) error {
		return execChanging(ctx, tx, session.ErrNotFound, s.q.setUpdatedAt, updatedAt, id)
	}))
}

// execChanging runs q in tx and returns ifNone when it changed no row.
func execChanging(ctx context.Context, tx *sql.Tx, ifNone error, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return err
	case n == 0:
		return ifNone
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanInfo(r rowScanner) (session.Info, error) {
	var info session.Info
	var meta sql.NullString
	// SQLite keeps text that is not a number in an INTEGER column, as
	// another program writing the file may leave it: such a value is read
	// as any, so that the row is reported as corrupt, naming the column,
	// rather than failing every listing that meets it.
	var created, updated, count, version any
	if err := r.Scan(&info.ID, &info.Owner, &info.Title, &meta, &created, &updated, &count, &version,
		&info.ParentID, &info.ForkMessageID); err != nil {
		return info, err
	}
	var bad []string
	for _, c := range []struct {
		name string
		v    any
		dst  *int64
	}{{"created_at", created, &info.CreatedAt}, {"updated_at", updated, &info.UpdatedAt},
		{"message_count", count, &info.MessageCount}, {"version", version, &info.Version}} {
		n, ok := integer(c.v)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is %s, not an integer", c.name, describeValue(c.v)))
			continue
		}
		*c.dst = n
	}
	if meta.Valid && meta.String != "" {
		if err := json.Unmarshal([]byte(meta.String), &info.Metadata); err != nil {
			info.Metadata = nil
			bad = append(bad, fmt.Sprintf("metadata: %v", err))
		}
		if len(info.Metadata) == 0 {
			info.Metadata = nil
		}
	}
	if len(bad) > 0 {
		return info, fmt.Errorf("%w: session %q: %s", session.ErrCorrupt, info.ID, strings.Join(bad, "; "))
	}
	return info, nil
}

// integer returns v, a value of an INTEGER column, as an int64, and false
// when it holds something else (text that is not a whole number, a real
// with a fraction, a blob, NULL).
func integer(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
			return int64(v), true
		}
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// describeValue shows a stored value that is not what its column should
// hold, briefly and quoted.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		v = v[:min(len(v), 40)]
		return fmt.Sprintf("%q", v)
	case string:
		if len(v) > 40 {
			v = v[:40]
		}
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

func encodeMetadata(m map[string]string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// List lists sessions, newest activity first, with keyset pagination.
func (s *Store) List(ctx context.Context, lq session.ListQuery) (session.ListPage, error) {
	limit := lq.Limit
	switch {
	case limit <= 0:
		limit = session.DefaultListLimit
	case limit > session.MaxListLimit:
		limit = session.MaxListLimit
	}
	query, args, err := s.listSQL(lq, limit)
	if err != nil {
		return session.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	page := session.ListPage{Sessions: []session.Info{}}
	err = s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			info, err := scanInfo(rows)
			if errors.Is(err, session.ErrCorrupt) {
				// Listed with what could be read; the page says which
				// (not for the row past the page, read to find Next).
				if len(page.Sessions) < limit {
					page.Unreadable = append(page.Unreadable, fmt.Errorf("sqlite: list: %w", err))
				}
				info.Metadata = nil
			} else if err != nil {
				return err
			}
			page.Sessions = append(page.Sessions, info)
		}
		return rows.Err()
	})
	if err != nil {
		return session.ListPage{}, fmt.Errorf("sqlite: list: %w", err)
	}
	if len(page.Sessions) > limit {
		page.Sessions = page.Sessions[:limit]
		last := page.Sessions[limit-1]
		upd := last.UpdatedAt
		if upd <= 0 {
			// Its updated_at is unreadable (no store records 0 or less):
			// text, which SQLite sorts above every number, so such rows
			// come first, newest-first order being descending. Go on with the readable ones; those of the
			// unreadable rows that did not fit on this page are not
			// listed.
			upd = math.MaxInt64
		}
		page.Next = session.EncodeCursor(upd, last.ID)
	}
	return page, nil
}

// listSQL returns the query List runs for lq, a page of limit sessions
// and one more (to find Next), and its arguments. It fails only on a
// cursor that does not decode.
func (s *Store) listSQL(lq session.ListQuery, limit int) (string, []any, error) {
	var where []string
	var args []any
	if lq.Owner != "" {
		where, args = append(where, "owner = ?"), append(args, lq.Owner)
	}
	if lq.IDPrefix != "" {
		where = append(where, "id >= ? AND substr(id, 1, length(?)) = ?")
		args = append(args, lq.IDPrefix, lq.IDPrefix, lq.IDPrefix)
	}
	if lq.UpdatedAfter != 0 {
		where, args = append(where, "updated_at > ?"), append(args, lq.UpdatedAfter)
	}
	var (
		upd     int64
		id      string
		fromCur = lq.Cursor != ""
	)
	if fromCur {
		var err error
		if upd, id, err = session.DecodeCursor(lq.Cursor); err != nil {
			return "", nil, err
		}
	}
	// Of the window's upper bound and the cursor, only the tighter one is
	// written: given both, SQLite searches the index from the window's and
	// filters up to the cursor, which again reads every session of the
	// window before the page. Either one implies the other when it is the
	// tighter: updated_at < before <= upd, or (updated_at, id) < (upd, id)
	// with upd < before.
	if lq.UpdatedBefore != 0 && fromCur && upd < lq.UpdatedBefore {
		lq.UpdatedBefore = 0
	} else if lq.UpdatedBefore != 0 && fromCur {
		fromCur = false
	}
	if lq.UpdatedBefore != 0 {
		where, args = append(where, "updated_at < ?"), append(args, lq.UpdatedBefore)
	}
	if fromCur {
		// A row value, not "updated_at < ? OR (updated_at = ? AND id < ?)":
		// SQLite (3.54, modernc.org/sqlite v1.62) plans that OR, with its
		// own bind parameters, as a scan of the whole index, so that every
		// page cost a read of all sessions before it and listing a million
		// sessions page by page (export, doctor, migrate) took minutes. A
		// row-value comparison is a range search of the index
		// (https://sqlite.org/rowvalue.html, 3.1 "Scrolling Window
		// Queries"); it selects the same rows. TestListCursorUsesIndexRange pins the plan.
		where = append(where, "(updated_at, id) < (?, ?)")
		args = append(args, upd, id)
	}
	query := `SELECT ` + infoCols + ` FROM ` + s.q.sessions
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY updated_at DESC, id DESC LIMIT ?"
	args = append(args, limit+1)
	return query, args, nil
}
