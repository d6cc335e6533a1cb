// Package llmtest provides a scripted llm.Client for tests, yours and
// convo's own: replies are queued in order, every request is recorded for
// assertions, and streaming works as with a real provider.
//
//	client := llmtest.New(
//		llmtest.ToolCalls(llmtest.Call("call_1", "weather", `{"city":"Oslo"}`)),
//		llmtest.Text("It is 4°C in Oslo."),
//	)
//
// # Replies
//
// Text, ToolCalls, Parts, Error and Func build replies; WithUsage, WithModel,
// WithFinishReason, WithDelay, Blocking, WithChunkSize and FailStreamAfter
// refine them. Each answer is a fresh assistant message (new ID, current
// time), so a reply used twice (see SetDefault) never collides in a store.
//
// # Streaming
//
// Stream splits the reply into the events a provider sends: text and
// reasoning in chunks, each tool call as a delta with its ID and name followed
// by one with its input, then EventDone carrying the same Response Generate
// would return. FailStreamAfter cuts a stream short with an error, as a
// dropped connection would.
//
// # Provider rules
//
// A real provider refuses requests that break its rules (a tool call without
// its result, an empty text block, ...); a scripted client accepts anything,
// so a test can pass on a history that every real provider would refuse.
// WithRequestCheck closes that gap: the client checks each request, refuses
// a bad one with an *llm.APIError of kind llm.ErrBadRequest, as the provider
// would, and records it (Violations). Package llmtest/providerrules has the
// checks for each provider family:
//
//	client := llmtest.New(replies...).WithRequestCheck(providerrules.Anthropic(ac))
//	// ... run the code under test ...
//	if v := client.Violations(); v != nil {
//		t.Fatalf("requests a provider would refuse: %v", v)
//	}
//
// # Errors and concurrency
//
// A Client is safe for concurrent use. When the script runs out it fails
// with an error matching ErrScriptExhausted (unless SetDefault gave a
// default reply), so a test that makes one model call too many fails loudly.
// Requests returns every request received, in order.
package llmtest
