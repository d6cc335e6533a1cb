// Package gemini is an llm.Client for the Gemini API
// (POST {base}/v1beta/models/{model}:generateContent, and
// :streamGenerateContent?alt=sse when streaming).
//
//	c, err := gemini.New(gemini.FromEnv(), gemini.WithModel("gemini-3-pro-preview"))
//	res, err := c.Generate(ctx, llm.Request{Messages: msgs})
//
// # Options
//
// WithAPIKey (sent as x-goog-api-key; New fails without a key, which the
// API requires), WithBaseURL (default DefaultBaseURL), WithModel (used when
// Request.Model is empty; a call with neither fails with llm.ErrBadRequest),
// WithHeader, WithHTTPClient, WithMaxRetries (default DefaultMaxRetries),
// WithMaxRetryDelay, WithThoughts (thought summaries), WithThinkingLevel
// (Gemini 3) and WithThinkingBudget (Gemini 2.5). The client reads no
// environment variable unless given FromEnv, which reads GOOGLE_API_KEY or
// GEMINI_API_KEY (GOOGLE_API_KEY first, as the SDK does) and
// GOOGLE_GEMINI_BASE_URL when New runs; explicit options win. New validates
// the options and does no network I/O. The Gemini API backend only: Vertex
// AI (project, location, Google Cloud credentials) is not supported by this
// package.
//
// # Messages and parts
//
//   - system: each system message's text becomes a part of the
//     systemInstruction, in order;
//   - summary: a systemInstruction part reading SummaryPrefix followed by
//     the summary's text (the contents have no system turns);
//   - user: a "user" content; Text as text parts (empty or whitespace-only
//     text is skipped), Binary as inlineData with its MIME type (images,
//     audio, video, PDF: what the model accepts), ImageURL as inlineData
//     when it is a base64 data: URL and otherwise as fileData with the MIME
//     type its extension names (image/jpeg when it names none); which URLs
//     the API fetches is up to the API (File API URIs; see its
//     documentation for others), and it refuses the rest;
//   - assistant: a "model" content; Text as text, ToolCall as functionCall
//     (input that is not a JSON object is sent as {}), Binary as
//     inlineData, and Reasoning as described under Thought signatures;
//   - tool: each ToolResult as a functionResponse in a "user" content, with
//     {"output": Content}, or {"error": Content} when IsError is set (the
//     keys the API documents); a result without a Name takes its call's.
//     Metadata is not sent.
//
// Consecutive contents of one role are merged into one, so that the
// responses to parallel calls, in one tool message or several, form the
// single function response turn the API requires. Unknown parts are
// skipped; any other part a role cannot carry, an unknown role, or a
// request left with no content at all (the API requires contents) fails
// with llm.ErrBadRequest before any I/O.
//
// Function call IDs: the API may return a functionCall with an "id"; it is
// kept as the ToolCall's ID and sent back on the call and its
// functionResponse. A call without one gets an ID starting with
// LocalCallIDPrefix, which is never sent (the API matches such calls and
// responses by name and order), as google/adk-go does with its "adk-"
// IDs.
//
// Tools are sent as functionDeclarations with their JSON schema as
// parametersJsonSchema, every keyword kept; the schema must describe an
// object. ToolChoice maps to functionCallingConfig mode NONE, ANY, or ANY
// with allowedFunctionNames; the zero value sends nothing. ResponseFormat
// is sent as responseMimeType "application/json" with its schema as
// responseJsonSchema; with tools, on a model named gemini-1.x or
// gemini-2.x, it fails before any I/O (llm.ErrBadRequest), since the API
// answers "Function calling with a response mime type: 'application/json'
// is unsupported" before Gemini 3. Temperature and MaxOutputTokens go in the
// generationConfig.
//
// # Thought signatures
//
// Gemini returns an opaque thoughtSignature on some parts of an answer
// (https://ai.google.dev/gemini-api/docs/thought-signatures): on the first
// functionCall of each step (not on the further calls of a parallel step),
// and otherwise on the last part, which when streaming can be an empty text
// part that carries only the signature. "As a general rule, if you receive
// a thought signature in a model response, you should pass it back exactly
// as it was received", on the part it came with; Gemini 3 models validate
// the signatures of the function calls of the current turn (everything
// since the last user message that is not only function responses) and
// refuse a request whose call lacks one with 400 "Function call is missing
// a thought_signature in functionCall parts".
//
// The client keeps each signature where the other clients keep provider
// signatures, in a message.Reasoning part, so the stored message carries it
// through every store and the JSON format unchanged:
//
//   - a thought part (thought: true, with WithThoughts) becomes
//     Reasoning{Text, Signature} and goes back as a thought part with its
//     signature;
//   - a signature on any other part (a function call, text, inline data)
//     becomes Reasoning{Signature} with no text, placed right before the
//     part it belongs to, and goes back on that part. A signature left with
//     no part after it goes on the message's last part that has none.
//
// The signature is the base64 text the API sent (the SDK decodes it; the
// client encodes the same bytes back). Reasoning that cannot be Gemini's is
// not sent: Reasoning in an assistant message whose Model names neither a
// Gemini model nor the model of the request (an alias a proxy reports back)
// came from another provider (a session continued on Gemini after Claude,
// say), and Gemini cannot verify its signatures, so it is dropped; so is
// Redacted reasoning, and a signature that is not base64. A message with
// no Model keeps its reasoning. Streamed text and
// thoughts are assembled into one part per run; a run keeps at most one
// signature, and a second one starts a new part, so none is lost.
// llm/llmtest/providerrules checks requests against these rules
// (CheckGemini with Gemini3).
//
// # Responses
//
// An answer becomes an assistant message with the parts above, a new ID,
// the creation time, the model version the API reports and the usage. A
// functionCall's args, which the SDK decodes, are re-encoded as the Input
// (keys in sorted order). The finish reason STOP maps to llm.FinishStop, or
// llm.FinishToolCalls when the answer holds function calls; MAX_TOKENS to
// llm.FinishLength; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT,
// SPII and the image safety reasons to llm.FinishContentFilter, as is a
// prompt blocked before any candidate (promptFeedback.blockReason); others
// (MALFORMED_FUNCTION_CALL, ...) to llm.FinishOther. Executable code and
// the results of server-side tools are not kept.
//
// Usage is normalised to count as OpenAI does: InputTokens is
// promptTokenCount (which includes cached tokens) plus
// toolUsePromptTokenCount, CacheReadTokens is cachedContentTokenCount,
// OutputTokens is candidatesTokenCount plus thoughtsTokenCount (the API
// counts the thoughts apart and bills them as output), ReasoningTokens is
// thoughtsTokenCount.
//
// RequestBody returns the JSON body Generate sends for a request, byte for
// byte: the SDK encodes it and hands it to a transport that keeps it and
// sends nothing.
//
// # Streaming
//
// Stream reads the server-sent events of streamGenerateContent, each a
// GenerateContentResponse with the next parts. It yields EventTextDelta,
// EventReasoningDelta (thought text) and one EventToolCallDelta per
// function call, carrying its ID, Name and whole input (the API sends each
// call whole), then EventDone with the same Response Generate returns for
// the same answer, signatures included. An error inside the stream ends it
// with a typed error; a stream that ends before any chunk carried a finish
// reason fails with an error wrapping llm.ErrIncomplete (and
// io.ErrUnexpectedEOF). Breaking out of the loop, or cancelling the
// context, closes the connection.
//
// # Retries
//
// A request answered with 408, 429 or 5xx, or failing with no answer at
// all (a connection error), is retried up to WithMaxRetries times by the
// client's transport. The wait is the retryDelay of the error's
// google.rpc.RetryInfo detail (which the API sends with a 429) or a
// Retry-After header, otherwise an exponential backoff from 0.5s with up to
// 25% jitter, capped at 8s (or WithMaxRetryDelay). A server asking for more
// than 2 minutes (or WithMaxRetryDelay), or a 429 naming a daily quota, is
// not retried. No request is sent and no wait continues after the context
// is done. Only the request is retried, never a stream that has started.
// The SDK's own retries stay off.
//
// # Errors
//
// A failed call returns an *llm.APIError (errors.As) that matches one
// sentinel (errors.Is); its Err is the SDK's genai.APIError and its
// StatusCode the error's code (the HTTP status; for an error inside a
// stream, the code the error event carries):
//
//   - llm.ErrRateLimited: 429 RESOURCE_EXHAUSTED, with RetryAfter from the
//     RetryInfo detail;
//   - llm.ErrQuotaExceeded: a 429 whose QuotaFailure or ErrorInfo names a
//     daily quota ("PerDay", as gemini-cli classifies them);
//   - llm.ErrContextTooLong: 400 "The input token count (N) exceeds the
//     maximum number of tokens allowed (M).";
//   - llm.ErrAuthentication: 401, 403 PERMISSION_DENIED, and the 400 the
//     API answers to an unknown key (ErrorInfo reason API_KEY_INVALID, "API
//     key not valid");
//   - llm.ErrBadRequest: other 4xx, and requests the client cannot
//     translate (no HTTP status then);
//   - llm.ErrServer: 500 INTERNAL, 503 UNAVAILABLE (the model is
//     overloaded), 504 and other 5xx, including such an error inside a
//     stream.
//
// Context cancellation and transport failures are returned as they are
// (errors.Is(err, context.Canceled) holds).
//
// # Why the official SDK
//
// The client is built on google.golang.org/genai, Google's Go SDK for the
// Gemini API: its types track the API (thought signatures, thinking
// levels, function call IDs), it encodes requests and decodes the stream
// as Google's own tools do, and its tests record the wire format this
// package is tested against. The SDK is imported by this package only. Its
// client is made for each call with that call's context, always with the
// backend, key and endpoint given, so the environment variables the SDK
// consults on its own (GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GEMINI_BASE_URL,
// the key variables) decide nothing. The SDK writes to the standard logger
// on its own in two cases: a warning when both GOOGLE_API_KEY and
// GEMINI_API_KEY are set, and a line when a stream's connection fails or
// is cancelled (the error is returned as well).
package gemini
