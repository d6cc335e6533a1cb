package message_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
)

// The golden files in testdata/v1 pin version 1 of the JSON encoding: every
// release must read them to the values below and write those values back to
// exactly these bytes. They are append-only. Rows written by released
// versions live in users' databases, so an existing file is never edited or
// removed; a new part type or field combination gets a new file. A change
// that alters an existing file's bytes is a change of the format and needs a
// new format version (see the package documentation).
//
// Run `go test ./message -run TestGolden -update` to write the files for new
// entries of goldenParts or goldenMessages; it rewrites an existing file
// only if its bytes differ, and says so loudly, because that should not
// happen.
var update = flag.Bool("update", false, "write missing golden files in testdata/v1 (they are append-only)")

const goldenDir = "testdata/v1"

// goldenParts maps each golden parts file to the parts it holds.
var goldenParts = map[string][]message.Part{
	"text.json": {
		message.Text{Text: "What's the weather in Oslo?"},
		message.Text{Text: "用户 مرحبا 🙂 e\u0301 \x00 \u2028 <&> \"q\" \\ \n\t"},
	},
	"reasoning.json": {
		message.Reasoning{Text: "The user wants the weather; call the tool.", Signature: "EqQBCkYIARgCIkDx+/=="},
		message.Reasoning{Signature: "ErUBCkYIBRgCIkBcb3BhcXVlIGJsb2I=", Redacted: true},
	},
	"image_url.json": {
		message.ImageURL{URL: "https://example.com/cat.png?a=1&b=2", Detail: "high"},
		message.ImageURL{URL: "data:image/png;base64,iVBORw0KGgo="},
	},
	"binary.json": {
		message.Binary{MIMEType: "application/octet-stream", Data: allBytes(), Name: "all-bytes.bin"},
		message.Binary{MIMEType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}},
	},
	"tool_call.json": {
		message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
		message.ToolCall{ID: "call_2", Name: "weather", Input: json.RawMessage("{ \"city\": \"Bergen\",\n  \"units\" : \"metric\" }")},
		message.ToolCall{ID: "call_3", Name: "search", Input: json.RawMessage(`{"q": "unterminated`)},
		message.ToolCall{ID: "call_4", Name: "now"},
		message.ToolCall{ID: "call_5", Name: "weather", Input: json.RawMessage(`{}`), Synthesized: true},
	},
	"tool_result.json": {
		message.ToolResult{CallID: "call_1", Name: "weather", Content: "4°C, rain", Metadata: json.RawMessage(`{"source": "met.no", "ms": 12}`)},
		message.ToolResult{CallID: "call_2", Name: "weather", Content: "city not found", IsError: true},
		message.ToolResult{CallID: "call_3", Name: "search", Content: "interrupted: no result was recorded for this tool call (the program stopped before the tool finished)", IsError: true, Synthesized: true},
	},
	"unknown.json": {
		message.Text{Text: "before"},
		message.Unknown{Type: "video", Raw: json.RawMessage("{ \"type\" : \"video\",\n  \"url\":\"x\", \"extra\": {\"k\": [1, 2]}, \"text\": 7 }")},
		message.Text{Text: "after"},
	},
	"zero_fields.json": {
		message.Text{}, message.Reasoning{}, message.ImageURL{}, message.Binary{}, message.ToolCall{}, message.ToolResult{},
	},
	"empty.json": {},
}

// goldenMessages maps each golden message file to the message it holds.
var goldenMessages = map[string]message.Message{
	"message.json": {
		ID:    "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		Role:  message.RoleAssistant,
		Model: "gpt-4.1",
		Parts: []message.Part{
			message.Reasoning{Text: "Two cities: call the tool twice.", Signature: "sig=="},
			message.Text{Text: "Let me check Oslo and Bergen."},
			message.ToolCall{ID: "call_1", Name: "weather", Input: json.RawMessage(`{"city":"Oslo"}`)},
			message.ToolCall{ID: "call_2", Name: "weather", Input: json.RawMessage(`{"city":"Bergen"}`)},
			message.ImageURL{URL: "https://example.com/map.png", Detail: "low"},
			message.Binary{MIMEType: "audio/wav", Data: []byte("RIFF\x00\x01"), Name: "hello.wav"},
			message.Unknown{Type: "citation", Raw: json.RawMessage(`{"type":"citation", "url":"https://met.no"}`)},
		},
		CreatedAt: 1732460000123456789,
		Usage:     &message.Usage{InputTokens: 12, OutputTokens: 7, CacheReadTokens: 1024, ReasoningTokens: 5},
	},
	"message_tool.json": {
		ID:        "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
		Role:      message.RoleTool,
		Parts:     []message.Part{message.ToolResult{CallID: "call_1", Name: "weather", Content: "4°C, rain"}},
		CreatedAt: 1732460000223456789,
	},
	"message_minimal.json": {Role: message.RoleUser},
}

func readGolden(t *testing.T, name string, want []byte) []byte {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	data, err := os.ReadFile(path)
	if *update && (err != nil || !bytes.Equal(bytes.TrimSuffix(data, []byte("\n")), want)) {
		if err == nil {
			t.Errorf("REWRITING EXISTING GOLDEN FILE %s: golden files are append-only; this changes the stored format", path)
		}
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(slices.Clone(want), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return want
	}
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	return bytes.TrimSuffix(data, []byte("\n"))
}

func TestGoldenParts(t *testing.T) {
	for name, want := range goldenParts {
		t.Run(name, func(t *testing.T) {
			encoded, err := message.MarshalParts(want)
			if err != nil {
				t.Fatalf("MarshalParts: %v", err)
			}
			data := readGolden(t, name, encoded)
			got, err := message.UnmarshalParts(data)
			if err != nil {
				t.Fatalf("UnmarshalParts(%s): %v", name, err)
			}
			if diff := cmpDiff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoding %s (-want +got):\n%s", name, diff)
			}
			if !bytes.Equal(encoded, data) {
				t.Errorf("encoding changed for %s:\n got %s\nwant %s", name, encoded, data)
			}
		})
	}
}

func TestGoldenMessages(t *testing.T) {
	for name, want := range goldenMessages {
		t.Run(name, func(t *testing.T) {
			encoded, err := want.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			data := readGolden(t, name, encoded)
			var got message.Message
			if err := got.UnmarshalJSON(data); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", name, err)
			}
			if diff := cmpDiff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoding %s (-want +got):\n%s", name, diff)
			}
			if !bytes.Equal(encoded, data) {
				t.Errorf("encoding changed for %s:\n got %s\nwant %s", name, encoded, data)
			}
		})
	}
}

// TestGoldenFilesListed: every golden file has its expected value here, so
// none can be dropped from the test unnoticed.
func TestGoldenFilesListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden files in %s", goldenDir)
	}
	for _, f := range files {
		name := filepath.Base(f)
		_, p := goldenParts[name]
		_, m := goldenMessages[name]
		if !p && !m {
			t.Errorf("golden file %s has no expected value in goldenParts or goldenMessages", f)
		}
	}
}

// goldenSeeds returns the bytes of the golden files named by the keys of
// files (goldenParts or goldenMessages), for fuzz corpora.
func goldenSeeds[V any](tb testing.TB, files map[string]V) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	return seeds
}
