package postgres

import (
	"hash/fnv"
	"strconv"
	"strings"
	"sync"

	"github.com/convo-dev/convo/internal/sqlident"
)

// queries holds every SQL statement the store runs, built once from the
// validated, quoted schema and table names. Values are always bind
// parameters. Statements are constant per store, so pgx prepares each once
// per connection (QueryExecModeCacheStatement). Each is written so that
// PostgreSQL's generic plan for it, which may be made while the tables are
// still small, stays an index lookup as they grow.
// bulkFeedQueries are the statements of one kind of bulk delete with the
// feed (see bulk in newQueries): lock takes a round's rows, lockOne one
// row, remaining lists what still matches, del deletes and records.
type bulkFeedQueries struct{ lock, lockOne, remaining, del string }

// Indexes of queries.bulkFeed.
const (
	bulkOwner      = iota // DeleteOwner: $p1 owner
	bulkPrune             // Prune: $p1 UpdatedBefore
	bulkPruneOwner        // Prune with an owner: $p1 UpdatedBefore, $p2 owner
)

type queries struct {
	sessions, messages, migrations string // quoted, schema-qualified names
	quarantine                     string // quoted, schema-qualified name of the quarantined rows' table
	columns                        string // a table's column names, in order
	quarantine1                    string // moves one message aside
	quarantineList                 string
	searchIndex                    string
	// The change feed (watch.go): tables, the NOTIFY trigger's function.
	changes, feedState, feedNotify, feedListeners string
	// feedListen registers (or renews) a listening process for $2 ns of
	// database time; feedUnlisten removes it.
	feedListen, feedUnlisten string
	// The writes of a store with the feed (not routed) record their change
	// in the same statement or transaction: these are the statements that
	// do, used instead of create, open, deleteSess, deleteOwner and prune.
	createFeed, openFeed, deleteFeed string
	// bulkFeed are DeleteOwner's and Prune's rounds (bulkOwner,
	// bulkPrune, bulkPruneOwner; see Store.bulkDeleteFeed).
	bulkFeed [3]bulkFeedQueries
	// recordChange records a change of one session, reading its owner,
	// incarnation and version from the session row.
	recordChange string
	// lockFeed takes the feed lock of session $1 (feedLock).
	lockFeed string
	// feedActive reads whether the feed records; startFeed starts it
	// (StartFeed).
	feedActive, startFeed string
	// notifyFeed sends the feed's notification, if a listener is
	// registered and no other writer is notifying ($1 the changes table's
	// name); see feedNotifier.
	notifyFeed                        string
	lockSessionRow, currentXid        string
	feedOid, feedRead, feedHorizon    string
	feedNow                           string
	feedMessages                      string
	feedTrimTo, feedTrim, feedSetTrim string

	createSchema     string
	migrationsTable  string // the migrations table's name, for to_regclass
	createMigrations string
	lockTables       string
	lockMigrations   string
	schemaVersion    string
	recordMigration  string
	regclass         string

	exists     string
	load       string
	create     string
	open       string
	info       string
	updateInfo string
	// updateInfoFeed is updateInfo that records its change (ChangeInfo)
	// in the same statement, taking the session's feed lock first if the
	// feed has started (feedLockIfStarted), as deleteFeed does.
	updateInfoFeed string
	// setUpdatedAt records an imported session's last activity.
	setUpdatedAt string
	deleteSess   string

	append      string
	appendFresh string
	// appendFreshRows[n] is appendFresh for n messages (1 <= n <=
	// maxValuesRows) as VALUES rows of bound values instead of arrays.
	appendFreshRows [maxValuesRows + 1]string
	// appendFreshDormant and appendFreshRowsDormant are appendFresh and
	// appendFreshRows for a store whose feed has not started (schema
	// version 9): they neither record nor take the feed lock, and store
	// nothing once the feed has started (see addOne).
	appendFreshDormant     string
	appendFreshRowsDormant [maxValuesRows + 1]string
	sessionState           string
	lockSession            string
	countIDs               string
	bumpVersion            string

	// The append of a store opened WithCitus: statements that Citus routes
	// to the session's shard (see routedInsert).
	routedLock    string
	routedInsert  string
	routedAdvance string
	openInsert    string

	// rangeAsc and rangeDesc read a stretch of seqs (session.Ranger),
	// from its oldest or its newest end.
	rangeAsc, rangeDesc string

	lastN string
	all   string
	// lastNHead and lastNTail are lastN around its limit parameter, and
	// lastNByLimit caches lastNLimit's statements.
	lastNHead, lastNTail string
	lastNByLimit         sync.Map // int -> string

	popLock   string
	popDelete string
	clearSess string
	clearMsgs string

	list [16]string // by listFilter bits

	search [4]string // by searchFilter bits

	searchIndexVersion string
	lockSearchIndex    string
	recordSearchIndex  string
	reindexRead        string
	reindexWrite       string

	deleteOwner string
	prune       [2]string // [owner filter]
	pruneDry    [2]string

	// Fork (fork.go).
	forkParent string
	forkPoint  string
	forkCreate string
	forkCopy   string
	forkCount  string
	// forkLockOwners locks the rows of the sessions the parent's rows
	// borrow from ($1 the parent, $2 the fork point's seq); "" without
	// sharing.
	forkLockOwners string

	// share: forks borrow their parent's message bytes (shared_from)
	// instead of copying them; false for stores WithCitus (buildQueries).
	share bool
	// forkHandover is the quoted name of the function of the trigger that
	// hands a deleted session's bytes over to the rows that borrow them
	// (migrations/0008_fork_sharing.sql); handoverAll does it for every
	// borrowed row, before the tables are distributed.
	forkHandover string
	handoverAll  string
	dropHandover string
}

// List filters, as bits of the index into queries.list.
const (
	listOwner = 1 << iota
	listPrefix
	listWindow // both ends; an unset end is passed as the widest value
	listCursor
)

// Search filters, as bits of the index into queries.search.
const (
	searchOwner = 1 << iota
	searchSession
)

func newQueries(schema, prefix string) *queries { return buildQueries(schema, prefix, true) }

// buildQueries is newQueries; with share false, forks copy their parent's
// rows, bytes included, and no statement reads or hands over borrowed
// bytes: the statements of a store whose tables Citus distributes, where
// a row that borrowed from another session's row would borrow from
// another shard (see migrations/0008_fork_sharing.sql).
func buildQueries(schema, prefix string, share bool) *queries {
	qual := func(name string) string {
		if schema == "" {
			return sqlident.Quote(name)
		}
		return sqlident.Quote(schema) + "." + sqlident.Quote(name)
	}
	q := &queries{
		sessions:      qual(prefix + "sessions"),
		messages:      qual(prefix + "messages"),
		migrations:    qual(prefix + "convo_schema_migrations"),
		quarantine:    qual(prefix + "messages_quarantine"),
		searchIndex:   qual(prefix + "search_index"),
		changes:       qual(prefix + "changes"),
		feedState:     qual(prefix + "feed_state"),
		feedNotify:    qual(prefix + "feed_notify"),
		feedListeners: qual(prefix + "feed_listeners"),
		forkHandover:  qual(prefix + "fork_handover"),
		share:         share,
	}
	q.quarantineList = `SELECT seq, id, role, parts, model, usage, created_at, quarantined_at, reason FROM ` + q.quarantine + `
		WHERE session_id = $1 ORDER BY seq`
	q.columns = `SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`
	q.migrationsTable = q.migrations
	r := strings.NewReplacer("{{sessions}}", q.sessions, "{{messages}}", q.messages,
		"{{migrations}}", q.migrations, "{{search_index}}", q.searchIndex, "{{changes}}", q.changes,
		"{{feed_state}}", q.feedState, "{{feed_lock}}", feedLock(q.sessions),
		"{{feed_lock_if_started}}", feedLockIfStarted(q.sessions, q.feedState), "{{feed_started}}", `(SELECT active FROM `+q.feedState+`)`)
	b := func(s string) string { return r.Replace(s) }

	// partsOf(a) is the parts of the messages row a: its own, or (share)
	// those of the row it borrows them from, with the same seq and id in
	// the session shared_from (migrations/0008_fork_sharing.sql). COALESCE
	// evaluates its second argument only for a row without parts, so a
	// row that owns its bytes costs no lookup.
	//
	// A lookup of a row by its seq names its id too, here and below: then
	// both unique indexes, (session_id, seq) and (session_id, id), find
	// it in one probe, and a generic plan made while the table was small,
	// when the planner cannot tell them apart, cannot pick one that scans
	// the session (TestGenericPlansStayIndexed).
	partsOf := func(a string) string {
		if !share {
			return a + `.parts`
		}
		return `COALESCE(` + a + `.parts, (SELECT o.parts FROM {{messages}} o
			WHERE o.session_id = ` + a + `.shared_from AND o.seq = ` + a + `.seq AND o.id = ` + a + `.id))`
	}
	// handover(cond) is the WITH item, followed by a comma, that a
	// statement deleting rows of session $1 starts with (share): the rows
	// that borrow from $1 and that cond selects (alias f, found by
	// messages_shared_from) get the bytes of the rows they borrow (alias p),
	// which they then own. It runs in the statement's snapshot, where the
	// rows to delete are still there; the caller holds the session's row
	// locked, so no other writer changes them meanwhile.
	handover := func(cond string) string {
		if !share {
			return ``
		}
		return `handover AS (
		UPDATE {{messages}} f SET parts = p.parts, tsv = p.tsv, shared_from = NULL
		FROM {{messages}} p
		WHERE f.shared_from = $1 AND ` + cond + ` AND p.session_id = $1 AND p.seq = f.seq AND p.id = f.id
	), `
	}

	// One statement: the row leaves the session, goes to the quarantine
	// with its text as bytes (its own or those it borrows), the rows that
	// borrow its bytes get them, and the session moves on.
	q.quarantine1 = b(`WITH ` + handover(`f.seq = (SELECT seq FROM {{messages}} WHERE session_id = $1 AND id = $2)`) + `d AS (
		DELETE FROM {{messages}} WHERE session_id = $1 AND id = $2
		RETURNING session_id, seq, id, role, parts, model, usage, created_at, shared_from
	), ins AS (
		INSERT INTO ` + q.quarantine + ` (session_id, seq, id, role, parts, model, usage, created_at, quarantined_at, reason)
		SELECT d.session_id, d.seq, d.id, d.role, convert_to(` + partsOf("d") + `::text, 'UTF8'), d.model, convert_to(d.usage::text, 'UTF8'), d.created_at, $3::bigint, $4::text FROM d
		RETURNING 1
	), s AS (
		UPDATE {{sessions}} SET version = version + 1, message_count = message_count - 1,
			updated_at = GREATEST(updated_at + 1, $3::bigint)
		WHERE id = $1 AND EXISTS (SELECT 1 FROM d)
	)
	SELECT count(*)::int FROM ins`)

	if schema != "" {
		q.createSchema = `CREATE SCHEMA IF NOT EXISTS ` + sqlident.Quote(schema)
	}
	q.regclass = `SELECT to_regclass($1) IS NOT NULL`
	q.createMigrations = b(`CREATE TABLE IF NOT EXISTS {{migrations}} (version integer NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)`)
	q.lockMigrations = `SELECT pg_advisory_xact_lock($1)`
	// The tables a migration changes, locked in the order the store's
	// statements take them (sessions, then messages) before it changes
	// anything.
	q.lockTables = b(`LOCK TABLE {{sessions}}, {{messages}} IN ACCESS EXCLUSIVE MODE`)
	q.schemaVersion = b(`SELECT COALESCE(MAX(version), 0) FROM {{migrations}}`)
	q.recordMigration = b(`INSERT INTO {{migrations}} (version, applied_at) VALUES ($1, $2)`)

	q.exists = b(`SELECT EXISTS (SELECT 1 FROM {{sessions}} WHERE id = $1)`)
	q.load = b(`SELECT incarnation FROM {{sessions}} WHERE id = $1`)
	// $5 now, $7 the creation time to record (an import's), or 0 for now;
	// updated_at is the later of the two.
	q.create = b(`INSERT INTO {{sessions}} (id, owner, title, metadata, created_at, updated_at, incarnation, parent_id, fork_message_id)
		VALUES ($1, $2, $3, $4::json, CASE WHEN $7::bigint = 0 THEN $5::bigint ELSE $7::bigint END,
			GREATEST($5::bigint, $7::bigint), $6, $8, $9) ON CONFLICT (id) DO NOTHING RETURNING incarnation`)
	// A row inserted by a transaction that commits while this statement
	// waits on it is neither inserted nor visible to the SELECT (whose
	// snapshot is older): Open then runs the statement again.
	q.open = b(`WITH ins AS (
			INSERT INTO {{sessions}} (id, created_at, updated_at, incarnation) VALUES ($1, $2, $2, $3)
			ON CONFLICT (id) DO NOTHING RETURNING incarnation)
		SELECT incarnation FROM ins UNION ALL SELECT incarnation FROM {{sessions}} WHERE id = $1`)
	const infoCols = `id, owner, title, metadata, created_at, updated_at, message_count, version, parent_id, fork_message_id`
	q.info = b(`SELECT ` + infoCols + ` FROM {{sessions}} WHERE id = $1`)
	q.updateInfo = b(`UPDATE {{sessions}} SET title = COALESCE($2, title),
		metadata = CASE WHEN $3::boolean THEN $4::json ELSE metadata END,
		updated_at = GREATEST(updated_at + 1, $5) WHERE id = $1`)
	q.setUpdatedAt = b(`UPDATE {{sessions}} SET updated_at = $2 WHERE id = $1`)
	q.deleteSess = b(`DELETE FROM {{sessions}} WHERE id = $1`) // messages go by ON DELETE CASCADE

	// append stores a batch of messages in one statement (one round trip,
	// its own implicit transaction):
	//   l    locks the session row, if it is still the incarnation the
	//        handle was opened on, at version $3 (NULL: any). After waiting
	//        for a concurrent writer, FOR UPDATE re-checks the newest row
	//        (READ COMMITTED) and returns it, so next_seq is current;
	//   e    finds which of the ids the session already holds, in the
	//        statement's snapshot, with one index probe on (session_id, id)
	//        per id: the LATERAL ... LIMIT 1 keeps a generic plan (planned
	//        while the table was small) from scanning the whole session
	//        instead;
	//   n    drops those messages and numbers the rest in call order (the
	//        caller drops repeats within the call);
	//   ins  inserts them after next_seq. ON CONFLICT (session_id, id) DO
	//        NOTHING skips an id that a writer committed after the snapshot
	//        (a retry racing its original): the statement never fails on
	//        the unique constraint, so no retry depends on the SQLSTATE of a
	//        violation (Citus reports a worker's 23505 as XX000). The
	//        arbiter is that constraint alone, so a row is skipped only for
	//        an id the session holds; any other conflict fails the call;
	//   s    advances the locked row by what ins stored: next_seq (past every
	//        number n handed out: a row skipped in that race leaves a gap,
	//        which seq allows), message_count, updated_at and, by $11 (1 or
	//        0), the version;
	//   cur  reads the session row as of the snapshot, to tell why nothing
	//        was stored.
	// Parameters: $1 session id, $2 incarnation, $3 expected version or NULL,
	// $4..$10 arrays of ids, roles, parts, models, usages, created_ats and
	// search texts, $11 version step, $12 now.
	// It returns: whether the session was found (as of the snapshot), its
	// version then, how many messages were new (as of the snapshot), how
	// many were inserted, the version after (0 if nothing was inserted),
	// whether l locked the row, and its version then.
	// Ordinary appends run appendFresh or appendFreshRows (below) and come
	// here only when that stored nothing or failed. Keep an eye on the
	// plans of all of them when editing them:
	// PostgreSQL must judge a generic plan worth keeping, or it plans the
	// statement at every call, adding the planner's work to every append.
	// Dropping cur from this one, for example, did that;
	// TestAppendGetsAGenericPlan checks the ordinary ones,
	// TestGenericPlansStayIndexed what the plans touch.
	q.append = b(`WITH lk AS ({{feed_lock_if_started}}), l AS (
		SELECT next_seq, version FROM {{sessions}}
		WHERE id = $1 AND incarnation = $2 AND ($3::bigint IS NULL OR version = $3::bigint)
			AND EXISTS (SELECT 1 FROM lk)
		FOR UPDATE
	), e AS (
		SELECT x.id FROM unnest($4::text[]) AS u(id) CROSS JOIN LATERAL (
			SELECT m.id FROM {{messages}} m WHERE m.session_id = $1 AND m.id = u.id LIMIT 1) x
	), n AS (
		SELECT v.*, row_number() OVER (ORDER BY v.ord) AS rn
		FROM unnest($4::text[], $5::text[], $6::json[], $7::text[], $8::json[], $9::bigint[], $10::text[])
			WITH ORDINALITY AS v(id, role, parts, model, usage, created_at, search, ord)
		WHERE v.id NOT IN (SELECT id FROM e)
	), ins AS (
		INSERT INTO {{messages}} (session_id, seq, id, role, parts, model, usage, created_at, tsv)
		SELECT $1, l.next_seq + n.rn - 1, n.id, n.role, n.parts, n.model, n.usage, n.created_at,
			n.search::tsvector
		FROM l, n
		ORDER BY n.rn
		ON CONFLICT (session_id, id) DO NOTHING
		RETURNING 1
	), s AS (
		UPDATE {{sessions}} SET next_seq = next_seq + (SELECT count(*) FROM n),
			message_count = message_count + (SELECT count(*) FROM ins),
			version = version + $11::bigint,
			updated_at = GREATEST(updated_at + 1, $12::bigint)
		WHERE id = $1 AND incarnation = $2 AND EXISTS (SELECT 1 FROM ins)
		RETURNING version, owner, next_seq
	), rec AS (
		INSERT INTO {{changes}} (session_id, owner, incarnation, kind, version, first_seq, last_seq, at)
		SELECT $1, s.owner, $2, 'append', s.version, l.next_seq, s.next_seq - 1, $12::bigint FROM s, l, lk
		WHERE $11::bigint = 1 AND lk.started
	), cur AS (
		SELECT version FROM {{sessions}} WHERE id = $1 AND incarnation = $2
	)
	SELECT EXISTS (SELECT 1 FROM cur), COALESCE((SELECT version FROM cur), 0),
		(SELECT count(*) FROM n), (SELECT count(*) FROM ins), COALESCE((SELECT version FROM s), 0),
		EXISTS (SELECT 1 FROM l), COALESCE((SELECT version FROM l), 0)`)
	// appendFresh is the append of the common case, messages none of whose
	// ids the session holds, without what append spends on telling the
	// other cases apart: no lock of its own (l: its UPDATE locks the row),
	// no probe of the ids (e), no numbering of the survivors (n), no second
	// read of the session row (cur). It advances the session row and
	// inserts every message after the old next_seq (the UPDATE, having
	// waited for a concurrent writer, re-checks its WHERE on the newest row
	// and returns that row's next_seq). It returns the new version, or no
	// row when the session is gone, re-created or not at version $3; an id
	// the session holds already fails it on the unique constraint on
	// (session_id, id). Either way it stored nothing (one statement, one
	// implicit transaction), and the caller runs append, which cannot fail
	// on that constraint and sorts the cases out (a retry of a stored call,
	// a conflict, a deleted session). The caller does so after any error
	// the server reports for this statement, whatever its SQLSTATE (Citus
	// reports a worker's unique violation as XX000, not 23505), so no retry
	// depends on the SQLSTATE. Probing the ids here instead, so that the
	// statement could not meet the constraint (one probe of messages_msg_id
	// per id and a re-check of next_seq), cost 5 % of the append
	// (docs/performance.md). The rows need no ORDER BY: seq comes from the
	// ordinality, whatever order they are inserted in (dropping the sort
	// gained 1-2 %).
	// Parameters: $1..$10 as for append, $11 the number of messages, $12 now.
	q.appendFreshDormant = b(appendFreshHeadDormant(`$11`, `$12`) + `
		FROM s, unnest($4::text[], $5::text[], $6::json[], $7::text[], $8::json[], $9::bigint[], $10::text[])
			WITH ORDINALITY AS v(id, role, parts, model, usage, created_at, search, ord)
	)
	SELECT version FROM s`)
	q.appendFresh = b(appendFreshHead(`$11`, `$12`) + `
		FROM s, unnest($4::text[], $5::text[], $6::json[], $7::text[], $8::json[], $9::bigint[], $10::text[])
			WITH ORDINALITY AS v(id, role, parts, model, usage, created_at, search, ord)
	)
	SELECT version FROM s`)
	// appendFreshRows[n] is appendFresh with the n messages as VALUES rows
	// of bound values, which PostgreSQL reads with less work than it
	// unpacks arrays (2-3 % of the append). One statement per n, so up to
	// maxValuesRows prepared statements per connection; larger batches
	// take appendFresh. Parameters: $1 session id, $2 incarnation, $3
	// expected version or NULL, $4 n, $5 now, then for each message in
	// order its id, role, parts, model, usage, created_at and search text.
	for n := 1; n <= maxValuesRows; n++ {
		var rows strings.Builder
		for i := range n {
			if i > 0 {
				rows.WriteString(", ")
			}
			k := 6 + 7*i
			p := func(j int, cast string) string { return "$" + strconv.Itoa(k+j) + "::" + cast }
			rows.WriteString("(" + p(0, "text") + ", " + p(1, "text") + ", " + p(2, "json") + ", " + p(3, "text") + ", " +
				p(4, "json") + ", " + p(5, "bigint") + ", " + p(6, "text") + ", " + strconv.Itoa(i+1) + ")")
		}
		q.appendFreshRows[n] = b(appendFreshHead(`$4`, `$5`) + `
		FROM s, (VALUES ` + rows.String() + `) AS v(id, role, parts, model, usage, created_at, search, ord)
	)
	SELECT version FROM s`)
		q.appendFreshRowsDormant[n] = b(appendFreshHeadDormant(`$4`, `$5`) + `
		FROM s, (VALUES ` + rows.String() + `) AS v(id, role, parts, model, usage, created_at, search, ord)
	)
	SELECT version FROM s`)
	}
	// The state of a session, read when an append stored nothing, to tell a
	// conflict from a deleted session.
	q.sessionState = b(`SELECT version FROM {{sessions}} WHERE id = $1 AND incarnation = $2`)
	// For appends too large for one statement, which run several appends
	// with $11 = 0 in one transaction and then bump the version once.
	q.lockSession = b(`SELECT version FROM {{sessions}} WHERE id = $1 AND incarnation = $2 FOR UPDATE`)
	q.countIDs = b(`SELECT count(*) FROM unnest($2::text[]) AS u(id) CROSS JOIN LATERAL (
		SELECT 1 FROM {{messages}} m WHERE m.session_id = $1 AND m.id = u.id LIMIT 1) x`)
	q.bumpVersion = b(`UPDATE {{sessions}} SET version = version + 1 WHERE id = $1 AND incarnation = $2 RETURNING version`)

	// The append of a store opened WithCitus. Citus routes a statement to
	// one shard only if it is a SELECT, UPDATE, DELETE or INSERT ... SELECT
	// whose every table is filtered by the distribution column; it never
	// routes a statement with an INSERT in a WITH clause (Citus 13.2,
	// multi_router_planner.c: "Router planner doesn't support INSERT common
	// table expressions"), as append and appendFresh have. It plans those
	// in steps through the coordinator instead. So the routed append is
	// three statements, sent in one round trip inside BEGIN ... COMMIT
	// (Citus opens a transaction on the worker only inside a transaction
	// block):
	//   routedLock    locks the session row at version $3 (NULL: any);
	//   routedInsert  inserts the messages after next_seq, selecting from
	//                 the locked row (so from the session's shard), and
	//                 skips, by ON CONFLICT (session_id, id) DO NOTHING,
	//                 those whose id the session holds. Its snapshot is
	//                 taken after the lock, so it sees every message stored
	//                 before;
	//   routedAdvance advances the row by what the insert stored (the rows
	//                 at or past next_seq, which only this transaction can
	//                 have written while it holds the lock): next_seq by
	//                 the whole batch (a skipped row leaves a gap),
	//                 message_count, the version by $3 (1, or 0 inside a
	//                 larger append), updated_at; it returns the version,
	//                 or no row when nothing was stored.
	// Parameters: routedLock as lockSession plus $3; routedInsert $1..$10 as
	// for append; routedAdvance $1 id, $2 incarnation, $3 version step, $4
	// the batch's size, $5 now.
	// Store.Open of a store opened WithCitus: the INSERT of open, alone.
	q.openInsert = b(`INSERT INTO {{sessions}} (id, created_at, updated_at, incarnation) VALUES ($1, $2, $2, $3)
		ON CONFLICT (id) DO NOTHING RETURNING incarnation`)
	q.routedLock = b(`SELECT version FROM {{sessions}}
		WHERE id = $1 AND incarnation = $2 AND ($3::bigint IS NULL OR version = $3::bigint) FOR UPDATE`)
	q.routedInsert = b(`INSERT INTO {{messages}} AS m (session_id, seq, id, role, parts, model, usage, created_at, tsv)
		SELECT s.id, s.next_seq + v.ord - 1, v.id, v.role, v.parts, v.model, v.usage, v.created_at,
			v.search::tsvector
		FROM {{sessions}} s,
			unnest($4::text[], $5::text[], $6::json[], $7::text[], $8::json[], $9::bigint[], $10::text[])
			WITH ORDINALITY AS v(id, role, parts, model, usage, created_at, search, ord)
		WHERE s.id = $1 AND s.incarnation = $2 AND ($3::bigint IS NULL OR s.version = $3::bigint)
		ON CONFLICT (session_id, id) DO NOTHING`)
	q.routedAdvance = b(`UPDATE {{sessions}} SET next_seq = next_seq + $4::bigint,
			message_count = message_count + (SELECT count(*) FROM {{messages}} m
				WHERE m.session_id = $1 AND m.seq >= {{sessions}}.next_seq),
			version = version + $3::bigint,
			updated_at = GREATEST(updated_at + 1, $5::bigint)
		WHERE id = $1 AND incarnation = $2
			AND EXISTS (SELECT 1 FROM {{messages}} m WHERE m.session_id = $1 AND m.seq >= {{sessions}}.next_seq)
		RETURNING version`)

	// Reads return the session's version with the messages, in one
	// statement (one snapshot); no message gives one row of NULLs.
	const msgCols = `m.seq, m.id, m.role, m.parts, m.model, m.usage, m.created_at`
	//
	// lastN returns the newest $3 messages, newest first, and the caller
	// puts them oldest first: an outer ORDER BY m.seq sorted the rows on the
	// server, which cost more than the reversal in Go. Reads with a limit
	// up to maxLiteralLimit run lastNLimit(n) instead, the same statement
	// with the limit written out (see there).
	// The inner SELECTs take each row's parts with partsOf: only the rows
	// the LIMIT lets through look up borrowed bytes.
	innerCols := `x.seq, x.id, x.role, ` + partsOf("x") + ` AS parts, x.model, x.usage, x.created_at`
	q.lastN = b(`SELECT s.version, ` + msgCols + ` FROM {{sessions}} s LEFT JOIN LATERAL (
			SELECT ` + innerCols + ` FROM {{messages}} x
			WHERE x.session_id = $1 ORDER BY x.seq DESC LIMIT $3) m ON true
		WHERE s.id = $1 AND s.incarnation = $2`)
	q.lastNHead, q.lastNTail, _ = strings.Cut(q.lastN, "$3")
	rangeSQL := func(order string) string {
		return b(`SELECT s.version, ` + msgCols + ` FROM {{sessions}} s LEFT JOIN LATERAL (
			SELECT ` + innerCols + ` FROM {{messages}} x
			WHERE x.session_id = $1 AND x.seq > $3 AND x.seq < $4 ORDER BY x.seq ` + order + ` LIMIT $5) m ON true
		WHERE s.id = $1 AND s.incarnation = $2`)
	}
	q.rangeAsc, q.rangeDesc = rangeSQL("ASC"), rangeSQL("DESC")
	q.all = b(`SELECT s.version, m.seq, m.id, m.role, ` + partsOf("m") + `, m.model, m.usage, m.created_at
		FROM {{sessions}} s LEFT JOIN {{messages}} m ON m.session_id = $1
		WHERE s.id = $1 AND s.incarnation = $2 ORDER BY m.seq`)

	// PopMessage runs popLock and popDelete in one transaction: popDelete
	// must take its snapshot after the lock is held, or it could pick a
	// newest row that a concurrent Pop has just removed.
	q.popLock = b(`SELECT 1 FROM {{sessions}} WHERE id = $1 AND incarnation = $2 FOR UPDATE`)
	// The newest row's bytes go to the rows that borrow them first
	// (handover), and the popped message is returned with its bytes, its
	// own or those it borrows.
	// The row is named by its seq and id (see partsOf).
	newest := `(SELECT seq, id FROM {{messages}} WHERE session_id = $1 ORDER BY seq DESC LIMIT 1)`
	q.popDelete = b(`WITH ` + handover(`(f.seq, f.id) = `+newest) + `d AS (
		DELETE FROM {{messages}} WHERE session_id = $1 AND (seq, id) = ` + newest + `
		RETURNING seq, id, role, parts, model, usage, created_at, shared_from
	), u AS (
		UPDATE {{sessions}} SET version = version + 1, message_count = message_count - 1,
			updated_at = GREATEST(updated_at + 1, $3) WHERE id = $1 AND incarnation = $2 AND EXISTS (SELECT 1 FROM d)
	)
	SELECT d.seq, d.id, d.role, ` + partsOf("d") + `, d.model, d.usage, d.created_at FROM d`)
	// Clear runs clearSess then clearMsgs in one batch (one transaction):
	// the delete's snapshot is taken after the session row is locked, so it
	// sees every message committed before.
	q.clearSess = b(`UPDATE {{sessions}} SET version = version + 1, message_count = 0,
		updated_at = GREATEST(updated_at + 1, $3) WHERE id = $1 AND incarnation = $2 RETURNING version`)
	q.clearMsgs = b(`DELETE FROM {{messages}} WHERE session_id = $1
		AND EXISTS (SELECT 1 FROM {{sessions}} WHERE id = $1 AND incarnation = $2)`)
	if share {
		// The rows' bytes go to the rows that borrow them first (handover).
		q.clearMsgs = b(`WITH ` + handover(`EXISTS (SELECT 1 FROM {{sessions}} WHERE id = $1 AND incarnation = $2)`) + `d AS (
			DELETE FROM {{messages}} WHERE session_id = $1
				AND EXISTS (SELECT 1 FROM {{sessions}} WHERE id = $1 AND incarnation = $2)
			RETURNING 1
		)
		SELECT count(*) FROM d`)
	}

	for f := range q.list {
		var where []string
		arg := 0
		next := func() string { arg++; return "$" + itoa(arg) }
		if f&listOwner != 0 {
			where = append(where, "owner = "+next())
		}
		if f&listPrefix != 0 {
			where = append(where, "starts_with(id, "+next()+")")
		}
		if f&listWindow != 0 {
			a, b := next(), next()
			where = append(where, "updated_at > "+a+" AND updated_at < "+b)
		}
		if f&listCursor != 0 {
			a, b := next(), next()
			where = append(where, "(updated_at, id) < ("+a+", "+b+")")
		}
		sql := `SELECT ` + infoCols + ` FROM ` + q.sessions
		if len(where) > 0 {
			sql += " WHERE " + strings.Join(where, " AND ")
		}
		q.list[f] = sql + " ORDER BY updated_at DESC, id DESC LIMIT " + next()
	}

	for f := range q.search {
		// $1 the query as tsquery text (searchtext.Query.TSQuery: quoted
		// lexemes, cast as they are), $2 limit, then the filters.
		from, where := `{{messages}} m`, `m.tsv @@ $1::tsquery`
		if share {
			// The rows found by their terms (only rows that own their
			// bytes have any), and the rows that borrow those bytes, each
			// a hit of its own session with its owner's rank. The
			// borrowers' "f.shared_from IS NOT NULL" lets the planner
			// start that branch from the partial index on shared_from (a
			// partial index serves only a scan whose own conditions imply
			// its predicate, not a join clause: PostgreSQL docs, 11.8
			// Partial Indexes), so a store with few forks matches the
			// terms once; without it the branch matched them a second
			// time (3.2x the search without forks for a common word,
			// TestSearchMatchesItsTermsOnce).
			from = `(SELECT o.session_id, o.id, o.seq, o.role, o.created_at, o.parts, o.tsv FROM {{messages}} o
				WHERE o.tsv @@ $1::tsquery
			UNION ALL
			SELECT f.session_id, f.id, f.seq, f.role, f.created_at, o.parts, o.tsv FROM {{messages}} f
				JOIN {{messages}} o ON o.session_id = f.shared_from AND o.seq = f.seq
				WHERE f.shared_from IS NOT NULL AND o.tsv @@ $1::tsquery) m`
			where = `true`
		}
		arg := 2
		if f&searchOwner != 0 {
			arg++
			from += ` JOIN {{sessions}} s ON s.id = m.session_id`
			where += ` AND s.owner = $` + itoa(arg)
		}
		if f&searchSession != 0 {
			arg++
			where += ` AND m.session_id = $` + itoa(arg)
		}
		q.search[f] = b(`SELECT m.session_id, m.id, m.seq, m.role, m.created_at, m.parts FROM ` + from +
			` WHERE ` + where + ` ORDER BY ts_rank(m.tsv, $1::tsquery) DESC, m.session_id, m.seq LIMIT $2`)
	}
	// Rewriting the search index after an upgrade (reindex in search.go).
	q.searchIndexVersion = b(`SELECT version FROM {{search_index}}`)
	q.lockSearchIndex = b(`SELECT version, after_session, after_seq FROM {{search_index}} FOR UPDATE`)
	q.recordSearchIndex = b(`UPDATE {{search_index}} SET version = $1, after_session = $2, after_seq = $3`)
	q.reindexRead = b(`SELECT session_id, seq, parts FROM {{messages}}
		WHERE (session_id, seq) > ($1, $2) ORDER BY session_id, seq LIMIT $3`)
	// A row that borrows its bytes has no terms of its own (those of its
	// owner row are rewritten) and keeps none.
	q.reindexWrite = b(`UPDATE {{messages}} m SET tsv = u.tsv::tsvector
		FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(session_id, seq, tsv)
		WHERE m.session_id = u.session_id AND m.seq = u.seq AND m.shared_from IS NULL`)

	// Plain DELETE ... RETURNING (no CTE), which Citus runs on every shard;
	// the store sorts the ids.
	q.deleteOwner = b(`DELETE FROM {{sessions}} WHERE owner = $1 RETURNING id, message_count`)
	q.prune[0] = b(`DELETE FROM {{sessions}} WHERE updated_at < $1 RETURNING id, message_count`)
	q.prune[1] = b(`DELETE FROM {{sessions}} WHERE updated_at < $1 AND owner = $2 RETURNING id, message_count`)
	q.pruneDry[0] = b(`SELECT id, message_count FROM {{sessions}} WHERE updated_at < $1 ORDER BY id`)
	q.pruneDry[1] = b(`SELECT id, message_count FROM {{sessions}} WHERE updated_at < $1 AND owner = $2 ORDER BY id`)

	// The change feed (watch.go; the table's comment in
	// migrations/0006_changes.sql explains the order). Every write records
	// its change in the statement or transaction that makes it. An
	// append's is in appendFresh and append (the latter only with a version
	// step: a larger append records once, at its end).
	const recCols = `session_id, owner, incarnation, kind, version, first_seq, last_seq, removed, at`
	// $2 kind, $3 how many seqs below next_seq the change stored, $4 the
	// removed ids, $5 now.
	q.recordChange = b(`INSERT INTO {{changes}} (` + recCols + `)
		SELECT id, owner, incarnation, $2, version, next_seq - $3::bigint, next_seq - 1, $4::text[], $5::bigint
		FROM {{sessions}} WHERE id = $1 AND {{feed_started}}`)
	q.createFeed = b(`WITH ins AS (
			INSERT INTO {{sessions}} (id, owner, title, metadata, created_at, updated_at, incarnation, parent_id, fork_message_id)
			VALUES ($1, $2, $3, $4::json, CASE WHEN $7::bigint = 0 THEN $5::bigint ELSE $7::bigint END,
				GREATEST($5::bigint, $7::bigint), $6, $8, $9) ON CONFLICT (id) DO NOTHING RETURNING id, owner, incarnation
		), rec AS (
			INSERT INTO {{changes}} (` + recCols + `) SELECT id, owner, incarnation, 'create', 0, 1, 0, NULL, $5::bigint FROM ins
			WHERE {{feed_started}}
		)
		SELECT incarnation FROM ins`)
	q.openFeed = b(`WITH ins AS (
			INSERT INTO {{sessions}} (id, created_at, updated_at, incarnation) VALUES ($1, $2, $2, $3)
			ON CONFLICT (id) DO NOTHING RETURNING id, owner, incarnation
		), rec AS (
			INSERT INTO {{changes}} (` + recCols + `) SELECT id, owner, incarnation, 'create', 0, 1, 0, NULL, $2::bigint FROM ins
			WHERE {{feed_started}}
		)
		SELECT incarnation FROM ins UNION ALL SELECT incarnation FROM {{sessions}} WHERE id = $1`)
	// $1 id, $2 title or NULL, $3 whether to set the metadata, $4 the
	// metadata, $5 now; a row if the session exists.
	q.updateInfoFeed = b(`WITH lk AS ({{feed_lock_if_started}}), u AS (
			UPDATE {{sessions}} SET title = COALESCE($2, title),
				metadata = CASE WHEN $3::boolean THEN $4::json ELSE metadata END,
				updated_at = GREATEST(updated_at + 1, $5)
			WHERE id = $1 AND EXISTS (SELECT 1 FROM lk) RETURNING id, owner, incarnation, version
		), rec AS (
			INSERT INTO {{changes}} (` + recCols + `) SELECT id, owner, incarnation, 'info', version, 1, 0, NULL, $5::bigint FROM u, lk
			WHERE lk.started
		)
		SELECT 1 FROM u`)
	// $2 now.
	q.deleteFeed = b(`WITH lk AS ({{feed_lock_if_started}}), d AS (
			DELETE FROM {{sessions}} WHERE id = $1 AND EXISTS (SELECT 1 FROM lk) RETURNING id, owner, incarnation, version
		)
		INSERT INTO {{changes}} (` + recCols + `) SELECT id, owner, incarnation, 'delete', version, 1, 0, NULL, $2::bigint FROM d, lk
		WHERE lk.started`)
	// DeleteOwner and Prune delete in rounds, each its own transaction
	// (Store.bulkDeleteFeed): a multi-row statement gets its xid at its
	// first row lock, so a writer could lock, change and commit a later
	// row in between, its change sorting after the delete it preceded.
	// Each round takes its xid, locks up to bulkRound matching rows FOR
	// UPDATE SKIP LOCKED (or, lockOne, one row, after taking its feed lock
	// and so waiting for its writer), then, in
	// a later statement whose snapshot sees every change committed before
	// those locks, deletes the locked rows that no change of a larger xid
	// than its own touched (the rest are taken again by a later round)
	// and records the deletes. lock: $1 the limit; lockOne: $1 the id; del:
	// $1 the ids, $2 now, $3 the round's xid; pred's parameters follow.
	bulk := func(pred string, n int) bulkFeedQueries {
		at := func(first int) string { // pred with $p1.. numbered from first
			out := pred
			for i := n; i >= 1; i-- {
				out = strings.ReplaceAll(out, "$p"+strconv.Itoa(i), "$"+strconv.Itoa(first+i-1))
			}
			return out
		}
		return bulkFeedQueries{
			lock:      b(`SELECT id FROM {{sessions}} WHERE ` + at(2) + ` ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`),
			lockOne:   b(`SELECT id FROM {{sessions}} WHERE id = $1 AND ` + at(2) + ` FOR UPDATE`),
			remaining: b(`SELECT id FROM {{sessions}} WHERE ` + at(1) + ` ORDER BY id`),
			del: b(`WITH d AS (
					DELETE FROM {{sessions}} s WHERE s.id = ANY($1::text[]) AND ` + at(4) + `
						AND NOT EXISTS (SELECT 1 FROM {{changes}} c WHERE c.xid > $3::bigint AND c.session_id = s.id)
					RETURNING id, message_count, owner, incarnation, version
				), rec AS (
					INSERT INTO {{changes}} (` + recCols + `)
					SELECT id, owner, incarnation, 'delete', version, 1, 0, NULL, $2::bigint FROM d WHERE {{feed_started}} ORDER BY id
				)
				SELECT id, message_count FROM d`),
		}
	}
	q.bulkFeed[bulkOwner] = bulk(`owner = $p1`, 1)
	q.bulkFeed[bulkPrune] = bulk(`updated_at < $p1`, 1)
	q.bulkFeed[bulkPruneOwner] = bulk(`updated_at < $p1 AND owner = $p2`, 2)
	q.currentXid = `SELECT pg_current_xact_id()::text::bigint`
	q.lockSessionRow = b(`SELECT 1 FROM {{sessions}} WHERE id = $1 FOR UPDATE`)
	q.lockFeed = b(`{{feed_lock}}`)
	// What the trigger of schema version 6 did at every insert into
	// changes, now run only when feedNotifier says a notification is due:
	// nothing while no listener is registered (feed_listeners, expiry in
	// database time); else NOTIFY on convo_feed_<oid of changes>, if this
	// transaction gets the advisory lock (held to its commit) that no
	// other notifying writer of the table holds. NOTIFY takes a lock at
	// commit that every notifying transaction of the cluster shares, so at
	// most one notifying commit is in flight and the others commit
	// together. CASE, because PostgreSQL may evaluate the terms of an AND
	// in any order: the lock is tried only when someone listens.
	q.notifyFeed = `SELECT pg_notify('convo_feed_' || $1::text::regclass::oid::text, '')
		WHERE CASE WHEN EXISTS (SELECT 1 FROM ` + q.feedListeners + `
				WHERE expires_at > (extract(epoch FROM now()) * 1000000000)::bigint)
			THEN pg_try_advisory_xact_lock(hashtext('convo_feed_' || $1::text::regclass::oid::text))
			ELSE false END`

	// The horizon: rows below it are final. It is the oldest transaction of
	// this database still running in the statement's snapshot, or the
	// snapshot's xmax when none is (a transaction of another database
	// cannot write these tables; one whose database the statement cannot
	// tell, because pg_stat_activity hides it, counts, which only delays).
	const horizon = `(SELECT LEAST(pg_snapshot_xmax(s)::text::bigint, (
			SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
			WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
				WHERE a.backend_xid::text = x::text AND a.datname IS DISTINCT FROM current_database())))
		FROM pg_current_snapshot() AS s)`
	q.feedHorizon = `SELECT ` + horizon + `, trimmed_xid, trimmed_id FROM ` + q.feedState
	// The snapshot a watch from now starts at: its xmax, the transactions
	// it saw running, and those of them that may be this database's.
	q.feedNow = `SELECT pg_snapshot_xmax(s)::text::bigint,
			ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x),
			ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x
				WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
					WHERE a.backend_xid::text = x::text AND a.datname IS DISTINCT FROM current_database()))
		FROM pg_current_snapshot() AS s`
	// $1, $2 the position (xid, id); $3 session id or ''; $4 owner or '';
	// $5 the limit. The first row carries the horizon and the trimmed
	// position whether or not a change follows.
	q.feedRead = b(`WITH h AS (SELECT ` + horizon + ` AS horizon, trimmed_xid, trimmed_id FROM {{feed_state}})
		SELECT h.horizon, h.trimmed_xid, h.trimmed_id, c.xid, c.id, c.session_id, c.owner, c.incarnation, c.kind,
			c.version, c.first_seq, c.last_seq, c.removed, c.at
		FROM h LEFT JOIN LATERAL (
			SELECT * FROM {{changes}}
			WHERE (xid, id) > ($1::bigint, $2::bigint) AND xid < h.horizon
				AND ($3::text = '' OR session_id = $3::text) AND ($4::text = '' OR owner = $4::text)
			ORDER BY xid, id LIMIT $5) c ON true
		ORDER BY c.xid, c.id`)
	q.feedMessages = b(`SELECT m.seq, m.id, m.role, ` + partsOf("m") + `, m.model, m.usage, m.created_at FROM {{messages}} m
		WHERE m.session_id = $1 AND m.seq BETWEEN $3 AND $4
			AND EXISTS (SELECT 1 FROM {{sessions}} WHERE id = $1 AND incarnation = $2)
		ORDER BY m.seq`)
	q.feedActive = b(`SELECT active FROM {{feed_state}}`)
	q.startFeed = b(`UPDATE {{feed_state}} SET active = true WHERE NOT active`)
	q.feedOid = `SELECT to_regclass($1)::oid::bigint`
	q.feedListen = `INSERT INTO ` + q.feedListeners + ` (token, expires_at)
		VALUES ($1, (extract(epoch FROM now()) * 1000000000)::bigint + $2::bigint)
		ON CONFLICT (token) DO UPDATE SET expires_at = EXCLUDED.expires_at`
	q.feedUnlisten = `DELETE FROM ` + q.feedListeners + ` WHERE token = $1 OR expires_at < (extract(epoch FROM now()) * 1000000000)::bigint`
	// TrimFeed: the newest final change made before $1, then the delete.
	q.feedTrimTo = b(`SELECT xid, id FROM {{changes}} WHERE at < $1 AND xid < ` + horizon + `
		ORDER BY xid DESC, id DESC LIMIT 1`)
	q.feedTrim = b(`DELETE FROM {{changes}} WHERE (xid, id) <= ($1::bigint, $2::bigint)`)
	q.feedSetTrim = b(`UPDATE {{feed_state}} SET trimmed_xid = $1, trimmed_id = $2
		WHERE (trimmed_xid, trimmed_id) < ($1::bigint, $2::bigint)`)

	// Fork runs these in one transaction. forkParent locks the parent's row:
	// every writer of a session's messages locks that row first, so the
	// parent cannot change until the fork commits, and the statements
	// after it read one state of it. Without sharing it locks the row FOR
	// SHARE, and concurrent forks of one parent share the lock. With
	// sharing it sets the parent's lent (so that deleting the parent hands
	// its bytes over, see migrations/0008_fork_sharing.sql), which locks
	// the row as an UPDATE does: concurrent forks of one parent take turns.
	// The rows the fork borrows are the parent's own or borrowed from
	// sessions whose lent the fork that made them set.
	q.forkParent = b(`SELECT owner, title, metadata FROM {{sessions}} WHERE id = $1 FOR SHARE`)
	if share {
		q.forkParent = b(`UPDATE {{sessions}} SET lent = true WHERE id = $1 RETURNING owner, title, metadata`)
	}
	q.forkPoint = b(`SELECT seq FROM {{messages}} WHERE session_id = $1 AND id = $2`)
	if share {
		// The sessions owning the bytes of the parent's rows up to the
		// fork point that borrow (a fork of a fork), locked as forkParent
		// locks the parent, before forkCopy reads the rows: the fork's rows
		// borrow from those sessions, whose pops, clears, quarantines and
		// deletes lock their row first and hand over only to the borrowers
		// in their snapshot. Without the lock, one of them that took its
		// snapshot before the fork committed deleted a row the fork's rows
		// borrow (TestForkOfForkRacingOwnerPop). A lock that waited ends
		// after that writer commits; forkCopy, a later statement, then
		// reads the parent's rows as the hand-over left them (READ
		// COMMITTED: each statement sees what was committed before it
		// began).
		q.forkLockOwners = b(`SELECT 1 FROM {{sessions}} WHERE id IN (
			SELECT shared_from FROM {{messages}} WHERE session_id = $1 AND seq <= $2 AND shared_from IS NOT NULL)
			ORDER BY id FOR SHARE`)
	}
	// $5 now, $7 the creation time to record, or 0 for now (as create).
	q.forkCreate = b(`INSERT INTO {{sessions}} (id, owner, title, metadata, created_at, updated_at, incarnation,
			next_seq, parent_id, fork_message_id)
		VALUES ($1, $2, $3, $4::json, CASE WHEN $7::bigint = 0 THEN $5::bigint ELSE $7::bigint END,
			GREATEST($5::bigint, $7::bigint), $6, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING incarnation`)
	// The rows keep their seq (a search hit has the same position in
	// parent and fork) and their search terms (tsv), so nothing is
	// re-tokenised.
	q.forkCopy = b(`INSERT INTO {{messages}} (session_id, seq, id, role, parts, model, usage, created_at, tsv)
		SELECT $1, seq, id, role, parts, model, usage, created_at, tsv FROM {{messages}}
		WHERE session_id = $2 AND seq <= $3`)
	if share {
		// Only the headers: each row borrows its parts and terms from the
		// row that owns them, the parent's or the one the parent's row
		// borrows from, so no row borrows from a borrower.
		q.forkCopy = b(`INSERT INTO {{messages}} (session_id, seq, id, role, model, usage, created_at, shared_from)
			SELECT $1, seq, id, role, model, usage, created_at, COALESCE(shared_from, session_id) FROM {{messages}}
			WHERE session_id = $2 AND seq <= $3`)
	}
	// Before Citus distributes the tables (distribute in citus.go): every
	// borrowed row gets its bytes, and the trigger goes.
	q.handoverAll = b(`UPDATE {{messages}} f SET parts = p.parts, tsv = p.tsv, shared_from = NULL
		FROM {{messages}} p WHERE f.shared_from IS NOT NULL AND p.session_id = f.shared_from AND p.seq = f.seq AND p.id = f.id`)
	q.dropHandover = b(`DROP TRIGGER IF EXISTS "Convo_fork_handover" ON {{sessions}}`)
	q.forkCount = b(`UPDATE {{sessions}} SET message_count = $2 WHERE id = $1`)
	return q
}

// maxValuesRows is the largest batch that the ordinary append writes as
// VALUES rows (queries.appendFreshRows).
const maxValuesRows = 16

// appendFreshHead is the start of appendFresh, up to the FROM of its
// INSERT, with count and now the parameters of the number of messages and
// the time.
func appendFreshHead(count, now string) string {
	return `WITH lk AS ({{feed_lock_if_started}}), s AS (
		UPDATE {{sessions}} SET next_seq = next_seq + ` + count + `::bigint,
			message_count = message_count + ` + count + `::bigint,
			version = version + 1,
			updated_at = GREATEST(updated_at + 1, ` + now + `::bigint)
		WHERE id = $1 AND incarnation = $2 AND ($3::bigint IS NULL OR version = $3::bigint)
			AND EXISTS (SELECT 1 FROM lk)
		RETURNING next_seq - ` + count + `::bigint AS base, version, owner
	), rec AS (
		INSERT INTO {{changes}} (session_id, owner, incarnation, kind, version, first_seq, last_seq, at)
		SELECT $1, owner, $2, 'append', version, base, base + ` + count + `::bigint - 1, ` + now + `::bigint FROM s, lk
		WHERE lk.started
	), ins AS (
		INSERT INTO {{messages}} (session_id, seq, id, role, parts, model, usage, created_at, tsv)
		SELECT $1, s.base + v.ord - 1, v.id, v.role, v.parts, v.model, v.usage, v.created_at,
			v.search::tsvector`
}

// appendFreshHeadDormant is appendFreshHead without the feed: no lock, no
// row in changes, and no table of the feed but feed_state, which its
// UPDATE reads, in the statement's snapshot, to update nothing once the
// feed has started (the caller then runs the statement that records).
// Referring to changes at all, even to insert no row, cost an append as
// much as recording did (opening the table, its index and sequence).
func appendFreshHeadDormant(count, now string) string {
	return `WITH s AS (
		UPDATE {{sessions}} SET next_seq = next_seq + ` + count + `::bigint,
			message_count = message_count + ` + count + `::bigint,
			version = version + 1,
			updated_at = GREATEST(updated_at + 1, ` + now + `::bigint)
		WHERE id = $1 AND incarnation = $2 AND ($3::bigint IS NULL OR version = $3::bigint)
			AND NOT {{feed_started}}
		RETURNING next_seq - ` + count + `::bigint AS base, version
	), ins AS (
		INSERT INTO {{messages}} (session_id, seq, id, role, parts, model, usage, created_at, tsv)
		SELECT $1, s.base + v.ord - 1, v.id, v.role, v.parts, v.model, v.usage, v.created_at,
			v.search::tsvector`
}

// feedLock returns a statement that takes the feed lock of session $1 in
// the table sessions (a quoted, schema-qualified name): a transaction-level
// advisory lock on a 64-bit hash of the table's name and the session id.
// Every write that records a change of a session in the feed takes it
// before its first write in its transaction, and so before PostgreSQL
// gives the transaction its xid: an UPDATE, DELETE or SELECT FOR UPDATE
// gets its xid before it waits for a row's lock, but taking an advisory
// lock assigns none. So two writes of one session get their xids in the
// order they hold the lock, which is the order they commit in, and the
// feed, ordered by xid, has each session's changes in version order
// (migrations/0006_changes.sql). createFeed and openFeed take none: their
// INSERT ... ON CONFLICT waits for a concurrent delete of the id before it
// inserts, and so before it gets its xid. Stores whose statements Citus
// routes have no feed and take no such lock (an advisory lock is local to
// one node). DeleteOwner and Prune take it only in a round that waits for
// one session's writer; their other rounds order their deletes by other
// means (see bulk in newQueries).
func feedLock(sessions string) string {
	return `SELECT pg_advisory_xact_lock(` + feedLockKey(sessions) + `)`
}

// feedLockKey is the 64-bit key of feedLock.
func feedLockKey(sessions string) string {
	h := fnv.New64a()
	h.Write([]byte(sessions))
	return `hashtextextended($1::text, ` + strconv.FormatInt(int64(h.Sum64()), 10) + `)`
}

// feedLockIfStarted returns the first step of a write that is one
// statement: a row whose started says whether the feed records changes
// (feed_state.active, schema version 9, as the statement's snapshot sees
// it), and which took the feed lock of session $1 if so. The lock only
// orders the feed (feedLock), and a write that records nothing needs none.
// The statement locked sessions before it took its snapshot, so it either
// ended before StartFeed could lock sessions or began after StartFeed
// committed and sees the feed started.
func feedLockIfStarted(sessions, feedState string) string {
	return `SELECT active AS started,
		CASE WHEN active THEN (SELECT true FROM pg_advisory_xact_lock(` + feedLockKey(sessions) + `)) END AS locked
		FROM ` + feedState
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// maxLiteralLimit is the largest limit that lastNLimit writes into the
// statement; larger ones are bound to lastN's parameter.
const maxLiteralLimit = 1000

// lastNLimit returns lastN with the limit n (1 <= n <= maxLiteralLimit)
// written out instead of bound. With the limit a parameter, PostgreSQL's
// generic plan of the statement must assume it returns a tenth of the
// session's rows; where the statistics say sessions are long (a table of a
// few long sessions), that plan looks costlier than one planned for the
// actual limit, so PostgreSQL plans the statement afresh at every call,
// and planning costs more than running it. With the limit a constant, the
// generic plan is the custom plan, and pgx's prepared statement runs it
// without planning, as it does a hand-written query with its limit in the
// text. n is an int formatted by strconv, so nothing from outside reaches
// the SQL text; each distinct limit is one more prepared statement per
// connection (applications use a few).
func (q *queries) lastNLimit(n int) string {
	if v, ok := q.lastNByLimit.Load(n); ok {
		return v.(string)
	}
	sql := q.lastNHead + strconv.Itoa(n) + q.lastNTail
	q.lastNByLimit.Store(n, sql)
	return sql
}
