package message

import (
	"encoding/base64"
	"unicode/utf8"
)

// decodePartsFast decodes a parts array in the form appendWire writes it,
// without reflection: no whitespace, objects whose keys are wirePart's
// exact JSON names with string values (or true for the flags), strings
// without \u escapes, in valid UTF-8, and parts of known types only. For
// such input it returns what the encoding/json path of UnmarshalParts
// returns (the fuzz test FuzzDecodePartsFast checks this); for anything
// else it returns ok == false and the caller takes that path, which also
// reports errors.
func decodePartsFast(data []byte) (parts []Part, ok bool) {
	d := fastDecoder{data: data}
	if !d.byte('[') {
		return nil, false
	}
	parts = make([]Part, 0, 1)
	if d.byte(']') {
		return parts, d.i == len(d.data)
	}
	for {
		p, ok := d.part()
		if !ok {
			return nil, false
		}
		parts = append(parts, p)
		if d.byte(']') {
			return parts, d.i == len(d.data)
		}
		if !d.byte(',') {
			return nil, false
		}
	}
}

type fastDecoder struct {
	data []byte
	i    int
}

// byte consumes c if it comes next.
func (d *fastDecoder) byte(c byte) bool {
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// part decodes one object into a part of a known type.
func (d *fastDecoder) part() (Part, bool) {
	if !d.byte('{') {
		return nil, false
	}
	var w wirePart
	if d.byte('}') {
		return nil, false // no type: the slow path reports it
	}
	for {
		ks, ke, ok := d.key()
		if !ok {
			return nil, false
		}
		var flag *bool
		var str *string
		switch string(d.data[ks:ke]) { // compiled without a copy
		case "type":
			str = &w.Type
		case "text":
			str = &w.Text
		case "signature":
			str = &w.Signature
		case "url":
			str = &w.URL
		case "detail":
			str = &w.Detail
		case "mime_type":
			str = &w.MIMEType
		case "id":
			str = &w.ID
		case "call_id":
			str = &w.CallID
		case "name":
			str = &w.Name
		case "input":
			str = &w.Input
		case "content":
			str = &w.Content
		case "metadata":
			str = &w.Metadata
		case "redacted":
			flag = &w.Redacted
		case "is_error":
			flag = &w.IsError
		case "synthesized":
			flag = &w.Synthesized
		case "data":
			s, ok := d.string()
			if !ok {
				return nil, false
			}
			b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(b, []byte(s))
			if err != nil {
				return nil, false
			}
			w.Data = b[:n]
		default:
			return nil, false
		}
		switch {
		case str != nil:
			s, ok := d.string()
			if !ok {
				return nil, false
			}
			*str = s
		case flag != nil:
			if len(d.data)-d.i < 4 || string(d.data[d.i:d.i+4]) != "true" {
				return nil, false
			}
			d.i += 4
			*flag = true
		}
		if d.byte('}') {
			break
		}
		if !d.byte(',') {
			return nil, false
		}
	}
	return w.part()
}

// key decodes an object key and its colon, and returns where the key's
// bytes are in data. Keys are plain ASCII names: anything else declines.
func (d *fastDecoder) key() (start, end int, ok bool) {
	if !d.byte('"') {
		return 0, 0, false
	}
	start = d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		if c == '"' {
			end = d.i
			d.i++
			return start, end, d.byte(':')
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return 0, 0, false
		}
		d.i++
	}
	return 0, 0, false
}

// string decodes a JSON string without \u escapes, in valid UTF-8.
func (d *fastDecoder) string() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	ascii := true
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// escaped finishes a string from start that holds escapes; d.i is at the
// first backslash.
func (d *fastDecoder) escaped(start int) (string, bool) {
	buf := make([]byte, 0, d.i-start+64)
	buf = append(buf, d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(buf) {
				return "", false
			}
			return string(buf), true
		case c == '\\':
			if d.i+1 >= len(d.data) {
				return "", false
			}
			var r byte
			switch d.data[d.i+1] {
			case '"':
				r = '"'
			case '\\':
				r = '\\'
			case '/':
				r = '/'
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			default: // \u and invalid escapes: the slow path
				return "", false
			}
			buf = append(buf, r)
			d.i += 2
			continue
		case c < 0x20:
			return "", false
		}
		buf = append(buf, c)
		d.i++
	}
	return "", false
}
