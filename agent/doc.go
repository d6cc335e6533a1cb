// Package agent runs conversations between a user, a model (an llm.Client)
// and tools, and keeps them in a session store so they survive restarts and
// can be resumed by any process.
//
//	a := agent.New(client,
//		agent.WithSession("user-123", store),
//		agent.WithSystemPrompt("You are a helpful assistant."),
//		agent.WithTools(weather),
//	)
//	resp, err := a.Chat(ctx, "What's the weather in Oslo?")
//
// # A turn
//
// Chat (or Send, for a user message with images; ChatStream and SendStream
// to stream) runs one turn: it stores the user message, sends the history to
// the model, runs the tools the model calls (the calls of one response in
// parallel, at most WithMaxParallelTools at once, results kept in call
// order), sends their results back, and so on until the model answers
// without calling tools or WithMaxIterations model calls were made. The
// Response carries the final text, every message the turn stored, the token
// usage summed over the turn, and the number of model calls.
//
// A tool's failure (bad arguments, an error, a panic, a timeout) is an
// is-error result the model sees (see package tool); it never aborts the
// turn.
//
// # Persistence: a valid session after every write
//
// A session is valid when every tool call of an assistant message has its
// result in the tool messages right after it (session.Check). The agent
// never stores a call without its results: it writes the user message at
// once, then holds each assistant message that calls tools in memory until
// its tools finish and writes it together with a tool message holding the
// results, in one atomic AddMessages. A process killed at any instant thus
// leaves a valid session (the agent's tests kill child processes at random
// moments to prove it).
//
// When a turn fails after it started (the model returns an error, the
// context is cancelled, the iteration limit is reached) the agent records
// the outcome before returning, with a context that is not cancelled
// (bounded by WithWriteTimeout): results for calls that did not finish
// (is-error, Synthesized, saying they were interrupted or not run) and an
// assistant message whose text starts with InterruptedPrefix and says why.
// That closing message keeps the history honest and marks the turn as over
// (see below). A Response listing what was stored is returned with the
// error.
//
// The system prompt is sent first in every request and never stored.
//
// # Valid also means accepted
//
// Nothing the agent stores may make a later request to a supported provider
// fail, so it never stores what a provider refuses to be sent:
//
//   - A user message with nothing to read (no text but whitespace, no image,
//     no file; Chat(ctx, "\n")) is refused with ErrEmptyMessage before
//     anything is stored or sent. Blank text parts beside an image are
//     dropped.
//   - Settings that the client refuses in every request (with Anthropic's
//     extended thinking on: WithTemperature other than 1, or
//     WithMaxOutputTokens or Compaction.MaxOutputTokens not above the
//     thinking budget) are found before anything is stored: when the
//     client implements llm.RequestChecker (both provided clients do), each
//     turn first checks its request, and the compaction request when
//     Compaction is set, and fails with the client's error (matching
//     llm.ErrBadRequest and naming the conflict), storing nothing.
//   - Blank text in the model's answer (whitespace next to a tool call) is
//     dropped before the answer is stored.
//   - An answer without text or tool calls is never stored as an empty
//     message. The turn is closed with an interruption marker (see below)
//     and the caller gets a typed error saying why: llm.ErrOutputTruncated
//     when the output limit was reached before any answer (a reasoning
//     model that spent its budget thinking), llm.ErrContentFiltered when
//     the provider's filter withheld it, ErrEmptyAnswer when the model
//     simply said nothing.
//   - A tool call cut off by the output limit (finish reason length with
//     tool calls) is neither run nor stored: the turn is closed with a
//     marker and returns llm.ErrOutputTruncated. An answer with text that
//     reached the limit is stored and returned normally, with
//     Response.FinishReason llm.FinishLength.
//   - A refusal (llm.FinishRefusal, from either provider) ends the turn
//     with an error matching llm.ErrRefused; the refusal's text (Anthropic's
//     stop_details explanation, OpenAI's refusal field), if any, is in the
//     error and in Response.Text. Tool calls in the response are not run.
//     A refused turn must not be sent again: Anthropic asks for it to be
//     reset, since continuing without resetting "will result in continued
//     refusals"
//     (platform.claude.com/docs/en/test-and-evaluate/strengthen-guardrails/handle-streaming-refusals).
//     So the turn is closed by a refusal marker (an assistant message whose
//     text starts with RefusedPrefix and holds the refusal's text), which
//     keeps the record in the store, and every later request (and the
//     transcript a summary is made from) leaves the whole refused turn out:
//     its user message, any tool rounds and the marker.
//   - A filtered answer (llm.FinishContentFilter) that has text is the
//     turn's answer: it is stored, returned in Response.Text, and the call
//     also returns an error matching llm.ErrContentFiltered, so that a
//     caller can tell it from an ordinary answer. Tool calls in such a
//     response are not run. Without text the turn is closed with an
//     interruption marker.
//   - Reasoning parts (with their signatures) are stored as the model gave
//     them, so that the provider clients can send them back where the
//     provider requires it.
//
// The interruption marker (an assistant message whose text starts with
// InterruptedPrefix) stays in the store as the record of what happened, but
// it is not words the model said: requests carry it as a note in a user turn
// (InterruptedNote), in the application's name. When the history is read
// for a request, blank text parts and messages left with nothing to send
// (written by older releases or other programs) are left out of the request;
// the store is unchanged.
//
// The agent's own tests run every request against the documented request
// rules of each provider family (llmtest.WithRequestCheck with the checks of
// package llm/llmtest/providerrules), so that a history a provider would
// refuse fails the tests.
//
// # Sessions damaged by other writers
//
// A session written by an older program or another tool may be invalid. When
// the agent finds the last turn unfinished and its writer gone (see "A
// writer that dies mid-turn" below) and its
// only problem is that the last tool calls have no results, it appends
// synthesized results (session.RepairSuffix) before its user message: the
// repair is visible in the stored history, marked Synthesized, and reported
// as a Notice. Damage inside the history cannot be fixed by appending, and
// the store's interface cannot rewrite history: the agent then sends a
// repaired copy (session.Repair) in each request, so the provider accepts
// it, leaves the store unchanged, and reports a NoticeRepairedRequest (see
// WithNoticeHandler and Response.Notices).
//
// # Two writers on one session
//
// Two turns on one session, in one process or in many, never interleave,
// when the store's sessions have optimistic concurrency (session.Versioned,
// as the SQLite, PostgreSQL and memory stores do). A session is idle
// when it is empty or its last message is an assistant message without tool
// calls, a summary or a system message; otherwise a turn is in progress. A
// turn starts by reading the session and its version, and writes its user
// message only if the session is idle and still at that version; every
// later write of the turn is conditional on the version the previous one
// returned. A caller that finds the session busy, or loses the race for the
// first write, follows the ConcurrencyPolicy: WaitForTurn (the default)
// polls with backoff until the session is idle and runs on the new history;
// FailIfBusy returns ErrBusy. If a turn finds, at a later write, that
// another writer has appended meanwhile, it stops with ErrTurnTakenOver,
// storing nothing more.
//
// # A writer that dies mid-turn: the turn lease
//
// A running turn holds a lease on its session (WithTurnLease, default
// DefaultTurnLease, 15 s) that it renews every third of the lease, even
// while a model call or a tool runs for minutes. The lease is the session's
// UpdatedAt: every write of the turn moves it, and each renewal sets it to
// now (session.Importer's SetUpdatedAt, which changes nothing else), so
// every process sees it (session.Describer's Info) and a crashed process
// holds nothing. An agent that finds an unfinished turn whose session has
// been quiet for the whole lease takes the session over (NoticeTookOver):
// a program killed mid-turn and started again continues its session within
// one lease of the last renewal, about 15 s by default (a test kills a
// process in its tool and a new process, with default options, continues
// the session after 15.3 s). A renewal that fails is reported as
// NoticeLeaseNotRenewed. This works on stores with session.Describer and
// session.Importer (the SQLite, PostgreSQL and memory stores). On other
// stores an unfinished turn is taken over when its last message is older
// than WithStaleTurnAfter (default DefaultStaleTurnAfter, 5 minutes,
// measured with the writers' clocks), as before the lease. Writers of
// older convo releases do not renew a lease: while any of them writes to a
// session, a turn of theirs that is quiet for a lease (a slow model call)
// is taken over by a newer agent, and ends with ErrTurnTakenOver; upgrade
// every writer of a session together. The clocks of the machines that
// write to a session must agree to well within the lease.
//
// The agent also works on a store with only the basic session.Store
// interface (any store that passes sessiontest). Then the turns of the
// Agents of one process that were given the same store value (the same
// pointer, for a store that is a pointer) and the same session ID are
// serialised by a lock in the process (following the ConcurrencyPolicy);
// the turns on a store whose type is not comparable are serialised per
// session ID across all such stores. Every turn reads the session afresh,
// and a turn still waits for a session whose last turn is unfinished, as
// above. The lock knows store values, not databases: two store values
// opened on the same database (two Open calls on one file, say) are not
// serialised with each other, and behave as two processes do. Open one
// store per database and share it between the Agents of a process. What is
// not guaranteed is the same across store values and processes: both can
// find the session idle and write their user messages, and their turns can
// interleave; a turn does not notice the other's writes (no
// ErrTurnTakenOver). Each write is still atomic, and every stored tool call
// still has its results right after it, so the session stays valid, but two
// turns may answer each other's messages. Use a store with
// session.Versioned when more than one process or store value writes to a
// session.
//
// # Hooks
//
// WithHooks puts functions around every model call and tool call of a turn
// (see Hooks, after Google ADK-Go's before/after model and tool callbacks):
// BeforeModel sees and may change each request, or answer in the model's
// place; AfterModel may change each response before the agent acts on it;
// BeforeTool may change a call's input (the tool runs with it; the stored
// call keeps what the model said) or return a result instead of running the
// tool, which blocks the call and tells the model why; AfterTool may
// replace a result. A hook that returns an error stops the turn as any
// failure does (every call answered, an interruption marker, a valid
// session), and the call returns an error matching ErrStopped.
//
// # Tool approval
//
// WithApproval("transfer") (or WithApprovalFunc, to decide on each call's
// input) makes the turn pause before it runs a call to that tool: Chat
// returns ErrAwaitingApproval with the calls in Response.Pending (ChatStream
// yields them in an EventAwaitingApproval first). The turn is resumed later,
// by this process or any other, with Resume (or ResumeStream) and a decision
// for each waiting call: Approve runs it, Deny gives the model an is-error
// result holding the reason. Pending (or PendingApprovals, on messages read
// by any program) lists the calls waiting.
//
// While it waits, the session is valid and shows a turn in progress, not a
// dangling call: the assistant message is stored with a placeholder result
// for each of its calls (session.PendingResult, an is-error result marked
// "awaiting_approval", or "deferred" for a call that needs no approval and
// waits with it), so session.Check, and every older release, finds every
// call answered. A new turn on a waiting session fails at once with
// ErrAwaitingApproval, whatever its ConcurrencyPolicy, and never takes the
// session over as it would a dead writer's. Resume first appends
// placeholders marked "resuming" (on a session.Versioned store, only if
// the session is still at the version it read), then runs the approved
// calls and the deferred ones, appends their results and goes on with the
// turn. Each
// later result supersedes the placeholder before it (session.Check accepts
// it; requests carry only the last result of each call, see
// session.Superseded). A process that dies while it runs approved calls
// leaves the "resuming" placeholders as the calls' results, which say so,
// and the turn is taken over as any unfinished turn. The agent's tests kill
// a process while a call waits, resume it from another, and check that the
// tool ran exactly once (or, denied, never), under each provider family's
// request rules.
//
// Of two resumers of one turn, one runs the calls and the other gets
// ErrNoPendingApproval, wherever they run, when the store's sessions have
// optimistic concurrency (session.Versioned: the SQLite, PostgreSQL and
// memory stores): the "resuming" write is conditional on the version
// read. On a store without it, that holds only for the Agents of one
// process that share the store value (they are serialised, as turns are);
// two processes, or two store values, resuming at once can both find the
// call waiting, and both run it.
//
// # Tracing
//
// WithTracerProvider traces the agent with OpenTelemetry; without it (the
// default) nothing is traced, not even through a global provider the
// program set. The agent uses only the OpenTelemetry API
// (go.opentelemetry.io/otel/trace); the SDK and exporters are the
// program's choice. Names and attributes follow the semantic conventions
// v1.37.0 for generative AI and for database calls:
//
//   - invoke_agent (internal): a turn (Chat, Send, their streaming forms,
//     Resume), with gen_ai.operation.name, gen_ai.provider.name,
//     gen_ai.conversation.id (the session id), gen_ai.request.model,
//     gen_ai.usage.input_tokens and gen_ai.usage.output_tokens summed over
//     the turn, gen_ai.response.finish_reasons, and convo.approval.pending
//     for a turn that paused for approval (not an error).
//   - "chat {model}" (client): each model call, with gen_ai.request.model,
//     gen_ai.request.temperature, gen_ai.request.max_tokens,
//     gen_ai.response.model, the call's token usage and finish reason.
//   - "execute_tool {name}" (internal): each tool call, with
//     gen_ai.tool.name, gen_ai.tool.call.id, gen_ai.tool.type "function";
//     an is-error result fails the span with error.type "tool_error" and
//     the status description "tool returned an error".
//   - LoadOrCreate, Snapshot, AddMessagesAt (or GetMessages, AddMessages)
//     (client): the agent's store calls, with db.system.name ("sqlite",
//     "postgresql", else the store's package name), db.operation.name and
//     convo.session.id.
//
// Every span of a turn is a child of its invoke_agent span, itself a child
// of the span in the caller's context; a failure fails the span with
// error.type (the provider error's kind, such as "rate limited", or the
// agent's sentinel). gen_ai.provider.name follows the client's package
// ("openai", "anthropic", "gcp.gemini"); WithProviderName sets it.
// Spans carry no conversation content (messages, tool arguments, tool
// results), as the conventions ask of content by default: it may be
// sensitive, and recording it is opt-in ("Recording content on
// attributes" in gen-ai-spans.md). WithTraceContent(true) opts in: a
// failed tool's result then becomes its span's status description. Store
// calls made outside the agent (the CLI, the viewer, a program's own) are
// not traced by convo: a wrapper store that keeps every optional capability
// would need one type per combination of them. Both stores run on the
// connection the program gives them, so statement-level spans come from
// that connection: a pgx.QueryTracer set in the pool's ConnConfig.Tracer
// for PostgreSQL, a tracing database/sql driver for SQLite.
//
// # Structured output
//
// RunTyped (and SendTyped) runs a turn whose final answer must be a JSON
// object matching the schema of a struct type, and returns it decoded:
//
//	f, resp, err := agent.RunTyped[Forecast](ctx, a, "Weather in Oslo?")
//
// The schema is built as package tool builds a tool's (tool.SchemaFor:
// invopop/jsonschema, inlined, fields without omitempty required,
// additionalProperties false) and sent with every model call of the turn as
// llm.ResponseFormat with Strict set: response_format {"type":
// "json_schema", "json_schema": {"name", "schema", "strict": true}} on
// OpenAI-compatible servers
// (https://platform.openai.com/docs/guides/structured-outputs),
// output_config.format on Anthropic, the structured outputs of
// https://platform.claude.com/docs/en/build-with-claude/structured-outputs
// (in anthropic-sdk-go v1.84.0, no beta header), and responseMimeType
// "application/json" with responseJsonSchema on Gemini (before Gemini 3,
// not together with tools: the gemini client refuses that combination, so
// the turn fails before anything is stored). OpenAI's strict
// mode requires every object to list all its properties as required and
// to set additionalProperties false, and Anthropic the latter: a type that
// cannot meet them (an omitempty field, a map) is refused with
// ErrOutputSchema before anything is sent or stored, rather than sent
// without strict mode. The tools stay offered; the model may call them
// before answering. We use the providers' output formats, not a forced
// tool call (Anthropic's tool_choice {"type": "tool"} is refused with
// extended thinking, rule anthropic/thinking-tool-choice), so the answer
// is a plain assistant message and no call is left without its result.
//
// The answer is checked against the schema (required fields present and
// not null, objects, arrays, enum values, scalar types, no unknown field)
// before it is decoded, since a compatible server may ignore strict mode: a
// mismatch returns an *OutputError (errors.Is ErrOutputInvalid) with the
// raw text; the answer is stored as it came and the session stays valid.
// A typed turn that pauses for approval is resumed with ResumeTyped, which
// asks the rest of the turn for the schema again (Agent.Resume goes on
// without it).
//
// # Handoffs
//
// WithHandoffs(billing, support) offers the model one tool per agent,
// transfer_to_<name> (WithName names an agent, WithDescription describes
// it in that tool), with no arguments. When the model calls it, the agent
// stores the call and its result, {"assistant": "<name>"} with Metadata
// {"convo.handoff": "<name>"} (HandoffKey), and the same turn goes on with
// the target: its system prompt, tools, model, client and own hand-offs,
// on the session of the agent the turn was started on. Response.Agent
// names the agent that answered. Every later turn reads the latest
// hand-off in the history and starts with the agent it names, found by
// name among the agents reachable from the one called, so a new process
// that rebuilds its agents with the same names continues with the right
// one. The hand-off is also written to the session's metadata under
// HandoffKey (stores with session.Describer), which a turn reads when the
// hand-off has left the messages it reads (its WithHistory window, or
// before a compaction summary); that write is a second one, after the
// messages, and a failure of it is a NoticeHandoffNotRecorded. An agent
// takes the agents it hands to when it is built, so a hand-off back to an
// agent built later is named instead: WithHandoffNames("triage") offers
// transfer_to_triage when an agent named triage is reachable from the
// agent the turn was started on.
//
// Compared with the OpenAI Agents SDK (src/agents/handoffs.py), the tool
// name and its result follow the SDK's (transfer_to_<name>, {"assistant":
// name}); what differs: the active agent is recorded in the stored
// session, where the SDK returns last_agent and leaves it to the caller to
// run the next turn with it; the receiving agent sees the whole shared
// history, transfer call included, with no input filter or nested summary
// (a filter would make what the model saw differ from what is stored); the
// transfer tool takes no input (no input_type), there is no on_handoff
// callback, and hooks do not see the transfer call; the turn's limits
// (iterations, lease, approval) stay the calling agent's.
//
// # Owners, titles and metadata
//
// WithSessionInfo gives the session the agent creates an owner, a title and
// metadata (on stores with session.Describer), so that listings by owner
// (convo ls --owner) and erasure by owner find it; an agent whose owner
// differs from an existing session's is refused with ErrOwnerMismatch.
//
// # Retry a turn, edit and resend
//
// An agent continues a fork like any session (see session.Forker): to get
// another answer to a turn, fork the session before the turn's user message
// with session.ForkBefore and Send that message again with an agent on the
// fork; to edit and resend it, Send an edited message instead. The fork holds
// the history before the turn, so the model sees exactly what it saw then,
// and the original session keeps its own answers (Example_fork). Fork before
// a user message, or at a finished answer: a fork made in the middle of a
// turn (at a tool call without its result) is an unfinished turn, which the
// agent takes over once its lease has run out, as any other.
//
// # History sent to the model
//
// A History strategy chooses the messages sent: LastN, TokenBudget (an
// estimate of 4 bytes per token, see EstimateTokens) or All. Every strategy
// cuts the history at a message that is not a tool message, so no result is
// sent without its call and no call without its results. When a turn's tool
// rounds fill the whole selection, the agent sends the turn's user message
// ahead of them (one message over the strategy's count or budget), so the
// model never works on without the task and the history sent starts with a
// user turn, as some providers require. The agent reads
// only the newest messages the strategy needs (its Window), once, and then
// keeps them in memory while its writes succeed at the expected version, so
// a turn costs the store two or more appends and no read in the common case.
//
// With WithCompaction, when the history after the latest summary grows past
// a threshold, the agent asks the model for a summary and stores it as a
// message.RoleSummary message; later requests send the summary and what
// follows it. See Compaction.
//
// # Cost
//
// The agent's own work per turn is small beside the store's. In
// BenchmarkTurnInterleaved (bench_test.go) a text turn through the agent
// (scripted client, so no model latency; SQLite with synchronous=NORMAL; a
// 1,000-message session; LastN(50)) alternates with the store's own two
// appends of the same messages on a session of the same size, and x-store
// is the agent's time over the store's, from the same run; x-store − 1 is
// the agent's own overhead as a fraction of the store's append cost, and it
// must stay below 1. Measured after the changes that keep every stored
// history acceptable to the providers (normalising answers, notes for
// interruption markers, the transcript for summaries), on a 2-core VM
// shared with other work, -benchtime 1000x -count 5, 238 allocations per
// turn: x-store 1.15, 1.28, 1.29, 1.30 and 1.42, median 1.29 (agent 0.81 ms
// per turn, the store's two appends 0.67 ms, medians), so the agent's own
// work is about 0.29 of the store's append cost, about 0.2 ms per turn. An
// earlier run in the same session, before the SQLite append got faster,
// gave a median of 1.13, and the code before those agent changes a median
// of 1.22 beside it, with the same 238 allocations: the changes cost
// nothing measurable.
//
// Hooks and tracing cost nothing measurable when they are off: the test
// binary of the commit before them and the current one, run alternately
// seven times each (BenchmarkTurnInterleaved, -benchtime 500x, on the same
// 2-core VM under a load average of 16-18 from other work), made the same
// 327 allocations (27.2 KB) per turn, and x-store medians of 1.36 (before;
// range 1.03-1.65) and 1.17 (now; 1.05-1.46): the load's noise is larger
// than any difference. With tracing on (BenchmarkTurnTracing: the OpenTelemetry
// SDK records every span and hands it to an exporter that drops it; the
// agents without and with a tracer provider alternate in one loop), a
// text-only turn (an invoke_agent, a chat and two store spans) took 1.11
// times as long as without (median of seven runs, range 1.02-1.39), about
// 0.1 ms more per turn.
package agent
