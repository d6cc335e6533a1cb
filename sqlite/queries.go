package sqlite

import (
	"fmt"
	"strings"
	"time"

	"github.com/convo-dev/convo/internal/sqlident"
)

// queries holds every SQL statement the store runs, built once from the
// validated, quoted table names. Values are always bind parameters.
type queries struct {
	sessions, messages, migrations string // quoted names
	quarantine                     string // quoted name of the table of quarantined rows

	busyTimeout string

	// inserts caches insertSQL for small batches, without and with the
	// version check.
	inserts [2][preparedBatchSizes + 1]string

	createMigrations string
	lock             string
	schemaVersion    string
	recordMigration  string

	exists     string
	load       string
	create     string
	info       string
	updateInfo string
	// setUpdatedAt records an imported session's last activity.
	setUpdatedAt string
	deleteMsgs   string
	deleteSess   string

	// appends are built per batch size by insertSQL.
	touchAfterInsert string
	touchNoReturn    string
	sessionState     string

	// rangeAsc and rangeDesc read a stretch of seqs (session.Ranger),
	// from its oldest or its newest end.
	rangeAsc, rangeDesc string

	// parts is the expression of a message's parts in a query on the
	// messages table as m (see partsOf).
	parts string

	lastN     string
	all       string
	popDelete string
	popTouch  string
	clearMsgs string
	clearSess string

	replaceSess string
	setVersion  string

	quarantineCopy   string
	quarantineDelete string
	quarantineTouch  string
	quarantineList   string

	// The change feed (watch.go).
	changes, feedState string // quoted names
	// recordChange records a change of one session in the feed, reading
	// its owner, incarnation and version from the session row.
	recordChange string
	// recordChangeIfActive is recordChange that records nothing while the
	// feed is dormant (feed_state.active, schema version 8).
	recordChangeIfActive string
	// recordDeletes records, if the feed is active, the deletion of every
	// session a bulk delete selects; it is completed by the WHERE of the
	// delete.
	recordDeletes string
	feedActive    string
	startFeed     string
	feedHead      string
	feedRead      string
	feedMessages  string
	feedTrimmed   string
	feedTrimTo    string
	feedTrim      string
	feedSetTrim   string
	feedKeepHead  string

	// Fork (fork.go).
	forkParent string
	forkPoint  string
	forkCreate string
	forkShare  string
	forkCount  string
}

// partsOf returns the SQL expression of the parts of the message row t
// (an alias, or the quoted table name, of the messages table, whose name
// the caller substitutes for {{messages}}): its own parts, or, for a row
// of a fork (src set, schema version 7), those of the row it shares them
// with, found by the (session_id, seq) key. A row of a session that is not
// a fork costs only the test of src.
func partsOf(t string) string {
	return `CASE WHEN ` + t + `.src IS NULL THEN ` + t + `.parts ELSE (SELECT o.parts FROM {{messages}} AS o WHERE o.session_id = ` + t + `.src AND o.seq = ` + t + `.seq) END`
}

// infoCols are the columns scanInfo reads, in its order.
const infoCols = `id, owner, title, metadata, created_at, updated_at, message_count, version, parent_id, fork_message_id`

// maxInsertRows bounds the rows of one INSERT so the statement stays far
// under SQLite's limit on bind parameters (32,766 since 3.32).
const maxInsertRows = 256

func newQueries(prefix string, busyTimeout time.Duration) *queries {
	q := &queries{
		sessions:   sqlident.Quote(prefix + "sessions"),
		messages:   sqlident.Quote(prefix + "messages"),
		migrations: sqlident.Quote(prefix + "convo_schema_migrations"),
		quarantine: sqlident.Quote(prefix + "messages_quarantine"),
	}
	// PRAGMA takes no bind parameters; the value is an integer we format.
	q.busyTimeout = fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())
	r := strings.NewReplacer("{{sessions}}", q.sessions, "{{messages}}", q.messages, "{{migrations}}", q.migrations)
	b := func(s string) string { return r.Replace(s) }

	q.createMigrations = b(`CREATE TABLE IF NOT EXISTS {{migrations}} (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)`)
	// A write that matches nothing still takes SQLite's write lock at its
	// start, before any read, so what the transaction reads next is current.
	q.lock = b(`UPDATE {{migrations}} SET applied_at = applied_at WHERE version < 0`)
	q.schemaVersion = b(`SELECT COALESCE(MAX(version), 0) FROM {{migrations}}`)
	q.recordMigration = b(`INSERT INTO {{migrations}} (version, applied_at) VALUES (?, ?)`)

	q.exists = b(`SELECT 1 FROM {{sessions}} WHERE id = ?`)
	q.load = b(`SELECT incarnation FROM {{sessions}} WHERE id = ?`)
	q.create = b(`INSERT INTO {{sessions}} (id, owner, title, metadata, created_at, updated_at, incarnation, parent_id, fork_message_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	q.info = b(`SELECT ` + infoCols + ` FROM {{sessions}} WHERE id = ?`)
	q.updateInfo = b(`UPDATE {{sessions}} SET title = COALESCE(?, title), metadata = CASE WHEN ? THEN ? ELSE metadata END,
		updated_at = MAX(updated_at + 1, ?) WHERE id = ?`)
	q.setUpdatedAt = b(`UPDATE {{sessions}} SET updated_at = ? WHERE id = ?`)
	q.deleteMsgs = b(`DELETE FROM {{messages}} WHERE session_id = ?`)
	q.deleteSess = b(`DELETE FROM {{sessions}} WHERE id = ?`)

	q.touchNoReturn = b(`UPDATE {{sessions}} SET next_seq = next_seq + ?, version = version + ?,
		message_count = message_count + ?, updated_at = MAX(updated_at + 1, ?) WHERE id = ? AND incarnation = ?`)
	q.touchAfterInsert = q.touchNoReturn + ` RETURNING version`
	q.sessionState = b(`SELECT version FROM {{sessions}} WHERE id = ? AND incarnation = ?`)

	q.parts = b(partsOf("m"))
	cols := `m.seq, m.id, m.role, ` + q.parts + `, m.model, m.usage, m.created_at`
	q.lastN = b(`SELECT ` + cols + ` FROM {{messages}} AS m WHERE m.session_id = ? ORDER BY m.seq DESC LIMIT ?`)
	q.all = b(`SELECT ` + cols + ` FROM {{messages}} AS m WHERE m.session_id = ? ORDER BY m.seq`)
	q.rangeAsc = b(`SELECT ` + cols + ` FROM {{messages}} AS m WHERE m.session_id = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq LIMIT ?`)
	q.rangeDesc = b(`SELECT ` + cols + ` FROM {{messages}} AS m WHERE m.session_id = ? AND m.seq > ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?`)
	// RETURNING names the deleted row by its table's name.
	q.popDelete = b(`DELETE FROM {{messages}} WHERE session_id = ?1
		AND seq = (SELECT MAX(seq) FROM {{messages}} WHERE session_id = ?1)
		AND EXISTS (SELECT 1 FROM {{sessions}} WHERE id = ?1 AND incarnation = ?2)
		RETURNING seq, id, role, ` + partsOf(q.messages) + `, model, usage, created_at`)
	q.popTouch = b(`UPDATE {{sessions}} SET version = version + 1, message_count = message_count - 1,
		updated_at = MAX(updated_at + 1, ?) WHERE id = ? AND incarnation = ?`)
	q.clearSess = b(`UPDATE {{sessions}} SET version = version + 1, message_count = 0,
		updated_at = MAX(updated_at + 1, ?) WHERE id = ? AND incarnation = ?`)
	q.clearMsgs = b(`DELETE FROM {{messages}} WHERE session_id = ?`)
	q.replaceSess = b(`UPDATE {{sessions}} SET message_count = 0, updated_at = MAX(updated_at + 1, ?)
		WHERE id = ? AND incarnation = ? AND version = ?`)
	q.setVersion = b(`UPDATE {{sessions}} SET version = ? WHERE id = ? AND incarnation = ? RETURNING version`)
	// The copy is a write, so it takes the write lock first.
	q.quarantineCopy = `INSERT INTO ` + q.quarantine + ` (session_id, seq, id, role, parts, model, usage, created_at, quarantined_at, reason)
		SELECT m.session_id, m.seq, m.id, m.role, CAST(` + q.parts + ` AS BLOB), m.model, CAST(m.usage AS BLOB), m.created_at, ?, ?
		FROM ` + q.messages + ` AS m WHERE m.session_id = ? AND m.id = ?`
	q.quarantineDelete = b(`DELETE FROM {{messages}} WHERE session_id = ? AND id = ?`)
	q.quarantineTouch = b(`UPDATE {{sessions}} SET version = version + 1, message_count = message_count - 1,
		updated_at = MAX(updated_at + 1, ?) WHERE id = ?`)
	q.quarantineList = `SELECT seq, id, role, parts, model, usage, created_at, quarantined_at, reason FROM ` + q.quarantine + `
		WHERE session_id = ? ORDER BY seq, rowid`
	q.changes = sqlident.Quote(prefix + "changes")
	q.feedState = sqlident.Quote(prefix + "feed_state")
	// A change's messages are the seqs first_seq..last_seq: for an append
	// of n rows (?2), those below next_seq; for other kinds ?2 is 0 and the
	// range is empty.
	q.recordChange = `INSERT INTO ` + q.changes + ` (session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at)
		SELECT id, owner, incarnation, ?1, version, next_seq - ?2, next_seq - 1, ?3, ?4 FROM ` + q.sessions + ` WHERE id = ?5`
	// The flag is read in the write's own transaction (see StartFeed): an
	// uncorrelated subquery, which SQLite evaluates once per statement.
	q.feedActive = `SELECT active FROM ` + q.feedState + ` WHERE id = 0`
	q.recordChangeIfActive = q.recordChange + ` AND (` + q.feedActive + `)`
	q.recordDeletes = `INSERT INTO ` + q.changes + ` (session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at)
		SELECT id, owner, incarnation, 'delete', version, 0, -1, NULL, ? FROM ` + q.sessions + ` WHERE (` + q.feedActive + `) AND `
	q.startFeed = `UPDATE ` + q.feedState + ` SET active = 1 WHERE id = 0 AND NOT active`
	// The feed's head: the newest seq handed out, or 0. (TrimFeed leaves a
	// row at the newest seq it discards, so the table's largest seq, from
	// which SQLite numbers the next row, never goes back.)
	q.feedHead = `SELECT MAX(COALESCE((SELECT MAX(seq) FROM ` + q.changes + `), 0), (SELECT trimmed_to FROM ` + q.feedState + ` WHERE id = 0))`
	q.feedRead = `SELECT seq, session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at FROM ` + q.changes + `
		WHERE seq > ?1 AND seq <= ?2 AND (?3 = '' OR session_id = ?3) AND (?4 = '' OR owner = ?4) ORDER BY seq LIMIT ?5`
	q.feedMessages = b(`SELECT ` + cols + ` FROM {{messages}} AS m
		WHERE m.session_id = ?1 AND m.seq BETWEEN ?2 AND ?3
		AND EXISTS (SELECT 1 FROM {{sessions}} WHERE id = ?1 AND incarnation = ?4) ORDER BY m.seq`)
	q.feedTrimmed = `SELECT trimmed_to FROM ` + q.feedState + ` WHERE id = 0`
	q.feedTrimTo = `SELECT COALESCE(MAX(seq), 0) FROM ` + q.changes + ` WHERE at < ?`
	q.feedTrim = `DELETE FROM ` + q.changes + ` WHERE seq <= ?`
	q.feedSetTrim = `UPDATE ` + q.feedState + ` SET trimmed_to = MAX(trimmed_to, ?) WHERE id = 0`
	// After a trim that left nothing: a row at the newest seq discarded,
	// which no watch delivers (see migrations/0006_changes_rowid.sql).
	q.feedKeepHead = `INSERT INTO ` + q.changes + ` (seq, session_id, owner, incarnation, kind, version, first_seq, last_seq, at)
		SELECT ?, '', '', 0, 'trimmed', 0, 0, -1, 0 WHERE NOT EXISTS (SELECT 1 FROM ` + q.changes + `)`
	q.forkParent = b(`SELECT owner, title, metadata FROM {{sessions}} WHERE id = ?`)
	q.forkPoint = b(`SELECT seq FROM {{messages}} WHERE session_id = ? AND id = ?`)
	q.forkCreate = b(`INSERT INTO {{sessions}} (id, owner, title, metadata, created_at, updated_at, incarnation,
		next_seq, parent_id, fork_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	// The rows keep their seq (so a search hit has the same position in
	// parent and fork, and a row's src and seq name the row holding its
	// parts); the fork's next_seq follows the fork point. Each row refers
	// to the row that holds its parts: the parent's own, or the one the
	// parent's row refers to.
	q.forkShare = b(`INSERT INTO {{messages}} (session_id, seq, id, role, parts, model, usage, created_at, src)
		SELECT ?1, seq, id, role, '', model, usage, created_at, COALESCE(src, session_id) FROM {{messages}}
		WHERE session_id = ?2 AND seq <= ?3 ORDER BY seq`)
	q.forkCount = b(`UPDATE {{sessions}} SET message_count = ? WHERE id = ?`)
	for n := 1; n <= preparedBatchSizes; n++ {
		q.inserts[0][n] = q.buildInsert(n, false)
		q.inserts[1][n] = q.buildInsert(n, true)
	}
	return q
}

// insertSQL returns the statement that appends n messages to a session in
// one step. It joins the session row, so that it inserts nothing when the
// session is gone (or was re-created, or, with checkVersion, has moved on),
// numbers the rows from the session's next_seq, and skips rows whose message
// id the session already holds. It is INSERT OR IGNORE rather than ON
// CONFLICT (session_id, id) DO NOTHING: a multi-row statement that may abort
// makes SQLite keep a statement journal of every page it changes, and with
// nothing able to abort it needs none. The caller checks that every row it
// did not insert has an id already stored (explainShortInsert), so no row is
// dropped for another reason unnoticed. Being a write, it takes the write lock
// before it reads anything. Parameters: per row offset, id, role, parts,
// model, usage, created_at; then session id, incarnation, [version].
func (q *queries) insertSQL(n int, checkVersion bool) string {
	c := 0
	if checkVersion {
		c = 1
	}
	if n < len(q.inserts[c]) {
		if s := q.inserts[c][n]; s != "" {
			return s
		}
	}
	return q.buildInsert(n, checkVersion)
}

func (q *queries) buildInsert(n int, checkVersion bool) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `INSERT OR IGNORE INTO %s (session_id, seq, id, role, parts, model, usage, created_at)
SELECT s.id, s.next_seq + v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7
FROM (VALUES `, q.messages)
	// Anonymous parameters only: drivers look up the name of every
	// numbered one (?NNN) at each bind, which for a turn's 30-odd
	// parameters is a measurable part of an append.
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?,?,?,?)")
	}
	fmt.Fprintf(&sb, `) AS v JOIN %s AS s ON s.id = ? AND s.incarnation = ?`, q.sessions)
	if checkVersion {
		sb.WriteString(` AND s.version = ?`)
	}
	// No ORDER BY: seq comes from the offset, whatever order rows go in
	// (and add removes duplicate ids within a call beforehand).
	return sb.String()
}

// existingIDsSQL returns a query for which of n message ids a session holds.
func (q *queries) existingIDsSQL(n int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, `SELECT id FROM %s WHERE session_id = ? AND id IN (`, q.messages)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('?')
	}
	sb.WriteByte(')')
	return sb.String()
}
