package tool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSchemaMismatch is matched by the errors Schema.Decode returns for a
// value that does not match the schema.
var ErrSchemaMismatch = errors.New("value does not match the schema")

// Schema is the JSON schema of the struct type T, built as Func builds the
// schema of its arguments (invopop/jsonschema, inlined, fields without
// omitempty required, additionalProperties false), with the check that
// Func applies to a model's input. The agent uses it for typed output
// (agent.RunTyped). A Schema is immutable and safe for concurrent use.
type Schema[T any] struct {
	raw  json.RawMessage
	node *node
}

// SchemaFor returns the schema of T, which must be a struct (or a pointer
// to one) that is not recursive. The error matches ErrInvalidTool.
func SchemaFor[T any]() (*Schema[T], error) {
	raw, err := schemaFor[T](false)
	if err != nil {
		return nil, fmt.Errorf("tool: %w: %v", ErrInvalidTool, err)
	}
	var n node
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("tool: %w: decode the schema: %v", ErrInvalidTool, err)
	}
	return &Schema[T]{raw: raw, node: &n}, nil
}

// JSON returns the schema's JSON. The caller must not modify it.
func (s *Schema[T]) JSON() json.RawMessage { return s.raw }

// Decode checks data against the schema and decodes it into a T: data
// must be one JSON object, with every required field present and not
// null, objects and arrays where the schema has them, enum values among
// those listed, scalars of the declared JSON type, and no field the schema
// does not declare. The error, matching ErrSchemaMismatch, names the first
// problem found.
func (s *Schema[T]) Decode(data []byte) (T, error) {
	var v T
	data = bytes.TrimSpace(data)
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return v, fmt.Errorf("tool: %w: not valid JSON: %v", ErrSchemaMismatch, err)
	}
	if _, ok := raw.(map[string]any); !ok {
		return v, fmt.Errorf("tool: %w: the value is not a JSON object", ErrSchemaMismatch)
	}
	if p := s.node.check(raw, "value"); p != "" {
		return v, fmt.Errorf("tool: %w: %s", ErrSchemaMismatch, p)
	}
	if err := strictDecode(data, &v, true); err != nil {
		return v, fmt.Errorf("tool: %w: %v", ErrSchemaMismatch, err)
	}
	return v, nil
}

// strictDecode decodes data into v, refusing fields v does not declare
// when strict.
func strictDecode(data []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	return dec.Decode(v)
}
