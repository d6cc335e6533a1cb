package openai_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

// reply is one scripted answer of the fake server.
type reply struct {
	status int
	header map[string]string
	body   string   // a JSON body, when sse is nil
	sse    []string // data: payloads of a text/event-stream, written as is
	// hold keeps the stream open after the payloads until the client goes
	// away, then closes gone.
	hold bool
}

// recorded is one request the fake server received.
type recorded struct {
	path   string
	header http.Header
	raw    []byte
	body   map[string]any
}

// fakeServer speaks the Chat Completions wire format from a script.
type fakeServer struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	reqs    []recorded
	gone    chan struct{}
	// allowInvalid turns off the provider-rules check of request bodies.
	allowInvalid bool
}

func newServer(t testing.TB, replies ...reply) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, replies: replies, gone: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) url() string { return f.srv.URL + "/v1" }

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := recorded{path: r.URL.Path, header: r.Header.Clone(), raw: raw}
	_ = json.Unmarshal(raw, &rec.body)
	// Every body the client sends must pass the provider's documented
	// request rules; a test that sends a body the API would refuse on
	// purpose sets allowInvalid.
	if err := providerrules.CheckOpenAI(raw); err != nil && !f.allowInvalid {
		f.t.Errorf("the client sent a request the API would refuse: %v\n%s", err, raw)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	if len(f.replies) == 0 {
		f.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, `{"error":{"message":"no scripted reply left","type":"test","param":null,"code":null}}`)
		return
	}
	rp := f.replies[0]
	if len(f.replies) > 1 {
		f.replies = f.replies[1:]
	}
	f.mu.Unlock()

	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	status := rp.status
	if status == 0 {
		status = http.StatusOK
	}
	if rp.sse == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, rp.body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	fl := w.(http.Flusher)
	for _, d := range rp.sse {
		fmt.Fprintf(w, "data: %s\n\n", d)
		fl.Flush()
	}
	if rp.hold {
		<-r.Context().Done()
		close(f.gone)
	}
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeServer) last() recorded {
	f.t.Helper()
	r := f.requests()
	if len(r) == 0 {
		f.t.Fatal("the server received no request")
	}
	return r[len(r)-1]
}

// jsonEq reports whether got (decoded JSON) equals the JSON text want.
func jsonEq(t testing.TB, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want JSON: %v", what, err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}

// waitGoroutines fails the test when the goroutine count does not come
// back to at most base within a generous watchdog.
func waitGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want <= %d\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chunk(delta string, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1732460000,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + fr + `}],"usage":null}`
}

func usageChunk(prompt, completion, cached, reasoning int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1732460000,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_b3f1157249","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":%d,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":%d,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`,
		prompt, completion, prompt+completion, cached, reasoning)
}

func completion(message, finish string, prompt, completionTokens, cached, reasoning int) string {
	return fmt.Sprintf(`{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1732460000,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": %s,
      "logprobs": null,
      "finish_reason": %q
    }
  ],
  "usage": {
    "prompt_tokens": %d,
    "completion_tokens": %d,
    "total_tokens": %d,
    "prompt_tokens_details": {"cached_tokens": %d, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": %d, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_b3f1157249"
}`, message, finish, prompt, completionTokens, prompt+completionTokens, cached, reasoning)
}

func errorBody(msg, typ, param, code string) string {
	q := func(s string) string {
		if s == "" {
			return "null"
		}
		b, _ := json.Marshal(s)
		return string(b)
	}
	return `{"error":{"message":` + q(msg) + `,"type":` + q(typ) + `,"param":` + q(param) + `,"code":` + q(code) + `}}`
}

func runtimeGoroutines() int { return runtime.NumGoroutine() }
