package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
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
const poolerHint = " (the statement was prepared on another server connection: a connection pooler in transaction mode, " +
	"such as PgBouncer before 1.21 or without max_prepared_statements, does not keep prepared statements; " +
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
