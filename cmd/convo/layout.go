package main

import (
	"io"
	"os"
	"strings"

	"github.com/rivo/uniseg"
	"golang.org/x/term"
)

// Text layout for the terminal: colour, tables aligned by display width,
// and long lines folded. Widths are display columns as a terminal draws
// them (github.com/rivo/uniseg: East Asian wide characters and emoji take
// two columns, combining marks none, grapheme clusters stay whole), not
// bytes or runes, so a table with CJK owners and titles keeps its columns.

// SGR parameters of the colours convo uses.
const (
	sgrBold   = "1"
	sgrDim    = "2"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
	sgrBlue   = "34"
	sgrPurple = "35"
	sgrCyan   = "36"
)

// colorWanted reports whether output to w may be coloured: only when w is
// a terminal, NO_COLOR is unset or empty (https://no-color.org) and TERM
// is not "dumb".
func colorWanted(w io.Writer) bool {
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(w)
}

// styled writes s made safe, wrapped in the SGR sequence sgr when the
// writer has colour on. The sequences are written around the filter, never
// through it, so nothing from the store can open or close a colour.
func (t *termWriter) styled(sgr, s string) {
	if !t.color || sgr == "" {
		_, _ = io.WriteString(t, s)
		return
	}
	t.raw("\x1b[" + sgr + "m")
	_, _ = io.WriteString(t, s)
	t.raw("\x1b[0m")
}

// raw writes s to the underlying stream as it is. Only constant control
// sequences of convo's own may be passed.
func (t *termWriter) raw(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, s)
}

// displayWidth returns the columns s takes on a terminal.
func displayWidth(s string) int { return uniseg.StringWidth(s) }

// clipWidth returns s on one line (runs of white space made one space),
// cut to at most n columns with a trailing "…" when it is longer. n <= 0
// means no limit.
func clipWidth(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if n <= 0 || displayWidth(s) <= n {
		return s
	}
	head, _ := cutWidth(s, n-1)
	return head + "…"
}

// cutWidth splits s after as many whole grapheme clusters as fit in n
// columns (at least one, so that a loop over it always advances).
func cutWidth(s string, n int) (head, tail string) {
	w, i, state := 0, 0, -1
	for rest := s; rest != ""; {
		cluster, r, cw, st := uniseg.FirstGraphemeClusterInString(rest, state)
		if w+cw > n && i > 0 {
			break
		}
		w += cw
		i += len(cluster)
		rest, state = r, st
	}
	return s[:i], s[i:]
}

// fold breaks one line (no newline in it) into lines of at most width
// columns, at the line-break opportunities of Unicode's line breaking
// algorithm (UAX #14: after spaces, between CJK ideographs, ...), and
// inside a word only when the word alone is wider than width. Spaces at a
// break are dropped. width <= 0 means no folding.
func fold(line string, width int) []string {
	if width <= 0 || displayWidth(line) <= width {
		return []string{line}
	}
	var out []string
	var cur strings.Builder
	curW := 0
	flush := func() {
		out = append(out, strings.TrimRight(cur.String(), " "))
		cur.Reset()
		curW = 0
	}
	state := -1
	for rest := line; rest != ""; {
		seg, r, _, st := uniseg.FirstLineSegmentInString(rest, state)
		rest, state = r, st
		w := displayWidth(seg)
		if curW+w <= width {
			cur.WriteString(seg)
			curW += w
			continue
		}
		if trimmed := strings.TrimRight(seg, " "); curW+displayWidth(trimmed) <= width {
			cur.WriteString(trimmed) // the spaces hang past the edge and are dropped
			flush()
			continue
		}
		if curW > 0 {
			flush()
		}
		for displayWidth(seg) > width {
			head, tail := cutWidth(seg, width)
			out = append(out, head)
			seg = tail
		}
		cur.WriteString(seg)
		curW = displayWidth(seg)
	}
	if cur.Len() > 0 {
		flush()
	}
	return out
}

// terminalSize returns the width and height of the terminal w is, or 0, 0
// when w is not one.
func terminalSize(w io.Writer) (width, height int) {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return 0, 0
	}
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, 0
	}
	return width, height
}

// table is a text table whose columns are aligned by display width. The
// last column is not padded, so it may hold text of any width (a search
// snippet) without widening the table.
type table struct {
	header []string
	rows   [][]string
}

// add appends a row.
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write writes the table to w: the header (if any) in bold when w has
// colour on, columns two spaces apart, no trailing spaces. Cells are made safe first, so that the width
// measured is the width shown.
func (t *table) write(w *termWriter) {
	cols := len(t.header)
	for _, r := range t.rows {
		cols = max(cols, len(r))
	}
	widths := make([]int, cols)
	safe := func(row []string) []string {
		out := make([]string, len(row))
		for i, c := range row {
			if i < len(row)-1 {
				c = termSafe(c)
			}
			out[i] = c
			if i < len(row)-1 && i < len(widths) {
				widths[i] = max(widths[i], displayWidth(c))
			}
		}
		return out
	}
	header := safe(t.header)
	rows := make([][]string, len(t.rows))
	for i, r := range t.rows {
		rows[i] = safe(r)
	}
	line := func(row []string) string {
		var b strings.Builder
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	if len(header) > 0 {
		w.styled(sgrBold, line(header))
		_, _ = io.WriteString(w, "\n")
	}
	for _, r := range rows {
		_, _ = io.WriteString(w, line(r)+"\n")
	}
}
