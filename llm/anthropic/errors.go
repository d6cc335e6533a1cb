package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/convo-dev/convo/llm"

	"github.com/convo-dev/convo/internal/retryafter"
)

// mapError turns an SDK error into an *llm.APIError. Context errors and
// transport errors are returned unchanged.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		return err
	}
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw := apiErr.RawJSON()
	_ = json.Unmarshal([]byte(raw), &body)
	e := &llm.APIError{Provider: "anthropic", StatusCode: apiErr.StatusCode, Message: body.Error.Message, Err: err}
	if e.Message == "" {
		e.Message = strings.TrimSpace(raw)
		if len(e.Message) > 500 {
			e.Message = e.Message[:500]
		}
	}
	if apiErr.Response != nil {
		e.RetryAfter = retryafter.Parse(apiErr.Response.Header, time.Now())
	}
	status := apiErr.StatusCode
	if status < 400 {
		// An error event inside a stream that began with 200 OK.
		status = 0
		e.StatusCode = 0
	}
	e.Kind = kindOf(status, body.Error.Type, body.Error.Message)
	return e
}

// kindOf maps an HTTP status (0 for an error event in a stream) and the
// error body's type and message to an llm sentinel.
func kindOf(status int, typ, msg string) error {
	lmsg := strings.ToLower(msg)
	switch {
	case strings.Contains(lmsg, "prompt is too long") || strings.Contains(lmsg, "context window") ||
		// "input length and `max_tokens` exceed context limit: 178959 +
		// 64000 > 200000, ..." (reported in
		// github.com/docker/docker-agent/issues/569).
		strings.Contains(lmsg, "exceed context limit") ||
		status == http.StatusRequestEntityTooLarge || typ == "request_too_large":
		return llm.ErrContextTooLong
	case strings.Contains(lmsg, "credit balance is too low"):
		// "Your credit balance is too low to access the Anthropic API.
		// Please go to Plans & Billing to upgrade or purchase credits." (a
		// 400, reported in github.com/anthropics/claude-quickstarts/issues/229).
		return llm.ErrQuotaExceeded
	case status == http.StatusTooManyRequests || typ == "rate_limit_error":
		return llm.ErrRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		typ == "authentication_error" || typ == "permission_error":
		return llm.ErrAuthentication
	case status >= 500 || typ == "overloaded_error" || typ == "api_error" || typ == "timeout_error":
		return llm.ErrServer
	case status >= 400 || typ == "invalid_request_error" || typ == "not_found_error":
		return llm.ErrBadRequest
	}
	return llm.ErrServer
}

// retryPolicy shapes the SDK's retry loop, which does the waiting, honours
// the context and counts attempts: its middleware looks at each retryable
// answer before the SDK does and
//
//   - stops the retries (x-should-retry: false) when the server asks for a
//     longer wait than maxServerWait, so the caller gets the error and its
//     RetryAfter at once instead of a silent sleep;
//   - when the server names no wait, sets retry-after-ms to an exponential
//     backoff with jitter, capped at maxBackoff (the SDK's own is fixed at
//     0.5s·2ⁿ up to 8s).
//
// The synthetic header is never set on the last attempt, so the error the
// caller sees carries only what the server sent.
type retryPolicy struct {
	maxRetries    int
	maxBackoff    time.Duration
	maxServerWait time.Duration
}

func (p retryPolicy) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res == nil || !retryable(res.StatusCode) || res.Header.Get("x-should-retry") != "" {
		return res, err
	}
	attempt, convErr := strconv.Atoi(req.Header.Get("X-Stainless-Retry-Count"))
	if convErr != nil || attempt >= p.maxRetries {
		return res, nil
	}
	if res.Header.Get("Retry-After-Ms") != "" || res.Header.Get("Retry-After") != "" {
		if retryafter.Parse(res.Header, time.Now()) > p.maxServerWait {
			res.Header.Set("x-should-retry", "false")
		}
		return res, nil
	}
	res.Header.Set("Retry-After-Ms", strconv.FormatInt(retryafter.Backoff(attempt, p.maxBackoff).Milliseconds(), 10))
	return res, nil
}

func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict ||
		status == http.StatusTooManyRequests || status >= 500
}
