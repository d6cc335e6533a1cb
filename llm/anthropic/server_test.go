package anthropic_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
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
	sse    []string // events of a text/event-stream: "name\ndata", see ev
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

// fakeServer speaks the Messages API wire format from a script.
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

func (f *fakeServer) url() string { return f.srv.URL }

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := recorded{path: r.URL.Path, header: r.Header.Clone(), raw: raw}
	_ = json.Unmarshal(raw, &rec.body)
	// Every body the client sends must pass the provider's documented
	// request rules; a test that sends a body the API would refuse on
	// purpose sets allowInvalid.
	if err := providerrules.CheckAnthropic(raw); err != nil && !f.allowInvalid {
		f.t.Errorf("the client sent a request the API would refuse: %v\n%s", err, raw)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	if len(f.replies) == 0 {
		f.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, `{"type":"error","error":{"type":"invalid_request_error","message":"no scripted reply left"}}`)
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
	for _, e := range rp.sse {
		name, data, _ := strings.Cut(e, "\n")
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
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

func runtimeGoroutines() int { return runtime.NumGoroutine() }

// ev is one server-sent event as the Messages API writes it.
func ev(data string) string {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(data), &head); err != nil {
		panic(err)
	}
	return head.Type + "\n" + data
}

func messageStart(inputTokens, cacheRead, cacheWrite int) string {
	return ev(fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":%d,"cache_read_input_tokens":%d,"output_tokens":1,"service_tier":"standard"}}}`, inputTokens, cacheWrite, cacheRead))
}

func messageDelta(stop string, outputTokens int) string {
	return ev(fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`, stop, outputTokens))
}

var (
	ping        = ev(`{"type": "ping"}`)
	messageStop = ev(`{"type":"message_stop"}`)
)

func blockStop(i int) string { return ev(fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i)) }

func messageBody(content, stop string, input, cacheRead, cacheWrite, output int) string {
	return fmt.Sprintf(`{
  "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
  "type": "message",
  "role": "assistant",
  "model": "claude-sonnet-4-5-20250929",
  "content": %s,
  "stop_reason": %q,
  "stop_sequence": null,
  "usage": {
    "input_tokens": %d,
    "cache_creation_input_tokens": %d,
    "cache_read_input_tokens": %d,
    "output_tokens": %d,
    "service_tier": "standard"
  }
}`, content, stop, input, cacheWrite, cacheRead, output)
}

func errorBody(typ, msg string) string {
	m, _ := json.Marshal(msg)
	return `{"type":"error","error":{"type":"` + typ + `","message":` + string(m) + `},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`
}
