package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// poolerHint is added to an error that shows that the pool's connections
// do not keep the prepared statements pgx's statement cache made on them:
// a pooler in transaction mode hands each transaction whichever server
// connection is free, so a statement prepared on one is missing on the
// next ("prepared statement "stmtcache_..." does not exist", SQLSTATE
// 26000), or a server connection that served another client has it
// already ("... already exists", 42P05). PgBouncer keeps them in
// transaction mode only from 1.21 on, with max_prepared_statements above
// 0 (its default from 1.24 on); https://www.pgbouncer.org/config.html#max_prepared_statements.
const poolerHint = " (a connection pooler swapped the server connection under pgx's cache of prepared statements: " +
	"in transaction mode PgBouncer before 1.21, or without max_prepared_statements, does not keep them; " +
	"add default_query_exec_mode=exec to the database URL, or see \"PgBouncer\" in the documentation of package postgres)"

// pooledStatementError is an error the pooler explained (explainPooler).
type pooledStatementError struct{ err error }

func (e *pooledStatementError) Error() string { return e.err.Error() + poolerHint }
func (e *pooledStatementError) Unwrap() error { return e.err }

// explainPooler adds poolerHint to err if err is the server's complaint
// about a prepared statement that pgx's statement cache named (pgx names
// them "stmtcache_" and a hash of the SQL): a statement the store prepared
// itself on a connection it holds is never missing or doubled, so such an
// error means the connection was swapped under it. Other errors come back
// unchanged.
func explainPooler(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || (pe.Code != "26000" && pe.Code != "42P05") ||
		!strings.Contains(pe.Message, `"stmtcache_`) {
		return err
	}
	var done *pooledStatementError
	if errors.As(err, &done) {
		return err
	}
	return &pooledStatementError{err}
}

// errDescribeExecPooled is Open's error for a pool in pgx's exec mode
// describe_exec whose connections go through a connection pooler.
var errDescribeExecPooled = errors.New("default_query_exec_mode=describe_exec does not work through a connection pooler " +
	"(the server's process id differs from the one the connection was given: PgBouncer or another pooler is in between): " +
	"it prepares each statement unnamed in one round trip and runs it in the next, which a pooler in transaction mode " +
	"may send to another server connection, where it runs whatever statement another client prepared last; " +
	"use default_query_exec_mode=exec")

// checkExecMode refuses a pool in pgx's exec mode describe_exec (pgx's
// Conn.Exec and Query: Prepare of the unnamed statement, then, in a
// second round trip, its execution) whose connections reach PostgreSQL
// through a pooler. In transaction mode, PgBouncer gives each round trip
// the server connection that is free: measured through PgBouncer 1.18.0,
// the conformance suite failed with "unnamed prepared statement does not
// exist (SQLSTATE 26000)" and "bind message supplies 9 parameters, but
// prepared statement "" requires 1 (SQLSTATE 08P01)", and a Load of a
// stored session reported it missing: a statement whose parameters fit
// runs in place of the caller's, whatever it does. A pooler shows in the
// process id: the one PostgreSQL's BackendKeyData gave the connection is
// PgBouncer's own (random) key, not the server's pg_backend_pid(). Other
// exec modes cost nothing here.
func checkExecMode(ctx context.Context, pool *pgxpool.Pool) error {
	if pool.Config().ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeDescribeExec {
		return nil
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: open: %w", err)
	}
	defer conn.Release()
	var pid uint32
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`, pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		return fmt.Errorf("postgres: open: read the server's process id: %w", err)
	}
	if pid != conn.Conn().PgConn().PID() {
		return fmt.Errorf("postgres: open: %w", errDescribeExecPooled)
	}
	return nil
}

// checkSearchPath refuses a pool whose URL sets search_path (pgx sends it
// as a startup parameter) when the server's session has another one, for
// a store opened without WithSchema, whose tables are those of the first
// schema of the search_path. PgBouncer drops a startup parameter that its
// ignore_startup_parameters names, without a word (measured with 1.18.0:
// a URL with search_path=chat gave a session with "$user", public), and
// the store would then read and create tables in another schema than the
// URL names. A store opened WithSchema qualifies every name and needs no
// search_path.
func checkSearchPath(ctx context.Context, pool *pgxpool.Pool, o storeOptions) error {
	want, ok := pool.Config().ConnConfig.RuntimeParams["search_path"]
	if !ok || o.schemaSet {
		return nil
	}
	var got string
	if err := pool.QueryRow(ctx, `SELECT current_setting('search_path')`).Scan(&got); err != nil {
		return fmt.Errorf("postgres: open: read search_path: %w", err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), "") }
	if norm(got) != norm(want) {
		return fmt.Errorf("postgres: open: %w: the URL sets search_path=%q, but the server's session has %q", errSearchPathLost, want, got)
	}
	return nil
}

// errSearchPathLost is checkSearchPath's error.
var errSearchPathLost = errors.New("the connection's search_path is not the one the URL sets " +
	"(a pooler such as PgBouncer with search_path in ignore_startup_parameters drops it), " +
	"so the store would use the tables of another schema; open it WithSchema, or set search_path on the role")
