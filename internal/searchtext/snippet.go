package searchtext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SnippetRunes is about how many characters of text a snippet shows.
const SnippetRunes = 120

// contextRunes is how many characters a snippet shows before its first
// match, at most.
const contextRunes = 30

// Snippet returns an excerpt of text of about SnippetRunes characters, chosen
// to show matches of as many clauses as it can (the earliest such window),
// with each span in it between open and close, and "…" where text was cut.
// Any open or close string already in text is removed, so that the markers
// in the snippet are only those Snippet put there. With no spans it returns
// the start of text.
func Snippet(text string, spans []Span, open, close string) string {
	from, to := window(text, spans)
	var b strings.Builder
	if from > 0 {
		b.WriteString("…")
	}
	clean := func(s string) string {
		if open != "" {
			s = strings.ReplaceAll(s, open, "")
		}
		if close != "" {
			s = strings.ReplaceAll(s, close, "")
		}
		return s
	}
	at := from
	for _, s := range spans {
		if s.Start < from || s.End > to {
			continue
		}
		b.WriteString(clean(text[at:s.Start]))
		b.WriteString(open)
		b.WriteString(clean(text[s.Start:s.End]))
		b.WriteString(close)
		at = s.End
	}
	b.WriteString(clean(text[at:to]))
	if to < len(text) {
		b.WriteString("…")
	}
	return b.String()
}

// window chooses the byte range of text a snippet shows.
func window(text string, spans []Span) (from, to int) {
	if len(spans) == 0 {
		return 0, advance(text, 0, SnippetRunes)
	}
	// The span to start from: the one whose window holds the most spans
	// (a stand-in for "most clauses"), the earliest on a tie.
	best, bestN := 0, 0
	for i, s := range spans {
		end := advance(text, s.Start, SnippetRunes-contextRunes)
		n := 0
		for _, t := range spans[i:] {
			if t.End <= end {
				n++
			}
		}
		if n > bestN {
			best, bestN = i, n
		}
	}
	start := spans[best].Start
	from = back(text, start, contextRunes)
	// Start after a space if there is one in the context, so the snippet
	// does not open in the middle of a word.
	if from > 0 {
		if k := strings.IndexFunc(text[from:start], unicode.IsSpace); k >= 0 {
			_, size := utf8.DecodeRuneInString(text[from+k:])
			from += k + size
		}
	}
	to = advance(text, from, SnippetRunes)
	// Never cut a span in two.
	for _, s := range spans {
		if s.Start < to && s.End > to {
			to = s.End
		}
	}
	if to < len(text) {
		// End before a space if there is one in the last few characters.
		lo := back(text, to, contextRunes/2)
		if k := strings.LastIndexFunc(text[lo:to], unicode.IsSpace); k >= 0 && lo+k > start {
			cut := lo + k
			ok := true
			for _, s := range spans {
				if s.Start < to && s.End > cut && s.Start >= from {
					ok = false
				}
			}
			if ok {
				to = cut
			}
		}
	}
	return from, to
}

// advance returns the offset n characters after i (or len(text)).
func advance(text string, i, n int) int {
	for ; n > 0 && i < len(text); n-- {
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return i
}

// back returns the offset n characters before i (or 0).
func back(text string, i, n int) int {
	for ; n > 0 && i > 0; n-- {
		_, size := utf8.DecodeLastRuneInString(text[:i])
		i -= size
	}
	return i
}

// Highlight matches text against q and returns its snippet, and whether it
// matched.
func (q Query) Highlight(text, open, close string) (string, bool) {
	spans, ok := q.Matches(Tokens(text))
	if !ok {
		return "", false
	}
	return Snippet(text, spans, open, close), true
}
