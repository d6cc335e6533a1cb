package anthropic

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"os"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/convo-dev/convo/llm"
)

// DefaultBaseURL is the Anthropic API endpoint used when no base URL is
// given.
const DefaultBaseURL = "https://api.anthropic.com/"

// DefaultMaxRetries is how many times a request is retried by default after
// a rate limit (429), an overload (529) or another server error (5xx).
const DefaultMaxRetries = 2

// DefaultMaxTokens is the max_tokens sent when neither Request.MaxOutputTokens
// nor WithMaxTokens sets one; the Messages API requires a value.
const DefaultMaxTokens = 4096

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
	maxTokens     int
	thinking      int
	fromEnv       bool
}

// WithBaseURL sets the API endpoint; the default is DefaultBaseURL. Requests
// go to {base}/v1/messages.
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithAPIKey sets the key sent in the x-api-key header.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithModel sets the model used when a Request names none.
func WithModel(model string) Option { return func(c *config) { c.model = model } }

// WithHeader adds a header to every request, such as "anthropic-beta". A
// later WithHeader with the same key replaces the value.
func WithHeader(key, value string) Option {
	return func(c *config) { c.headers = append(c.headers, [2]string{key, value}) }
}

// WithHTTPClient sets the HTTP client; the default is a client without a
// timeout (use the context to bound a call).
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithMaxRetries sets how many times a request is retried after a 429, 408,
// 409, 529 or other 5xx answer or a connection error, DefaultMaxRetries by
// default. 0 disables retries; New rejects a negative value.
func WithMaxRetries(n int) Option { return func(c *config) { c.maxRetries = n } }

// WithMaxRetryDelay bounds the wait between attempts: the exponential
// backoff is capped at d, and when the server asks (with retry-after) for a
// longer wait than d the client does not retry and returns the error, whose
// RetryAfter says how long the server asked for. The default is 8s for the
// backoff and 2m for server-requested waits.
func WithMaxRetryDelay(d time.Duration) Option { return func(c *config) { c.maxRetryDelay = d } }

// WithMaxTokens sets the max_tokens sent when Request.MaxOutputTokens is 0;
// the default is DefaultMaxTokens.
func WithMaxTokens(n int) Option { return func(c *config) { c.maxTokens = n } }

// MinThinkingBudget is the smallest thinking budget the API accepts
// (budget_tokens "Must be ≥1024 and less than max_tokens").
const MinThinkingBudget = 1024

// WithThinking enables extended thinking with the given token budget
// ("thinking": {"type":"enabled","budget_tokens":n}). The budget must be at
// least MinThinkingBudget and below max_tokens, as the API requires: New
// refuses a budget not below WithMaxTokens (DefaultMaxTokens by default), and
// a request whose MaxOutputTokens is not above the budget, whose Temperature
// is not 1, or whose ToolChoice forces tool use fails before any I/O.
func WithThinking(budgetTokens int) Option { return func(c *config) { c.thinking = budgetTokens } }

// FromEnv makes New read ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL from the
// environment. Values given with WithAPIKey or WithBaseURL take precedence.
// Without FromEnv the client reads no environment variables or files.
func FromEnv() Option { return func(c *config) { c.fromEnv = true } }

// Client is an llm.Client for the Anthropic Messages API. It is safe for
// concurrent use.
type Client struct {
	model     string
	maxTokens int
	thinking  int
	svc       sdk.MessageService
}

var _ llm.Client = (*Client)(nil)

// New returns a client configured by opts. It returns an error when the base
// URL is not an absolute http or https URL, a number is negative, or the
// WithThinking budget is below MinThinkingBudget or not below the max tokens.
// New does no network I/O.
func New(opts ...Option) (*Client, error) {
	cfg := config{maxRetries: DefaultMaxRetries, maxTokens: DefaultMaxTokens}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.fromEnv {
		if cfg.apiKey == "" {
			cfg.apiKey = os.Getenv("ANTHROPIC_API_KEY")
		}
		if cfg.baseURL == "" {
			cfg.baseURL = os.Getenv("ANTHROPIC_BASE_URL")
		}
	}
	if cfg.baseURL == "" {
		cfg.baseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.baseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("anthropic: new client: base URL %q is not an absolute http(s) URL", cfg.baseURL)
	case cfg.maxRetries < 0:
		return nil, fmt.Errorf("anthropic: new client: max retries %d is negative", cfg.maxRetries)
	case cfg.maxRetryDelay < 0:
		return nil, fmt.Errorf("anthropic: new client: max retry delay %s is negative", cfg.maxRetryDelay)
	case cfg.maxTokens <= 0:
		return nil, fmt.Errorf("anthropic: new client: max tokens %d is not positive", cfg.maxTokens)
	case cfg.thinking < 0 || (cfg.thinking != 0 && cfg.thinking < MinThinkingBudget):
		return nil, fmt.Errorf("anthropic: new client: thinking budget %d is below the API's minimum of %d", cfg.thinking, MinThinkingBudget)
	case cfg.thinking != 0 && cfg.thinking >= cfg.maxTokens:
		return nil, fmt.Errorf("anthropic: new client: thinking budget %d is not below max tokens %d (the API requires budget_tokens < max_tokens; raise WithMaxTokens)", cfg.thinking, cfg.maxTokens)
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{}
	}
	// The message service is built directly rather than through
	// sdk.NewClient, which would read ANTHROPIC_* variables, profiles and
	// configuration files behind the caller's back.
	pol := retryPolicy{maxRetries: cfg.maxRetries, maxBackoff: 8 * time.Second, maxServerWait: 2 * time.Minute}
	if cfg.maxRetryDelay > 0 {
		pol.maxBackoff, pol.maxServerWait = cfg.maxRetryDelay, cfg.maxRetryDelay
	}
	ropts := []option.RequestOption{
		option.WithHTTPClient(hc),
		option.WithBaseURL(cfg.baseURL),
		option.WithMaxRetries(cfg.maxRetries),
		option.WithMiddleware(pol.middleware),
	}
	if cfg.apiKey != "" {
		ropts = append(ropts, option.WithAPIKey(cfg.apiKey))
	}
	for _, h := range cfg.headers {
		ropts = append(ropts, option.WithHeader(h[0], h[1]))
	}
	return &Client{
		model:     cfg.model,
		maxTokens: cfg.maxTokens,
		thinking:  cfg.thinking,
		svc:       sdk.NewMessageService(ropts...),
	}, nil
}

// Generate sends req and waits for the whole response. Provider errors are
// *llm.APIError values matching one of the llm sentinels (ErrRateLimited,
// ErrContextTooLong, ErrAuthentication, ErrBadRequest, ErrServer); a request
// that cannot be expressed in the Messages format fails before any I/O with
// an error matching llm.ErrBadRequest.
func (c *Client) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("anthropic: generate: %w", err)
	}
	res, err := c.svc.New(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("anthropic: generate: %w", mapError(ctx, err))
	}
	return fromMessage(res, string(params.Model)), nil
}

// Stream sends req with "stream": true and yields text, thinking and
// tool-call deltas as they arrive, then an llm.EventDone carrying the
// assembled Response. Errors are those of Generate, including an error
// event inside the stream; a stream that ends without message_stop yields
// an error wrapping llm.ErrIncomplete (and io.ErrUnexpectedEOF). Breaking
// out of the loop closes the connection.
func (c *Client) Stream(ctx context.Context, req llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		params, err := c.params(req)
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("anthropic: stream: %w", err))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream := c.svc.NewStreaming(ctx, params)
		defer stream.Close()
		acc := newAccumulator(string(params.Model))
		for stream.Next() {
			evs, err := acc.add(stream.Current())
			if err != nil {
				yield(llm.Event{}, fmt.Errorf("anthropic: stream: %w", err))
				return
			}
			for _, ev := range evs {
				if !yield(ev, nil) {
					return
				}
			}
		}
		if err := stream.Err(); err != nil {
			yield(llm.Event{}, fmt.Errorf("anthropic: stream: %w", mapError(ctx, err)))
			return
		}
		res, err := acc.response()
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("anthropic: stream: %w", err))
			return
		}
		yield(llm.Event{Type: llm.EventDone, Response: res}, nil)
	}
}

// RequestBody returns the JSON body Generate sends for req, byte for byte
// (Stream sends the same body with "stream": true added). It fails as
// Generate does before any I/O when req cannot be sent (an error matching
// llm.ErrBadRequest). It is safe for concurrent use.
func (c *Client) RequestBody(req llm.Request) ([]byte, error) {
	params, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("anthropic: request body: %w", err)
	}
	body, err := params.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("anthropic: request body: %w", err)
	}
	return body, nil
}

// CheckRequest returns the error, matching llm.ErrBadRequest, that Generate
// and Stream would return for req before any I/O, or nil (see
// llm.RequestChecker). It is safe for concurrent use.
func (c *Client) CheckRequest(req llm.Request) error {
	if _, err := c.params(req); err != nil {
		return fmt.Errorf("anthropic: %w", err)
	}
	return nil
}

// badRequest reports a request convo cannot translate, before any I/O.
func badRequest(format string, args ...any) error {
	return &llm.APIError{Provider: "anthropic", Kind: llm.ErrBadRequest, Message: fmt.Sprintf(format, args...)}
}

var _ llm.RequestChecker = (*Client)(nil)
