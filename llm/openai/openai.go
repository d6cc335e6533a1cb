package openai

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"os"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/convo-dev/convo/llm"
)

// DefaultBaseURL is the OpenAI API endpoint used when no base URL is given.
const DefaultBaseURL = "https://api.openai.com/v1/"

// DefaultMaxRetries is how many times a request is retried by default after
// a rate limit (429) or server error (5xx).
const DefaultMaxRetries = 2

// Option configures a Client. Options only record values; New validates
// them.
type Option func(*config)

type config struct {
	baseURL       string
	apiKey        string
	model         string
	headers       [][2]string
	httpClient    *http.Client
	maxRetries    int
	maxRetryDelay time.Duration
	fromEnv       bool
	legacyMax     bool
}

// WithBaseURL sets the API endpoint, such as "http://localhost:11434/v1" for
// Ollama. The default is DefaultBaseURL.
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithAPIKey sets the key sent as "Authorization: Bearer <key>". Without a
// key no Authorization header is sent, which local servers accept.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithModel sets the model used when a Request names none.
func WithModel(model string) Option { return func(c *config) { c.model = model } }

// WithHeader adds a header to every request, such as OpenRouter's
// "HTTP-Referer". A later WithHeader with the same key replaces the value.
func WithHeader(key, value string) Option {
	return func(c *config) { c.headers = append(c.headers, [2]string{key, value}) }
}

// WithHTTPClient sets the HTTP client; the default is a client without a
// timeout (use the context to bound a call).
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithMaxRetries sets how many times a request is retried after a 429, 408,
// 409 or 5xx answer or a connection error, DefaultMaxRetries by default. 0
// disables retries; New rejects a negative value.
func WithMaxRetries(n int) Option { return func(c *config) { c.maxRetries = n } }

// WithMaxRetryDelay bounds the wait between attempts: the exponential
// backoff is capped at d, and when the server asks (with Retry-After) for a
// longer wait than d the client does not retry and returns the rate-limit
// error, whose RetryAfter says how long the server asked for. The default is
// 8s for the backoff and 2m for server-requested waits.
func WithMaxRetryDelay(d time.Duration) Option { return func(c *config) { c.maxRetryDelay = d } }

// FromEnv makes New read OPENAI_API_KEY and OPENAI_BASE_URL from the
// environment. Values given with WithAPIKey or WithBaseURL take precedence.
// Without FromEnv the client reads no environment variables.
func FromEnv() Option { return func(c *config) { c.fromEnv = true } }

// WithLegacyMaxTokens sends Request.MaxOutputTokens as "max_tokens" instead
// of "max_completion_tokens", for servers that only know the older field.
func WithLegacyMaxTokens() Option { return func(c *config) { c.legacyMax = true } }

// Client is an llm.Client for the OpenAI Chat Completions API and servers
// compatible with it. It is safe for concurrent use.
type Client struct {
	model     string
	legacyMax bool
	svc       sdk.ChatCompletionService
}

var _ llm.Client = (*Client)(nil)

// New returns a client configured by opts. It returns an error when the base
// URL is not an absolute http or https URL or the retry settings are
// negative. New does no network I/O.
func New(opts ...Option) (*Client, error) {
	cfg := config{maxRetries: DefaultMaxRetries}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.fromEnv {
		if cfg.apiKey == "" {
			cfg.apiKey = os.Getenv("OPENAI_API_KEY")
		}
		if cfg.baseURL == "" {
			cfg.baseURL = os.Getenv("OPENAI_BASE_URL")
		}
	}
	if cfg.baseURL == "" {
		cfg.baseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: new client: base URL %q is not an absolute http(s) URL", cfg.baseURL)
	}
	if cfg.maxRetries < 0 {
		return nil, fmt.Errorf("openai: new client: max retries %d is negative", cfg.maxRetries)
	}
	if cfg.maxRetryDelay < 0 {
		return nil, fmt.Errorf("openai: new client: max retry delay %s is negative", cfg.maxRetryDelay)
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{}
	}
	// The chat service is built directly rather than through
	// sdk.NewClient, which would read OPENAI_* variables (including
	// OPENAI_CUSTOM_HEADERS and the organisation and project ids) behind
	// the caller's back.
	ropts := []option.RequestOption{
		option.WithHTTPClient(hc),
		option.WithBaseURL(cfg.baseURL),
		option.WithMaxRetries(cfg.maxRetries),
		option.WithMiddleware(normaliseErrorBody),
		option.WithMiddleware(watchDone),
	}
	if cfg.apiKey != "" {
		ropts = append(ropts, option.WithAPIKey(cfg.apiKey))
	}
	if cfg.maxRetryDelay > 0 {
		ropts = append(ropts, option.WithMaxRetryDelay(cfg.maxRetryDelay))
	}
	for _, h := range cfg.headers {
		ropts = append(ropts, option.WithHeader(h[0], h[1]))
	}
	return &Client{
		model:     cfg.model,
		legacyMax: cfg.legacyMax,
		svc:       sdk.NewChatCompletionService(ropts...),
	}, nil
}

// Generate sends req and waits for the whole response. Provider errors are
// *llm.APIError values matching one of the llm sentinels (ErrRateLimited,
// ErrContextTooLong, ErrAuthentication, ErrBadRequest, ErrServer); a request
// that cannot be expressed in the Chat Completions format fails before any
// I/O with an error matching llm.ErrBadRequest.
func (c *Client) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	params, err := c.params(req, false)
	if err != nil {
		return nil, fmt.Errorf("openai: generate: %w", err)
	}
	res, err := c.svc.New(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("openai: generate: %w", mapError(ctx, err))
	}
	out, err := fromCompletion(res, string(params.Model))
	if err != nil {
		return nil, fmt.Errorf("openai: generate: %w", err)
	}
	return out, nil
}

// Stream sends req with "stream": true and yields text, reasoning and
// tool-call deltas as they arrive, then an llm.EventDone carrying the
// assembled Response. Errors are those of Generate; a stream that ends
// before its "data: [DONE]" line yields an error wrapping llm.ErrIncomplete
// (and io.ErrUnexpectedEOF), even after a finish reason. Breaking out of the
// loop closes the connection.
func (c *Client) Stream(ctx context.Context, req llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		params, err := c.params(req, true)
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("openai: stream: %w", err))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		watch := &doneWatch{}
		ctx = context.WithValue(ctx, doneKey{}, watch)
		stream := c.svc.NewStreaming(ctx, params)
		defer stream.Close()
		acc := newAccumulator(string(params.Model))
		for stream.Next() {
			for _, ev := range acc.add(stream.Current()) {
				if !yield(ev, nil) {
					return
				}
			}
		}
		if err := stream.Err(); err != nil {
			yield(llm.Event{}, fmt.Errorf("openai: stream: %w", mapError(ctx, err)))
			return
		}
		res, err := acc.response(watch.done.Load())
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("openai: stream: %w", err))
			return
		}
		yield(llm.Event{Type: llm.EventDone, Response: res}, nil)
	}
}

// RequestBody returns the JSON body Generate sends for req, byte for byte
// (Stream sends the same body with "stream": true and
// stream_options.include_usage added). It fails as Generate does before any
// I/O when req cannot be sent (an error matching llm.ErrBadRequest). It is
// safe for concurrent use.
func (c *Client) RequestBody(req llm.Request) ([]byte, error) {
	params, err := c.params(req, false)
	if err != nil {
		return nil, fmt.Errorf("openai: request body: %w", err)
	}
	body, err := params.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("openai: request body: %w", err)
	}
	return body, nil
}

// CheckRequest returns the error, matching llm.ErrBadRequest, that Generate
// and Stream would return for req before any I/O, or nil (see
// llm.RequestChecker). It is safe for concurrent use.
func (c *Client) CheckRequest(req llm.Request) error {
	if _, err := c.params(req, false); err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	return nil
}

// badRequest reports a request convo cannot translate, before any I/O.
func badRequest(format string, args ...any) error {
	return &llm.APIError{Provider: "openai", Kind: llm.ErrBadRequest, Message: fmt.Sprintf(format, args...)}
}

var _ llm.RequestChecker = (*Client)(nil)
