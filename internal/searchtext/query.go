package searchtext

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clause is one part of a query: terms that must occur in this order at
// consecutive positions (one term for a plain word).
type Clause struct {
	Terms []string
	// Prefix makes the last term match any term that starts with it.
	Prefix bool
	// single marks a Prefix that came from a lone character of a script
	// without spaces: only that character of a matching term is
	// highlighted.
	single bool
	// char marks the terms that are one character of a script without
	// spaces (Single and Last tokens), which earlier releases indexed
	// whole, however long (see mayBeCut).
	char []bool
}

// Query is a parsed query: a message matches when it matches every clause.
type Query struct {
	Clauses []Clause
}

// Empty reports whether the query has no term, and so matches nothing.
func (q Query) Empty() bool { return len(q.Clauses) == 0 }

// Parse parses a query in the syntax of the package documentation. It never
// fails: characters that are not syntax are text.
func Parse(s string) Query {
	var q Query
	n := getNormalizer()
	defer putNormalizer(n)
	terms := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			i += size
			continue
		}
		var chunk string
		prefix := false
		if r == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				chunk, i = s[i+1:], len(s)
			} else {
				chunk, i = s[i+1:i+1+end], i+2+end
				for i < len(s) && s[i] == '*' {
					prefix = true
					i++
				}
			}
		} else {
			j := i
			for j < len(s) {
				r, size := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r) || r == '"' {
					break
				}
				j += size
			}
			chunk, i = s[i:j], j
			if t := strings.TrimRight(chunk, "*"); len(t) < len(chunk) {
				chunk, prefix = t, true
			}
		}
		toks := n.tokens(chunk, nil)
		if len(toks) == 0 {
			continue
		}
		// The last character of a run is indexed on its own so that
		// it can be found; at the end of a clause it would demand that
		// the run ends there, so it is left out: 東京 matches inside
		// 東京都 too.
		if l := len(toks); l > 1 && toks[l-1].Kind == Last {
			toks = toks[:l-1]
		}
		c := Clause{Prefix: prefix}
		if toks[len(toks)-1].Kind == Single {
			c.Prefix, c.single = true, true
		}
		for _, t := range toks {
			if terms == MaxQueryTerms {
				break
			}
			c.Terms = append(c.Terms, t.Term)
			c.char = append(c.char, t.Kind == Single || t.Kind == Last)
			terms++
		}
		if len(c.Terms) < len(toks) {
			c.Prefix, c.single = false, false
		}
		if len(c.Terms) > 0 && !slices.ContainsFunc(q.Clauses, func(o Clause) bool { return o.Prefix == c.Prefix && slices.Equal(o.Terms, c.Terms) }) {
			q.Clauses = append(q.Clauses, c)
		}
		if terms == MaxQueryTerms {
			break
		}
	}
	return q
}

// mayBeCut reports whether a term of the clause is a prefix term in the
// engines' queries: the last of a prefix clause, or one that an index
// built by an earlier release may hold longer. Releases before the one
// that cut every term to MaxTermBytes kept a lone character of a script
// without spaces, and the last character of a run, whole, however many
// marks it carried. Such a term, cut now, is a prefix of the one they
// indexed; so FTS5 and TSQuery match such a character's term that may have
// been cut (more than MaxTermBytes-utf8.UTFMax bytes) as a prefix, which
// finds it in an index of either release without rebuilding it. Every
// other term (words, bigrams) was always cut and is matched whole: the
// stores take a page of hits from the index before they check each in Go,
// and longer terms matched as a prefix, dropped there, took the places of
// the hits (a 98-byte word crowded out by the 99- and 100-byte words that
// start with it).
func (c Clause) mayBeCut(j int) bool {
	return c.Prefix && j == len(c.Terms)-1 || j < len(c.char) && c.char[j] && len(c.Terms[j]) > MaxTermBytes-utf8.UTFMax
}

// FTS5 returns the query as an SQLite FTS5 MATCH expression over a column
// that holds Terms: each clause is a phrase of double-quoted terms joined
// with +, and clauses are joined by spaces (FTS5's implicit AND). A prefix
// term (the last of a prefix clause, or one that may have been cut: see
// mayBeCut) is followed by *, which FTS5 allows on any term of a phrase.
// See https://sqlite.org/fts5.html#full_text_query_syntax. Every term is
// quoted, so no term can be read as an operator. It returns "" for an empty
// query.
func (q Query) FTS5() string {
	var b strings.Builder
	for i, c := range q.Clauses {
		if i > 0 {
			b.WriteByte(' ')
		}
		for j, t := range c.Terms {
			if j > 0 {
				b.WriteString(" + ")
			}
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(t, `"`, `""`))
			b.WriteByte('"')
			if c.mayBeCut(j) {
				b.WriteString(" *")
			}
		}
	}
	return b.String()
}

// TSQuery returns the query as the text of a PostgreSQL tsquery, to be cast
// with ::tsquery (not given to to_tsquery, which would parse and normalise
// the terms again): terms as quoted lexemes, the terms of a clause joined
// by <-> (followed by), a prefix term (as for FTS5) marked :*, clauses
// joined by &. See
// https://www.postgresql.org/docs/current/datatype-textsearch.html#DATATYPE-TSQUERY.
// It returns "" for an empty query.
func (q Query) TSQuery() string {
	var b strings.Builder
	for i, c := range q.Clauses {
		if i > 0 {
			b.WriteString(" & ")
		}
		if len(c.Terms) > 1 {
			b.WriteByte('(')
		}
		for j, t := range c.Terms {
			if j > 0 {
				b.WriteString(" <-> ")
			}
			writeLexeme(&b, t)
			if c.mayBeCut(j) {
				b.WriteString(":*")
			}
		}
		if len(c.Terms) > 1 {
			b.WriteByte(')')
		}
	}
	return b.String()
}

// TSVector returns the terms of text as the text of a PostgreSQL tsvector,
// to be cast with ::tsvector: each distinct term as a quoted lexeme with its
// positions, counted from 1 (PostgreSQL keeps positions up to 16383 and
// clamps larger ones). See
// https://www.postgresql.org/docs/current/datatype-textsearch.html#DATATYPE-TSVECTOR.
func TSVector(text string) string {
	toks := Tokens(text)
	pos := make(map[string][]int, len(toks))
	var order []string
	for i, t := range toks {
		if _, ok := pos[t.Term]; !ok {
			order = append(order, t.Term)
		}
		pos[t.Term] = append(pos[t.Term], min(i+1, 16383))
	}
	var b strings.Builder
	for i, term := range order {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeLexeme(&b, term)
		b.WriteByte(':')
		last := 0
		for j, p := range pos[term] {
			if p == last {
				continue // clamped
			}
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(itoa(p))
			last = p
		}
	}
	return b.String()
}

func writeLexeme(b *strings.Builder, t string) {
	b.WriteByte('\'')
	for _, r := range t {
		if r == '\'' || r == '\\' {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(buf[i:])
}

// Span is a matched range of bytes of the original text.
type Span struct{ Start, End int }

// Matches reports whether toks (the Tokens of a text) match the query, and
// the spans of every match, in order of their start, overlapping ones
// merged.
func (q Query) Matches(toks []Token) ([]Span, bool) {
	if q.Empty() {
		return nil, false
	}
	var spans []Span
	for _, c := range q.Clauses {
		found := false
		n := len(c.Terms)
		for p := 0; p+n <= len(toks); p++ {
			if !c.matchAt(toks, p) {
				continue
			}
			found = true
			end := toks[p+n-1].End
			if c.single && toks[p+n-1].Kind == Bigram {
				end = toks[p+n-1].FirstEnd
			}
			spans = append(spans, Span{toks[p].Start, end})
		}
		if !found {
			return nil, false
		}
	}
	slices.SortFunc(spans, func(a, b Span) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return a.End - b.End
	})
	merged := spans[:0]
	for _, s := range spans {
		if l := len(merged); l > 0 && s.Start < merged[l-1].End {
			merged[l-1].End = max(merged[l-1].End, s.End)
			continue
		}
		merged = append(merged, s)
	}
	return merged, true
}

func (c Clause) matchAt(toks []Token, p int) bool {
	n := len(c.Terms)
	for k, term := range c.Terms {
		got := toks[p+k].Term
		if k == n-1 && c.Prefix {
			if !strings.HasPrefix(got, term) {
				return false
			}
		} else if got != term {
			return false
		}
	}
	return true
}

// Match reports whether text matches the query.
func (q Query) Match(text string) bool {
	_, ok := q.Matches(Tokens(text))
	return ok
}

// Count returns how many times the clauses of the query match toks, a
// simple score for ranking hits that no index ranked.
func (q Query) Count(toks []Token) int {
	n := 0
	for _, c := range q.Clauses {
		for p := 0; p+len(c.Terms) <= len(toks); p++ {
			if c.matchAt(toks, p) {
				n++
			}
		}
	}
	return n
}
