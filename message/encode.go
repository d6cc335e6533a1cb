package message

import (
	"encoding/base64"
	"unicode/utf8"
)

// appendWire appends w as a JSON object, byte for byte what encoding/json
// writes for wirePart with HTML escaping off, several times faster (no
// reflection). encode_test.go checks the two agree.
func appendWire(dst []byte, w *wirePart) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, w.Type)
	str := func(name, v string) {
		if v != "" {
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = appendString(dst, v)
		}
	}
	flag := func(name string, v bool) {
		if v {
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, `":true`...)
		}
	}
	str("text", w.Text)
	str("signature", w.Signature)
	flag("redacted", w.Redacted)
	str("url", w.URL)
	str("detail", w.Detail)
	str("mime_type", w.MIMEType)
	if len(w.Data) > 0 {
		dst = append(dst, `,"data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, w.Data)
		dst = append(dst, '"')
	}
	str("id", w.ID)
	str("call_id", w.CallID)
	str("name", w.Name)
	str("input", w.Input)
	str("content", w.Content)
	str("metadata", w.Metadata)
	flag("is_error", w.IsError)
	flag("synthesized", w.Synthesized)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// load8 returns the eight bytes of s from i as a little-endian word (the
// compiler makes it one load).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// plain8 reports whether none of the eight bytes in w needs attention in a
// JSON string: each is ASCII from 0x20 to 0x7f (DEL included: JSON leaves
// it as it is) and neither '"' nor '\\'.
// Each test is the classic "has a byte less than n" bit trick: a byte
// below n borrows into its top bit, which ^w keeps only for bytes < 0x80;
// bytes >= 0x80 are caught by w's own top bits. A borrow can flag a byte
// wrongly only above one that is flagged rightly, so a zero result is
// exact.
func plain8(w uint64) bool {
	const (
		ones = 0x0101010101010101
		tops = 0x8080808080808080
	)
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	return ((w-ones*0x20)&^w|(quote-ones)&^quote|(backslash-ones)&^backslash|w)&tops == 0
}

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping off: \" \\ \b \f \n \r \t, other control characters as
// \u00XX, U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	tryWord := 0 // where the eight-byte test may next be tried
	for i := 0; i < len(s); {
		// Skip eight plain ASCII bytes at a time: most text has none to
		// escape. After a word that has one, go byte by byte to its end,
		// so text dense with escapes or multi-byte runes pays little.
		if i >= tryWord && i+8 <= len(s) {
			if plain8(load8(s, i)) {
				i += 8
				continue
			}
			tryWord = i + 8
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// A run of multi-byte runes, in one inner loop so that text in
		// other scripts does not try the eight-byte test at every rune.
		for i < len(s) && s[i] >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				start = i + size
			case r == '\u2028' || r == '\u2029':
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
				start = i + size
			}
			i += size
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
