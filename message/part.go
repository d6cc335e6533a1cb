package message

import "encoding/json"

// Part is one piece of a message's content. The part types are Text,
// Reasoning, ImageURL, Binary, ToolCall, ToolResult and Unknown; a type
// switch tells them apart.
type Part interface {
	// PartType returns the part's type as it is written in the JSON
	// encoding, such as "text" or "tool_call".
	PartType() string
	isPart()
}

// Part type names, as written in the "type" field of the JSON encoding.
const (
	TypeText       = "text"
	TypeReasoning  = "reasoning"
	TypeImageURL   = "image_url"
	TypeBinary     = "binary"
	TypeToolCall   = "tool_call"
	TypeToolResult = "tool_result"
)

// Text is plain text.
type Text struct {
	// Text is the text.
	Text string
}

// Reasoning is a model's reasoning ("thinking"). Some providers require it to
// be sent back unchanged, with its opaque Signature, in later requests.
//
// A Reasoning with a Signature and no Text is a signature that belongs to the
// part right after it: Gemini signs function calls and other parts, not only
// its thoughts, and llm/gemini keeps such a signature this way, so that it
// goes back on the same part.
type Reasoning struct {
	// Text is the reasoning as the provider showed it.
	Text string
	// Signature is the provider's opaque signature of the reasoning. For
	// redacted reasoning it holds the provider's encrypted data.
	Signature string
	// Redacted reports that the provider withheld the text and sent only
	// encrypted data (kept in Signature).
	Redacted bool
}

// ImageURL is an image given by URL, including data: URLs.
type ImageURL struct {
	// URL is where the image is, or a data: URL holding it.
	URL string
	// Detail is the provider's detail hint ("low", "high", "auto"), or "".
	Detail string
}

// Binary is inline binary content such as an image, audio or a PDF.
type Binary struct {
	// MIMEType is the content's type, such as "image/png".
	MIMEType string
	// Data is the content's bytes.
	Data []byte
	// Name is an optional file name.
	Name string
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	// ID identifies the call; the result carries it as CallID.
	ID string
	// Name is the tool's name.
	Name string
	// Input holds the arguments exactly as the model produced them,
	// normally a JSON object. It is stored byte for byte, even when it is
	// not valid JSON (a model can produce that, and the store must keep the
	// turn anyway).
	Input json.RawMessage
	// Synthesized marks a call that convo made up while repairing a session
	// (see session.Repair), not one a model produced.
	Synthesized bool
}

// ToolResult is the outcome of a tool call.
type ToolResult struct {
	// CallID is the ID of the ToolCall this answers.
	CallID string
	// Name is the tool's name.
	Name string
	// Content is the result as the model will see it.
	Content string
	// Metadata is optional JSON for the application (not sent to models),
	// stored byte for byte.
	Metadata json.RawMessage
	// IsError reports that the tool failed and Content describes the error.
	IsError bool
	// Synthesized marks a result that convo made up, for example for a call
	// whose result was never recorded because the program was interrupted
	// (see session.Repair).
	Synthesized bool
}

// Unknown is a part whose type this release does not know, such as one
// written by a later release. It is kept exactly as read and written back
// unchanged, so reading and rewriting a session never drops content.
type Unknown struct {
	// Type is the part's "type" field.
	Type string
	// Raw is the part's whole JSON object, byte for byte.
	Raw json.RawMessage
}

// PartType implements Part.
func (Text) PartType() string { return TypeText }

// PartType implements Part.
func (Reasoning) PartType() string { return TypeReasoning }

// PartType implements Part.
func (ImageURL) PartType() string { return TypeImageURL }

// PartType implements Part.
func (Binary) PartType() string { return TypeBinary }

// PartType implements Part.
func (ToolCall) PartType() string { return TypeToolCall }

// PartType implements Part.
func (ToolResult) PartType() string { return TypeToolResult }

// PartType implements Part.
func (u Unknown) PartType() string { return u.Type }

func (Text) isPart()       {}
func (Reasoning) isPart()  {}
func (ImageURL) isPart()   {}
func (Binary) isPart()     {}
func (ToolCall) isPart()   {}
func (ToolResult) isPart() {}
func (Unknown) isPart()    {}
