package agent

import (
	"context"
	"errors"
	"path"
	"reflect"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/message"
)

// Tracing follows the OpenTelemetry semantic conventions for generative AI
// (gen_ai.*) and for database client spans (db.*) of semantic conventions
// v1.37.0, the release that named the provider attribute
// gen_ai.provider.name (it was gen_ai.system before):
// https://github.com/open-telemetry/semantic-conventions/blob/v1.37.0/docs/gen-ai/gen-ai-spans.md,
// .../gen-ai-agent-spans.md and .../docs/database/database-spans.md.

// instrumentationName names the tracer the agent asks the provider for.
const instrumentationName = "github.com/convo-dev/convo/agent"

// Attribute keys, as the semantic conventions spell them.
const (
	keyOperation     = attribute.Key("gen_ai.operation.name")
	keyProvider      = attribute.Key("gen_ai.provider.name")
	keyConversation  = attribute.Key("gen_ai.conversation.id")
	keyRequestModel  = attribute.Key("gen_ai.request.model")
	keyResponseModel = attribute.Key("gen_ai.response.model")
	keyTemperature   = attribute.Key("gen_ai.request.temperature")
	keyMaxTokens     = attribute.Key("gen_ai.request.max_tokens")
	keyInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	keyOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	keyFinish        = attribute.Key("gen_ai.response.finish_reasons")
	keyToolName      = attribute.Key("gen_ai.tool.name")
	keyToolCallID    = attribute.Key("gen_ai.tool.call.id")
	keyToolType      = attribute.Key("gen_ai.tool.type")
	keyErrorType     = attribute.Key("error.type")
	keyDBSystem      = attribute.Key("db.system.name")
	keyDBOperation   = attribute.Key("db.operation.name")
	// keySession is convo's own: the session a store call reads or writes.
	keySession = attribute.Key("convo.session.id")
	// keyPending is convo's own: the tool calls a turn left waiting for
	// approval (see WithApproval).
	keyPending = attribute.Key("convo.approval.pending")
)

// WithTracerProvider traces the agent's work with OpenTelemetry (see
// "Tracing" in the package documentation). Without it (or with nil)
// nothing is traced and no span is made.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// WithProviderName sets gen_ai.provider.name on the agent's spans (the
// conventions' values include "openai", "anthropic", "gcp.gemini"). By
// default it follows the client's package: llm/openai gives "openai",
// llm/anthropic "anthropic", llm/gemini "gcp.gemini", any other the last
// element of its package path.
func WithProviderName(name string) Option { return func(o *options) { o.providerName = name } }

// WithTraceContent(true) records conversation content on the agent's
// spans; by default (false) they carry none. The semantic conventions keep
// content capture opt-in because it may hold sensitive data (v1.37.0,
// gen-ai-spans.md, "Recording content on attributes"). Today the content
// recorded is a failed tool's result, as its execute_tool span's status
// description; without the option that description is "tool returned an
// error".
func WithTraceContent(on bool) Option { return func(o *options) { o.traceContent = on } }

// tracing is what a traced agent needs; an agent without a tracer provider
// has none.
type tracing struct {
	tracer   trace.Tracer
	provider string // gen_ai.provider.name
	dbSystem string // db.system.name of the store
	content  bool   // WithTraceContent: record conversation content
}

// newTracing returns the tracing of an agent, or nil when tracing is off.
func newTracing(client llm.Client, o options) *tracing {
	if o.tracerProvider == nil {
		return nil
	}
	tr := &tracing{tracer: o.tracerProvider.Tracer(instrumentationName), provider: o.providerName, content: o.traceContent}
	if tr.provider == "" {
		switch p := pkgName(client); p {
		case "gemini":
			tr.provider = "gcp.gemini"
		default:
			tr.provider = p
		}
	}
	switch s := pkgName(o.store); s {
	case "postgres":
		tr.dbSystem = "postgresql"
	default:
		tr.dbSystem = s
	}
	return tr
}

// pkgName returns the last element of the package path of v's type (under
// pointers), or "" for nil.
func pkgName(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.PkgPath() == "" {
		return ""
	}
	return path.Base(t.PkgPath())
}

// fail marks span as failed with err.
func fail(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(keyErrorType.String(errorType(err)))
}

// errorType is the error.type of err: the kind of a provider error, the
// agent's sentinels, the context's, or "_OTHER" as the conventions ask.
func errorType(err error) string {
	for _, k := range []error{llm.ErrRateLimited, llm.ErrContextTooLong, llm.ErrAuthentication, llm.ErrBadRequest,
		llm.ErrServer, llm.ErrContentFiltered, llm.ErrQuotaExceeded, llm.ErrIncomplete, llm.ErrOutputTruncated,
		llm.ErrRefused, ErrStopped, ErrMaxIterations, ErrTurnTakenOver, ErrBusy, ErrEmptyAnswer, ErrNoResponse,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "_OTHER"
}

// traceTurn runs a turn (or a resumed one) inside an invoke_agent span.
func (a *Agent) traceTurn(ctx context.Context, run func(context.Context) (*Response, error)) (*Response, error) {
	tr := a.trc
	if tr == nil {
		return run(ctx)
	}
	attrs := []attribute.KeyValue{keyOperation.String("invoke_agent"), keyProvider.String(tr.provider), keyConversation.String(a.opts.id)}
	if a.opts.model != "" {
		attrs = append(attrs, keyRequestModel.String(a.opts.model))
	}
	ctx, span := tr.tracer.Start(ctx, "invoke_agent", trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	defer span.End()
	resp, err := run(ctx)
	if resp != nil {
		span.SetAttributes(keyInputTokens.Int64(resp.Usage.InputTokens), keyOutputTokens.Int64(resp.Usage.OutputTokens))
		if resp.FinishReason != "" {
			span.SetAttributes(keyFinish.StringSlice([]string{string(resp.FinishReason)}))
		}
		if len(resp.Pending) > 0 {
			span.SetAttributes(keyPending.Int(len(resp.Pending)))
		}
	}
	if err != nil && !errors.Is(err, ErrAwaitingApproval) {
		fail(span, err)
	}
	return resp, err
}

// traceModel makes one model call inside a chat span.
func (t *turnState) traceModel(req llm.Request) (*llm.Response, error) {
	tr := t.a.trc
	if tr == nil {
		return t.call(t.ctx, req)
	}
	name := "chat"
	attrs := []attribute.KeyValue{keyOperation.String("chat"), keyProvider.String(tr.provider), keyConversation.String(t.a.opts.id)}
	if req.Model != "" {
		name += " " + req.Model
		attrs = append(attrs, keyRequestModel.String(req.Model))
	}
	if req.Temperature != nil {
		attrs = append(attrs, keyTemperature.Float64(*req.Temperature))
	}
	if req.MaxOutputTokens > 0 {
		attrs = append(attrs, keyMaxTokens.Int(req.MaxOutputTokens))
	}
	ctx, span := tr.tracer.Start(t.ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	resp, err := t.call(ctx, req)
	if err != nil {
		fail(span, err)
		return nil, err
	}
	if resp.Message.Model != "" {
		span.SetAttributes(keyResponseModel.String(resp.Message.Model))
	}
	span.SetAttributes(keyInputTokens.Int64(resp.Usage.InputTokens), keyOutputTokens.Int64(resp.Usage.OutputTokens),
		keyFinish.StringSlice([]string{string(resp.FinishReason)}))
	return resp, nil
}

// startTool starts the execute_tool span of the call c; end records the
// result (an is-error result fails the span; its content is the status
// description only under WithTraceContent) or the hook's error.
func (t *turnState) startTool(ctx context.Context, c message.ToolCall) (context.Context, func(message.ToolResult, error)) {
	tr := t.a.trc
	if tr == nil {
		return ctx, nil
	}
	ctx, span := tr.tracer.Start(ctx, "execute_tool "+c.Name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
		keyOperation.String("execute_tool"), keyProvider.String(tr.provider), keyToolName.String(c.Name),
		keyToolCallID.String(c.ID), keyToolType.String("function")))
	return ctx, func(res message.ToolResult, err error) {
		switch {
		case err != nil:
			fail(span, err)
		case res.IsError:
			desc := "tool returned an error"
			if tr.content {
				desc = res.Content
			}
			span.SetStatus(codes.Error, desc)
			span.SetAttributes(keyErrorType.String("tool_error"))
		}
		span.End()
	}
}

// startStore starts the span of the store call op (a session method) on
// the agent's session; end records its error.
func (a *Agent) startStore(ctx context.Context, op string) (context.Context, func(error)) {
	ctx, span := a.trc.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		keyDBSystem.String(a.trc.dbSystem), keyDBOperation.String(op), keySession.String(a.opts.id)))
	return ctx, func(err error) {
		if err != nil {
			fail(span, err)
		}
		span.End()
	}
}

// storeOp names a store call by whether the session is versioned.
func storeOp(versioned bool, withVersion, without string) string {
	if versioned {
		return withVersion
	}
	return without
}
