package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/convo-dev/convo/session"
)

// ErrNoCitus is returned by SessionStore with WithCitus when the database
// has no citus extension (CREATE EXTENSION citus has not been run in it, or
// it is not a Citus coordinator). Nothing has been created or changed then.
var ErrNoCitus = errors.New("postgres: WithCitus: the citus extension is not installed in this database")

// WithCitus makes the store a Citus store: SessionStore, run against a
// Citus coordinator, distributes the tables it creates, sessions by id and
// messages by session_id colocated with sessions (create_distributed_table,
// in the transaction that creates them), so that each session's rows live
// on one node. Reopening is idempotent, and tables that an earlier
// SessionStore created without the option are distributed then. The number
// of shards is the cluster's citus.shard_count when the tables are
// distributed (32 by default). With the option the store also runs each
// append as statements that Citus routes to the session's shard (see the
// package documentation, "Citus"). Without the citus extension in the
// database SessionStore fails with an error matching ErrNoCitus, having
// changed nothing.
func WithCitus() Option {
	return func(o *storeOptions) { o.citus = true }
}

// checkCitus fails with ErrNoCitus unless the citus extension is installed.
func (s *Store) checkCitus(ctx context.Context) error {
	var version string
	err := s.pool.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'citus'`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoCitus
	}
	if err != nil {
		return fmt.Errorf("postgres: check for the citus extension: %w", err)
	}
	return nil
}

// checkNotDistributed fails with ErrNeedsCitus when the database is a
// Citus coordinator and it distributes the store's sessions or messages
// table. It reads only the catalog, so a refused open changes nothing; on
// plain PostgreSQL it costs one query.
func (s *Store) checkNotDistributed(ctx context.Context) error {
	var citus bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return fmt.Errorf("postgres: open: check for the citus extension: %w", err)
	}
	if !citus {
		return nil
	}
	sess, msgs, err := s.undistributed(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("postgres: open: %w", err)
	}
	if !sess || !msgs {
		return fmt.Errorf("%w (%s)", ErrNeedsCitus, s.where())
	}
	return nil
}

// undistributed returns which of the store's tables, sessions and messages,
// Citus does not distribute yet.
func (s *Store) undistributed(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (sessions, messages bool, err error) {
	err = q.QueryRow(ctx, `SELECT
			NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)),
			NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($2))`,
		s.q.sessions, s.q.messages).Scan(&sessions, &messages)
	if err != nil {
		return false, false, fmt.Errorf("postgres: read the distribution of the tables: %w", err)
	}
	return sessions, messages, nil
}

// distribute distributes the store's tables that are not distributed yet,
// in tx, which holds the migration lock: sessions by id, then messages by
// session_id, colocated with sessions (the foreign key between them
// requires it).
func (s *Store) distribute(ctx context.Context, tx pgx.Tx) error {
	sess, msgs, err := s.undistributed(ctx, tx)
	if err != nil {
		return err
	}
	// Forks made without WithCitus borrow their parent's bytes
	// (migrations/0008_fork_sharing.sql), which a row may not do from
	// another shard: each borrowed row gets its bytes now, and the trigger
	// that hands bytes over goes (Citus refuses a distributed table with a
	// trigger); the store WithCitus copies from now on.
	if msgs {
		if _, err := tx.Exec(ctx, s.q.handoverAll); err != nil {
			return fmt.Errorf("postgres: copy borrowed message bytes before distributing: %w", err)
		}
	}
	if sess {
		if _, err := tx.Exec(ctx, s.q.dropHandover); err != nil {
			return fmt.Errorf("postgres: drop the fork hand-over trigger before distributing: %w", err)
		}
	}
	if sess {
		// A colocation group of its own: by default Citus puts a table in
		// the group of the database's other tables distributed by the
		// same type with as many shards, and refuses when their
		// collations differ (convo's ids are COLLATE "C").
		if _, err := tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, 'id', colocate_with => 'none')`, s.q.sessions); err != nil {
			return fmt.Errorf("postgres: distribute %s: %w", s.q.sessions, err)
		}
	}
	if msgs {
		if _, err := tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, 'session_id', colocate_with => $2)`,
			s.q.messages, s.q.sessions); err != nil {
			return fmt.Errorf("postgres: distribute %s: %w", s.q.messages, err)
		}
	}
	// The quarantine table (schema version 2) goes with its sessions, as
	// the messages do: its foreign key to sessions needs it colocated.
	var quarantine bool
	if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1))`,
		s.q.quarantine).Scan(&quarantine); err != nil {
		return fmt.Errorf("postgres: read the distribution of %s: %w", s.q.quarantine, err)
	}
	if quarantine {
		if _, err := tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, 'session_id', colocate_with => $2)`,
			s.q.quarantine, s.q.sessions); err != nil {
			return fmt.Errorf("postgres: distribute %s: %w", s.q.quarantine, err)
		}
	}
	return nil
}

// inTx runs the statements that queue puts in a batch inside BEGIN ...
// COMMIT, in one round trip, and read reads their results (not those of
// BEGIN and COMMIT). A store opened WithCitus uses it where a plain store
// sends a batch in an implicit transaction: Citus opens a transaction on
// a worker only inside a transaction block, and outside one each routed
// statement of a batch commits on its worker by itself. On an error the
// transaction is rolled back.
func (s *Store) inTx(ctx context.Context, queue func(*pgx.Batch), read func(pgx.BatchResults) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	queue(b)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	if _, err = br.Exec(); err == nil {
		err = read(br)
	}
	if err == nil {
		_, err = br.Exec() // COMMIT
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if pc := conn.Conn().PgConn(); err != nil && !pc.IsClosed() && pc.TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
	}
	return err
}

// addRouted is addOne for a store opened WithCitus: routedLock,
// routedInsert and routedAdvance in one transaction and one round trip,
// each routed by Citus to the session's shard. When nothing was stored it
// tells a retry of a stored call from a conflict from a deleted session.
func (ss *pgSession) addRouted(ctx context.Context, b *batch, expected int64) (int64, error) {
	var exp *int64
	if expected >= 0 {
		exp = &expected
	}
	for attempt := 1; ; attempt++ {
		var (
			locked           bool
			lockedV, version int64
			inserted         int64
			advanced         bool
		)
		err := ss.s.inTx(ctx, func(q *pgx.Batch) {
			q.Queue(ss.s.q.routedLock, ss.id, ss.inc, exp)
			q.Queue(ss.s.q.routedInsert, ss.id, ss.inc, exp,
				b.ids, b.roles, b.parts, b.models, b.usages, b.created, b.search)
			q.Queue(ss.s.q.routedAdvance, ss.id, ss.inc, int64(1), int64(b.len()), time.Now().UnixNano())
		}, func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&lockedV)
			switch {
			case err == nil:
				locked = true
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			inserted = tag.RowsAffected()
			err = br.QueryRow().Scan(&version)
			switch {
			case err == nil:
				advanced = true
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			return nil
		})
		switch {
		case err != nil:
			return 0, err
		case advanced != (inserted > 0):
			return 0, fmt.Errorf("append stored %d messages but advanced the session %v", inserted, advanced)
		case locked || inserted > 0:
			if inserted < int64(b.len()) {
				// Skipped ids: a retry, in whole or in part.
				if err := ss.checkSkipped(ctx, ss.s.pool, b.ids); err != nil {
					return 0, err
				}
			}
			if inserted == 0 {
				return lockedV, nil
			}
			return version, nil
		}
		// Nothing locked: the session is gone, or at another version, in
		// which case a call whose messages are all stored succeeds.
		var now int64
		err = ss.s.pool.QueryRow(ctx, ss.s.q.sessionState, ss.id, ss.inc).Scan(&now)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return 0, session.ErrNotFound
		case err != nil:
			return 0, err
		}
		var stored int
		if err := ss.s.pool.QueryRow(ctx, ss.s.q.countIDs, ss.id, b.ids).Scan(&stored); err != nil {
			return 0, err
		}
		switch {
		case stored == b.len():
			return now, nil // every message was stored already: a retry
		case expected >= 0 && now != expected:
			return 0, fmt.Errorf("%w: expected version %d, session is at %d", session.ErrConflict, expected, now)
		case attempt >= maxAppendAttempts:
			return 0, fmt.Errorf("session changed under the append %d times in a row", attempt)
		}
	}
}

// routed reports whether the store runs the statements Citus routes.
func (s *Store) routed() bool { return s.opts.citus || s.opts.routed }

// openRouted is one attempt of Store.Open on a store opened WithCitus: it
// inserts the session row if there is none, else reads it, each a statement
// Citus routes to the session's shard. It returns pgx.ErrNoRows when the row
// was deleted between the two.
func (s *Store) openRouted(ctx context.Context, id string) (int64, error) {
	var inc int64
	err := s.pool.QueryRow(ctx, s.q.openInsert, id, time.Now().UnixNano(), newIncarnation()).Scan(&inc)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, s.q.load, id).Scan(&inc)
	}
	return inc, err
}

// ErrNeedsCitus is returned by SessionStore without WithCitus when the
// store's tables are distributed by Citus (a store opened WithCitus, or
// create_distributed_table by hand, distributed them). Such tables need the
// statements of WithCitus; the plain ones fail there. Nothing has been
// created or changed then.
var ErrNeedsCitus = errors.New("postgres: the tables are distributed by Citus; open the store with postgres.WithCitus")

// splitStatements splits the SQL text of a migration into its statements,
// at the semicolons outside comments (-- and /* */), quoted strings and
// identifiers, and dollar-quoted bodies ($$ ... $$, $tag$ ... $tag$). A
// store opened WithCitus sends a migration's statements one by one: Citus
// runs some DDL on distributed tables (CREATE INDEX among them) by
// sending the whole text of the query it came in to every worker as one
// prepared statement, which a worker refuses when that text holds several
// statements ("cannot insert multiple commands into a prepared
// statement", Citus 13.2.2). Parts that hold only comments and spaces are
// left out.
func splitStatements(sql string) []string {
	var out []string
	start := 0
	keep := func(end int) {
		if stmt := strings.TrimSpace(sql[start:end]); !onlyComments(stmt) {
			out = append(out, stmt)
		}
		start = end + 1
	}
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 3
			} else {
				i = len(sql)
			}
		case c == '\'' || c == '"':
			// A doubled quote inside is two quoted runs back to back.
			if j := strings.IndexByte(sql[i+1:], c); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '$':
			if tag := dollarTag(sql[i:]); tag != "" {
				if j := strings.Index(sql[i+len(tag):], tag); j >= 0 {
					i += len(tag) + j + len(tag) - 1
				} else {
					i = len(sql)
				}
			}
		case c == ';':
			keep(i)
		}
	}
	if start < len(sql) {
		keep(len(sql))
	}
	return out
}

// dollarTag returns the dollar-quote tag that s starts with ("$$" or
// "$name$"), or "" when s does not start one (a parameter such as $1).
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '$':
			return s[:j+1]
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || j > 1 && '0' <= c && c <= '9':
		default:
			return ""
		}
	}
	return ""
}

// onlyComments reports whether stmt holds nothing but comments and spaces.
func onlyComments(stmt string) bool {
	for l := range strings.Lines(stmt) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}
