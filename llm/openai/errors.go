package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"

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
	if errors.As(err, &apiErr) {
		e := &llm.APIError{
			Provider:   "openai",
			StatusCode: apiErr.StatusCode,
			Message:    apiErr.Message,
			Err:        err,
		}
		if e.Message == "" && apiErr.Response != nil {
			e.Message = http.StatusText(apiErr.StatusCode)
		}
		if apiErr.Response != nil {
			e.RetryAfter = retryafter.Parse(apiErr.Response.Header, time.Now())
		}
		e.Kind = kindOf(apiErr.StatusCode, apiErr.Code, apiErr.Type, apiErr.Message)
		return e
	}
	var streamErr *ssestream.StreamError
	if errors.As(err, &streamErr) {
		// An error sent inside an otherwise successful (HTTP 200) stream,
		// as OpenRouter and vLLM do: {"error":{"message":...,"code":...}}.
		var body struct {
			Error struct {
				Message string          `json:"message"`
				Type    string          `json:"type"`
				Code    json.RawMessage `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(streamErr.Event.Data, &body)
		code := strings.Trim(string(body.Error.Code), `"`)
		status, _ := strconv.Atoi(code)
		e := &llm.APIError{Provider: "openai", Message: body.Error.Message, Err: err}
		if e.Message == "" {
			e.Message = streamErr.Message
		}
		e.Kind = kindOf(status, code, body.Error.Type, body.Error.Message)
		if e.Kind == llm.ErrBadRequest && status == 0 {
			// An error in the middle of a stream with no status is the
			// server's failure, not the request's.
			e.Kind = llm.ErrServer
		}
		return e
	}
	return err
}

// kindOf maps an HTTP status and the error body's code, type and message to
// an llm sentinel.
func kindOf(status int, code, typ, msg string) error {
	lmsg := strings.ToLower(msg)
	switch {
	case code == "context_length_exceeded" || typ == "exceed_context_size_error" ||
		strings.Contains(lmsg, "maximum context length") || strings.Contains(lmsg, "context length exceeded") ||
		strings.Contains(lmsg, "exceeds the available context size"):
		return llm.ErrContextTooLong
	case code == "content_filter" || code == "content_policy_violation":
		return llm.ErrContentFiltered
	case status == http.StatusTooManyRequests || code == "rate_limit_exceeded" || typ == "rate_limit_error":
		return llm.ErrRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return llm.ErrAuthentication
	case status >= 500:
		return llm.ErrServer
	case status >= 400:
		return llm.ErrBadRequest
	}
	return llm.ErrServer
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// normaliseErrorBody is SDK middleware that rewrites the error bodies of
// compatible servers into OpenAI's {"error":{"message","type","code"}}
// shape, so the SDK reports every failed call as an *sdk.Error with its
// status: Ollama sends {"error":"..."}, vLLM a top-level {"message",
// "type","code"}, proxies plain text or HTML. Bodies already in OpenAI's
// shape pass through unchanged.
func normaliseErrorBody(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res == nil || res.StatusCode < 400 || res.Body == nil {
		return res, err
	}
	raw, readErr := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	_ = res.Body.Close()
	if readErr != nil {
		raw = nil
	}
	res.Body = io.NopCloser(bytes.NewReader(normalisedError(raw)))
	res.ContentLength = -1
	res.Header.Del("Content-Length")
	return res, nil
}

func normalisedError(raw []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) == nil {
		if e, ok := top["error"]; ok {
			var obj map[string]json.RawMessage
			if json.Unmarshal(e, &obj) == nil {
				return normalisedFields(obj)
			}
			var s string
			if json.Unmarshal(e, &s) == nil {
				return normalisedFields(map[string]json.RawMessage{"message": e})
			}
		}
		if _, ok := top["message"]; ok {
			return normalisedFields(top)
		}
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 500 {
		msg = msg[:500]
	}
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "?")
	}
	m, _ := json.Marshal(msg)
	return normalisedFields(map[string]json.RawMessage{"message": m})
}

// normalisedFields writes obj as {"error":obj} with a string "code", as
// the SDK's error type expects.
func normalisedFields(obj map[string]json.RawMessage) []byte {
	if c, ok := obj["code"]; ok && len(c) > 0 && c[0] != '"' && string(c) != "null" {
		q, _ := json.Marshal(string(c))
		obj["code"] = q
	}
	out, _ := json.Marshal(map[string]any{"error": obj})
	return out
}
