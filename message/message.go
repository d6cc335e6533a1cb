package message

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Role says who produced a message.
type Role string

// The roles convo knows. A store keeps any non-empty role it is given, so a
// role added by a later release survives a round trip through this one.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleSystem    Role = "system"
	RoleTool      Role = "tool"
	RoleSummary   Role = "summary"
)

// Known reports whether r is one of the roles this release defines.
func (r Role) Known() bool {
	switch r {
	case RoleUser, RoleAssistant, RoleSystem, RoleTool, RoleSummary:
		return true
	}
	return false
}

// Usage is the token usage a provider reported for the response that
// produced an assistant message. Zero fields mean "not reported".
type Usage struct {
	// InputTokens is the whole prompt, cached tokens included;
	// OutputTokens the answer, reasoning included.
	InputTokens  int64 `json:"input_tokens,omitempty"`
	OutputTokens int64 `json:"output_tokens,omitempty"`
	// CacheReadTokens and CacheWriteTokens are the input tokens read from
	// and written to the provider's prompt cache.
	CacheReadTokens  int64 `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens int64 `json:"cache_write_tokens,omitempty"`
	// ReasoningTokens are the output tokens spent on reasoning, where the
	// provider reports them.
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
}

// IsZero reports whether u holds no counts at all.
func (u Usage) IsZero() bool { return u == Usage{} }

// Add returns the field-wise sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:      u.InputTokens + v.InputTokens,
		OutputTokens:     u.OutputTokens + v.OutputTokens,
		CacheReadTokens:  u.CacheReadTokens + v.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens + v.CacheWriteTokens,
		ReasoningTokens:  u.ReasoningTokens + v.ReasoningTokens,
	}
}

// Message is one entry of a conversation.
//
// A store gives a message with an empty ID a new one (see NewID) and a
// message with a zero CreatedAt the time of the append; everything else is
// kept exactly as given.
type Message struct {
	// ID identifies the message within its session. IDs made by NewID sort
	// by creation time. Appending a message whose ID the session already
	// holds stores nothing, which makes appends safe to retry.
	ID string
	// Role says who produced the message.
	Role Role
	// Parts is the content, in order.
	Parts []Part
	// Model names the model that produced an assistant message.
	Model string
	// CreatedAt is the creation time in Unix nanoseconds.
	CreatedAt int64
	// Usage is the token usage of the response that produced an assistant
	// message, or nil.
	Usage *Usage
}

// NewID returns a new message ID: a UUIDv7 in its canonical text form, so
// IDs made later sort after IDs made earlier.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// uuid.NewV7 fails only when the system's random source does;
		// fall back to a random v4 rather than returning no ID.
		return uuid.NewString()
	}
	return id.String()
}

// NewMessage returns a message with a new ID, the given role and parts, and
// the current time.
func NewMessage(role Role, parts ...Part) Message {
	return Message{ID: NewID(), Role: role, Parts: parts, CreatedAt: time.Now().UnixNano()}
}

// NewUserMessage returns a user message holding text.
func NewUserMessage(text string) Message { return NewMessage(RoleUser, Text{Text: text}) }

// NewSystemMessage returns a system message holding text.
func NewSystemMessage(text string) Message { return NewMessage(RoleSystem, Text{Text: text}) }

// NewAssistantMessage returns an assistant message holding text.
func NewAssistantMessage(text string) Message {
	return NewMessage(RoleAssistant, Text{Text: text})
}

// NewSummaryMessage returns a summary message holding text: a condensed
// account of earlier turns that stands in for them when history is sent to a
// model.
func NewSummaryMessage(text string) Message { return NewMessage(RoleSummary, Text{Text: text}) }

// NewToolResultMessage returns a tool message holding the given results.
func NewToolResultMessage(results ...ToolResult) Message {
	parts := make([]Part, len(results))
	for i, r := range results {
		parts[i] = r
	}
	return NewMessage(RoleTool, parts...)
}

// Content returns the text of the first text part, or "".
func (m Message) Content() string {
	for _, p := range m.Parts {
		if t, ok := p.(Text); ok {
			return t.Text
		}
	}
	return ""
}

// Text returns the text of all text parts, joined by newlines.
func (m Message) Text() string {
	// Two passes: size first, then one allocation, so that a message of
	// many parts costs time linear in its text (string += was quadratic).
	n, size := 0, 0
	for _, p := range m.Parts {
		if t, ok := p.(Text); ok {
			if n > 0 {
				size++
			}
			size += len(t.Text)
			n++
		}
	}
	if n == 1 {
		for _, p := range m.Parts {
			if t, ok := p.(Text); ok {
				return t.Text
			}
		}
	}
	var b strings.Builder
	b.Grow(size)
	n = 0
	for _, p := range m.Parts {
		if t, ok := p.(Text); ok {
			if n > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t.Text)
			n++
		}
	}
	return b.String()
}

// ToolCalls returns the tool-call parts in order.
func (m Message) ToolCalls() []ToolCall { return partsOf[ToolCall](m.Parts) }

// ToolResults returns the tool-result parts in order.
func (m Message) ToolResults() []ToolResult { return partsOf[ToolResult](m.Parts) }

// ImageURLContent returns the image parts in order.
func (m Message) ImageURLContent() []ImageURL { return partsOf[ImageURL](m.Parts) }

// BinaryContent returns the binary parts in order.
func (m Message) BinaryContent() []Binary { return partsOf[Binary](m.Parts) }

// ReasoningContent returns the first reasoning part, or the zero Reasoning.
// Use AllReasoning for every reasoning part.
func (m Message) ReasoningContent() Reasoning {
	for _, p := range m.Parts {
		if r, ok := p.(Reasoning); ok {
			return r
		}
	}
	return Reasoning{}
}

// AllReasoning returns the reasoning parts in order.
func (m Message) AllReasoning() []Reasoning { return partsOf[Reasoning](m.Parts) }

func partsOf[T Part](parts []Part) []T {
	var out []T
	for _, p := range parts {
		if v, ok := p.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
