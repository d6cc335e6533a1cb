package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/convo-dev/convo/internal/sqlident"
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

// Upgrade upgrades a database written by the session store of
// github.com/joakimcarlsson/ai (memory/sqlite; with the same table prefix
// as the one given here with WithTablePrefix) in place to convo's schema.
// SessionStore refuses such a database with ErrUpstreamSchema and creates
// nothing: an upgrade rewrites the application's tables, and the program
// that wrote them cannot read them afterwards, so it runs only when asked.
//
// Every session and message is kept, in order (a session's messages in the
// order of that project's message ids, which is the order it read them in).
// The message id becomes the row's id in decimal; role, model and time come
// over unchanged; the parts are converted to convo's encoding (see
// internal/upstream for how each part type maps). A session's creation time
// is kept, and its last-update time is that of its newest message, or its
// creation time if that is later (or it has no message). A row
// that cannot be converted is moved, bytes unchanged, to the quarantine
// table and reported in the UpgradeReport; none is dropped.
//
// The upgrade is one transaction under SQLite's write lock: a process
// killed during it leaves the old tables as they were, and running Upgrade
// again starts over. Afterwards the database is opened once as
// SessionStore does (WAL, full-text index), with opts. On a database that
// already holds convo's schema, or none, Upgrade does what SessionStore
// does and reports Upgraded false; tables of another shape give
// ErrForeignTables.
func Upgrade(ctx context.Context, db *sql.DB, opts ...Option) (UpgradeReport, error) {
	s, err := newStore(db, opts)
	if err != nil {
		return UpgradeReport{}, err
	}
	if s.opts.readOnly {
		return UpgradeReport{}, fmt.Errorf("sqlite: upgrade: %w", errReadOnly)
	}
	rep, err := s.upgrade(ctx)
	if errors.Is(err, errNoChange) {
		err = nil // another process upgraded it meanwhile
	}
	if err != nil {
		return rep, err
	}
	st, err := Open(ctx, db, opts...)
	if err != nil {
		return rep, err
	}
	return rep, st.Close()
}

func (s *Store) upgrade(ctx context.Context) (rep UpgradeReport, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return rep, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: %w", err)
	}
	defer conn.Close()
	if err := s.setBusyTimeout(ctx, conn); err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: %w", err)
	}
	kind, _, err := s.classify(ctx, conn)
	if err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: read schema: %w", err)
	}
	if kind != schemaUpstream {
		return rep, nil // Open does the rest, or refuses
	}
	tx, err := beginTx(ctx, conn, nil)
	if err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: %w", err)
	}
	defer rollbackOnError(tx, &err)
	p := s.opts.prefix
	oldSessions, oldMessages := sqlident.Quote(p+"sessions"), sqlident.Quote(p+"messages")
	// A write first takes the write lock; what is read next is current.
	if _, err := tx.ExecContext(ctx, `UPDATE `+oldSessions+` SET created_at = created_at WHERE rowid < 0`); err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: lock: %w", err)
	}
	if kind, _, err = s.classify(ctx, tx); err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: read schema: %w", err)
	} else if kind != schemaUpstream {
		return rep, errNoChange // upgraded meanwhile by another process
	}
	movedS, movedM := sqlident.Quote(p+"sessions_upstream_old"), sqlident.Quote(p+"messages_upstream_old")
	for _, st := range []string{
		`ALTER TABLE ` + oldMessages + ` RENAME TO ` + movedM,
		`ALTER TABLE ` + oldSessions + ` RENAME TO ` + movedS,
		s.q.createMigrations,
	} {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return rep, fmt.Errorf("sqlite: upgrade: %w", err)
		}
	}
	if err := s.applyMigrations(ctx, tx, ms, 0, false); err != nil {
		return rep, err
	}
	if err := s.copyUpstream(ctx, tx, movedS, movedM, &rep); err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: %w", err)
	}
	for _, st := range []string{`DROP TABLE ` + movedM, `DROP TABLE ` + movedS} {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return rep, fmt.Errorf("sqlite: upgrade: %w", err)
		}
	}
	if upgradeHook != nil {
		upgradeHook("before commit")
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("sqlite: upgrade: commit: %w", err)
	}
	rep.Upgraded = true
	return rep, nil
}

// upgradeHook, when set (by tests), is called at points of the upgrade
// transaction.
var upgradeHook func(stage string)

// upgradeSession is what copyUpstream tracks of a session.
type upgradeSession struct {
	nextSeq, count, updated int64
}

// copyUpstream copies the renamed tables of that project into convo's
// fresh tables, in tx.
func (s *Store) copyUpstream(ctx context.Context, tx *sql.Tx, oldS, oldM string, rep *UpgradeReport) error {
	sess := map[string]*upgradeSession{}
	var order []string
	rows, err := tx.QueryContext(ctx, `SELECT id, created_at FROM `+oldS+` ORDER BY rowid`)
	if err != nil {
		return err
	}
	type srow struct {
		id      string
		created int64
	}
	var srows []srow
	for rows.Next() {
		var r srow
		if err := rows.Scan(&r.id, &r.created); err != nil {
			rows.Close()
			return err
		}
		srows = append(srows, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	insertSession := `INSERT INTO ` + s.q.sessions + ` (id, created_at, updated_at, incarnation) VALUES (?, ?, ?, ?)`
	for _, r := range srows {
		if _, err := tx.ExecContext(ctx, insertSession, r.id, r.created, r.created, newIncarnation()); err != nil {
			return fmt.Errorf("session %q: %w", r.id, err)
		}
		sess[r.id] = &upgradeSession{nextSeq: 1, updated: r.created}
		order = append(order, r.id)
	}
	insertMsg := `INSERT INTO ` + s.q.messages + ` (session_id, seq, id, role, parts, model, usage, created_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`
	insertBad := `INSERT INTO ` + s.q.quarantine + ` (session_id, seq, id, role, parts, model, usage, created_at, quarantined_at, reason) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`
	const page = 500
	last := int64(-1 << 63)
	for {
		rows, err := tx.QueryContext(ctx, `SELECT id, session_id, role, parts, model, created_at FROM `+oldM+` WHERE id > ? ORDER BY id LIMIT ?`, last, page)
		if err != nil {
			return err
		}
		var batch []upstream.Row
		for rows.Next() {
			var id int64
			var r upstream.Row
			var model sql.NullString
			if err := rows.Scan(&id, &r.SessionID, &r.Role, &r.Parts, &model, &r.CreatedAt); err != nil {
				rows.Close()
				return err
			}
			r.ID, r.Model = strconv.FormatInt(id, 10), model.String
			batch = append(batch, r)
			last = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range batch {
			st := sess[r.SessionID]
			if st == nil {
				if _, err := tx.ExecContext(ctx, insertSession, r.SessionID, r.CreatedAt, r.CreatedAt, newIncarnation()); err != nil {
					return fmt.Errorf("session %q (of message %s): %w", r.SessionID, r.ID, err)
				}
				st = &upgradeSession{nextSeq: 1, updated: r.CreatedAt}
				sess[r.SessionID] = st
				order = append(order, r.SessionID)
				rep.AddedSessions = append(rep.AddedSessions, r.SessionID)
			}
			seq := st.nextSeq
			st.nextSeq++
			st.updated = max(st.updated, r.CreatedAt)
			m, cerr := upstream.Convert(r)
			var parts []byte
			if cerr == nil {
				parts, cerr = message.MarshalParts(m.Parts)
			}
			if cerr != nil {
				if _, err := tx.ExecContext(ctx, insertBad, r.SessionID, seq, r.ID, r.Role, r.Parts, r.Model, r.CreatedAt, time.Now().UnixNano(), cerr.Error()); err != nil {
					return fmt.Errorf("session %q, row %s: %w", r.SessionID, r.ID, err)
				}
				rep.Unconverted = append(rep.Unconverted, UnconvertedRow{SessionID: r.SessionID, Row: r.ID, Seq: seq, Err: cerr})
				continue
			}
			if _, err := tx.ExecContext(ctx, insertMsg, r.SessionID, seq, m.ID, string(m.Role), string(parts), m.Model, m.CreatedAt); err != nil {
				return fmt.Errorf("session %q, row %s: %w", r.SessionID, r.ID, err)
			}
			st.count++
			rep.Messages++
			if upgradeHook != nil {
				upgradeHook("message")
			}
		}
		if len(batch) < page {
			break
		}
	}
	update := `UPDATE ` + s.q.sessions + ` SET next_seq = ?, message_count = ?, updated_at = ? WHERE id = ?`
	for _, id := range order {
		st := sess[id]
		if _, err := tx.ExecContext(ctx, update, st.nextSeq, st.count, st.updated, id); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
	}
	rep.Sessions = len(order)
	return nil
}
