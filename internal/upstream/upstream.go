// Package upstream converts the rows that the session stores of
// github.com/joakimcarlsson/ai (memory/sqlite, memory/postgres) write into
// convo messages. Both convo stores use it to upgrade such a database in
// place.
//
// That project keeps a whole message as one JSON object in its parts
// column: {"role", "parts": [{"type", "data"}...], "model", "created_at"}.
// The data of each part type, as its message package writes it (described
// with the fixtures in sqlite/testdata/upstream/README.md):
//
//	text         {"text"}
//	reasoning    {"text"}
//	image_url    {"url", "detail"}
//	binary       {"Path", "MIMEType", "Data" (standard base64)}
//	tool_call    {"id", "name", "input" (a string), "type", "finished", "thought_signature" (base64)}
//	tool_result  {"tool_call_id", "name", "content", "metadata" (a string), "is_error"}
//
// Conversion keeps every value: Path becomes Binary.Name; a non-empty
// metadata string becomes ToolResult.Metadata byte for byte. What convo's
// ToolCall has no field for (a Gemini thought_signature, a call type other
// than "function", finished false) goes into a part of type
// "upstream_tool_call_extra" placed right after the call, which convo keeps
// as a message.Unknown part and every provider client skips. A part with a
// tag this package does not know is kept whole as a message.Unknown.
package upstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/convo-dev/convo/message"
)

// Report tells what an upgrade did. sqlite.UpgradeReport and
// postgres.UpgradeReport are this type.
type Report struct {
	// Upgraded is true when the upgrade converted tables written by
	// github.com/joakimcarlsson/ai; false when the database already held
	// convo's schema (which the upgrade then only migrates, as
	// SessionStore does) or no tables at all (which it creates).
	Upgraded bool
	// Sessions and Messages count what was converted.
	Sessions, Messages int
	// Unconverted lists the rows that could not be converted. Each was
	// moved, bytes unchanged, to the quarantine table (see
	// session.Quarantiner) under its session; none was dropped.
	Unconverted []Unconverted
	// AddedSessions are the ids of sessions that had messages but no
	// sessions row (that project's SQLite store does not enforce its
	// foreign key; its PostgreSQL store does, which makes this rare
	// there); the upgrade made the session so that its messages are kept.
	AddedSessions []string
}

// Unconverted is a row that an upgrade could not convert.
type Unconverted struct {
	// SessionID is the row's session_id.
	SessionID string
	// Row is the row's id in that project's messages table: an integer
	// in SQLite (in decimal), a UUID in PostgreSQL.
	Row string
	// Seq is the position the row holds in its session, and its seq in
	// the quarantine table.
	Seq int64
	// Err says why it could not be converted.
	Err error
}

// ExtraType is the type of the part that carries what a tool call had
// beyond convo's ToolCall fields.
const ExtraType = "upstream_tool_call_extra"

// Row is one row of that project's messages table.
type Row struct {
	// ID is the row's id: an integer in SQLite (given here in decimal), a
	// UUID in PostgreSQL. It becomes the message's ID.
	ID        string
	SessionID string
	Role      string
	// Parts is the parts column: the whole message as JSON.
	Parts     []byte
	Model     string
	CreatedAt int64
}

// ErrUnconvertible is matched by the error of Convert for a row that cannot
// be converted.
var ErrUnconvertible = errors.New("row cannot be converted")

type envelope struct {
	Role  string            `json:"role"`
	Parts []json.RawMessage `json:"parts"`
}

type wirePart struct {
	Type *string         `json:"type"`
	Data json.RawMessage `json:"data"`
}

// Convert returns the convo message of r. The role, model and time come
// from r's columns, which that project writes equal to the values inside
// the JSON. A row whose JSON is not a message envelope, or a part whose data
// does not decode, gives an error matching ErrUnconvertible.
func Convert(r Row) (message.Message, error) {
	m := message.Message{ID: r.ID, Role: message.Role(r.Role), Model: r.Model, CreatedAt: r.CreatedAt}
	fail := func(format string, args ...any) (message.Message, error) {
		return message.Message{}, fmt.Errorf("%w: %s", ErrUnconvertible, fmt.Sprintf(format, args...))
	}
	if r.Role == "" {
		return fail("empty role")
	}
	var env envelope
	if err := json.Unmarshal(r.Parts, &env); err != nil {
		return fail("parts column is not a message object: %v", err)
	}
	if env.Parts == nil {
		return fail("parts column has no parts array")
	}
	m.Parts = make([]message.Part, 0, len(env.Parts))
	for i, raw := range env.Parts {
		ps, err := convertPart(raw)
		if err != nil {
			return fail("part %d: %v", i, err)
		}
		m.Parts = append(m.Parts, ps...)
	}
	if err := m.Validate(); err != nil {
		return fail("%v", err)
	}
	return m, nil
}

func convertPart(raw json.RawMessage) ([]message.Part, error) {
	var w wirePart
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("not an object: %v", err)
	}
	if w.Type == nil || *w.Type == "" {
		return nil, errors.New("no type")
	}
	data := func(v any) error {
		if len(w.Data) == 0 || string(w.Data) == "null" {
			return errors.New("no data")
		}
		if err := json.Unmarshal(w.Data, v); err != nil {
			return fmt.Errorf("%s data: %v", *w.Type, err)
		}
		return nil
	}
	switch *w.Type {
	case "text":
		var d struct{ Text string }
		if err := data(&d); err != nil {
			return nil, err
		}
		return []message.Part{message.Text{Text: d.Text}}, nil
	case "reasoning":
		var d struct{ Text string }
		if err := data(&d); err != nil {
			return nil, err
		}
		return []message.Part{message.Reasoning{Text: d.Text}}, nil
	case "image_url":
		var d struct {
			URL    string `json:"url"`
			Detail string `json:"detail"`
		}
		if err := data(&d); err != nil {
			return nil, err
		}
		return []message.Part{message.ImageURL{URL: d.URL, Detail: d.Detail}}, nil
	case "binary":
		// Go's encoding/json wrote the struct's field names as they are.
		var d struct {
			Path     string `json:"Path"`
			MIMEType string `json:"MIMEType"`
			Data     []byte `json:"Data"` // standard base64
		}
		if err := data(&d); err != nil {
			return nil, err
		}
		return []message.Part{message.Binary{MIMEType: d.MIMEType, Data: d.Data, Name: d.Path}}, nil
	case "tool_call":
		var d struct {
			ID               string  `json:"id"`
			Name             string  `json:"name"`
			Input            string  `json:"input"`
			Type             string  `json:"type"`
			Finished         *bool   `json:"finished"`
			ThoughtSignature *string `json:"thought_signature"`
		}
		if err := data(&d); err != nil {
			return nil, err
		}
		if d.ThoughtSignature != nil {
			if _, err := base64.StdEncoding.DecodeString(*d.ThoughtSignature); err != nil {
				return nil, fmt.Errorf("tool_call thought_signature is not base64: %v", err)
			}
		}
		parts := []message.Part{message.ToolCall{ID: d.ID, Name: d.Name, Input: json.RawMessage(d.Input)}}
		extra := map[string]any{}
		if d.ThoughtSignature != nil && *d.ThoughtSignature != "" {
			extra["thought_signature"] = *d.ThoughtSignature
		}
		if d.Type != "" && d.Type != "function" {
			extra["call_type"] = d.Type
		}
		if d.Finished != nil && !*d.Finished {
			extra["finished"] = false
		}
		if len(extra) > 0 {
			extra["type"] = ExtraType
			extra["call_id"] = d.ID
			b, err := json.Marshal(extra) // map keys come out sorted
			if err != nil {
				return nil, err
			}
			parts = append(parts, message.Unknown{Type: ExtraType, Raw: b})
		}
		return parts, nil
	case "tool_result":
		var d struct {
			ToolCallID string `json:"tool_call_id"`
			Name       string `json:"name"`
			Content    string `json:"content"`
			Metadata   string `json:"metadata"`
			IsError    bool   `json:"is_error"`
		}
		if err := data(&d); err != nil {
			return nil, err
		}
		tr := message.ToolResult{CallID: d.ToolCallID, Name: d.Name, Content: d.Content, IsError: d.IsError}
		if d.Metadata != "" {
			tr.Metadata = json.RawMessage(d.Metadata)
		}
		return []message.Part{tr}, nil
	}
	// A tag this package does not know (that project's encoder writes
	// "unknown" for a value it cannot name): kept whole, byte for byte.
	return []message.Part{message.Unknown{Type: *w.Type, Raw: bytes.Clone(raw)}}, nil
}
