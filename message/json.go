package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/convo-dev/convo/internal/jsonerr"
)

// FormatVersion is the version of the JSON encoding this release writes.
// See the package documentation for the format and its versioning rules.
const FormatVersion = 1

// ErrMalformed is matched (with errors.Is) by every error that reports
// encoded parts or messages that cannot be decoded.
var ErrMalformed = errors.New("malformed message encoding")

// ErrInvalid is matched (with errors.Is) by every error Validate returns.
var ErrInvalid = errors.New("invalid message")

// wirePart is the union of every known part's fields, so that a parts array
// decodes in a single pass of encoding/json.
type wirePart struct {
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	Signature   string `json:"signature,omitempty"`
	Redacted    bool   `json:"redacted,omitempty"`
	URL         string `json:"url,omitempty"`
	Detail      string `json:"detail,omitempty"`
	MIMEType    string `json:"mime_type,omitempty"`
	Data        []byte `json:"data,omitempty"`
	ID          string `json:"id,omitempty"`
	CallID      string `json:"call_id,omitempty"`
	Name        string `json:"name,omitempty"`
	Input       string `json:"input,omitempty"`
	Content     string `json:"content,omitempty"`
	Metadata    string `json:"metadata,omitempty"`
	IsError     bool   `json:"is_error,omitempty"`
	Synthesized bool   `json:"synthesized,omitempty"`
}

func toWire(p Part) (wirePart, error) {
	switch v := p.(type) {
	case Text:
		return wirePart{Type: TypeText, Text: v.Text}, nil
	case Reasoning:
		return wirePart{Type: TypeReasoning, Text: v.Text, Signature: v.Signature, Redacted: v.Redacted}, nil
	case ImageURL:
		return wirePart{Type: TypeImageURL, URL: v.URL, Detail: v.Detail}, nil
	case Binary:
		return wirePart{Type: TypeBinary, MIMEType: v.MIMEType, Data: v.Data, Name: v.Name}, nil
	case ToolCall:
		return wirePart{Type: TypeToolCall, ID: v.ID, Name: v.Name, Input: string(v.Input), Synthesized: v.Synthesized}, nil
	case ToolResult:
		return wirePart{Type: TypeToolResult, CallID: v.CallID, Name: v.Name, Content: v.Content,
			Metadata: string(v.Metadata), IsError: v.IsError, Synthesized: v.Synthesized}, nil
	case nil:
		return wirePart{}, fmt.Errorf("%w: nil part", ErrInvalid)
	}
	return wirePart{}, fmt.Errorf("%w: unsupported part type %T", ErrInvalid, p)
}

func (w *wirePart) part() (Part, bool) {
	switch w.Type {
	case TypeText:
		return Text{Text: w.Text}, true
	case TypeReasoning:
		return Reasoning{Text: w.Text, Signature: w.Signature, Redacted: w.Redacted}, true
	case TypeImageURL:
		return ImageURL{URL: w.URL, Detail: w.Detail}, true
	case TypeBinary:
		return Binary{MIMEType: w.MIMEType, Data: nilIfEmpty(w.Data), Name: w.Name}, true
	case TypeToolCall:
		return ToolCall{ID: w.ID, Name: w.Name, Input: rawOrNil(w.Input), Synthesized: w.Synthesized}, true
	case TypeToolResult:
		return ToolResult{CallID: w.CallID, Name: w.Name, Content: w.Content,
			Metadata: rawOrNil(w.Metadata), IsError: w.IsError, Synthesized: w.Synthesized}, true
	}
	return nil, false
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// MarshalParts encodes parts as a JSON array in the current format (see the
// package documentation). A nil or empty slice encodes as []. Unknown parts
// are written back byte for byte.
func MarshalParts(parts []Part) ([]byte, error) {
	return appendParts(make([]byte, 0, encodedSizeHint(parts)), parts)
}

// encodedSizeHint estimates the encoded size of parts, so that encoding
// allocates once in the common case.
func encodedSizeHint(parts []Part) int {
	n := 2
	for _, p := range parts {
		n += 48
		switch v := p.(type) {
		case Text:
			n += len(v.Text) + len(v.Text)/16
		case Reasoning:
			n += len(v.Text) + len(v.Signature) + len(v.Text)/16
		case ToolCall:
			n += len(v.ID) + len(v.Name) + len(v.Input) + len(v.Input)/4
		case ToolResult:
			n += len(v.CallID) + len(v.Name) + len(v.Content) + len(v.Metadata) + len(v.Content)/16
		case Binary:
			n += len(v.MIMEType) + len(v.Name) + (len(v.Data)+2)/3*4
		case ImageURL:
			n += len(v.URL) + len(v.Detail)
		case Unknown:
			n += len(v.Raw)
		}
	}
	return n
}

func appendParts(b []byte, parts []Part) ([]byte, error) {
	b = append(b, '[')
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		if u, ok := p.(Unknown); ok {
			if err := validUnknown(u); err != nil {
				return nil, fmt.Errorf("part %d: %w", i, err)
			}
			b = append(b, u.Raw...)
			continue
		}
		w, err := toWire(p)
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i, err)
		}
		b = appendWire(b, &w)
	}
	return append(b, ']'), nil
}

func validUnknown(u Unknown) error {
	var probe struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(u.Raw, &probe); err != nil {
		return fmt.Errorf("%w: unknown part %q: raw JSON is not an object: %v", ErrInvalid, u.Type, err)
	}
	if u.Type == "" {
		return fmt.Errorf("%w: unknown part has no type", ErrInvalid)
	}
	if probe.Type == nil || *probe.Type != u.Type {
		return fmt.Errorf("%w: unknown part %q: raw JSON has a different type field", ErrInvalid, u.Type)
	}
	if isKnownType(u.Type) {
		return fmt.Errorf("%w: unknown part uses the known type %q", ErrInvalid, u.Type)
	}
	return nil
}

func isKnownType(t string) bool {
	switch t {
	case TypeText, TypeReasoning, TypeImageURL, TypeBinary, TypeToolCall, TypeToolResult:
		return true
	}
	return false
}

// UnmarshalParts decodes a parts array written by MarshalParts of this or
// an earlier release. A part of a type this release does not know comes back
// as an Unknown holding its exact bytes. Data that is not a parts array gives
// an error matching ErrMalformed; it never panics.
func UnmarshalParts(data []byte) ([]Part, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '[' {
		return nil, fmt.Errorf("%w: parts are not a JSON array", ErrMalformed)
	}
	if parts, ok := decodePartsFast(data); ok {
		return parts, nil
	}
	return unmarshalPartsJSON(data)
}

// unmarshalPartsJSON is UnmarshalParts through encoding/json, for what
// decodePartsFast declines.
func unmarshalPartsJSON(data []byte) ([]Part, error) {
	var wire []wirePart
	if err := json.Unmarshal(data, &wire); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		// Valid JSON that does not fit wirePart: a malformed known part,
		// or an unknown part (from a later release) whose fields share a
		// name, but not a type, with ours. Decode part by part.
		return unmarshalPartsSlow(data)
	}
	parts := make([]Part, len(wire))
	var raws []json.RawMessage
	for i := range wire {
		if p, ok := wire[i].part(); ok {
			parts[i] = p
			continue
		}
		if wire[i].Type == "" {
			return nil, fmt.Errorf("%w: part %d has no type", ErrMalformed, i)
		}
		if raws == nil { // rare: a part type from a later release
			if err := json.Unmarshal(data, &raws); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
		}
		parts[i] = Unknown{Type: wire[i].Type, Raw: bytes.Clone(raws[i])}
	}
	return parts, nil
}

// unmarshalPartsSlow decodes a parts array one element at a time, so that
// an unknown part is kept whatever its other fields hold.
func unmarshalPartsSlow(data []byte) ([]Part, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	parts := make([]Part, len(raws))
	for i, raw := range raws {
		var probe struct {
			Type *string `json:"type"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("%w: part %d: %v", ErrMalformed, i, err)
		}
		if probe.Type == nil || *probe.Type == "" {
			return nil, fmt.Errorf("%w: part %d has no type", ErrMalformed, i)
		}
		if !isKnownType(*probe.Type) {
			parts[i] = Unknown{Type: *probe.Type, Raw: bytes.Clone(raw)}
			continue
		}
		var w wirePart
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("%w: part %d: %v", ErrMalformed, i, err)
		}
		parts[i], _ = w.part()
	}
	return parts, nil
}

// wireMessage is the JSON form of a Message.
type wireMessage struct {
	ID        string          `json:"id"`
	Role      Role            `json:"role"`
	Parts     json.RawMessage `json:"parts"`
	Model     string          `json:"model,omitempty"`
	CreatedAt int64           `json:"created_at"`
	Usage     *Usage          `json:"usage,omitempty"`
}

// MarshalJSON encodes m as a JSON object (see the package documentation),
// with the parts exactly as MarshalParts writes them. Note that
// encoding/json compacts whatever a json.Marshaler returns, so json.Marshal
// of a value holding messages drops the insignificant whitespace inside
// Unknown parts; call MarshalJSON directly to keep them byte for byte.
func (m Message) MarshalJSON() ([]byte, error) {
	parts, err := MarshalParts(m.Parts)
	if err != nil {
		return nil, fmt.Errorf("message %q: %w", m.ID, err)
	}
	// json.Marshal would compact (and HTML-escape) the parts, changing the
	// bytes of Unknown parts; splice them in as MarshalParts wrote them.
	head, err := json.Marshal(struct {
		ID   string `json:"id"`
		Role Role   `json:"role"`
	}{m.ID, m.Role})
	if err != nil {
		return nil, fmt.Errorf("message %q: %w", m.ID, err)
	}
	tail, err := json.Marshal(struct {
		Model     string `json:"model,omitempty"`
		CreatedAt int64  `json:"created_at"`
		Usage     *Usage `json:"usage,omitempty"`
	}{m.Model, m.CreatedAt, m.Usage})
	if err != nil {
		return nil, fmt.Errorf("message %q: %w", m.ID, err)
	}
	out := make([]byte, 0, len(head)+len(parts)+len(tail)+10)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"parts":`...)
	out = append(out, parts...)
	out = append(out, ',')
	return append(out, tail[1:]...), nil
}

// UnmarshalJSON decodes a message written by MarshalJSON of this or an
// earlier release.
func (m *Message) UnmarshalJSON(data []byte) error {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return decodeError(err)
	}
	var parts []Part
	if len(w.Parts) > 0 && !bytes.Equal(w.Parts, []byte("null")) {
		p, err := UnmarshalParts(w.Parts)
		if err != nil {
			return fmt.Errorf("message %q: %w", w.ID, err)
		}
		parts = p
	}
	*m = Message{ID: w.ID, Role: w.Role, Parts: parts, Model: w.Model, CreatedAt: w.CreatedAt, Usage: w.Usage}
	return nil
}

// MarshalUsage encodes u as JSON, or returns nil for a nil u. Stores use it
// for a usage column.
func MarshalUsage(u *Usage) ([]byte, error) {
	if u == nil {
		return nil, nil
	}
	return json.Marshal(u)
}

// UnmarshalUsage decodes what MarshalUsage wrote; empty data gives nil.
func UnmarshalUsage(data []byte) (*Usage, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var u Usage
	if err := json.Unmarshal(data, &u); err != nil {
		return nil, fmt.Errorf("usage: %w", decodeError(err))
	}
	return &u, nil
}

// MaxIDLength is the longest message ID, in bytes, that Validate accepts
// (the same bound as session ids). Every store keeps IDs in a unique index,
// and PostgreSQL refuses an index entry over about 2,700 bytes, so without
// one bound a long ID was stored by SQLite and refused by PostgreSQL.
const MaxIDLength = 255

// Validate reports whether m can be stored and read back exactly, by every
// store: it has a role; its ID (if set) is valid UTF-8 of at most
// MaxIDLength bytes; its ID, role and model hold no NUL byte (PostgreSQL
// text cannot store one); and every string of every part is valid UTF-8
// (JSON cannot carry other bytes; put them in a Binary part). Errors match
// ErrInvalid.
func (m Message) Validate() error {
	if m.Role == "" {
		return fmt.Errorf("%w: message %.40q has no role", ErrInvalid, m.ID)
	}
	if len(m.ID) > MaxIDLength {
		return fmt.Errorf("%w: message id is %d bytes, longer than %d", ErrInvalid, len(m.ID), MaxIDLength)
	}
	if !utf8.ValidString(m.ID) || !utf8.ValidString(string(m.Role)) || !utf8.ValidString(m.Model) {
		return fmt.Errorf("%w: message %q: id, role or model is not valid UTF-8", ErrInvalid, m.ID)
	}
	if strings.IndexByte(m.ID, 0) >= 0 || strings.IndexByte(string(m.Role), 0) >= 0 || strings.IndexByte(m.Model, 0) >= 0 {
		return fmt.Errorf("%w: message %q: id, role or model holds a NUL byte", ErrInvalid, m.ID)
	}
	for i, p := range m.Parts {
		if err := validatePart(p); err != nil {
			return fmt.Errorf("message %q: part %d: %w", m.ID, i, err)
		}
	}
	return nil
}

func validatePart(p Part) error {
	if u, ok := p.(Unknown); ok {
		return validUnknown(u)
	}
	w, err := toWire(p)
	if err != nil {
		return err
	}
	for _, s := range [...]string{w.Text, w.Signature, w.URL, w.Detail, w.MIMEType, w.ID, w.CallID, w.Name, w.Input, w.Content, w.Metadata} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: %s part holds text that is not valid UTF-8", ErrInvalid, w.Type)
		}
	}
	return nil
}

// decodeError reports a JSON decoding error in the terms of the format
// (see jsonerr.Describe), matching ErrMalformed.
func decodeError(err error) error {
	return fmt.Errorf("%w: %s", ErrMalformed, jsonerr.Describe(err))
}
