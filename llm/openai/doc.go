// Package openai is an llm.Client for the OpenAI Chat Completions API
// (POST {base}/chat/completions) and the many servers that speak it.
//
//	c, err := openai.New(openai.WithAPIKey(key), openai.WithModel("gpt-4.1"))
//	res, err := c.Generate(ctx, llm.Request{Messages: msgs})
//
// # Options
//
// WithBaseURL (default DefaultBaseURL), WithAPIKey (sent as a bearer token;
// without one no Authorization header is sent), WithModel (used when
// Request.Model is empty; a call with neither fails with llm.ErrBadRequest),
// WithHeader (extra headers on every request), WithHTTPClient,
// WithMaxRetries (default DefaultMaxRetries), WithMaxRetryDelay and
// WithLegacyMaxTokens. The client reads no environment variable unless given
// FromEnv, which reads OPENAI_API_KEY and OPENAI_BASE_URL when New runs;
// explicit options win over the environment. New validates the options and
// does no network I/O.
//
// # Compatible servers
//
// Considered: OpenAI, Ollama (http://localhost:11434/v1), vLLM and
// llama.cpp server (http://host:8000/v1, http://host:8080/v1), LM Studio
// (http://localhost:1234/v1), OpenRouter (https://openrouter.ai/api/v1, which
// asks for the HTTP-Referer and X-Title headers: use WithHeader) and Groq
// (https://api.groq.com/openai/v1). Differences the client absorbs:
//
//   - reasoning: OpenAI does not return reasoning text from Chat Completions,
//     but DeepSeek, vLLM, llama.cpp and LM Studio send "reasoning_content" and
//     Ollama, OpenRouter and Groq "reasoning"; either becomes a
//     message.Reasoning part (first in the message) and, when streaming,
//     llm.EventReasoningDelta events. It is sent back as "reasoning_content"
//     on every assistant message that made tool calls, which DeepSeek's
//     thinking mode (and Kimi's) requires in all later requests, and on no
//     other message: DeepSeek ignores it there, and servers that never sent
//     reasoning are never sent the field;
//   - tool calls: servers that send every streamed call whole at index 0 are
//     told apart by their call ids, and a call sent without an id gets one
//     ("call_" and a new message ID) in the final message, so its result
//     can name it;
//   - error bodies: Ollama's {"error":"..."}, vLLM's top-level
//     {"message","type","code"} and plain-text or HTML bodies from proxies are
//     all turned into typed errors (see Errors);
//   - Request.MaxOutputTokens is sent as "max_completion_tokens", which
//     OpenAI's reasoning models require (they reject "max_tokens"); local
//     servers such as Ollama and llama.cpp server have long read only
//     "max_tokens" and may ignore the newer field, so use
//     WithLegacyMaxTokens with them when the limit matters.
//
// # Messages and parts
//
// Roles map as follows:
//
//   - system: a "system" message holding the text parts joined by newlines;
//   - summary: a "system" message reading SummaryPrefix ("Summary of the
//     earlier conversation:\n") followed by the summary's text, in the
//     summary's place in the conversation;
//   - user: a "user" message; a single text part is sent as a plain string,
//     anything else as content parts: Text as "text", ImageURL as
//     "image_url" with its Detail, Binary with an image/* MIME type as an
//     "image_url" holding a data: URL, and application/pdf as a "file" part
//     with file_data (a data: URL) and the part's Name. Other binary types
//     fail with llm.ErrBadRequest before any I/O;
//   - assistant: non-empty text parts joined by newlines as "content",
//     ToolCall parts as "tool_calls" (empty input is sent as "{}"); a message
//     with neither is not sent, since the API requires one (a stored empty
//     answer leaves the session usable). Reasoning parts without
//     a signature (from a compatible server) are sent as "reasoning_content"
//     when the message has tool calls (see Compatible servers); other
//     reasoning is not sent;
//   - tool: one "tool" message per ToolResult part, with its CallID as
//     tool_call_id and its Content. Metadata is not sent; Chat Completions
//     has no error flag, so IsError is not sent either (say so in Content).
//
// Unknown parts (written by a later release) are skipped; any other part a
// role cannot carry, or an unknown role, fails with llm.ErrBadRequest.
//
// A response becomes an assistant message with, in order, a Reasoning part
// (compatible servers only), a Text part (the content, or the refusal when
// there is no content) and the ToolCall parts, their Input being the
// arguments byte for byte. The message has a new ID, the creation time, the
// model the server reports and the usage. Finish reasons map "stop",
// "length", "tool_calls" (and the older "function_call") and
// "content_filter" to the llm constants, anything else to llm.FinishOther;
// a response with a "refusal" (streamed or not) is llm.FinishRefusal, its
// refusal the message's text, whatever finish_reason came with it.
//
// The client reports what the server said; the caller (the agent) decides
// what to store and which error to return. With llm.FinishLength a tool
// call cut off by the limit keeps the arguments as far as they came (they
// may not be valid JSON); an empty answer (content "" with "length", or
// null with "content_filter") is a message without parts and its finish
// reason.
//
// Usage maps prompt_tokens to InputTokens (which, as OpenAI counts them,
// include cached tokens), completion_tokens to OutputTokens (including
// reasoning tokens), prompt_tokens_details.cached_tokens to CacheReadTokens
// and completion_tokens_details.reasoning_tokens to ReasoningTokens.
//
// Tools are sent as function tools; ToolSpec.Parameters must be a JSON
// object (an empty one is sent as an empty object schema). ToolChoice maps to
// "none", "required" or {"type":"function","function":{"name":...}}; the
// zero value sends nothing, leaving the choice to the model.
// Request.ResponseFormat is sent as response_format {"type":"json_schema"}
// with the schema byte for byte and "strict" when asked.
//
// RequestBody returns the JSON body Generate sends for a request, byte for
// byte, without sending it; llm/llmtest/providerrules checks such bodies
// against the API's documented request rules.
//
// # Streaming
//
// Stream sets "stream": true and stream_options.include_usage, yields
// EventTextDelta, EventReasoningDelta and EventToolCallDelta events as
// chunks arrive, and ends with EventDone carrying the same Response Generate
// returns for the same answer. Tool-call arguments that arrive in pieces,
// several calls interleaved by index, are assembled per call; the first
// delta of a call carries its ID and Name, and ToolCallDelta.Index is the
// call's position in the final message. A stream that ends before its
// "data: [DONE]" line fails with an error wrapping llm.ErrIncomplete (and
// io.ErrUnexpectedEOF), even when the finish reason came, so a connection
// cut before the usage chunk is never mistaken for a complete answer with
// zero usage. Cancelling the
// context, or breaking out of the loop, closes the connection at once.
//
// # Retries
//
// A request answered with 429, 408, 409 or 5xx, or failing to connect, is
// retried up to WithMaxRetries times, except a 429 "insufficient_quota"
// (billing), which waiting does not cure. The wait honours retry-after-ms and
// Retry-After (seconds or an HTTP-date); otherwise it is an exponential
// backoff from 0.5s with jitter, capped at 8s (or WithMaxRetryDelay). A
// server asking for more than 2 minutes (or WithMaxRetryDelay) is not
// retried: the caller gets the error with its RetryAfter. No request is sent
// and no wait continues after the context is done. Only the request is
// retried, never a stream that has started.
//
// # Errors
//
// A failed call returns an *llm.APIError (errors.As) that matches one
// sentinel (errors.Is):
//
//   - llm.ErrQuotaExceeded for a 429 with type or code "insufficient_quota",
//     never retried;
//   - llm.ErrRateLimited for other 429s, with RetryAfter from the headers;
//   - llm.ErrContextTooLong for code "context_length_exceeded", llama.cpp's
//     "exceed_context_size_error", or a message about the maximum context
//     length (vLLM, OpenRouter);
//   - llm.ErrContentFiltered for code "content_filter" (Azure OpenAI's
//     prompt filter) or "content_policy_violation";
//   - llm.ErrAuthentication for 401 and 403;
//   - llm.ErrBadRequest for other 4xx, and for requests the client cannot
//     translate (no HTTP status then);
//   - llm.ErrServer for 5xx, and for an error event inside a stream.
//
// The APIError's Err is the SDK's *openai.Error. Context cancellation and
// transport failures are returned as they are (errors.Is(err,
// context.Canceled) holds).
//
// # Why the official SDK
//
// The client is built on github.com/openai/openai-go/v3: its request types
// track the API, and its retry loop already does what this package needs
// (Retry-After in both forms, retry-after-ms, backoff with jitter, context
// checks, a replayable body), so retries are configured once through the
// SDK rather than wrapped twice; the tests check the behaviour against a
// server. The chat service is constructed directly, not with
// openai.NewClient, because NewClient reads OPENAI_* variables (including
// OPENAI_CUSTOM_HEADERS) without being asked. Compatible servers' error
// bodies, which the SDK cannot decode, are normalised by SDK middleware.
package openai
