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
	"sync"
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

// normalizer holds the state of one tokenisation. It is not safe for
// concurrent use (a cases.Caser is not); normalizers are pooled.
type normalizer struct {
	fold    cases.Caser
	hasFold bool
	units   []unit // the current run of a script without spaces
	word    []byte // the current word
	// cache holds the normalised form of characters that are a single
	// rune; normalising one costs about a microsecond.
	cache map[rune]string
}

// maxCache bounds a normalizer's cache.
const maxCache = 8192

var normalizers = sync.Pool{New: func() any { return new(normalizer) }}

func getNormalizer() *normalizer { return normalizers.Get().(*normalizer) }

func putNormalizer(n *normalizer) {
	if cap(n.word) > 4096 || cap(n.units) > 1024 {
		return // do not keep a buffer grown by one huge text
	}
	normalizers.Put(n)
}

// emitFunc receives each term: term is valid only during the call.
type emitFunc func(kind Kind, term []byte, start, end, firstEnd int)

// scan cuts text into normalised characters, groups them into runs and
// emits the terms of each run, in order.
func (n *normalizer) scan(text string, emit emitFunc) {
	n.units, n.word = n.units[:0], n.word[:0]
	cur := sep
	wordStart, prevStart, prevEnd := 0, -1, -1
	flush := func() {
		switch cur {
		case word:
			emit(Word, cutBytes(n.word), wordStart, prevEnd, 0)
			n.word = n.word[:0]
		case spaceless:
			n.emitRun(emit)
			n.units = n.units[:0]
		}
		cur = sep
	}
	add := func(u unit) {
		if u.class != cur || (u.start != prevEnd && u.start != prevStart) {
			flush()
			cur = u.class
			wordStart = u.start
		}
		if u.class == word {
			n.word = append(n.word, u.text...)
		} else {
			n.units = append(n.units, u)
		}
		prevStart, prevEnd = u.start, u.end
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r < utf8.RuneSelf && (i+1 >= len(text) || text[i+1] < utf8.RuneSelf) {
			// ASCII, not followed by a combining mark: the fast path.
			if classOf(r) == sep {
				i++
				continue
			}
			if cur != word || i != prevEnd {
				flush()
				cur, wordStart = word, i
			}
			j := i
			for j < len(text) && asciiWord(text[j]) && (j+1 >= len(text) || text[j+1] < utf8.RuneSelf) {
				c := text[j]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				n.word = append(n.word, c)
				j++
			}
			prevStart, prevEnd = j-1, j
			i = j
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
		if end == i+size {
			if norm, ok := n.cache[r]; ok {
				split(norm, i, end, add)
				i = end
				continue
			}
		}
		n.normalize(text[i:end], i, end, r, add)
		i = end
	}
	flush()
}

// emitRun emits the bigrams and last character of a run of a script
// without spaces, or its one character. Every term is cut to MaxTermBytes,
// the lone and last characters too: a character with hundreds of marks
// is one character, and PostgreSQL refuses a lexeme over 2,047 bytes.
func (n *normalizer) emitRun(emit emitFunc) {
	run := n.units
	if len(run) == 1 {
		emit(Single, cutBytes([]byte(run[0].text)), run[0].start, run[0].end, 0)
		return
	}
	var buf []byte
	for k := 0; k+1 < len(run); k++ {
		buf = append(append(buf[:0], run[k].text...), run[k+1].text...)
		emit(Bigram, cutBytes(buf), run[k].start, run[k+1].end, run[k].end)
	}
	last := run[len(run)-1]
	emit(Last, cutBytes([]byte(last.text)), last.start, last.end, 0)
}

// joins reports whether r belongs to the character before it: a combining
// mark, the zero-width joiner, or a half-width katakana voicing mark (which
// NFKC composes with the kana before it).
func joins(r rune) bool {
	return unicode.IsMark(r) || r == 0x200D || r == 0xFF9E || r == 0xFF9F
}

// asciiWord reports whether c is an ASCII letter or digit.
func asciiWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// normalize normalises one character ch (a base and its marks, at
// start:end of the text) and passes each resulting character to add.
func (n *normalizer) normalize(ch string, start, end int, base rune, add func(unit)) {
	if !n.hasFold {
		n.fold, n.hasFold = cases.Fold(), true
	}
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
	if len(ch) == utf8.RuneLen(base) {
		if n.cache == nil || len(n.cache) >= maxCache {
			n.cache = make(map[rune]string)
		}
		n.cache[base] = s
	}
	split(s, start, end, add)
}

// split passes each character of s, the normalised form of the original
// character at start:end, to add. NFKC may turn one character into several
// ("ﬁ", "㍻"): each becomes a unit of its own, with the span of the
// original.
func split(s string, start, end int, add func(unit)) {
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
			add(unit{text: s[j:k], start: start, end: end, class: c})
		}
		j = k
	}
}

// Tokens returns the terms of text, in order: the position of a term is its
// index in the slice.
func Tokens(text string) []Token {
	n := getNormalizer()
	defer putNormalizer(n)
	return n.tokens(text, nil)
}

func (n *normalizer) tokens(text string, out []Token) []Token {
	n.scan(text, func(kind Kind, term []byte, start, end, firstEnd int) {
		out = append(out, Token{Term: string(term), Start: start, End: end, FirstEnd: firstEnd, Kind: kind})
	})
	return out
}

// cutBytes shortens a term to at most MaxTermBytes bytes, at a character
// boundary.
func cutBytes(b []byte) []byte {
	if len(b) <= MaxTermBytes {
		return b
	}
	i := MaxTermBytes
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return b[:i]
}

// Terms returns the terms of text, in order, separated by single spaces:
// what a store indexes. Terms hold no white space, so an index that splits
// on ASCII spaces alone (FTS5's ascii tokenizer) sees exactly these terms
// at these positions.
func Terms(text string) string {
	n := getNormalizer()
	defer putNormalizer(n)
	out := make([]byte, 0, len(text)+len(text)/8)
	n.scan(text, func(_ Kind, term []byte, _, _, _ int) {
		if len(out) > 0 {
			out = append(out, ' ')
		}
		out = append(out, term...)
	})
	return string(out)
}
