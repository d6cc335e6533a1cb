package gemini

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/convo-dev/convo/llm"
)

// DefaultBaseURL is the Gemini API endpoint used when no base URL is given.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/"

// DefaultMaxRetries is how many times a request is retried by default after
// a rate limit (429), a server error (5xx) or a connection error.
const DefaultMaxRetries = 2

// Option configures a Client. Options only record values; New validates
// them.
type Option func(*config)

type config struct {
	baseURL         string
	apiKey          string
	model           string
	headers         [][2]string
	httpClient      *http.Client
	maxRetries      int
	maxRetryDelay   time.Duration
	includeThoughts bool
	thinkingLevel   string
	thinkingBudget  *int
	fromEnv         bool
}

// WithBaseURL sets the API endpoint; the default is DefaultBaseURL. Requests
// go to {base}/v1beta/models/{model}:generateContent (and
// :streamGenerateContent?alt=sse).
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithAPIKey sets the key sent in the x-goog-api-key header.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithModel sets the model used when a Request names none, such as
// "gemini-3-pro-preview" or "gemini-2.5-flash".
func WithModel(model string) Option { return func(c *config) { c.model = model } }

// WithHeader adds a header to every request. A later WithHeader with the
// same key replaces the value.
func WithHeader(key, value string) Option {
	return func(c *config) { c.headers = append(c.headers, [2]string{key, value}) }
}

// WithHTTPClient sets the HTTP client; the default is a client without a
// timeout (use the context to bound a call). Its transport is wrapped, not
// changed, to retry requests.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithMaxRetries sets how many times a request is retried after a 408, 429
// or 5xx answer or a connection error, DefaultMaxRetries by default. 0
// disables retries; New rejects a negative value.
func WithMaxRetries(n int) Option { return func(c *config) { c.maxRetries = n } }

// WithMaxRetryDelay bounds the wait between attempts: the exponential
// backoff is capped at d, and when the server asks (with a RetryInfo detail
// or Retry-After) for a longer wait than d the client does not retry and
// returns the error, whose RetryAfter says how long the server asked for.
// The default is 8s for the backoff and 2m for server-requested waits.
func WithMaxRetryDelay(d time.Duration) Option { return func(c *config) { c.maxRetryDelay = d } }

// WithThoughts asks the model for summaries of its thinking
// ("thinkingConfig": {"includeThoughts": true}); they come back as
// message.Reasoning parts and llm.EventReasoningDelta events.
func WithThoughts() Option { return func(c *config) { c.includeThoughts = true } }

// WithThinkingLevel sets the thinking level of a Gemini 3 model: "minimal",
// "low", "medium" or "high" (sent upper-cased, as thinkingLevel). It
// cannot be combined with WithThinkingBudget.
func WithThinkingLevel(level string) Option { return func(c *config) { c.thinkingLevel = level } }

// WithThinkingBudget sets the thinking budget in tokens of a Gemini 2.5
// model (thinkingBudget: 0 turns thinking off where the model allows it, -1
// lets the model decide). It cannot be combined with WithThinkingLevel.
func WithThinkingBudget(tokens int) Option {
	return func(c *config) { c.thinkingBudget = &tokens }
}

// FromEnv makes New read the API key from GOOGLE_API_KEY or GEMINI_API_KEY
// (GOOGLE_API_KEY first when both are set, as the SDK does) and the base
// URL from GOOGLE_GEMINI_BASE_URL. Values given with WithAPIKey or
// WithBaseURL take precedence. Without FromEnv the client takes its key and
// endpoint only from its options.
func FromEnv() Option { return func(c *config) { c.fromEnv = true } }

// Client is an llm.Client for the Gemini API (generateContent). It is safe
// for concurrent use.
type Client struct {
	cfg config
	hc  *http.Client
}

var (
	_ llm.Client         = (*Client)(nil)
	_ llm.RequestChecker = (*Client)(nil)
)

// New returns a client configured by opts. It returns an error when no API
// key is given (the Gemini API requires one), the base URL is not an
// absolute http or https URL, a number is negative, the thinking level is
// unknown, or both a thinking level and a budget are set. New does no
// network I/O.
func New(opts ...Option) (*Client, error) {
	cfg := config{maxRetries: DefaultMaxRetries}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.fromEnv {
		if cfg.apiKey == "" {
			cfg.apiKey = os.Getenv("GOOGLE_API_KEY")
		}
		if cfg.apiKey == "" {
			cfg.apiKey = os.Getenv("GEMINI_API_KEY")
		}
		if cfg.baseURL == "" {
			cfg.baseURL = os.Getenv("GOOGLE_GEMINI_BASE_URL")
		}
	}
	if cfg.baseURL == "" {
		cfg.baseURL = DefaultBaseURL
	}
	cfg.thinkingLevel = strings.ToUpper(cfg.thinkingLevel)
	u, err := url.Parse(cfg.baseURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("gemini: new client: base URL %q is not an absolute http(s) URL", cfg.baseURL)
	case cfg.apiKey == "":
		return nil, errors.New("gemini: new client: no API key (use WithAPIKey, or FromEnv with GEMINI_API_KEY or GOOGLE_API_KEY)")
	case cfg.maxRetries < 0:
		return nil, fmt.Errorf("gemini: new client: max retries %d is negative", cfg.maxRetries)
	case cfg.maxRetryDelay < 0:
		return nil, fmt.Errorf("gemini: new client: max retry delay %s is negative", cfg.maxRetryDelay)
	case cfg.thinkingLevel != "" && cfg.thinkingBudget != nil:
		return nil, errors.New("gemini: new client: a thinking level and a thinking budget cannot both be set")
	case cfg.thinkingBudget != nil && *cfg.thinkingBudget < -1:
		return nil, fmt.Errorf("gemini: new client: thinking budget %d is below -1", *cfg.thinkingBudget)
	}
	switch genai.ThinkingLevel(cfg.thinkingLevel) {
	case "", genai.ThinkingLevelMinimal, genai.ThinkingLevelLow, genai.ThinkingLevelMedium, genai.ThinkingLevelHigh:
	default:
		return nil, fmt.Errorf("gemini: new client: unknown thinking level %q (want minimal, low, medium or high)", cfg.thinkingLevel)
	}
	base := http.DefaultTransport
	hc := &http.Client{}
	if cfg.httpClient != nil {
		copied := *cfg.httpClient
		hc = &copied
		if hc.Transport != nil {
			base = hc.Transport
		}
	}
	pol := retryPolicy{base: base, maxRetries: cfg.maxRetries, maxBackoff: 8 * time.Second, maxServerWait: 2 * time.Minute}
	if cfg.maxRetryDelay > 0 {
		pol.maxBackoff, pol.maxServerWait = cfg.maxRetryDelay, cfg.maxRetryDelay
	}
	hc.Transport = &pol
	return &Client{cfg: cfg, hc: hc}, nil
}

// models returns the SDK's model service over hc. The SDK client is made
// for each call, with the call's context (it does no I/O for the Gemini
// API backend): the backend, key and endpoint are always given, so the
// SDK's own lookups of GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GEMINI_BASE_URL and
// the key variables never decide anything.
func (c *Client) models(ctx context.Context, hc *http.Client) (*genai.Models, error) {
	h := http.Header{}
	for _, kv := range c.cfg.headers {
		h.Set(kv[0], kv[1])
	}
	g, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:     c.cfg.apiKey,
		Backend:    genai.BackendGeminiAPI,
		HTTPClient: hc,
		HTTPOptions: genai.HTTPOptions{
			BaseURL: c.cfg.baseURL,
			Headers: h,
		},
	})
	if err != nil {
		return nil, err
	}
	return g.Models, nil
}

// Generate sends req and waits for the whole response. Provider errors are
// *llm.APIError values matching one of the llm sentinels (ErrRateLimited,
// ErrQuotaExceeded, ErrContextTooLong, ErrAuthentication, ErrBadRequest,
// ErrServer); a request that cannot be expressed in the Gemini format fails
// before any I/O with an error matching llm.ErrBadRequest.
func (c *Client) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	p, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("gemini: generate: %w", err)
	}
	m, err := c.models(ctx, c.hc)
	if err != nil {
		return nil, fmt.Errorf("gemini: generate: %w", err)
	}
	res, err := m.GenerateContent(ctx, p.model, p.contents, p.config)
	if err != nil {
		return nil, fmt.Errorf("gemini: generate: %w", mapError(ctx, err))
	}
	acc := newAccumulator(p.model)
	acc.add(res)
	out, err := acc.response()
	if err != nil {
		return nil, fmt.Errorf("gemini: generate: %w", err)
	}
	return out, nil
}

// Stream sends req to streamGenerateContent (server-sent events) and yields
// text, thought and function-call events as they arrive, then an
// llm.EventDone carrying the assembled Response. Errors are those of
// Generate, including an error inside the stream; a stream that ends
// without a finish reason yields an error wrapping llm.ErrIncomplete.
// Breaking out of the loop closes the connection.
func (c *Client) Stream(ctx context.Context, req llm.Request) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		p, err := c.params(req)
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("gemini: stream: %w", err))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		m, err := c.models(ctx, c.hc)
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("gemini: stream: %w", err))
			return
		}
		acc := newAccumulator(p.model)
		for chunk, err := range m.GenerateContentStream(ctx, p.model, p.contents, p.config) {
			if err != nil {
				yield(llm.Event{}, fmt.Errorf("gemini: stream: %w", mapError(ctx, err)))
				return
			}
			for _, ev := range acc.add(chunk) {
				if !yield(ev, nil) {
					return
				}
			}
		}
		if err := ctx.Err(); err != nil {
			yield(llm.Event{}, fmt.Errorf("gemini: stream: %w", err))
			return
		}
		res, err := acc.response()
		if err != nil {
			yield(llm.Event{}, fmt.Errorf("gemini: stream: %w", err))
			return
		}
		yield(llm.Event{Type: llm.EventDone, Response: res}, nil)
	}
}

// errCaptured stops a request that RequestBody captured.
var errCaptured = errors.New("request captured")

// captureTransport records a request's body and sends nothing.
type captureTransport struct{ body []byte }

func (t *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		t.body = b
	}
	return nil, errCaptured
}

// RequestBody returns the JSON body Generate sends for req, byte for byte
// (Stream sends the same body to streamGenerateContent). The SDK encodes it
// and hands it to a transport that keeps it and sends nothing, so the bytes
// are the SDK's own. It fails as Generate does before any I/O when req
// cannot be sent (an error matching llm.ErrBadRequest). It does no network
// I/O and is safe for concurrent use.
func (c *Client) RequestBody(req llm.Request) ([]byte, error) {
	p, err := c.params(req)
	if err != nil {
		return nil, fmt.Errorf("gemini: request body: %w", err)
	}
	ct := &captureTransport{}
	// The context only bounds the SDK's request building here: nothing
	// leaves the process and nothing waits.
	ctx := context.TODO()
	m, err := c.models(ctx, &http.Client{Transport: ct})
	if err != nil {
		return nil, fmt.Errorf("gemini: request body: %w", err)
	}
	if _, err := m.GenerateContent(ctx, p.model, p.contents, p.config); !errors.Is(err, errCaptured) {
		return nil, fmt.Errorf("gemini: request body: the SDK did not send the request: %v", err)
	}
	return ct.body, nil
}

// CheckRequest returns the error, matching llm.ErrBadRequest, that Generate
// and Stream would return for req before any I/O, or nil (see
// llm.RequestChecker). It is safe for concurrent use.
func (c *Client) CheckRequest(req llm.Request) error {
	if _, err := c.params(req); err != nil {
		return fmt.Errorf("gemini: %w", err)
	}
	return nil
}

// badRequest reports a request convo cannot translate, before any I/O.
func badRequest(format string, args ...any) error {
	return &llm.APIError{Provider: "gemini", Kind: llm.ErrBadRequest, Message: fmt.Sprintf(format, args...)}
}
