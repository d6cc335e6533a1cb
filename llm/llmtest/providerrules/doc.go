// Package providerrules checks request bodies against the documented
// request rules of the provider APIs convo speaks, so that tests catch a
// request the real API would refuse (a history the agent could never
// resume) without a network round trip.
//
//	if err := providerrules.CheckAnthropic(body); err != nil { ... }
//	if err := providerrules.CheckOpenAI(body, providerrules.ThinkingServer()); err != nil { ... }
//	if err := providerrules.CheckGemini(body, providerrules.Gemini3()); err != nil { ... }
//
// CheckAnthropic, CheckOpenAI and CheckGemini take the JSON body of a
// Messages API, Chat Completions or generateContent request. Anthropic,
// OpenAI and Gemini take a convo client and
// return a func(llm.Request) error that encodes each request exactly as the
// client would send it (its RequestBody method) and checks the bytes: plug
// it into a scripted client (llmtest) to run agent tests under a provider's
// rules.
//
// # Errors
//
// A request breaking rules fails with an error joining one *Violation per
// broken rule (errors.As finds the first; Rules lists every rule id). Every
// Violation matches ErrViolation. Rule ids are stable: tests may assert
// them. Each rule names, in a comment beside its check, the API reference
// page, documentation page or SDK file it comes from, and, where the API's
// own error message is known, that message.
//
// # Rules
//
// Anthropic Messages API (POST /v1/messages):
//
//   - anthropic/first-message-user: the first message is a user turn;
//   - anthropic/content-nonempty: every message but a final assistant one
//     has content;
//   - anthropic/text-nonblank: no text block (in messages, tool results or
//     the system prompt) is empty or whitespace only;
//   - anthropic/tool-use-answered: every tool_use is answered by a
//     tool_result in the next message, which is a user turn;
//   - anthropic/tool-results-first: in that user turn the tool_result
//     blocks come before any other block;
//   - anthropic/tool-result-orphan: every tool_result answers a tool_use of
//     the assistant turn just before it;
//   - anthropic/tools-defined: a request holding tool_use or tool_result
//     blocks has a tools field (the live API accepts an empty one);
//   - anthropic/thinking-temperature: with thinking on, temperature is 1 or
//     absent;
//   - anthropic/thinking-budget: with thinking enabled, budget_tokens is at
//     least 1024 and below max_tokens;
//   - anthropic/thinking-tool-choice: with thinking on, tool_choice does not
//     force tool use ("any" or "tool");
//   - anthropic/thinking-first: with thinking on, when the request continues
//     a tool-use turn (it ends with tool results), the assistant turn that
//     asked for them starts with a thinking or redacted_thinking block;
//   - anthropic/output-schema: every object of the output_config.format
//     schema (structured outputs) sets additionalProperties false.
//
// OpenAI Chat Completions (POST /chat/completions):
//
//   - openai/tool-call-answered: every tool_calls id of an assistant message
//     is answered by a "tool" message among those right after it;
//   - openai/tool-message-orphan: every "tool" message answers a tool call
//     of the assistant message before its run of tool messages;
//   - openai/assistant-content: an assistant message without tool_calls has
//     non-empty content;
//   - openai/reasoning-content (only with ThinkingServer): every assistant
//     message with tool_calls carries its reasoning_content back, as
//     DeepSeek's thinking mode requires;
//   - openai/strict-schema: a response_format json_schema with "strict":
//     true has an object at its root, and every object sets
//     additionalProperties false and lists all its properties as required.
//
// Gemini API (POST /v1beta/models/{model}:generateContent):
//
//   - gemini/json-with-tools (not with Gemini3): a request does not declare
//     functions and ask for responseMimeType "application/json" together;
//   - gemini/body: the request has contents;
//   - gemini/role: every content's role is "user" or "model";
//   - gemini/ends-with-user: the last content is a user turn (a prompt or
//     function responses);
//   - gemini/parts-nonempty: every content has parts;
//   - gemini/part-data: every part carries data (non-empty text, inline or
//     file data, a function call or response, ...), not only a thought
//     signature;
//   - gemini/function-call-turn: a content with function calls is a model
//     turn right after a user turn (a prompt or function responses);
//   - gemini/function-response-turn: a content with function responses
//     comes right after a model turn with function calls;
//   - gemini/function-response-count: the turn after a function call turn
//     is a user turn with as many function responses as there were calls;
//   - gemini/function-response-match: each function response names a call
//     of that turn (and its id, when it has one);
//   - gemini/thought-signature (only with Gemini3): in the current turn,
//     the first function call of each model step carries its
//     thoughtSignature, as Gemini 3 requires.
package providerrules
