// Package searchtext defines what full-text search means in convo, once for
// every store: which text of a message is searched, how it is normalised and
// cut into terms, the query syntax, how a query matches, and the
// highlighted snippet of a hit. The memory store matches in Go with it; the
// SQLite and PostgreSQL stores index the terms it produces and turn its
// parsed query into their engine's syntax, then check and highlight each
// hit in Go with it, so that every backend finds the same messages and marks
// the same spans.
//
// # Text
//
// The searchable text of a message (Text) is the text of its text parts,
// the text of its reasoning parts and the content of its tool results,
// joined by newlines, as the stores have always searched.
//
// # Normalisation
//
// Text is cut into characters (a base character with the combining marks
// that follow it), and each character is normalised with Unicode NFKC
// (so that full-width "ＡＢＣ" is "ABC" and the ligature "ﬁ" is "fi"), case
// folded (Unicode full case folding: "Straße" matches "STRASSE"), and, in the
// Latin, Greek, Cyrillic, Arabic and Hebrew scripts, stripped of its
// diacritics (its nonspacing marks after canonical decomposition), so that
// "café", "CAFÉ" and "cafe" match each other, as do "Ελλάδα" and "ελλαδα".
// In other scripts marks are part of the spelling and are kept: Thai vowel
// and tone marks, Devanagari vowel signs, the Japanese voicing mark (が is
// not か).
//
// # Terms
//
// Letters, digits and marks (Unicode categories L, N, M) make words; every
// other character separates them (spaces, punctuation, symbols, emoji,
// underscores). In scripts that write words without spaces between them —
// Han (Chinese, Japanese kanji), Hiragana, Katakana, Hangul, Thai, Lao,
// Khmer and Myanmar — a run of characters is cut into overlapping pairs of
// characters (bigrams): 東京都庁 gives 東京, 京都, 都庁, and its last
// character alone, 庁. This is the rule of Lucene's CJKBigramFilter and of
// PostgreSQL's pg_bigm; it needs no dictionary, and a word of two or more
// characters is found wherever it occurs, inside a longer run or not. (The
// Unicode word-boundary rules of UAX #29, https://unicode.org/reports/tr29/,
// leave such runs unsegmented or defer to dictionaries, which is why they
// are not used for these scripts.) Hangul is treated the same way although
// Korean separates words by spaces, because particles attach to nouns
// (서울에서, "in Seoul", is found by 서울). A term longer than MaxTermBytes
// is cut to its first MaxTermBytes bytes, at a character boundary.
//
// # Query syntax and what matching means
//
// A query is a list of clauses separated by white space; a message matches
// when its text matches every clause (AND). There is no OR, NOT, NEAR or
// column syntax: every other character is text, so user input cannot inject
// operators into a backend's query language.
//
//   - A word, such as kiwi, matches the same word (after normalisation).
//     A word that normalises to several terms (snake_case, e-mail, 3.14,
//     東京都) matches them as a phrase.
//   - "a phrase" in double quotes matches its terms in this order, next to
//     each other, with nothing but separators between them. An unbalanced
//     quote runs to the end of the query.
//   - A word or phrase followed by * is a prefix: its last term matches any
//     term that starts with it, so conf* matches "configuration" and
//     "confident", and "new yor"* matches "New York".
//   - In the scripts without spaces, a run of two or more characters matches
//     wherever it occurs, inside longer runs too (substring matching), and a
//     single character matches wherever it occurs (it is a prefix of the
//     bigram it starts, or the last character of a run).
//
// Clauses that yield no term (only punctuation, say) are ignored; a query
// with no term at all matches nothing. At most MaxQueryTerms terms are used.
//
// # Snippets
//
// Snippet returns an excerpt of the original text around the matches, with
// each matched span (a whole word, a phrase from its first to its last
// word, or, for a single character of a script without spaces, that
// character) between session.HighlightStart and session.HighlightEnd.
package searchtext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/convo-dev/convo/message"
)

// MaxTermBytes bounds the length of a term: longer words (a base64 blob in a
// tool result, say) are cut, at a character boundary, to their first
// MaxTermBytes bytes, in the text and in queries alike.
const MaxTermBytes = 100

// MaxQueryTerms bounds the terms of a query; later ones are ignored.
const MaxQueryTerms = 64

// Version identifies these rules. A store that keeps an index of terms
// records it and rebuilds the index when it changes.
const Version = 1

// Text returns the searchable text of a message's parts: text parts,
// reasoning text and tool-result content, joined by newlines.
func Text(parts []message.Part) string {
	var b strings.Builder
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	for _, p := range parts {
		switch v := p.(type) {
		case message.Text:
			add(v.Text)
		case message.Reasoning:
			add(v.Text)
		case message.ToolResult:
			add(v.Content)
		}
	}
	return b.String()
}

// Kind says how a term was made.
type Kind uint8

const (
	// Word is a run of letters, digits and marks in a script written
	// with spaces.
	Word Kind = iota
	// Bigram is two adjacent characters of a run in a script written
	// without spaces.
	Bigram
	// Last is the last character of such a run of two or more.
	Last
	// Single is a run of one character in such a script.
	Single
)

// Token is a term of a text and where it came from.
type Token struct {
	// Term is the normalised term, as indexed.
	Term string
	// Start and End are the byte offsets in the original text of the
	// characters the term came from.
	Start, End int
	// FirstEnd is, for a Bigram, the end of its first character.
	FirstEnd int
	// Kind says how the term was made.
	Kind Kind
}

// class of a normalised character.
type class uint8

const (
	sep class = iota
	word
	spaceless
)

// unit is one normalised character and the original bytes it came from.
type unit struct {
	text       string
	start, end int
	class      class
}

// stripScripts are the scripts whose diacritics are removed.
var stripScripts = []*unicode.RangeTable{unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Arabic, unicode.Hebrew}

// spacelessScripts are the scripts written without spaces between words.
var spacelessScripts = []*unicode.RangeTable{unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul,
	unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar}

func classOf(r rune) class {
	switch {
	case r < utf8.RuneSelf:
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return word
		}
		return sep
	case unicode.In(r, spacelessScripts...):
		return spaceless
	case r == 0x30FC || r == 0xFF70 || r == 0x3005 || r == 0x3006 || r == 0x3007 || r == 0x303B:
		// ー (the Katakana-Hiragana prolonged sound mark, in "Common"),
		// 々 〆 〇 〻: written inside Japanese words.
		return spaceless
	case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
		return word
	}
	return sep
}

// normalizer holds the state of one tokenisation (a cases.Caser is not safe
// for concurrent use).
type normalizer struct {
	fold cases.Caser
	buf  []unit
}

func newNormalizer() *normalizer {
	return &normalizer{fold: cases.Fold()}
}

// units cuts text into characters and normalises each.
func (n *normalizer) units(text string) []unit {
	out := n.buf[:0]
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r < utf8.RuneSelf && (i+1 >= len(text) || text[i+1] < utf8.RuneSelf) {
			// ASCII, not followed by a combining mark: the fast path.
			c := classOf(r)
			if c != sep {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				out = append(out, unit{text: asciiStrings[r], start: i, end: i + 1, class: c})
			}
			i++
			continue
		}
		// A character: a base and the marks that follow it.
		end := i + size
		for end < len(text) {
			m, msize := utf8.DecodeRuneInString(text[end:])
			if !joins(m) {
				break
			}
			end += msize
		}
		out = n.appendNormalized(out, text[i:end], i, end, r)
		i = end
	}
	n.buf = out
	return out
}

// joins reports whether r belongs to the character before it: a combining
// mark, the zero-width joiner, or a half-width katakana voicing mark (which
// NFKC composes with the kana before it).
func joins(r rune) bool {
	return unicode.IsMark(r) || r == 0x200D || r == 0xFF9E || r == 0xFF9F
}

var asciiStrings = func() (s [utf8.RuneSelf]string) {
	for i := range s {
		s[i] = string(rune(i))
	}
	return s
}()

func (n *normalizer) appendNormalized(out []unit, ch string, start, end int, base rune) []unit {
	s := norm.NFKC.String(ch)
	s = n.fold.String(s)
	if unicode.In(base, stripScripts...) {
		d := norm.NFD.String(s)
		s = norm.NFC.String(strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Mn, r) {
				return -1
			}
			return r
		}, d))
	}
	// NFKC may turn one character into several ("ﬁ", "㍻"): each becomes a
	// unit of its own, with the span of the original.
	for j := 0; j < len(s); {
		r, size := utf8.DecodeRuneInString(s[j:])
		k := j + size
		for k < len(s) {
			m, msize := utf8.DecodeRuneInString(s[k:])
			if !joins(m) {
				break
			}
			k += msize
		}
		c := classOf(r)
		if unicode.IsMark(r) {
			c = word // a mark with no base
		}
		if c != sep {
			out = append(out, unit{text: s[j:k], start: start, end: end, class: c})
		}
		j = k
	}
	return out
}

// Tokens returns the terms of text, in order: the position of a term is its
// index in the slice.
func Tokens(text string) []Token {
	return newNormalizer().tokens(text, nil)
}

func (n *normalizer) tokens(text string, out []Token) []Token {
	us := n.units(text)
	for i := 0; i < len(us); {
		j := i + 1
		for j < len(us) && us[j].class == us[i].class && adjacent(us[j-1], us[j]) {
			j++
		}
		run := us[i:j]
		if run[0].class == word {
			var b strings.Builder
			for _, u := range run {
				b.WriteString(u.text)
			}
			out = append(out, Token{Term: cut(b.String()), Start: run[0].start, End: run[len(run)-1].end, Kind: Word})
		} else if len(run) == 1 {
			out = append(out, Token{Term: run[0].text, Start: run[0].start, End: run[0].end, Kind: Single})
		} else {
			for k := 0; k+1 < len(run); k++ {
				out = append(out, Token{Term: cut(run[k].text + run[k+1].text), Start: run[k].start, End: run[k+1].end, FirstEnd: run[k].end, Kind: Bigram})
			}
			last := run[len(run)-1]
			out = append(out, Token{Term: last.text, Start: last.start, End: last.end, Kind: Last})
		}
		i = j
	}
	return out
}

// adjacent reports whether two units of the same class belong to one run:
// nothing was skipped between them (a separator leaves a gap in the
// original text; units from one original character share its span).
func adjacent(a, b unit) bool {
	return b.start == a.end || b.start == a.start
}

// cut shortens a term to at most MaxTermBytes bytes, at a character
// boundary.
func cut(s string) string {
	if len(s) <= MaxTermBytes {
		return s
	}
	i := MaxTermBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Terms returns the terms of text, in order, separated by single spaces:
// what a store indexes. Terms hold no white space, so an index that splits
// on ASCII spaces alone (FTS5's ascii tokenizer) sees exactly these terms
// at these positions.
func Terms(text string) string {
	n := newNormalizer()
	toks := n.tokens(text, nil)
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.Term)
	}
	return b.String()
}
