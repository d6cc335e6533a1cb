package message

import (
	"bytes"
	"encoding/json"
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
