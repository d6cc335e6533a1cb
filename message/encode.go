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

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping off: \" \\ \b \f \n \r \t, other control characters as
// \u00XX, U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
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
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
