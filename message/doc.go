// Package message defines the conversation message convo stores: a Role, an
// ordered list of Parts, the producing Model, a creation time and, for
// assistant messages, token Usage.
//
// # Parts
//
// A part is one of Text, Reasoning (with the provider's opaque signature),
// ImageURL, Binary (MIME type, bytes, optional name), ToolCall (id, name,
// input) and ToolResult (call id, name, content, metadata, is-error). A part
// whose type this release does not know is read as Unknown and written back
// byte for byte, so no release drops content written by a later one.
//
// # The JSON encoding, version 1
//
// Stores keep a message's parts as JSON text, an array with one object per
// part. Every object has a "type" field; the other fields are:
//
//	text         "text"
//	reasoning    "text", "signature", "redacted" (bool)
//	image_url    "url", "detail"
//	binary       "mime_type", "data" (standard base64), "name"
//	tool_call    "id", "name", "input" (a string: the arguments byte for byte), "synthesized" (bool)
//	tool_result  "call_id", "name", "content", "metadata" (a string), "is_error" (bool), "synthesized" (bool)
//
// Fields holding their zero value are omitted, and a missing field reads as
// its zero value. For example:
//
//	[{"type":"text","text":"What's the weather in Oslo?"}]
//	[{"type":"tool_call","id":"call_1","name":"weather","input":"{\"city\":\"Oslo\"}"}]
//
// A whole message (as the CLI exports it) is an object:
//
//	{"id":"0193…","role":"assistant","parts":[…],"model":"gpt-4.1","created_at":1732460000000000000,
//	 "usage":{"input_tokens":12,"output_tokens":7}}
//
// Tool-call input and tool-result metadata are kept as strings rather than
// nested JSON so that they come back byte for byte in every store (JSON
// columns in some databases reorder keys) and so that a model's malformed
// arguments are stored as produced.
//
// # Versioning rules
//
// Version 1 is the bare array above. The fields of the six part types are
// frozen: a later release that needs more adds a new part type (which this
// release keeps as Unknown) or a new format version. A later format version
// will be a JSON object {"v": N, ...}, never a bare array, so every reader can
// tell the versions apart by the first byte; UnmarshalParts rejects versions
// it does not know with ErrMalformed rather than guessing. Golden files in
// testdata/v1 pin the encoding; they are append-only.
//
// # Exact round trips
//
// Strings in JSON must be valid UTF-8, so Validate refuses text that is not;
// arbitrary bytes belong in a Binary part. Everything else (unicode, control
// characters, large texts, binary data, the model, the creation time to the
// nanosecond) comes back exactly as it went in. An empty byte slice and nil
// are not distinguished: both come back nil.
package message
