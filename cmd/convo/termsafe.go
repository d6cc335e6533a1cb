package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// termWriter is the one place where text meets the terminal. Everything
// convo prints on stdout and stderr goes through one (run wraps both, and
// main the final error), so that a string from the store (an id, owner,
// title, metadata, model, tool name or id, message text, an error quoting
// any of them) cannot drive the terminal: no escape sequence, no cursor
// move, no title change, no screen clear, no reordering of the line.
//
// Kept as they are: printable characters, newline and tab. Shown visibly
// as \uXXXX: every other C0 control (ESC included) and DEL, every C1
// control (U+0080-U+009F, which some terminals take as 8-bit escape
// sequences: U+009B is CSI), and the Unicode bidirectional controls
// (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069; the "Trojan
// Source" characters, CVE-2021-42574). A carriage return before a newline
// is dropped (Windows line ends), any other one is shown. Bytes that are
// not UTF-8 are shown as \xNN.
//
// The \uXXXX form is also a JSON string escape, and JSON leaves only C1,
// DEL and these bidi characters raw in its strings (encoding/json escapes
// C0): so JSON output passes through changed only in those characters and
// still decodes to the same data.
//
// A writer given highlight strings turns session.HighlightStart and
// HighlightEnd into them (search snippets), instead of showing them.
type termWriter struct {
	mu        sync.Mutex
	w         io.Writer
	hiStart   string
	hiEnd     string
	highlight bool
	// color is set when colour sequences may be written around the text
	// (styled): the stream is a terminal and NO_COLOR is not set.
	color     bool
	tail      []byte // an incomplete UTF-8 sequence from the last Write
	pendingCR bool
}

// newTermWriter returns a termWriter printing on w.
func newTermWriter(w io.Writer) *termWriter { return &termWriter{w: w} }

// withHighlights returns a termWriter on the same stream that shows the
// snippet highlight markers as start and end.
func (t *termWriter) withHighlights(start, end string) *termWriter {
	return &termWriter{w: t.w, hiStart: start, hiEnd: end, highlight: true, color: t.color}
}

// Write writes p made safe. It reports len(p) written when the underlying
// write succeeds.
func (t *termWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(t.tail) > 0 {
		p = append(t.tail, p...)
		t.tail = nil
	}
	var b strings.Builder
	b.Grow(len(p))
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(p) {
				t.tail = append([]byte(nil), p...) // finish it on the next Write
				break
			}
			t.flushCR(&b)
			fmt.Fprintf(&b, `\x%02x`, p[0])
			p = p[1:]
			continue
		}
		p = p[size:]
		if r == '\r' {
			t.flushCR(&b)
			t.pendingCR = true
			continue
		}
		if t.pendingCR {
			t.pendingCR = false
			if r != '\n' {
				b.WriteString(`\u000d`)
			}
		}
		switch {
		case t.highlight && r == 0x02:
			b.WriteString(t.hiStart)
		case t.highlight && r == 0x03:
			b.WriteString(t.hiEnd)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return n, nil
}

// flushCR shows a carriage return that no newline followed.
func (t *termWriter) flushCR(b *strings.Builder) {
	if t.pendingCR {
		b.WriteString(`\u000d`)
		t.pendingCR = false
	}
}

// unsafeRune reports whether r must not reach a terminal as it is.
func unsafeRune(r rune) bool {
	switch {
	case r == '\n', r == '\t':
		return false
	case r < 0x20, r == 0x7f, 0x80 <= r && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069:
		return true
	}
	return false
}

// termSafe returns s as a termWriter would print it (without highlights),
// for strings that are measured or embedded before printing.
func termSafe(s string) string {
	var b strings.Builder
	t := newTermWriter(&b)
	_, _ = t.Write([]byte(s))
	t.flushCR(&b)
	for _, c := range t.tail {
		fmt.Fprintf(&b, `\x%02x`, c)
	}
	return b.String()
}
