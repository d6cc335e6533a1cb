package message_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
)

// The benchmarks encode and decode two realistic messages with convo and,
// as a baseline, with encoding/json on an equivalent plain struct slice (no
// interface, no unknown-part handling). Each convo benchmark reports
// x-baseline: its time divided by the baseline's, measured in the same run.
//
//	go test -run '^$' -bench 'Parts' -benchmem ./message

// plainPart is the baseline: the same fields as the wire format, in a plain
// struct that encoding/json handles by itself.
type plainPart struct {
	Type      string `json:"type"`
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Input     string `json:"input,omitempty"`
}

type benchCase struct {
	name  string
	parts []message.Part
	plain []plainPart
}

func benchCases() []benchCase {
	text := strings.Repeat("The forecast for Oslo tomorrow is light rain in the morning, clearing by noon. ", 13)[:1024]
	in1 := `{"city":"Oslo","units":"metric","days":3}`
	in2 := `{"query":"opening hours of the Munch museum","max_results":5}`
	// Mostly multi-byte runes: the encoder's eight-byte ASCII fast path
	// does not apply.
	cjk := strings.Repeat("明天奥斯陆上午有小雨，中午转晴。", 22)[:1026]
	return []benchCase{
		{
			name:  "text_1KB",
			parts: []message.Part{message.Text{Text: text}},
			plain: []plainPart{{Type: "text", Text: text}},
		},
		{
			name:  "text_1KB_cjk",
			parts: []message.Part{message.Text{Text: cjk}},
			plain: []plainPart{{Type: "text", Text: cjk}},
		},
		{
			name: "tool_call",
			parts: []message.Part{
				message.Reasoning{Text: "The user asks about the weather and the museum; call both tools.", Signature: "EqQBCkYIARgCIkDx3q0x7mB9vN2pR4tL8sK1="},
				message.Text{Text: "Let me look that up."},
				message.ToolCall{ID: "call_9f8e7d6c5b4a", Name: "weather", Input: json.RawMessage(in1)},
				message.ToolCall{ID: "call_1a2b3c4d5e6f", Name: "web_search", Input: json.RawMessage(in2)},
			},
			plain: []plainPart{
				{Type: "reasoning", Text: "The user asks about the weather and the museum; call both tools.", Signature: "EqQBCkYIARgCIkDx3q0x7mB9vN2pR4tL8sK1="},
				{Type: "text", Text: "Let me look that up."},
				{Type: "tool_call", ID: "call_9f8e7d6c5b4a", Name: "weather", Input: in1},
				{Type: "tool_call", ID: "call_1a2b3c4d5e6f", Name: "web_search", Input: in2},
			},
		},
	}
}

// measure runs fn b.N times as the benchmark and baseline b.N times before
// it, untimed, and reports the ratio of the two as x-baseline.
func measure(b *testing.B, fn, baseline func()) {
	start := time.Now()
	for range b.N {
		baseline()
	}
	base := time.Since(start)
	b.ResetTimer()
	for range b.N {
		fn()
	}
	b.StopTimer()
	if base > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(base), "x-baseline")
	}
}

func BenchmarkMarshalParts(b *testing.B) {
	for _, c := range benchCases() {
		want, err := message.MarshalParts(c.parts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(want)))
			b.ReportAllocs()
			measure(b, func() {
				if _, err := message.MarshalParts(c.parts); err != nil {
					b.Fatal(err)
				}
			}, func() {
				if _, err := json.Marshal(c.plain); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(c.name+"/baseline", func(b *testing.B) {
			b.SetBytes(int64(len(want)))
			b.ReportAllocs()
			for range b.N {
				if _, err := json.Marshal(c.plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshalParts(b *testing.B) {
	for _, c := range benchCases() {
		data, err := message.MarshalParts(c.parts)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			measure(b, func() {
				if _, err := message.UnmarshalParts(data); err != nil {
					b.Fatal(err)
				}
			}, func() {
				var out []plainPart
				if err := json.Unmarshal(data, &out); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(c.name+"/baseline", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for range b.N {
				var out []plainPart
				if err := json.Unmarshal(data, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchmarkBaselineEquivalent: the baseline encodes to the same bytes
// as convo, so the benchmarks compare equal work.
func TestBenchmarkBaselineEquivalent(t *testing.T) {
	for _, c := range benchCases() {
		got, err := message.MarshalParts(c.parts)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(c.plain); err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(sb.String(), "\n"); string(got) != want {
			t.Errorf("%s: convo wrote\n%s\nbaseline wrote\n%s", c.name, got, want)
		}
	}
}
