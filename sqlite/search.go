package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/convo-dev/convo/internal/searchtext"
	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

var _ session.Searcher = (*Store)(nil)

// The full-text index, and what it guarantees.
//
// The index is a contentless FTS5 table (content=”, contentless_delete=1:
// it stores no second copy of the text) of the terms internal/searchtext
// makes from each message in Go, under FTS5's ascii tokenizer, which splits
// them at the spaces searchtext puts between them and changes nothing else.
// Its rowids are the messages' rowids. A one-row table, search_state, holds
// the high-water mark indexed_to: every message with a rowid at or below it
// is in the index, except the few listed in search_pending (parts changed in
// place after indexing).
//
// Appends do not touch the index. Indexing (catchUp) reads the messages
// above the mark in rowid order, inserts their terms and moves the mark, in
// one write transaction per batch; a search runs it first when the backlog
// is large (and the store may write), and IndexSearch runs it on request.
// A search then reads, in one read transaction: the mark, the index's hits,
// and every message above the mark or pending, matched in Go. So it finds
// every message committed before it started, in this process or another,
// and on a read-only store too.
//
// Erasure: a trigger AFTER DELETE ON messages removes the row's index
// entry, in the transaction that deletes the row (pop, clear, delete, owner
// erasure, prune, rewrite, and any other writer's DELETE). The same trigger
// lowers the mark to the largest rowid left when the deletion removed the
// rows at the top of the table, because SQLite gives a new row the largest
// rowid plus one: without that, a new message could get a rowid at or below
// the mark and never be indexed. A trigger AFTER UPDATE OF parts removes an
// indexed row's entry and lists it in search_pending.
//
// Every change to the index happens in the transaction that makes it
// necessary, so a crash at any instant leaves it consistent. Each hit of
// the index is checked in Go against the stored text before it is returned
// (the snippet needs the text anyway): even an index made inconsistent by
// other means (a VACUUM renumbering rowids) never yields a message that
// does not match.
type searchSQL struct {
	fts, ftsName   string // quoted, unquoted
	state, pending string // quoted
	triggers       []string
	names          []string // trigger names, unquoted
	oldFTS         string   // version 1's index, unquoted
	oldNames       []string // version 1's triggers, unquoted
	create         []string
	drop           []string
	dropOld        []string
	readState      string
	backlog        string
	reset          []string
	batch          string
	pendingBatch   string
	insert         string
	unpend         string
	setMark        string
	query          string
	scanAbove      string
	scanPending    string
}

func newSearchSQL(prefix string, q *queries) *searchSQL {
	s := &searchSQL{
		fts:     sqlident.Quote(prefix + "messages_search"),
		ftsName: prefix + "messages_search",
		state:   sqlident.Quote(prefix + "search_state"),
		pending: sqlident.Quote(prefix + "search_pending"),
		oldFTS:  prefix + "messages_fts",
	}
	ad, au := prefix+"messages_search_ad", prefix+"messages_search_au"
	s.names = []string{ad, au}
	s.oldNames = []string{prefix + "messages_fts_ai", prefix + "messages_fts_ad", prefix + "messages_fts_au"}
	maxRow := `(SELECT COALESCE(MAX(rowid), 0) FROM ` + q.messages + `)`
	s.create = []string{
		`CREATE VIRTUAL TABLE IF NOT EXISTS ` + s.fts + ` USING fts5(terms, content = '', contentless_delete = 1, tokenize = 'ascii')`,
		`CREATE TRIGGER IF NOT EXISTS ` + sqlident.Quote(ad) + ` AFTER DELETE ON ` + q.messages + ` BEGIN
			DELETE FROM ` + s.fts + ` WHERE rowid = old.rowid AND old.rowid <= (SELECT indexed_to FROM ` + s.state + `);
			DELETE FROM ` + s.pending + ` WHERE row = old.rowid;
			UPDATE ` + s.state + ` SET indexed_to = ` + maxRow + ` WHERE indexed_to > ` + maxRow + `;
		END`,
		// A fork's row that receives the parts it shared (src set, then
		// NULL: see migrations/0007_shared_forks.sql) keeps its text, and
		// its entry. The marker new.src tells this trigger from version
		// 6's (see probeSearch).
		`CREATE TRIGGER IF NOT EXISTS ` + sqlident.Quote(au) + ` AFTER UPDATE OF parts ON ` + q.messages + `
		WHEN old.rowid <= (SELECT indexed_to FROM ` + s.state + `) AND (old.src IS NULL OR new.src IS NOT NULL) BEGIN
			DELETE FROM ` + s.fts + ` WHERE rowid = old.rowid;
			INSERT OR IGNORE INTO ` + s.pending + ` (row) VALUES (old.rowid);
		END`,
	}
	for _, n := range s.names {
		s.drop = append(s.drop, `DROP TRIGGER IF EXISTS `+sqlident.Quote(n))
	}
	for _, n := range s.oldNames {
		s.dropOld = append(s.dropOld, `DROP TRIGGER IF EXISTS `+sqlident.Quote(n))
	}
	s.dropOld = append(s.dropOld, `DROP TABLE IF EXISTS `+sqlident.Quote(s.oldFTS))
	s.readState = `SELECT indexed_to, rules FROM ` + s.state
	s.backlog = `SELECT st.indexed_to, st.rules, ` + maxRow + `, (SELECT COUNT(*) FROM ` + s.pending + `) FROM ` + s.state + ` AS st`
	s.reset = []string{
		`INSERT INTO ` + s.fts + ` (` + s.fts + `) VALUES ('delete-all')`,
		`DELETE FROM ` + s.pending,
		`UPDATE ` + s.state + ` SET indexed_to = 0, rules = ?`,
	}
	// A fork's rows are indexed with the parts they share (q.parts).
	s.batch = `SELECT m.rowid, ` + q.parts + ` FROM ` + q.messages + ` AS m WHERE m.rowid > ? ORDER BY m.rowid LIMIT ?`
	s.pendingBatch = `SELECT p.row, ` + q.parts + ` FROM ` + s.pending + ` AS p JOIN ` + q.messages + ` AS m ON m.rowid = p.row ORDER BY p.row LIMIT ?`
	s.insert = `INSERT INTO ` + s.fts + ` (rowid, terms) VALUES (?, ?)`
	s.unpend = `DELETE FROM ` + s.pending + ` WHERE row = ?`
	s.setMark = `UPDATE ` + s.state + ` SET indexed_to = ? WHERE indexed_to < ?`
	cols := `m.session_id, m.id, m.seq, m.role, m.created_at, ` + q.parts
	filters := ` AND (?2 = '' OR m.session_id = ?2)
		AND (?3 = '' OR m.session_id IN (SELECT id FROM ` + q.sessions + ` WHERE owner = ?3))`
	s.query = `SELECT ` + cols + ` FROM ` + s.fts + ` JOIN ` + q.messages + ` AS m ON m.rowid = ` + s.fts + `.rowid
		WHERE ` + s.fts + ` MATCH ?1` + filters + ` ORDER BY rank LIMIT ?4`
	s.scanAbove = `SELECT ` + cols + ` FROM ` + q.messages + ` AS m WHERE m.rowid > ?1` + filters + ` ORDER BY m.rowid`
	s.scanPending = `SELECT ` + cols + ` FROM ` + s.pending + ` AS p JOIN ` + q.messages + ` AS m ON m.rowid = p.row
		WHERE ?1 = ?1` + filters + ` ORDER BY m.rowid`
	return s
}

// ErrNoFTS5 is matched (with errors.Is, as is session.ErrNotSupported) by
// Search when the SQLite build in use has no FTS5.
var ErrNoFTS5 = errors.New("this SQLite build has no FTS5 (modernc.org/sqlite has it; mattn/go-sqlite3 needs -tags sqlite_fts5; ncruces/go-sqlite3 needs fts5.Register from github.com/ncruces/go-sqlite3/ext/fts5 on every connection, e.g. driver.Open(dsn, fts5.Register))")

// Indexing batch sizes.
const (
	// catchUpBatch is how many messages one indexing transaction takes:
	// large enough to amortise its commit, small enough not to hold the
	// write lock for long (about 50 ms for 1 KB messages).
	catchUpBatch = 1000
	// scanMax is the backlog a search matches in Go rather than indexing
	// it first, when it may write.
	scanMax = 256
)

// searchProbe is what setupSearch finds in the database.
type searchProbe struct {
	hasFTS     bool
	oldObjects int // version 1's triggers and table
	triggers   int // ours
	// stale counts our triggers made by an earlier release, which do the
	// same work and more (schema version 6's AFTER UPDATE trigger also
	// re-indexes a fork's row that receives the parts it shared).
	stale    int
	hasTable bool
}

// setupSearch makes the full-text index match what this SQLite build can
// do. With FTS5 it replaces version 1's trigger-kept index if there is one,
// and creates the index if missing (unless WithFullTextSearch(false)), or
// re-creates its triggers; the index fills on the first search or
// IndexSearch. Without FTS5 and without an index, Search reports ErrNoFTS5
// and everything else works. Without FTS5 but with an index in the file, it
// refuses to open: such a build cannot run the triggers that remove erased
// text from the index, and dropping them would leave erased text in an
// index that other processes still search.
func (s *Store) setupSearch(ctx context.Context) error {
	p, err := s.probeSearch(ctx)
	if err != nil {
		return err
	}
	switch {
	case s.opts.readOnly && !p.hasFTS:
		// Nothing will be deleted through this store, so the index's
		// triggers need not run; but it cannot be read either.
		s.searchErr = fmt.Errorf("%w: %w", session.ErrNotSupported, ErrNoFTS5)
		return nil
	case s.opts.readOnly:
		// Search reads the index if it is built by these rules, and
		// matches everything else in Go; it never writes.
		s.searchErr = nil
		return nil
	case !p.hasFTS && (p.oldObjects > 0 || p.triggers > 0 || p.hasTable):
		return fmt.Errorf("%w, and this database has a full-text index that needs it: open it with a build that has FTS5, "+
			"or remove the index first from such a build with (*sqlite.Store).DropSearchIndex", ErrNoFTS5)
	case !p.hasFTS:
		s.searchErr = fmt.Errorf("%w: %w", session.ErrNotSupported, ErrNoFTS5)
		return nil
	case p.oldObjects == 0 && p.hasTable && p.triggers == len(s.search.names) && p.stale == 0:
		s.searchErr = nil
		return nil
	case p.oldObjects == 0 && !p.hasTable && !s.opts.search:
		s.searchErr = fmt.Errorf("%w: full-text search is switched off (WithFullTextSearch)", session.ErrNotSupported)
		return nil
	}
	return s.write(ctx, false, func(tx *sql.Tx) error {
		stmts := append(append(append([]string{}, s.search.dropOld...), s.search.drop...), s.search.create...)
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				return err
			}
		}
		if !p.hasTable || p.triggers < len(s.search.names) {
			// A new index, or one whose triggers were missing (so it may
			// hold erased text): start it afresh. (Stale triggers kept
			// the index as these do: it is kept.)
			if err := s.resetIndex(ctx, tx); err != nil {
				return err
			}
		}
		s.searchErr = nil
		return nil
	})
}

// resetIndex empties the index and sets its mark to 0, in tx.
func (s *Store) resetIndex(ctx context.Context, tx *sql.Tx) error {
	for i, st := range s.search.reset {
		var args []any
		if i == len(s.search.reset)-1 {
			args = []any{searchtext.Version}
		}
		if _, err := tx.ExecContext(ctx, st, args...); err != nil {
			return err
		}
	}
	return nil
}

// DropSearchIndex removes the full-text index and its triggers (and those
// of an older release), in one transaction, for example before the file is
// used by a SQLite build without FTS5. It needs a build with FTS5. Other
// stores open on the database must be opened again. A later SessionStore
// recreates the index unless it is given WithFullTextSearch(false).
func (s *Store) DropSearchIndex(ctx context.Context) error {
	err := s.write(ctx, false, func(tx *sql.Tx) error {
		stmts := append(append(append([]string{}, s.search.drop...), s.search.dropOld...), `DROP TABLE IF EXISTS `+s.search.fts,
			`DELETE FROM `+s.search.pending, `UPDATE `+s.search.state+` SET indexed_to = 0, rules = 0`)
		for _, st := range stmts {
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

// probeSearch reports what setupSearch needs. It uses one connection and
// returns it to the pool before setupSearch writes (the pool may hold a
// single connection).
func (s *Store) probeSearch(ctx context.Context) (p searchProbe, err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return p, err
	}
	defer conn.Close()
	if err := s.setBusyTimeout(ctx, conn); err != nil {
		return p, err
	}
	_, probeErr := conn.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.convo_fts5_probe USING fts5(x)`)
	if probeErr == nil {
		if _, err := conn.ExecContext(ctx, `DROP TABLE temp.convo_fts5_probe`); err != nil {
			return p, err
		}
	} else if !strings.Contains(probeErr.Error(), "fts5") {
		return p, fmt.Errorf("probe FTS5: %w", probeErr)
	}
	p.hasFTS = probeErr == nil
	n, o := s.search.names, s.search.oldNames
	var tables int
	err = conn.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE type = 'trigger' AND name IN (?, ?)),
		count(*) FILTER (WHERE type = 'table' AND name = ?),
		count(*) FILTER (WHERE (type = 'trigger' AND name IN (?, ?, ?)) OR (type = 'table' AND name = ?)),
		count(*) FILTER (WHERE type = 'trigger' AND name = ? AND sql NOT LIKE '%new.src%')
		FROM sqlite_master`, n[0], n[1], s.search.ftsName, o[0], o[1], o[2], s.search.oldFTS, n[1]).Scan(&p.triggers, &tables, &p.oldObjects, &p.stale)
	p.hasTable = tables > 0
	return p, err
}

// IndexSearch brings the full-text index up to date: it indexes every
// message appended since the last indexing, in transactions of up to a
// thousand messages, and returns how many it indexed. Searches do this
// themselves (a search finds unindexed messages either way); a program can
// call it when idle so that no search has to. It fails with an error
// matching session.ErrNotSupported when the store cannot search.
func (s *Store) IndexSearch(ctx context.Context) (int, error) {
	if s.searchErr != nil {
		return 0, fmt.Errorf("sqlite: index: %w", s.searchErr)
	}
	total := 0
	for {
		n, more, err := s.catchUp(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlite: index: %w", err)
		}
		if !more {
			return total, nil
		}
	}
}

// SearchBacklog returns how many messages a search would match in Go
// rather than through the full-text index: those appended since the index
// was last brought up to date (every message, when it was never built or
// was built by other rules) and those changed in place since. A store that
// may write brings a large backlog up to date on its first search; a
// read-only store cannot, and each of its searches reads the whole backlog
// (about 25 s for 3.5 million messages on a 2-vCPU VM), so a program that
// opens the database read-only can check this and call IndexSearch on a
// store that may write. It reads only, and works on a read-only store. It
// fails with an error matching session.ErrNotSupported when the store
// cannot search.
func (s *Store) SearchBacklog(ctx context.Context) (int64, error) {
	if s.searchErr != nil {
		return 0, fmt.Errorf("sqlite: search backlog: %w", s.searchErr)
	}
	var mark, rules, maxRow, pending int64
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.search.backlog).Scan(&mark, &rules, &maxRow, &pending)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: search backlog: %w", err)
	}
	if rules != searchtext.Version {
		mark, pending = 0, 0
	}
	// Rowids above the mark that were deleted count too: an estimate from
	// above, read without a scan.
	return maxRow - mark + pending, nil
}

// catchUp indexes one batch of unindexed messages in one write
// transaction: the pending ones, then those above the mark. more reports
// that a batch was full.
func (s *Store) catchUp(ctx context.Context) (n int, more bool, err error) {
	err = s.write(ctx, false, func(tx *sql.Tx) error {
		n, more = 0, false
		var mark, rules int64
		if err := tx.QueryRowContext(ctx, s.search.readState).Scan(&mark, &rules); err != nil {
			return err
		}
		if rules != searchtext.Version {
			// Built by other rules (or not built): start afresh.
			if err := s.resetIndex(ctx, tx); err != nil {
				return err
			}
			mark = 0
		}
		ins, err := tx.PrepareContext(ctx, s.search.insert)
		if err != nil {
			return err
		}
		defer ins.Close()
		index := func(row int64, parts []byte) error {
			n++
			terms := indexTerms(parts)
			if terms == "" {
				return nil
			}
			_, err := ins.ExecContext(ctx, row, terms)
			return err
		}
		// Pending rows first.
		var pend []int64
		err = eachRow(ctx, tx, s.search.pendingBatch, []any{catchUpBatch}, func(row int64, parts []byte) error {
			pend = append(pend, row)
			return index(row, parts)
		})
		if err != nil {
			return err
		}
		for _, row := range pend {
			if _, err := tx.ExecContext(ctx, s.search.unpend, row); err != nil {
				return err
			}
		}
		if len(pend) == catchUpBatch {
			more = true
			return nil
		}
		last := mark
		limit := catchUpBatch - len(pend)
		got := 0
		err = eachRow(ctx, tx, s.search.batch, []any{mark, limit}, func(row int64, parts []byte) error {
			last = row
			got++
			return index(row, parts)
		})
		if err != nil {
			return err
		}
		more = got == limit
		if last > mark {
			_, err = tx.ExecContext(ctx, s.search.setMark, last, last)
		}
		return err
	})
	return n, more, err
}

// eachRow runs query (which selects a rowid and parts) and calls fn on
// every row.
func eachRow(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(row int64, parts []byte) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var parts sql.RawBytes
	for rows.Next() {
		var row int64
		if err := rows.Scan(&row, &parts); err != nil {
			return err
		}
		if err := fn(row, parts); err != nil {
			return err
		}
	}
	return rows.Err()
}

// indexTerms returns the terms to index for a message's stored parts. Parts
// that cannot be decoded (a corrupt row, which reading reports) have no
// searchable text and are indexed as empty.
func indexTerms(parts []byte) string {
	ps, err := message.UnmarshalParts(parts)
	if err != nil {
		return ""
	}
	return searchtext.Terms(searchtext.Text(ps))
}

// Search finds messages whose text, reasoning or tool-result content
// matches q.Text, with the syntax and matching rules of session.Searcher.
// Hits from the index come best first (FTS5's bm25 rank); messages not yet
// indexed, which are the most recent, are matched in Go and come before
// them. Every hit is checked against the stored text in Go: a candidate of
// a stale index that does not match is dropped without taking a hit's
// place, so the page holds Limit hits whenever that many messages match,
// unless more than 10,000 candidates ranked ahead of them were stale. A
// store that may write first indexes a large backlog; a read-only one
// matches it in Go. Without FTS5 in the SQLite build it fails with an
// error matching session.ErrNotSupported and ErrNoFTS5.
func (s *Store) Search(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	if s.opts.searchTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.searchTimeout)
		defer cancel()
	}
	hits, err := s.searchHits(ctx, q)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// The driver reports an interrupted statement in its own words.
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return hits, err
}

func (s *Store) searchHits(ctx context.Context, q session.SearchQuery) ([]session.SearchHit, error) {
	if s.searchErr != nil {
		return nil, fmt.Errorf("sqlite: search: %w", s.searchErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	if q.SessionID != "" {
		// As every store does: an id no session can have is an error,
		// not a search that finds nothing.
		if err := session.ValidateID(q.SessionID); err != nil {
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = session.DefaultListLimit
	case limit > session.MaxListLimit:
		limit = session.MaxListLimit
	}
	query := searchtext.Parse(q.Text)
	if query.Empty() {
		return []session.SearchHit{}, nil
	}
	if s.mayIndex() {
		if err := s.indexBacklog(ctx); err != nil {
			return nil, fmt.Errorf("sqlite: search %q: %w", q.Text, err)
		}
	}
	hits := []session.SearchHit{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		hits = hits[:0]
		var mark, rules int64
		if err := tx.QueryRowContext(ctx, s.search.readState).Scan(&mark, &rules); err != nil {
			return err
		}
		useIndex := rules == searchtext.Version
		if !useIndex {
			mark = 0 // no index by these rules yet: match everything in Go
		}
		// Unindexed messages, matched in Go.
		var scanned []scoredHit
		for _, st := range []string{s.search.scanAbove, s.search.scanPending} {
			if st == s.search.scanPending && !useIndex {
				continue
			}
			_, err := scanHits(ctx, tx, st, []any{mark, q.SessionID, q.Owner}, func(h session.SearchHit, text string) {
				toks := searchtext.Tokens(text)
				spans, ok := query.Matches(toks)
				if !ok {
					return
				}
				score := query.Count(toks)
				if len(scanned) == limit && score <= scanned[limit-1].score {
					return // would not be kept: no snippet either
				}
				h.Snippet = searchtext.Snippet(text, spans, session.HighlightStart, session.HighlightEnd)
				scanned = keepBest(scanned, scoredHit{h, score}, limit)
			})
			if err != nil {
				return err
			}
		}
		for _, h := range scanned {
			hits = append(hits, h.hit)
		}
		if !useIndex || len(hits) == limit {
			return nil
		}
		// Indexed messages, best first, each checked against its text. A
		// candidate that does not match (a stale index: an older release
		// wrote the row, or it was changed behind the store's back) does
		// not take a hit's place: when such near misses leave the page
		// short, the query runs again for more candidates.
		found := len(hits)
		checked := map[searchtext.Row]*session.SearchHit{}
		for request := limit - found; ; request = searchtext.MoreCandidates(request) {
			hits = hits[:found]
			n, err := scanHits(ctx, tx, s.search.query, []any{query.FTS5(), q.SessionID, q.Owner, request}, func(h session.SearchHit, text string) {
				if len(hits) == limit {
					return
				}
				k := searchtext.Row{Session: h.SessionID, Seq: h.Seq}
				hit, seen := checked[k]
				if !seen {
					if snippet, ok := query.Highlight(text, session.HighlightStart, session.HighlightEnd); ok {
						h.Snippet = snippet
						hit = &h
					}
					checked[k] = hit
				}
				if hit != nil {
					hits = append(hits, *hit)
				}
			})
			if err != nil || len(hits) == limit || n < request || request == searchtext.MaxCandidates {
				return err
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: search %q: %w", q.Text, err)
	}
	return hits, nil
}

type scoredHit struct {
	hit   session.SearchHit
	score int
}

// keepBest inserts h into best, the at most limit best hits so far in
// order (higher score first, then the order they came in), and drops the
// one that falls off the end. A search that matches unindexed messages in
// Go keeps only a page of hits, however many match: on a store whose index
// was never built (a read-only search of a million messages), keeping
// every match held them all in memory.
func keepBest(best []scoredHit, h scoredHit, limit int) []scoredHit {
	// After every hit with a score at least h's: equal scores keep the
	// order they came in.
	i, _ := slices.BinarySearchFunc(best, h.score, func(b scoredHit, score int) int {
		if b.score >= score {
			return -1
		}
		return 1
	})
	if i >= limit {
		return best
	}
	if len(best) < limit {
		best = append(best, scoredHit{})
	}
	copy(best[i+1:], best[i:len(best)-1])
	best[i] = h
	return best
}

// scanHits runs a query that selects session_id, id, seq, role,
// created_at, parts, and calls fn with each row as a hit (without snippet)
// and its searchable text. Rows whose parts cannot be decoded have no
// searchable text and are not passed to fn. It returns how many rows the
// query returned.
func scanHits(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(h session.SearchHit, text string)) (int, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	var parts sql.RawBytes
	for rows.Next() {
		var h session.SearchHit
		var role string
		if err := rows.Scan(&h.SessionID, &h.MessageID, &h.Seq, &role, &h.CreatedAt, &parts); err != nil {
			return n, err
		}
		n++
		h.Role = message.Role(role)
		ps, err := message.UnmarshalParts(parts)
		if err != nil {
			continue
		}
		fn(h, searchtext.Text(ps))
	}
	return n, rows.Err()
}

// indexBacklog indexes the unindexed messages, in batches, when there are
// more than a search should match in Go.
func (s *Store) indexBacklog(ctx context.Context) error {
	var mark, rules, maxRow, pending int64
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.search.backlog).Scan(&mark, &rules, &maxRow, &pending)
	})
	if err != nil {
		return err
	}
	if rules == searchtext.Version && maxRow-mark+pending <= scanMax {
		return nil
	}
	for {
		_, more, err := s.catchUp(ctx)
		if err != nil || !more {
			return err
		}
	}
}

// mayIndex reports whether Search may write to the index: not on a
// read-only store (WithReadOnly).
func (s *Store) mayIndex() bool { return !s.opts.readOnly }
