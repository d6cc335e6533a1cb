package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/convo-dev/convo/internal/retryafter"
	"github.com/convo-dev/convo/llm"
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
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) {
		var p *genai.APIError
		if !errors.As(err, &p) || p == nil {
			return err
		}
		apiErr = *p
	}
	e := &llm.APIError{Provider: "gemini", StatusCode: apiErr.Code, Message: apiErr.Message, Err: err}
	d := detailsOf(apiErr.Details)
	e.Kind = kindOf(apiErr.Code, apiErr.Status, apiErr.Message, d)
	if errors.Is(e.Kind, llm.ErrRateLimited) {
		e.RetryAfter = d.retryDelay
	}
	return e
}

// details is what the rules read from an error's google.rpc details
// (https://cloud.google.com/apis/design/errors#error_details).
type details struct {
	retryDelay time.Duration // RetryInfo.retryDelay
	daily      bool          // a QuotaFailure or ErrorInfo naming a daily quota
	reasons    []string      // ErrorInfo.reason
}

func detailsOf(ds []map[string]any) details {
	var d details
	for _, m := range ds {
		switch m["@type"] {
		case "type.googleapis.com/google.rpc.RetryInfo":
			if s, ok := m["retryDelay"].(string); ok {
				d.retryDelay = parseDuration(s)
			}
		case "type.googleapis.com/google.rpc.QuotaFailure":
			vs, _ := m["violations"].([]any)
			for _, v := range vs {
				if vm, ok := v.(map[string]any); ok {
					if id, _ := vm["quotaId"].(string); daily(id) {
						d.daily = true
					}
				}
			}
		case "type.googleapis.com/google.rpc.ErrorInfo":
			if r, ok := m["reason"].(string); ok {
				d.reasons = append(d.reasons, r)
			}
			if md, ok := m["metadata"].(map[string]any); ok {
				if l, _ := md["quota_limit"].(string); daily(l) {
					d.daily = true
				}
			}
		}
	}
	return d
}

// daily reports whether a quota id or limit names a daily quota, as
// google-gemini/gemini-cli classifies them
// (packages/core/src/utils/googleQuotaErrors.ts: "PerDay" or "Daily" is
// a TerminalQuotaError, not retried).
func daily(id string) bool { return strings.Contains(id, "PerDay") || strings.Contains(id, "Daily") }

// parseDuration reads a google.protobuf.Duration in its JSON form ("42s",
// "34.074824224s"), which time.ParseDuration reads exactly.
func parseDuration(s string) time.Duration {
	if !strings.HasSuffix(s, "s") {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// kindOf maps an error's code, status, message and details to an llm
// sentinel. The Gemini API's codes are listed at
// https://ai.google.dev/gemini-api/docs/troubleshooting (400
// INVALID_ARGUMENT and FAILED_PRECONDITION, 403 PERMISSION_DENIED, 404
// NOT_FOUND, 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, 504
// DEADLINE_EXCEEDED).
func kindOf(code int, status, msg string, d details) error {
	lmsg := strings.ToLower(msg)
	switch {
	case strings.Contains(lmsg, "input token count") && strings.Contains(lmsg, "exceeds the maximum"):
		// "The input token count (3475108) exceeds the maximum number of
		// tokens allowed (1048576)." (400 INVALID_ARGUMENT, reported in
		// github.com/google-gemini/gemini-cli/issues/4231).
		return llm.ErrContextTooLong
	case code == http.StatusTooManyRequests || status == "RESOURCE_EXHAUSTED":
		if d.daily {
			return llm.ErrQuotaExceeded
		}
		return llm.ErrRateLimited
	case code == http.StatusUnauthorized || code == http.StatusForbidden ||
		status == "UNAUTHENTICATED" || status == "PERMISSION_DENIED" ||
		// A key the API does not know is a 400 INVALID_ARGUMENT whose
		// ErrorInfo reason is API_KEY_INVALID ("API key not valid.
		// Please pass a valid API key.").
		contains(d.reasons, "API_KEY_INVALID") || strings.Contains(lmsg, "api key not valid"):
		return llm.ErrAuthentication
	case code >= 500:
		return llm.ErrServer
	case code >= 400:
		return llm.ErrBadRequest
	}
	return llm.ErrServer
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// retryPolicy is the client's transport: it sends a request and retries it
// after a 408, 429 or 5xx answer or a connection error, up to maxRetries
// times, honouring the context. The wait is what the server asks for (a
// RetryInfo detail in the error body, as the Gemini API sends with a 429,
// or a Retry-After header), else an exponential backoff from 0.5s with up
// to 25% jitter, capped at maxBackoff. A server asking for more than
// maxServerWait, or naming a daily quota, is not retried: the caller gets
// the error at once. The SDK's own retries stay off (its HTTPRetryOptions
// ignore what the server asks for).
type retryPolicy struct {
	base          http.RoundTripper
	maxRetries    int
	maxBackoff    time.Duration
	maxServerWait time.Duration
}

func (p *retryPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 && req.Body != nil {
			if req.GetBody == nil {
				return nil, errors.New("gemini: retry: the request body cannot be replayed")
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(ctx)
			r.Body = body
		}
		res, err := p.base.RoundTrip(r)
		if attempt >= p.maxRetries || ctx.Err() != nil {
			return res, err
		}
		var wait time.Duration
		switch {
		case err != nil:
			wait = retryafter.Backoff(attempt, p.maxBackoff)
		case retryable(res.StatusCode):
			raw, readErr := io.ReadAll(io.LimitReader(res.Body, 1<<20))
			res.Body.Close()
			res.Body = io.NopCloser(bytes.NewReader(raw))
			if readErr != nil {
				return res, nil
			}
			var body struct {
				Error genai.APIError `json:"error"`
			}
			_ = json.Unmarshal(raw, &body)
			d := detailsOf(body.Error.Details)
			if d.daily {
				return res, nil
			}
			server := d.retryDelay
			if server == 0 {
				server = retryafter.Parse(res.Header, time.Now())
			}
			if server > p.maxServerWait {
				return res, nil
			}
			wait = server
			if wait == 0 {
				wait = retryafter.Backoff(attempt, p.maxBackoff)
			}
		default:
			return res, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if res != nil {
				res.Body.Close()
			}
			return nil, ctx.Err()
		case <-t.C:
		}
		if res != nil {
			res.Body.Close()
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}
