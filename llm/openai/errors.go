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
	"sync/atomic"
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
	case code == "insufficient_quota" || typ == "insufficient_quota":
		// A 429 for billing: "You exceeded your current quota, please
		// check your plan and billing details." (type and code
		// "insufficient_quota", reported in
		// github.com/openai/openai-cookbook/issues/844). Waiting does not
		// help.
		return llm.ErrQuotaExceeded
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
	norm := normalisedError(raw)
	res.Body = io.NopCloser(bytes.NewReader(norm))
	res.ContentLength = -1
	res.Header.Del("Content-Length")
	if res.StatusCode == http.StatusTooManyRequests && isQuotaError(norm) {
		// The SDK retries every 429; a quota error is never worth it.
		res.Header.Set("x-should-retry", "false")
	}
	return res, nil
}

// isQuotaError reports whether a normalised error body is OpenAI's
// insufficient_quota.
func isQuotaError(body []byte) bool {
	var e struct {
		Error struct {
			Type string `json:"type"`
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Type == "insufficient_quota" || e.Error.Code == "insufficient_quota"
}

// doneKey is the context key of a stream's doneWatch.
type doneKey struct{}

// doneWatch records whether a stream's body held its "data: [DONE]" line.
// The SDK's stream ends the same way on [DONE] and on a cut connection, so
// watchDone looks at the bytes as they pass.
type doneWatch struct{ done atomic.Bool }

// watchDone is SDK middleware that, for requests whose context holds a
// *doneWatch, wraps a successful response body to spot "data: [DONE]".
func watchDone(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	w, _ := req.Context().Value(doneKey{}).(*doneWatch)
	if err != nil || res == nil || res.Body == nil || w == nil || res.StatusCode >= 300 {
		return res, err
	}
	res.Body = &doneReader{rc: res.Body, w: w}
	return res, nil
}

// doneReader passes a body through, watching the start of each line.
type doneReader struct {
	rc   io.ReadCloser
	w    *doneWatch
	line []byte // the line's first bytes
	long bool   // the line is longer than any [DONE] line
}

func (d *doneReader) Read(p []byte) (int, error) {
	n, err := d.rc.Read(p)
	for _, b := range p[:n] {
		if b == '\n' || b == '\r' {
			d.endLine()
			continue
		}
		if len(d.line) < 16 {
			d.line = append(d.line, b)
		} else {
			d.long = true
		}
	}
	if err == io.EOF {
		d.endLine()
	}
	return n, err
}

func (d *doneReader) endLine() {
	if !d.long {
		if rest, ok := bytes.CutPrefix(d.line, []byte("data:")); ok && string(bytes.TrimSpace(rest)) == "[DONE]" {
			d.w.done.Store(true)
		}
	}
	d.line, d.long = d.line[:0], false
}

func (d *doneReader) Close() error { return d.rc.Close() }

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
