package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

var _ session.Searcher = (*Store)(nil)

// searchSQL holds the statements of the full-text index. The index is an
// FTS5 table beside the messages, kept in step by triggers, so that every
// append, pop, clear and delete updates it in the same transaction, whoever
// writes. It is derived data: SessionStore creates it, and rebuilds it when
// its triggers are missing, whenever the SQLite build has FTS5.
type searchSQL struct {
	fts      string // quoted FTS table name
	ftsName  string // unquoted
	triggers []string
	names    []string // trigger names, unquoted
	create   []string
	rebuild  []string
	drop     []string
	query    string
}

// textOf is the SQL expression for the searchable text of a parts column:
// the text of text and reasoning parts and the content of tool results.
func textOf(col string) string {
	return `CASE WHEN json_valid(` + col + `) THEN (SELECT group_concat(COALESCE(json_extract(j.value, '$.text'), json_extract(j.value, '$.content'), ''), char(10))
	FROM json_each(` + col + `) AS j WHERE json_extract(j.value, '$.type') IN ('text', 'reasoning', 'tool_result')) ELSE '' END`
}

func newSearchSQL(prefix string, q *queries) *searchSQL {
	s := &searchSQL{fts: sqlident.Quote(prefix + "messages_fts"), ftsName: prefix + "messages_fts"}
	ai, ad, au := prefix+"messages_fts_ai", prefix+"messages_fts_ad", prefix+"messages_fts_au"
	s.names = []string{ai, ad, au}
	s.create = []string{
		`CREATE VIRTUAL TABLE IF NOT EXISTS ` + s.fts + ` USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')`,
		`CREATE TRIGGER IF NOT EXISTS ` + sqlident.Quote(ai) + ` AFTER INSERT ON ` + q.messages + ` BEGIN
			INSERT INTO ` + s.fts + ` (rowid, text) VALUES (new.rowid, ` + textOf("new.parts") + `); END`,
		`CREATE TRIGGER IF NOT EXISTS ` + sqlident.Quote(ad) + ` AFTER DELETE ON ` + q.messages + ` BEGIN
			DELETE FROM ` + s.fts + ` WHERE rowid = old.rowid; END`,
		`CREATE TRIGGER IF NOT EXISTS ` + sqlident.Quote(au) + ` AFTER UPDATE OF parts ON ` + q.messages + ` BEGIN
			DELETE FROM ` + s.fts + ` WHERE rowid = old.rowid;
			INSERT INTO ` + s.fts + ` (rowid, text) VALUES (new.rowid, ` + textOf("new.parts") + `); END`,
	}
	s.rebuild = []string{
		`DELETE FROM ` + s.fts,
		`INSERT INTO ` + s.fts + ` (rowid, text) SELECT rowid, ` + textOf("parts") + ` FROM ` + q.messages,
	}
	for _, n := range s.names {
		s.drop = append(s.drop, `DROP TRIGGER IF EXISTS `+sqlident.Quote(n))
	}
	s.query = `SELECT m.session_id, m.id, m.seq, m.role, m.created_at, snippet(` + s.fts + `, 0, char(2), char(3), '…', 16)
		FROM ` + s.fts + ` JOIN ` + q.messages + ` AS m ON m.rowid = ` + s.fts + `.rowid
		WHERE ` + s.fts + ` MATCH ?1 AND (?2 = '' OR m.session_id = ?2)
		AND (?3 = '' OR m.session_id IN (SELECT id FROM ` + q.sessions + ` WHERE owner = ?3))
		ORDER BY rank, m.session_id, m.seq LIMIT ?4`
	return s
}

// ErrNoFTS5 is matched (with errors.Is, as is session.ErrNotSupported) by
// Search when the SQLite build in use has no FTS5.
var ErrNoFTS5 = errors.New("this SQLite build has no FTS5 (modernc.org/sqlite has it; mattn/go-sqlite3 needs -tags sqlite_fts5; ncruces/go-sqlite3 needs fts5.Register from github.com/ncruces/go-sqlite3/ext/fts5 on every connection, e.g. driver.Open(dsn, fts5.Register))")

// setupSearch makes the full-text index match what this SQLite build can
// do. With FTS5 it creates the index if missing and, when its triggers are
// missing (a new index, or one dropped with DropSearchIndex), rebuilds it
// from the messages. Without FTS5 and without an index, Search reports
// ErrNoFTS5 and everything else works. Without FTS5 but with an index in
// the file, it refuses to open: such a build can neither keep the index in
// step (the triggers would fail every append) nor remove it, and dropping
// only the triggers would leave erased text in an index that other
// processes still search.
func (s *Store) setupSearch(ctx context.Context) error {
	hasFTS, triggers, hasTable, err := s.probeSearch(ctx)
	if err != nil {
		return err
	}
	switch {
	case !hasFTS && (triggers > 0 || hasTable):
		return fmt.Errorf("%w, and this database has a full-text index that needs it: open it with a build that has FTS5, "+
			"or remove the index first from such a build with (*sqlite.Store).DropSearchIndex", ErrNoFTS5)
	case !hasFTS:
		s.searchErr = fmt.Errorf("%w: %w", session.ErrNotSupported, ErrNoFTS5)
		return nil
	case triggers == len(s.search.names):
		s.searchErr = nil
		return nil
	case s.opts.readOnly:
		s.searchErr = fmt.Errorf("%w: the full-text index is missing and a read-only store does not build it", session.ErrNotSupported)
		return nil
	case !s.opts.search:
		s.searchErr = fmt.Errorf("%w: full-text search is switched off (WithFullTextSearch)", session.ErrNotSupported)
		return nil
	}
	return s.write(ctx, false, func(tx *sql.Tx) error {
		stmts := append(append(append([]string{}, s.search.drop...), s.search.create...), s.search.rebuild...)
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return err
			}
		}
		s.searchErr = nil
		return nil
	})
}

// DropSearchIndex removes the full-text index and its triggers, in one
// transaction, for example before the file is used by a SQLite build without
// FTS5. It needs a build with FTS5. A later SessionStore recreates the index
// unless it is given WithFullTextSearch(false).
func (s *Store) DropSearchIndex(ctx context.Context) error {
	err := s.write(ctx, false, func(tx *sql.Tx) error {
		for _, st := range append(append([]string{}, s.search.drop...), `DROP TABLE IF EXISTS `+s.search.fts) {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: drop search index: %w", err)
	}
	s.searchErr = fmt.Errorf("%w: the full-text index was dropped", session.ErrNotSupported)
	return nil
}

// probeSearch reports whether this SQLite build has FTS5, how many of the
// index's triggers exist and whether its table does. It uses one connection
// and returns it to the pool before setupSearch writes (the pool may hold a
// single connection).
func (s *Store) probeSearch(ctx context.Context) (hasFTS bool, triggers int, hasTable bool, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, 0, false, err
	}
	defer conn.Close()
	if err := s.setBusyTimeout(ctx, conn); err != nil {
		return false, 0, false, err
	}
	_, probeErr := conn.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.convo_fts5_probe USING fts5(x)`)
	if probeErr == nil {
		if _, err := conn.ExecContext(ctx, `DROP TABLE temp.convo_fts5_probe`); err != nil {
			return false, 0, false, err
		}
	} else if !strings.Contains(probeErr.Error(), "fts5") {
		return false, 0, false, fmt.Errorf("probe FTS5: %w", probeErr)
	}
	n := s.search.names
	var tables int
	err = conn.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE type = 'trigger' AND name IN (?, ?, ?)),
		count(*) FILTER (WHERE type = 'table' AND name = ?) FROM sqlite_master`, n[0], n[1], n[2], s.search.ftsName).Scan(&triggers, &tables)
	return probeErr == nil, triggers, tables > 0, err
}

// ftsQuery turns user input into an FTS5 query that matches messages holding
// every word, with no operator syntax: each word is quoted.
func ftsQuery(text string) string {
	words := strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Mn, r)
	})
	for i, w := range words {
		words[i] = `"` + w + `"` // words hold no quote: FieldsFunc split on it
	}
	return strings.Join(words, " ")
}

// Search finds messages whose text, reasoning or tool-result content holds
// every word of q.Text, best match first. Without FTS5 in the SQLite build it
// fails with an error matching session.ErrNotSupported and ErrNoFTS5.
func (s *Store) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	if s.searchErr != nil {
		return nil, fmt.Errorf("sqlite: search: %w", s.searchErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = session.DefaultListLimit
	case limit > session.MaxListLimit:
		limit = session.MaxListLimit
	}
	match := ftsQuery(q.Text)
	hits := []session.SearchHit{} // never nil: an empty result is []
	if match == "" {
		return hits, nil
	}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.search.query, match, q.SessionID, q.Owner, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h session.SearchHit
			var role string
			var snippet sql.NullString
			if err := rows.Scan(&h.SessionID, &h.MessageID, &h.Seq, &role, &h.CreatedAt, &snippet); err != nil {
				return err
			}
			h.Role, h.Snippet = message.Role(role), snippet.String
			hits = append(hits, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: search %q: %w", q.Text, err)
	}
	return hits, nil
}
