// Package anthropic is an llm.Client for the Anthropic Messages API
// (POST {base}/v1/messages).
//
//	c, err := anthropic.New(anthropic.WithAPIKey(key), anthropic.WithModel("claude-sonnet-4-5"))
//	res, err := c.Generate(ctx, llm.Request{Messages: msgs})
//
// # Options
//
// WithBaseURL (default DefaultBaseURL), WithAPIKey (sent as x-api-key),
// WithModel (used when Request.Model is empty; a call with neither fails
// with llm.ErrBadRequest), WithHeader (extra headers on every request, such
// as anthropic-beta), WithHTTPClient, WithMaxRetries (default
// DefaultMaxRetries), WithMaxRetryDelay, WithMaxTokens (the max_tokens sent
// when Request.MaxOutputTokens is 0, default DefaultMaxTokens, because the
// API requires a value) and WithThinking (extended thinking with a token
// budget). Every request carries anthropic-version: 2023-06-01. The client
// reads no environment variable, profile or configuration file unless given
// FromEnv, which reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL when New
// runs; explicit options win over the environment. New validates the
// options and does no network I/O.
//
// # Extended thinking
//
// The API accepts a thinking budget of at least MinThinkingBudget (1024) and
// below max_tokens, and with thinking on only temperature 1 and a tool
// choice that does not force tool use. New refuses a WithThinking budget
// below the minimum or not below WithMaxTokens (DefaultMaxTokens when not
// set); a request with MaxOutputTokens not above the budget, a Temperature
// other than 1, or ToolChoiceRequired or ToolChoiceTool fails before any I/O
// with llm.ErrBadRequest and a message naming the conflict.
//
// # Compatible servers
//
// Considered: the Anthropic API itself, and gateways that forward the
// Messages API unchanged (such as LiteLLM's proxy or a corporate egress
// proxy), reached through WithBaseURL and WithHeader. Ollama documents an
// Anthropic-compatible endpoint at http://localhost:11434 that ignores the
// key; its cloud service wants "Authorization: Bearer <key>", which
// WithHeader can send (not tested here). Amazon
// Bedrock and Google Vertex AI sign requests differently and are not
// supported by this package.
//
// # Messages and parts
//
//   - system: each system message's text becomes a block of the top-level
//     "system" prompt, in order;
//   - summary: a "system" block reading SummaryPrefix ("Summary of the
//     earlier conversation:\n") followed by the summary's text. The Messages
//     API has no system turns inside the conversation, so a summary is part
//     of the system prompt wherever it stands in the history;
//   - user: Text as "text" blocks (empty or whitespace-only text is
//     skipped, as the API rejects it: a stored history holding some stays
//     usable); ImageURL as an "image" block with a "url" source, or a "base64"
//     source when the URL is a base64 data: URL (Detail has no Anthropic
//     equivalent and is not sent); Binary with an image/* MIME type as a
//     base64 "image" block and application/pdf as a base64 "document" block
//     titled with the part's Name. Other binary types fail with
//     llm.ErrBadRequest before any I/O;
//   - assistant: Text as "text" (empty or whitespace-only text skipped),
//     ToolCall as "tool_use" (input that is not valid JSON is sent as {}), and Reasoning exactly as it came:
//     Reasoning{Text, Signature} as a "thinking" block with its signature,
//     Reasoning{Signature: data, Redacted: true} as "redacted_thinking" with
//     its data. The API requires these back, unchanged and in place, when a
//     tool-use turn is continued with thinking enabled. Reasoning without a
//     signature (from another provider) is dropped, since the API would
//     reject it, and so is all reasoning of a message whose Model names
//     neither a Claude model nor the request's model (Gemini's thought
//     signatures in a session continued on Claude, say); a message with no
//     Model keeps its reasoning;
//   - tool: every ToolResult as a "tool_result" block in a user turn, with
//     its Content as a text block (none when the Content is empty or
//     whitespace only) and "is_error" when IsError is set.
//     Metadata is not sent.
//
// Consecutive turns of one role are merged into one message, so the
// results of parallel tool calls, in one tool message or several, and a
// user message after them, form the single user turn the API requires.
// Unknown parts are skipped; any other part a role cannot carry, or an
// unknown role, fails with llm.ErrBadRequest.
//
// A response becomes an assistant message whose parts follow the content
// blocks in order: "text" as Text, "thinking" as Reasoning{Text,
// Signature}, "redacted_thinking" as Reasoning{Signature: data, Redacted:
// true}, "tool_use" as ToolCall with the input byte for byte. Server-tool
// blocks are skipped. The message has a new ID, the creation time, the model
// the server reports and the usage. Stop reasons map end_turn and
// stop_sequence to llm.FinishStop, max_tokens and
// model_context_window_exceeded to llm.FinishLength, tool_use to
// llm.FinishToolCalls, refusal to llm.FinishRefusal and anything else
// (pause_turn) to llm.FinishOther.
//
// A refusal whose stop_details carries an explanation comes back as a
// message holding that explanation as its only text (the partial output
// before the refusal is dropped, since the API asks callers to reset the
// refused turn); without one, the partial output is kept as it came. With
// llm.FinishLength, a tool call cut off by the output limit keeps exactly the
// input that arrived, which may be incomplete JSON or empty, never a made-up
// {}. An answer with no content comes back as a message without parts and
// its finish reason. The client reports; the caller (the agent) decides what
// to store and which error to return.
//
// Usage is normalised to count as OpenAI does: InputTokens is the whole
// prompt, input_tokens + cache_read_input_tokens +
// cache_creation_input_tokens; CacheReadTokens and CacheWriteTokens are the
// two cache counts; OutputTokens is output_tokens; ReasoningTokens is
// output_tokens_details.thinking_tokens where reported.
//
// Tools are sent with their JSON schema as input_schema, every keyword kept;
// the schema must describe an object. A request without tools whose history
// holds tool calls or results (a summary of a tool-using conversation) is
// sent with an empty "tools": [] list, because the API refuses tool blocks
// in a request without a tools field and accepts an empty one. ToolChoice maps to {"type":"none"},
// {"type":"any"} or {"type":"tool","name":...}; the zero value sends
// nothing. Request.ResponseFormat is sent as output_config.format
// {"type":"json_schema","schema":...}, which the API always enforces
// (Strict and Name have no equivalent).
//
// RequestBody returns the JSON body Generate sends for a request, byte for
// byte, without sending it; llm/llmtest/providerrules checks such bodies
// against the API's documented request rules.
//
// # Streaming
//
// Stream reads message_start, content_block_start/delta/stop (text_delta,
// thinking_delta, signature_delta, input_json_delta), message_delta (stop
// reason and cumulative usage) and message_stop, skipping ping. It yields
// EventTextDelta, EventReasoningDelta (thinking text) and EventToolCallDelta
// (the first carries the call's ID and Name, later ones its input JSON in
// pieces; Index is the call's position among the response's tool calls),
// then EventDone carrying the same Response Generate returns for the same
// answer, signatures included. An "error" event ends the stream with a
// typed error (no HTTP status, since the stream began with 200 OK); a stream
// that ends without message_stop fails with an error wrapping
// llm.ErrIncomplete (and io.ErrUnexpectedEOF), whatever it delivered.
// Cancelling the context, or breaking out of the loop, closes the connection
// at once.
//
// # Retries
//
// A request answered with 429, 529 (overloaded), another 5xx, 408 or 409,
// or failing to connect, is retried up to WithMaxRetries times. The wait
// honours retry-after-ms and retry-after (seconds or an HTTP-date);
// otherwise it is an exponential backoff from 0.5s with up to 25% jitter,
// capped at 8s (or WithMaxRetryDelay). A server asking for more than 2
// minutes (or WithMaxRetryDelay) is not retried: the caller gets the error
// with its RetryAfter. No request is sent and no wait continues after the
// context is done. Only the request is retried, never a stream that has
// started.
//
// # Errors
//
// A failed call returns an *llm.APIError (errors.As) that matches one
// sentinel (errors.Is):
//
//   - llm.ErrRateLimited: 429 rate_limit_error, with RetryAfter from the
//     retry-after header;
//   - llm.ErrContextTooLong: 400 invalid_request_error whose message says
//     "prompt is too long" or "input length and `max_tokens` exceed context
//     limit", and 413 request_too_large;
//   - llm.ErrQuotaExceeded: a 400 whose message says the "credit balance is
//     too low" (billing; waiting does not help);
//   - llm.ErrAuthentication: 401 authentication_error, 403
//     permission_error;
//   - llm.ErrBadRequest: other 4xx (invalid_request_error, not_found_error),
//     and requests the client cannot translate (no HTTP status then);
//   - llm.ErrServer: 500 api_error, 529 overloaded_error, other 5xx, and an
//     overloaded_error or api_error event inside a stream.
//
// The APIError's Err is the SDK's *anthropic.Error. Context cancellation and
// transport failures are returned as they are (errors.Is(err,
// context.Canceled) holds).
//
// # Why the official SDK
//
// The client is built on github.com/anthropics/anthropic-sdk-go: its types
// track the API (thinking, redacted thinking, signatures, output_config),
// its SSE decoder handles ping and error events, and its retry loop already
// waits on retry-after, retry-after-ms and HTTP-dates, honours the context
// and replays the body, so retries are configured once through the SDK
// (option.WithMaxRetries) rather than wrapped twice. Two gaps are closed
// with SDK middleware, checked by the tests: the SDK waits as long as any
// retry-after says (an hour, if asked) and its backoff cannot be tuned, so
// the middleware stops retries beyond the maximum delay and supplies the
// capped backoff. The message service is constructed directly, not with
// anthropic.NewClient, because NewClient reads ANTHROPIC_* variables,
// profiles and configuration files without being asked.
package anthropic
