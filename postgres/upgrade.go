package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/internal/upstream"
	"github.com/convo-dev/convo/message"
)

// UpgradeReport tells what Upgrade did: whether it converted tables of
// github.com/joakimcarlsson/ai, how many sessions and messages, the rows it
// could not convert (quarantined, never dropped) and the sessions it had
// to add for messages without one. Both stores report with this type.
type UpgradeReport = upstream.Report

// UnconvertedRow is a row that Upgrade could not convert: its session, its
// id in that project's table, the seq it has in the quarantine table, and
// why.
type UnconvertedRow = upstream.Unconverted

// Upgrade upgrades the tables written by the session store of
// github.com/joakimcarlsson/ai (memory/postgres) in place to convo's
// schema. That store uses the unqualified names sessions and messages, so
// its tables are in the first schema of the connection's search_path
// (usually public), or in the schema given here with WithSchema if it was
// pointed there with search_path. SessionStore refuses such tables with
// ErrUpstreamSchema and changes nothing: an upgrade rewrites the
// application's tables, and the program that wrote them cannot read them
// afterwards, so it runs only when asked.
//
// Every session and message is kept, in order (a session's messages by
// created_at, the order that project read them in; equal times keep the
// order the rows were stored in). The message id (a UUID) is kept; role,
// model and time come over unchanged; the parts are converted to convo's
// encoding (see internal/upstream). A session's creation time is kept (to
// the microsecond that PostgreSQL stored), and its last-update time is that
// of its newest message, or its creation time if that is later (or it has
// no message). A row that cannot be converted is moved, bytes
// unchanged, to the quarantine table and reported; none is dropped.
//
// The upgrade is one transaction, under the advisory lock that migrations
// take: a process killed during it, or a lost connection, leaves the old
// tables as they were, and running Upgrade again starts over. On a
// database that already holds convo's schema, or none, Upgrade does what
// SessionStore does and reports Upgraded false; tables of another shape
// give ErrForeignTables.
func Upgrade(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (UpgradeReport, error) {
	rep, err := upgrade(ctx, pool, opts...)
	return rep, explainPooler(err)
}

// upgrade is Upgrade before its errors are explained (explainPooler).
func upgrade(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (UpgradeReport, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return UpgradeReport{}, err
	}
	if pool == nil {
		return UpgradeReport{}, errors.New("postgres: nil *pgxpool.Pool")
	}
	if o.readOnly {
		return UpgradeReport{}, fmt.Errorf("postgres: upgrade: %w", errReadOnly)
	}
	if err := connect(ctx, pool, "upgrade"); err != nil {
		return UpgradeReport{}, err
	}
	if err := checkExecMode(ctx, pool); err != nil {
		return UpgradeReport{}, err
	}
	if err := checkSearchPath(ctx, pool, o); err != nil {
		return UpgradeReport{}, err
	}
	s := &Store{pool: pool, opts: o, q: newQueries(o.schema, o.prefix)}
	rep, err := s.upgrade(ctx)
	if err != nil {
		return rep, err
	}
	if _, err := Open(ctx, pool, opts...); err != nil {
		return rep, err
	}
	return rep, nil
}

// upgradeHook, when set (by tests), is called at points of the upgrade
// transaction.
var upgradeHook func(stage string)

func (s *Store) upgrade(ctx context.Context) (rep UpgradeReport, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return rep, err
	}
	kind, _, err := s.classify(ctx, s.pool)
	if err != nil {
		return rep, fmt.Errorf("postgres: upgrade: read schema: %w", err)
	}
	if kind != schemaUpstream {
		return rep, nil // Open does the rest, or refuses
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return rep, fmt.Errorf("postgres: upgrade: %w", err)
	}
	defer rollbackOnError(ctx, tx, &err)
	if _, err := tx.Exec(ctx, s.q.lockMigrations, lockKey(s.opts.schema, s.opts.prefix)); err != nil {
		return rep, fmt.Errorf("postgres: upgrade: lock: %w", err)
	}
	if kind, _, err = s.classify(ctx, tx); err != nil {
		return rep, fmt.Errorf("postgres: upgrade: read schema: %w", err)
	} else if kind != schemaUpstream {
		return rep, tx.Rollback(ctx) // upgraded meanwhile by another process
	}
	// Copy the old rows aside (temporary tables, gone at commit), drop the
	// old tables (their index and constraint names are the ones convo's
	// schema uses), create convo's, and fill them.
	for _, st := range []string{
		`CREATE TEMP TABLE convo_upgrade_s ON COMMIT DROP AS
			SELECT id, (extract(epoch FROM created_at) * 1000000000)::bigint AS created, row_number() OVER (ORDER BY created_at, ctid) AS n
			FROM ` + s.q.sessions,
		`CREATE TEMP TABLE convo_upgrade_m ON COMMIT DROP AS
			SELECT row_number() OVER (ORDER BY session_id, created_at, ctid) AS n, id, session_id, role, parts::text AS parts, model, created_at
			FROM ` + s.q.messages,
		`DROP TABLE ` + s.q.messages,
		`DROP TABLE ` + s.q.sessions,
		s.q.createMigrations,
	} {
		if _, err := tx.Exec(ctx, st); err != nil {
			return rep, fmt.Errorf("postgres: upgrade: %w", err)
		}
	}
	if err := s.applyMigrations(ctx, tx, ms, 0); err != nil {
		return rep, err
	}
	if err := s.copyUpstream(ctx, tx, &rep); err != nil {
		return rep, fmt.Errorf("postgres: upgrade: %w", err)
	}
	if upgradeHook != nil {
		upgradeHook("before commit")
	}
	if err := tx.Commit(ctx); err != nil {
		return rep, fmt.Errorf("postgres: upgrade: commit: %w", err)
	}
	rep.Upgraded = true
	return rep, nil
}

func (s *Store) copyUpstream(ctx context.Context, tx pgx.Tx, rep *UpgradeReport) error {
	// Sessions: those with a row, then those that only messages name.
	tag, err := tx.Exec(ctx, `INSERT INTO `+s.q.sessions+` (id, created_at, updated_at, incarnation)
		SELECT id, t, t, (random() * 4e18)::bigint FROM (
			SELECT n, id, COALESCE(created, (SELECT min(m.created_at) FROM convo_upgrade_m m WHERE m.session_id = u.id),
				(extract(epoch FROM now()) * 1000000000)::bigint) AS t
			FROM convo_upgrade_s u) x ORDER BY n`)
	if err != nil {
		return err
	}
	rep.Sessions = int(tag.RowsAffected())
	rows, err := tx.Query(ctx, `SELECT session_id, min(created_at) FROM convo_upgrade_m
		WHERE session_id NOT IN (SELECT id FROM convo_upgrade_s) GROUP BY session_id ORDER BY min(n)`)
	if err != nil {
		return err
	}
	type orphan struct {
		id      string
		created int64
	}
	orphans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orphan, error) {
		var o orphan
		return o, r.Scan(&o.id, &o.created)
	})
	if err != nil {
		return err
	}
	for _, o := range orphans {
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.q.sessions+` (id, created_at, updated_at, incarnation) VALUES ($1, $2, $2, (random() * 4e18)::bigint)`, o.id, o.created); err != nil {
			return fmt.Errorf("session %q: %w", o.id, err)
		}
		rep.AddedSessions = append(rep.AddedSessions, o.id)
		rep.Sessions++
	}
	// Messages, a page at a time, numbered 1, 2, ... within each session.
	insertMsg := `INSERT INTO ` + s.q.messages + ` (session_id, seq, id, role, parts, model, usage, created_at, tsv)
		VALUES ($1, $2, $3, $4, $5::json, $6, NULL, $7, $8::tsvector)`
	insertBad := `INSERT INTO ` + s.q.quarantine + ` (session_id, seq, id, role, parts, model, usage, created_at, quarantined_at, reason)
		VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9)`
	const page = 500
	var last int64
	session, seq := "", int64(0)
	for {
		rows, err := tx.Query(ctx, `SELECT n, id, session_id, role, parts, COALESCE(model, ''), created_at FROM convo_upgrade_m WHERE n > $1 ORDER BY n LIMIT $2`, last, page)
		if err != nil {
			return err
		}
		var batch []upstream.Row
		for rows.Next() {
			var r upstream.Row
			var parts string
			if err := rows.Scan(&last, &r.ID, &r.SessionID, &r.Role, &parts, &r.Model, &r.CreatedAt); err != nil {
				rows.Close()
				return err
			}
			r.Parts = []byte(parts)
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, r := range batch {
			if r.SessionID != session {
				session, seq = r.SessionID, 0
			}
			seq++
			m, cerr := upstream.Convert(r)
			var parts []byte
			if cerr == nil {
				parts, cerr = message.MarshalParts(m.Parts)
			}
			if cerr == nil {
				cerr = errors.Join(storable("id", m.ID), storable("role", string(m.Role)), storable("model", m.Model))
			}
			if cerr != nil {
				b.Queue(insertBad, r.SessionID, seq, r.ID, r.Role, r.Parts, r.Model, r.CreatedAt, time.Now().UnixNano(), cerr.Error())
				rep.Unconverted = append(rep.Unconverted, UnconvertedRow{SessionID: r.SessionID, Row: r.ID, Seq: seq, Err: cerr})
				continue
			}
			b.Queue(insertMsg, r.SessionID, seq, m.ID, string(m.Role), string(parts), m.Model, m.CreatedAt, searchVector(m.Parts))
			rep.Messages++
		}
		if b.Len() > 0 {
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
		if upgradeHook != nil {
			upgradeHook("page")
		}
		if len(batch) < page {
			break
		}
	}
	// Each session's counters and last activity, from what it now holds.
	_, err = tx.Exec(ctx, `WITH c AS (
			SELECT session_id, count(*) AS n, max(created_at) AS last FROM convo_upgrade_m GROUP BY session_id
		), k AS (
			SELECT session_id, count(*) AS n FROM `+s.q.messages+` GROUP BY session_id
		)
		UPDATE `+s.q.sessions+` AS s SET next_seq = c.n + 1, message_count = COALESCE(k.n, 0),
			updated_at = GREATEST(s.created_at, c.last)
		FROM c LEFT JOIN k ON k.session_id = c.session_id
		WHERE s.id = c.session_id`)
	return err
}
