package message

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func stdWire(t testing.TB, w *wirePart) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendWireMatchesEncodingJSON(t *testing.T) {
	tricky := "a\"b\\c\b\f\n\r\t\x00\x01\x1f\x7f <>&é用户🙂\u2028\u2029\xff\xc3"
	for _, w := range []wirePart{
		{Type: TypeText},
		{Type: TypeText, Text: tricky},
		{Type: TypeReasoning, Text: "t", Signature: tricky, Redacted: true},
		{Type: TypeImageURL, URL: "https://x/y?a=1&b=<2>", Detail: "high"},
		{Type: TypeBinary, MIMEType: "image/png", Data: []byte{0, 1, 2, 255, 254}, Name: "a.png"},
		{Type: TypeToolCall, ID: "c1", Name: "f", Input: `{"a": [1, 2]}`, Synthesized: true},
		{Type: TypeToolResult, CallID: "c1", Name: "f", Content: tricky, Metadata: `{"k":1}`, IsError: true, Synthesized: true},
		{Type: tricky, Text: tricky, Signature: tricky, URL: tricky, Detail: tricky, MIMEType: tricky, ID: tricky, CallID: tricky, Name: tricky, Input: tricky, Content: tricky, Metadata: tricky},
	} {
		if got, want := appendWire(nil, &w), stdWire(t, &w); !bytes.Equal(got, want) {
			t.Errorf("appendWire(%+v)\n got %s\nwant %s", w, got, want)
		}
	}
}

func FuzzAppendWire(f *testing.F) {
	f.Add("text", "hello", []byte{1, 2}, true)
	f.Add("tool_call", "\u2028\x00\"", []byte(nil), false)
	f.Fuzz(func(t *testing.T, typ, s string, data []byte, b bool) {
		w := wirePart{Type: typ, Text: s, Name: s, Input: s, Data: data, IsError: b, Redacted: !b}
		if got, want := appendWire(nil, &w), stdWire(t, &w); !bytes.Equal(got, want) {
			t.Fatalf("appendWire(%+v)\n got %s\nwant %s", w, got, want)
		}
	})
}

// TestAppendStringEveryOffset puts each kind of byte that needs escaping,
// and multi-byte runes, at every offset of plain strings of every length up
// to 24, so that the eight-byte fast path meets them at each position of a
// word and across word boundaries.
func TestAppendStringEveryOffset(t *testing.T) {
	specials := []string{"\"", "\\", "\x00", "\x1f", "\n", "\x7f", "é", "用", "🙂", "\u2028", "\xff", "\xc3"}
	for n := 0; n <= 24; n++ {
		for at := 0; at <= n; at++ {
			for _, sp := range specials {
				s := strings.Repeat("a", at) + sp + strings.Repeat("b", n-at)
				w := wirePart{Type: s}
				if got, want := appendWire(nil, &w), stdWire(t, &w); !bytes.Equal(got, want) {
					t.Fatalf("appendString(%q)\n got %s\nwant %s", s, got, want)
				}
			}
		}
	}
}

// TestPlain8 checks the bit trick against its definition: every byte value
// at every position of a word of otherwise plain bytes, and random words.
func TestPlain8(t *testing.T) {
	plain := func(w uint64) bool {
		for i := range 8 {
			c := byte(w >> (8 * i))
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				return false
			}
		}
		return true
	}
	const base = 0x6161616161616161 // "aaaaaaaa"
	for pos := range 8 {
		for c := range 256 {
			w := base&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
			if got, want := plain8(w), plain(w); got != want {
				t.Fatalf("plain8(%#016x) = %v, want %v", w, got, want)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		w := r.Uint64()
		if r.IntN(2) == 0 {
			w &= 0x7f7f7f7f7f7f7f7f // mostly ASCII, so that plain words occur
			w |= 0x2020202020202020
		}
		if got, want := plain8(w), plain(w); got != want {
			t.Fatalf("plain8(%#016x) = %v, want %v", w, got, want)
		}
	}
}
