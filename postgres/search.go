package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/convo-dev/convo/internal/searchtext"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// PostgreSQL's limits on a tsvector
// (https://www.postgresql.org/docs/current/textsearch-limitations.html):
// positions run from 1 to 16,383 (larger ones are stored as 16,383), a
// lexeme keeps at most 256 positions, and the lexemes of one tsvector with
// their positions (2 bytes each, and 2 for their count) take under 1 MiB
// (tsvector_in in src/backend/utils/adt/tsvector.c counts them so).
const (
	maxPosition      = 16383
	maxLexemeBytes   = 1<<20 - 48<<10 // under PostgreSQL's 1 MiB - 1
	maxLexemePosting = 255
)

// tsvectorText returns the terms of text as the text of a PostgreSQL
// tsvector, to be cast with ::tsvector, which takes the lexemes as they are
// (no parser, no dictionary): each distinct term as a quoted lexeme with
// its positions (the token's index plus one). Every term is indexed, with
// PostgreSQL's limits: positions past 16,383 are 16,383, a term keeps its
// first 255 positions, and terms and positions that would take the
// tsvector past maxLexemeBytes are left out. Terms hold only letters, digits and
// marks; quotes and backslashes are escaped all the same.
func tsvectorText(text string) string {
	toks := searchtext.Tokens(text)
	if len(toks) == 0 {
		return ""
	}
	pos := make(map[string][]int, len(toks))
	order := make([]string, 0, len(toks))
	size := 0
	for i, t := range toks {
		at := min(i+1, maxPosition)
		p, ok := pos[t.Term]
		switch {
		case !ok:
			// The lexeme, an alignment byte, the count of positions
			// and the first one: what tsvector input counts against
			// its limit.
			if size+len(t.Term)+5 > maxLexemeBytes {
				continue
			}
			size += len(t.Term) + 5
			order = append(order, t.Term)
			pos[t.Term] = append(p, at)
		case len(p) < maxLexemePosting && p[len(p)-1] != at && size+2 <= maxLexemeBytes:
			size += 2
			pos[t.Term] = append(p, at)
		}
	}
	var b strings.Builder
	b.Grow(len(toks) * 8)
	var num [20]byte
	for i, term := range order {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeLexeme(&b, term)
		for j, p := range pos[term] {
			if j == 0 {
				b.WriteByte(':')
			} else {
				b.WriteByte(',')
			}
			k := len(num)
			for {
				k--
				num[k] = byte('0' + p%10)
				p /= 10
				if p == 0 {
					break
				}
			}
			b.Write(num[k:])
		}
	}
	return b.String()
}

// writeLexeme writes t as a quoted lexeme of tsvector or tsquery input.
func writeLexeme(b *strings.Builder, t string) {
	b.WriteByte('\'')
	if strings.ContainsAny(t, `'\`) {
		t = strings.NewReplacer(`'`, `''`, `\`, `\\`).Replace(t)
	}
	b.WriteString(t)
	b.WriteByte('\'')
}

// searchVector is the search index entry of a message with these parts, as
// the text of a tsvector.
func searchVector(parts []message.Part) string {
	return tsvectorText(searchtext.Text(parts))
}

// Search finds messages whose text, reasoning text or tool-result content
// matches q.Text, in the syntax and with the matching rules that every
// convo store shares (internal/searchtext; see session.Searcher): words
// ANDed, "phrases", prefix*, text normalised (NFKC, case folding,
// diacritics) and scripts written without spaces matched by character
// pairs. The query becomes a tsquery of quoted lexemes, sent as one bound
// value, so no character of it is an operator; the GIN index on tsv finds
// the matches, and each is checked, and its snippet computed, in Go by the
// same rules. Hits come best first (ts_rank), then by session id and
// position. PostgreSQL's limits on a tsvector apply: a phrase is found
// within the first 16,383 terms of a message and within the first 255
// occurrences of its words; words are found anywhere, unless a message has
// about a megabyte of distinct words, where later new words are not
// indexed.
func (s *Store) Search(ctx context.Context, sq session.SearchQuery) ([]session.SearchHit, error) {
	if s.opts.searchTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.searchTimeout)
		defer cancel()
	}
	// A search filtered by owner reads messages, then sessions: a
	// migration that holds sessions and waits for messages can choose it
	// as a deadlock victim (see migrateLocked); it is read again.
	var hits []session.SearchHit
	err := retryDeadlock(ctx, func() (err error) {
		hits, err = s.search(ctx, sq)
		return err
	})
	if err != nil {
		return nil, wrapOp(ctx, "search", err)
	}
	return hits, nil
}

func (s *Store) search(ctx context.Context, sq session.SearchQuery) ([]session.SearchHit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if sq.SessionID != "" {
		if err := session.ValidateID(sq.SessionID); err != nil {
			return nil, err
		}
	}
	q := searchtext.Parse(sq.Text)
	if q.Empty() {
		return []session.SearchHit{}, nil
	}
	limit := sq.Limit
	switch {
	case limit <= 0:
		limit = session.DefaultListLimit
	case limit > session.MaxListLimit:
		limit = session.MaxListLimit
	}
	f := 0
	args := []any{q.TSQuery(), limit}
	if sq.Owner != "" {
		f |= searchOwner
		args = append(args, sq.Owner)
	}
	if sq.SessionID != "" {
		f |= searchSession
		args = append(args, sq.SessionID)
	}
	// The index proposes candidates, best first; each is checked in Go,
	// and a near miss (see below) is dropped. When near misses leave the
	// page short, the query runs again for more candidates, from the
	// start: each run is one statement, so no write between runs can move
	// a row past the window.
	checked := map[searchtext.Row]*session.SearchHit{}
	for request := limit; ; request = searchtext.MoreCandidates(request) {
		args[1] = request
		hits, n, err := s.searchPage(ctx, s.q.search[f], args, q, checked, limit)
		if err != nil || len(hits) == limit || n < request || request == searchtext.MaxCandidates {
			return hits, err
		}
	}
}

// searchPage runs a search query and returns the first limit candidates
// that match by the shared rules, with their snippets, and how many rows
// the query returned. checked holds what earlier runs of the same search
// found for each row (nil for a near miss), so a row is checked once.
func (s *Store) searchPage(ctx context.Context, query string, args []any, q searchtext.Query, checked map[searchtext.Row]*session.SearchHit, limit int) ([]session.SearchHit, int, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	hits := []session.SearchHit{}
	n := 0
	for rows.Next() {
		n++
		var h session.SearchHit
		var role string
		var parts []byte
		if err := rows.Scan(&h.SessionID, &h.MessageID, &h.Seq, &role, &h.CreatedAt, &parts); err != nil {
			return nil, 0, err
		}
		if len(hits) == limit {
			break // the page is full
		}
		k := searchtext.Row{Session: h.SessionID, Seq: h.Seq}
		hit, seen := checked[k]
		if !seen {
			hit = checkHit(h, role, parts, q)
			checked[k] = hit
		}
		if hit != nil {
			hits = append(hits, *hit)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return hits, n, nil
}

// checkHit returns h with its role and snippet if the message with these
// parts matches q by the shared rules, and nil for a near miss: a row whose
// index follows an older release's rules (a database still being
// reindexed), or a phrase matched at positions PostgreSQL stores as 16,383
// (it clamps larger ones). A row whose parts cannot be decoded is a hit
// with an empty snippet; reading it reports the corruption.
func checkHit(h session.SearchHit, role string, parts []byte, q searchtext.Query) *session.SearchHit {
	h.Role = message.Role(role)
	p, err := message.UnmarshalParts(parts)
	if err != nil {
		return &h
	}
	text := searchtext.Text(p)
	spans, ok := q.Matches(searchtext.Tokens(text))
	if !ok {
		return nil
	}
	h.Snippet = searchtext.Snippet(text, spans, session.HighlightStart, session.HighlightEnd)
	return &h
}

// reindexBatch is how many messages one reindexing transaction rewrites.
const reindexBatch = 500

// reindex brings the search index of every stored message up to the
// current rules (searchtext.Version), if the search_index row says it is
// behind: after an upgrade from a release that indexed with to_tsvector.
// It rewrites the messages in (session_id, seq) order, reindexBatch per
// transaction, each of which locks the search_index row, reads where the
// last one stopped, and records where it stops; so a crash loses at most
// one batch's work, and processes that open the store at the same time
// share the batches instead of repeating them. It returns when the index is
// current. Rows appended meanwhile are indexed by the append itself.
func (s *Store) reindex(ctx context.Context) error {
	var version int
	err := s.pool.QueryRow(ctx, s.q.searchIndexVersion).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		version = 0
	case err != nil:
		return fmt.Errorf("postgres: read search index version: %w", err)
	}
	if version >= searchtext.Version {
		return nil
	}
	for {
		done, err := s.reindexStep(ctx)
		if err != nil {
			return fmt.Errorf("postgres: reindex search: %w", err)
		}
		if done {
			return nil
		}
	}
}

// reindexStep rewrites one batch in one transaction and reports whether
// the index is current.
func (s *Store) reindexStep(ctx context.Context) (done bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer rollbackOnError(ctx, tx, &err)
	var (
		version int
		after   string
		seq     int64
	)
	if err := tx.QueryRow(ctx, s.q.lockSearchIndex).Scan(&version, &after, &seq); err != nil {
		return false, err
	}
	if version >= searchtext.Version {
		return true, tx.Commit(ctx)
	}
	rows, err := tx.Query(ctx, s.q.reindexRead, after, seq, reindexBatch)
	if err != nil {
		return false, err
	}
	var ids, vectors []string
	var seqs []int64
	for rows.Next() {
		var id string
		var n int64
		var parts []byte
		if err := rows.Scan(&id, &n, &parts); err != nil {
			rows.Close()
			return false, err
		}
		vec := ""
		if p, err := message.UnmarshalParts(parts); err == nil {
			vec = searchVector(p)
		} // a corrupt row is found by no search; reading it reports it
		ids, seqs, vectors = append(ids, id), append(seqs, n), append(vectors, vec)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, s.q.reindexWrite, ids, seqs, vectors); err != nil {
			return false, err
		}
		after, seq = ids[len(ids)-1], seqs[len(seqs)-1]
	}
	if len(ids) < reindexBatch {
		version = searchtext.Version
	}
	if _, err := tx.Exec(ctx, s.q.recordSearchIndex, version, after, seq); err != nil {
		return false, err
	}
	return version >= searchtext.Version, tx.Commit(ctx)
}
