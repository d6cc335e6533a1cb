package message

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fastSeeds are parts arrays decodePartsFast must take (written by
// MarshalParts) and near misses it must decline or decode exactly as
// encoding/json does.
func fastSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, parts := range fastCases() {
		b, err := MarshalParts(parts)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "v1", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "message") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, bytes.TrimSpace(b))
	}
	for _, s := range []string{
		`[]`, `[ ]`, `[{}]`, `[{"type":"text"}]`, `[{"type":"text","text":"a"},]`, `[{"type":"text","Text":"x"}]`,
		`[{"type":"text","text":"a","text":"b"}]`, `[{"type":"text","type":"reasoning","text":"t"}]`,
		`[{"type":"reasoning","redacted":false}]`, `[{"type":"reasoning","redacted":true}]`,
		`[{"type":"text","text":"a\"b\\c\/d\b\f\n\r\t"}]`, `[{"type":"text","text":"\u00e9\ud83d\ude00\u0000"}]`,
		`[{"type":"text","text":"a\x"}]`, "[{\"type\":\"text\",\"text\":\"\xff\"}]", "[{\"type\":\"text\",\"text\":\"a\nb\"}]",
		`[{"type":"binary","mime_type":"a/b","data":"AAEC"}]`, `[{"type":"binary","data":"AA\nEC"}]`,
		`[{"type":"binary","data":"!!"}]`, `[{"type":"binary","data":""}]`, `[{"type":"text","text":null}]`,
		`[{"type":"tool_call","id":"c","name":"f","input":"{\"a\":[1,2]}"}]`, `[{"type":"video","x":1}]`,
		`[{"type":"text","text":"a"}]x`, `[{"type":"text","text":"a"}`, `[{"type":"text","text":"日本語 café"}]`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

func fastCases() [][]Part {
	return [][]Part{
		nil,
		{Text{Text: "hello"}},
		{Text{Text: "quotes \" and \\ and\nnew lines\t, <html> & unicode é 東京 😀"}},
		{Text{Text: "nul \x00 and \x01 controls"}},
		{Reasoning{Text: "think", Signature: "sig", Redacted: true}},
		{ImageURL{URL: "https://example.com/a.png", Detail: "high"}},
		{Binary{MIMEType: "application/octet-stream", Data: []byte{0, 1, 2, 250, 255}, Name: "f.bin"}},
		{ToolCall{ID: "call_1", Name: "get", Input: json.RawMessage(`{"city":"Paris","n":[1,2]}`), Synthesized: true}},
		{ToolResult{CallID: "call_1", Name: "get", Content: "sunny", Metadata: json.RawMessage(`{"ms":3}`), IsError: true, Synthesized: true}},
		{Text{Text: "a"}, ToolCall{ID: "x", Name: "y"}, Text{}},
	}
}

// TestDecodePartsFastTakesStoredParts checks that what MarshalParts writes
// takes the fast path (else the speed-up is lost without any test failing)
// and decodes as encoding/json decodes it.
func TestDecodePartsFastTakesStoredParts(t *testing.T) {
	for _, parts := range fastCases() {
		b, err := MarshalParts(parts)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`\u`)) {
			continue // \u escapes are left to encoding/json
		}
		got, ok := decodePartsFast(b)
		if !ok {
			t.Errorf("decodePartsFast declined %s", b)
			continue
		}
		want, err := unmarshalPartsJSON(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodePartsFast(%s) = %#v; encoding/json gives %#v, %v", b, got, want, err)
		}
	}
}

// FuzzDecodePartsFast: whatever decodePartsFast accepts, it decodes exactly
// as the encoding/json path of UnmarshalParts does, which accepts it too.
func FuzzDecodePartsFast(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		got, ok := decodePartsFast(data)
		if !bytes.Equal(orig, data) {
			t.Fatal("decodePartsFast modified its input")
		}
		if !ok {
			return
		}
		want, err := unmarshalPartsJSON(data)
		if err != nil {
			t.Fatalf("decodePartsFast accepted %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodePartsFast(%q) = %#v, encoding/json gives %#v", data, got, want)
		}
	})
}
