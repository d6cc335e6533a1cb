package message_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/convo-dev/convo/message"
)

// malformedSeeds are inputs near the edge of the format, for both fuzzers.
var malformedSeeds = []string{
	``, `[`, `]`, `null`, `[null]`, `{"v":2,"parts":[]}`, `[{"type":""}]`,
	`[{"type":"text","text":1}]`, `[{"type":"binary","data":"!!"}]`,
	`[{"type":"video","text":{"a":1}},{"type":"text"}]`,
	`[{"TYPE":"video"},{"Type":"text","TEXT":"x"}]`,
	`[{"type":"vid\u0065o","type":"x"}]`,
	"[{\"type\":\"text\",\"text\":\"\xff\xfe\"}]",
	`{"id":"a","role":"user","parts":null,"created_at":1}`,
	`{"id":"a","role":"user","parts":[{"type":"x","y":[]}],"usage":{"input_tokens":1}}`,
}

// FuzzUnmarshalParts: arbitrary bytes decode to parts or to an error
// matching ErrMalformed, never a panic; decoded parts encode, and decode
// again to the same parts; the encoding is stable.
func FuzzUnmarshalParts(f *testing.F) {
	for _, s := range goldenSeeds(f, goldenParts) {
		f.Add(s)
	}
	for _, s := range malformedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		parts, err := message.UnmarshalParts(data)
		if !bytes.Equal(orig, data) {
			t.Fatalf("UnmarshalParts modified its input")
		}
		if err != nil {
			if !errors.Is(err, message.ErrMalformed) || parts != nil {
				t.Fatalf("UnmarshalParts(%q) = %v, %v; want nil and an error matching ErrMalformed", data, parts, err)
			}
			return
		}
		checkPartsRoundTrip(t, parts)
	})
}

func checkPartsRoundTrip(t *testing.T, parts []message.Part) {
	t.Helper()
	enc, err := message.MarshalParts(parts)
	if err != nil {
		t.Fatalf("MarshalParts of decoded parts %#v: %v", parts, err)
	}
	again, err := message.UnmarshalParts(enc)
	if err != nil {
		t.Fatalf("UnmarshalParts(MarshalParts(%#v)) = %v; encoded %q", parts, err, enc)
	}
	if diff := cmpDiff(parts, again, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("decode -> encode -> decode changed the parts (-first +second):\n%s\nencoded: %q", diff, enc)
	}
	enc2, err := message.MarshalParts(again)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("encoding is not stable: %q then %q (%v)", enc, enc2, err)
	}
	if err := (message.Message{Role: message.RoleUser, Parts: parts}).Validate(); err != nil {
		t.Fatalf("Validate of decoded parts: %v", err)
	}
}

// FuzzMessageUnmarshalJSON: the same for whole messages.
func FuzzMessageUnmarshalJSON(f *testing.F) {
	for _, s := range goldenSeeds(f, goldenMessages) {
		f.Add(s)
	}
	for _, s := range goldenSeeds(f, goldenParts) {
		f.Add([]byte(`{"id":"x","role":"assistant","parts":` + string(s) + `,"created_at":1}`))
	}
	for _, s := range malformedSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m message.Message
		if err := m.UnmarshalJSON(data); err != nil {
			if !errors.Is(err, message.ErrMalformed) {
				t.Fatalf("UnmarshalJSON(%q) = %v; want an error matching ErrMalformed", data, err)
			}
			return
		}
		enc, err := m.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of decoded %#v: %v", m, err)
		}
		var again message.Message
		if err := again.UnmarshalJSON(enc); err != nil {
			t.Fatalf("UnmarshalJSON(MarshalJSON(%#v)) = %v; encoded %q", m, err, enc)
		}
		if diff := cmpDiff(m, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("decode -> encode -> decode changed the message (-first +second):\n%s\nencoded: %q", diff, enc)
		}
		enc2, err := again.MarshalJSON()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %q then %q (%v)", enc, enc2, err)
		}
	})
}
