package agent

import (
	"maps"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/tool"
)

// Option configures an Agent. Options only record values: New does no I/O,
// and the session is opened on the first call.
type Option func(*options)

type options struct {
	store        session.Store
	id           string
	info         *session.CreateOptions
	system       string
	tools        []tool.Tool
	maxIter      int
	model        string
	temperature  *float64
	maxOutput    int
	history      History
	compaction   *Compaction
	maxParallel  int
	toolTimeout  time.Duration
	policy       ConcurrencyPolicy
	staleAfter   time.Duration
	staleSet     bool
	lease        time.Duration
	writeTimeout time.Duration
	onNotice     func(Notice)
	pollMin      time.Duration
	pollMax      time.Duration
	hooks        []Hooks
	approval     func(message.ToolCall) bool
	name         string
	description  string
	handoffs     []*Agent
	handoffNames []string

	tracerProvider trace.TracerProvider
	providerName   string
	traceContent   bool
}

// Defaults used when the corresponding option is not given.
const (
	DefaultMaxIterations    = 10
	DefaultMaxParallelTools = 4
	DefaultStaleTurnAfter   = 5 * time.Minute
	DefaultTurnLease        = 15 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultHistoryMessages  = 100
)

// WithSession keeps the conversation in the session id of store. It does no
// I/O: the session is loaded or created (race-free, with
// session.LoadOrCreate) on the agent's first call, with that call's
// context, and any error (an invalid id, a store outage) is returned from
// that call; the next call tries again. Any session.Store works; see the
// package documentation for what a store without session.Versioned does
// not guarantee across processes. Without WithSession the agent keeps its
// conversation in a private in-memory session.
func WithSession(id string, store session.Store) Option {
	return func(o *options) { o.id, o.store = id, store }
}

// WithSessionInfo gives the session that WithSession names its owner,
// title and metadata when the agent creates it, so that listings by owner
// (session.Lister, convo ls --owner) and erasure by owner
// (session.OwnerEraser) find it. The store must record them
// (session.Describer): otherwise the first call fails with an error
// matching session.ErrNotSupported, rather than make a session without
// its owner. A session that exists already is used as it is (its title and
// metadata are not changed), unless it has an owner other than info.Owner:
// then every call fails with ErrOwnerMismatch. Like WithSession, it does
// no I/O.
func WithSessionInfo(info session.CreateOptions) Option {
	return func(o *options) {
		info.Metadata = maps.Clone(info.Metadata)
		o.info = &info
	}
}

// WithSystemPrompt sets the system prompt. It is sent first in every request
// and never stored as a message.
func WithSystemPrompt(prompt string) Option { return func(o *options) { o.system = prompt } }

// WithTools offers tools to the model. Calls to them are run by the agent.
// Their definitions are checked with tool.Validate before the first request.
func WithTools(tools ...tool.Tool) Option {
	return func(o *options) { o.tools = append(o.tools, tools...) }
}

// WithMaxIterations caps the model calls of one turn (default
// DefaultMaxIterations). A model that still asks for tools on the last
// allowed call ends the turn with ErrMaxIterations; its calls are recorded
// with is-error results saying they were not run.
func WithMaxIterations(n int) Option { return func(o *options) { o.maxIter = n } }

// WithModel sets the model named in every request (empty: the client's
// default).
func WithModel(model string) Option { return func(o *options) { o.model = model } }

// WithTemperature sets the sampling temperature of every request.
func WithTemperature(t float64) Option { return func(o *options) { o.temperature = &t } }

// WithMaxOutputTokens caps each response's length (0: the provider's
// default).
func WithMaxOutputTokens(n int) Option { return func(o *options) { o.maxOutput = n } }

// WithHistory sets the strategy choosing which stored messages are sent to
// the model (default LastN(DefaultHistoryMessages)).
func WithHistory(h History) Option { return func(o *options) { o.history = h } }

// WithCompaction turns on compaction (see Compaction).
func WithCompaction(c Compaction) Option { return func(o *options) { o.compaction = &c } }

// WithMaxParallelTools caps how many tool calls of one model response run at
// once (default DefaultMaxParallelTools; 1 runs them one by one). Results
// are always kept in call order.
func WithMaxParallelTools(n int) Option { return func(o *options) { o.maxParallel = n } }

// WithToolTimeout sets the default per-call tool timeout (0, the default:
// none). A tool implementing tool.Timeouter uses its own. A call that runs
// past it gets an is-error result; the turn goes on.
func WithToolTimeout(d time.Duration) Option { return func(o *options) { o.toolTimeout = d } }

// WithConcurrencyPolicy chooses what a call does when another turn is in
// progress on the session (default WaitForTurn).
func WithConcurrencyPolicy(p ConcurrencyPolicy) Option { return func(o *options) { o.policy = p } }

// WithStaleTurnAfter sets how long an unfinished turn must have been
// quiet before the agent considers its writer dead and takes the session
// over, on a store that cannot hold the turn lease (see WithTurnLease):
// there it is the age of the turn's last message, measured with the
// writers' clocks (message CreatedAt), default DefaultStaleTurnAfter. On a
// store that holds the lease it can only shorten the lease. 0 takes over at
// once on any store: use it only when this agent is the session's only
// writer, as in a single-user terminal program.
func WithStaleTurnAfter(d time.Duration) Option {
	return func(o *options) { o.staleAfter, o.staleSet = d, true }
}

// WithTurnLease sets the turn lease (default DefaultTurnLease): while a
// turn runs, the agent renews it every third of d, and other agents (in
// this process or others) take over an unfinished turn whose session has
// been quiet for d, so a program killed mid-turn holds its session for at
// most d after its last renewal. It works on stores that record a
// session's last activity and let a writer set it (session.Describer and
// session.Importer, as the SQLite, PostgreSQL and memory stores do); on
// other stores WithStaleTurnAfter decides. Writers' clocks must agree to
// well within d. d below 300 ms is raised to 300 ms.
func WithTurnLease(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithWriteTimeout bounds the writes the agent makes after a turn has
// started, which use a context that is not cancelled with the caller's, so
// that a cancelled turn still records its outcome (default
// DefaultWriteTimeout).
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.writeTimeout = d } }

// WithNoticeHandler calls fn, on the calling goroutine, for every Notice (a
// repair or a skipped compaction). Notices are also listed in
// Response.Notices.
func WithNoticeHandler(fn func(Notice)) Option { return func(o *options) { o.onNotice = fn } }

// WithBusyPolling sets the polling intervals WaitForTurn uses: the first
// wait, doubling up to most (default 10ms growing to 500ms, with jitter).
func WithBusyPolling(first, most time.Duration) Option {
	return func(o *options) { o.pollMin, o.pollMax = first, most }
}
