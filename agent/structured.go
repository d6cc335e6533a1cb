package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/tool"
)

// Errors of typed output (RunTyped). Test with errors.Is.
var (
	// ErrOutputInvalid: the turn's final answer is not a JSON value
	// matching the output schema. The error is an *OutputError holding
	// the answer's text; the answer is stored as it came (the session is
	// valid and idle).
	ErrOutputInvalid = errors.New("agent: the model's output does not match the output schema")
	// ErrOutputSchema: the output type has no schema every provider's
	// structured output accepts (see RunTyped). Nothing was sent or
	// stored.
	ErrOutputSchema = errors.New("agent: the output type cannot be used for structured output")
)

// OutputError reports a final answer that does not match the output
// schema. It matches ErrOutputInvalid and unwraps to the decode or
// validation error (matching tool.ErrSchemaMismatch).
type OutputError struct {
	// SessionID is the session of the turn.
	SessionID string
	// Raw is the answer's text as the model gave it.
	Raw string
	// Err is the decode or validation error.
	Err error
}

// Error describes the mismatch and quotes the start of the raw text.
func (e *OutputError) Error() string {
	raw := e.Raw
	if len(raw) > 200 {
		raw = raw[:200] + "..."
	}
	return fmt.Sprintf("%v: session %q: %v (output %q)", ErrOutputInvalid, e.SessionID, e.Err, raw)
}

// Unwrap returns ErrOutputInvalid and the decode or validation error.
func (e *OutputError) Unwrap() []error { return []error{ErrOutputInvalid, e.Err} }

// RunTyped runs a turn for text, as Agent.Chat does, asking the model for
// a final answer that is a JSON object matching the schema of T, and
// returns that answer decoded into a T. See SendTyped.
func RunTyped[T any](ctx context.Context, a *Agent, text string) (T, *Response, error) {
	return SendTyped[T](ctx, a, message.NewUserMessage(text))
}

// SendTyped is RunTyped with a user message built by the caller (see
// Agent.Send).
//
// T must be a struct: its JSON schema is built as tool.Func builds a
// tool's (tool.SchemaFor), and sent as the request's llm.ResponseFormat
// on every model call of the turn: OpenAI-compatible servers get
// response_format {"type":"json_schema"} with "strict": true, Anthropic
// output_config.format, Gemini responseMimeType "application/json" with
// responseJsonSchema (see each client's documentation). Tools stay
// available: the model may call them before it answers. Since OpenAI's
// strict mode and Anthropic's structured outputs both require every
// object of the schema to list all its properties as required and to
// forbid others (additionalProperties false), a T with an optional field
// (omitempty) or a map fails with ErrOutputSchema before anything is sent
// or stored.
//
// The final answer is checked against the schema (required fields present
// and not null, types, enum values, no unknown field; tool.Schema.Decode)
// and decoded: an answer that does not match returns an *OutputError
// (matching ErrOutputInvalid) with the zero T and the Response; the answer
// itself is stored as a plain assistant message, so the session stays
// valid, and the next turn can ask the model to correct it. Other errors
// are those of Agent.Send.
func SendTyped[T any](ctx context.Context, a *Agent, msg message.Message) (T, *Response, error) {
	return typed[T](a, func(rf *llm.ResponseFormat) (*Response, error) { return a.turnWith(ctx, msg, nil, rf) })
}

// ResumeTyped is Agent.Resume for a typed turn (RunTyped) that paused for
// approval: the rest of the turn asks for T's schema again, and the final
// answer is decoded as RunTyped does. (Agent.Resume goes on without the
// output format.)
func ResumeTyped[T any](ctx context.Context, a *Agent, decisions ...Decision) (T, *Response, error) {
	return typed[T](a, func(rf *llm.ResponseFormat) (*Response, error) { return a.resume(ctx, decisions, nil, rf) })
}

// typed runs a turn with run, asking for T's schema, and decodes its
// answer.
func typed[T any](a *Agent, run func(*llm.ResponseFormat) (*Response, error)) (T, *Response, error) {
	var zero T
	s, err := tool.SchemaFor[T]()
	if err != nil {
		return zero, nil, fmt.Errorf("%w: session %q: %w", ErrOutputSchema, a.opts.id, err)
	}
	if p := strictProblem(s.JSON()); p != "" {
		return zero, nil, fmt.Errorf("%w: session %q: the schema of %s: %s", ErrOutputSchema, a.opts.id, reflect.TypeFor[T](), p)
	}
	rf := &llm.ResponseFormat{Name: outputName(reflect.TypeFor[T]()), Schema: s.JSON(), Strict: true}
	resp, err := run(rf)
	if err != nil {
		return zero, resp, err
	}
	v, err := s.Decode([]byte(resp.Text))
	if err != nil {
		return zero, resp, &OutputError{SessionID: a.opts.id, Raw: resp.Text, Err: err}
	}
	return v, resp, nil
}

var outputNameBad = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// outputName names the response format after typ, as OpenAI's json_schema
// name must be: letters, digits, '_' or '-', at most 64.
func outputName(typ reflect.Type) string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	name := outputNameBad.ReplaceAllString(typ.Name(), "_")
	if strings.Trim(name, "_") == "" {
		return "output"
	}
	return name[:min(len(name), 64)]
}

// strictProblem returns the first part of schema that breaks the rules
// OpenAI's strict mode and Anthropic's structured outputs share, or "":
// the root is an object, and every object has additionalProperties false
// and lists all its properties as required.
func strictProblem(schema json.RawMessage) string {
	var root map[string]any
	if err := json.Unmarshal(schema, &root); err != nil {
		return "not a JSON object: " + err.Error()
	}
	if root["type"] != "object" {
		return `the root is not "type": "object"`
	}
	return strictWalk(root, "$")
}

func strictWalk(n map[string]any, path string) string {
	if n["type"] == "object" || n["properties"] != nil {
		if ap, ok := n["additionalProperties"].(bool); !ok || ap {
			return path + ": an object must have additionalProperties false (a map cannot be described)"
		}
		props, _ := n["properties"].(map[string]any)
		req := map[string]bool{}
		if rs, ok := n["required"].([]any); ok {
			for _, r := range rs {
				if s, ok := r.(string); ok {
					req[s] = true
				}
			}
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range props {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			if !req[k] {
				return fmt.Sprintf("%s.%s: every property must be required (drop omitempty)", path, k)
			}
		}
		for _, k := range keys {
			if c, ok := props[k].(map[string]any); ok {
				if p := strictWalk(c, path+"."+k); p != "" {
					return p
				}
			}
		}
	}
	if items, ok := n["items"].(map[string]any); ok {
		return strictWalk(items, path+"[]")
	}
	for _, kw := range []string{"anyOf", "oneOf", "allOf"} {
		if subs, ok := n[kw].([]any); ok {
			for i, sub := range subs {
				if c, ok := sub.(map[string]any); ok {
					if p := strictWalk(c, fmt.Sprintf("%s.%s[%d]", path, kw, i)); p != "" {
						return p
					}
				}
			}
		}
	}
	return ""
}
