package gemini_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

// reply is one scripted answer of the fake server.
type reply struct {
	status int
	header map[string]string
	body   string   // a JSON body, when sse is nil
	sse    []string // the data of each server-sent event
	// hold keeps the stream open after the events until the client goes
	// away, then closes gone.
	hold bool
}

// recorded is one request the fake server received.
type recorded struct {
	path   string
	query  string
	header http.Header
	raw    []byte
	body   map[string]any
}

// fakeServer speaks the Gemini API's wire format from a script:
// POST /v1beta/models/{model}:generateContent answers a JSON
// GenerateContentResponse, :streamGenerateContent?alt=sse answers
// server-sent events, one "data: {GenerateContentResponse}" each, as
// https://ai.google.dev/api/generate-content documents and as go-genai's
// own tests (chats_test.go, newTestChat) serve them.
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
	rec := recorded{path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), raw: raw}
	_ = json.Unmarshal(raw, &rec.body)
	// Every body the client sends must pass the Gemini 3 request rules; a
	// test that sends a body the API would refuse on purpose sets
	// allowInvalid.
	if err := providerrules.CheckGemini(raw, providerrules.Gemini3()); err != nil && !f.allowInvalid {
		f.t.Errorf("the client sent a request the API would refuse: %v\n%s", err, raw)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	if len(f.replies) == 0 {
		f.mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, `{"error":{"code":418,"message":"no scripted reply left","status":"UNKNOWN"}}`)
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
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		fmt.Fprint(w, rp.body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(status)
	fl := w.(http.Flusher)
	for _, data := range rp.sse {
		fmt.Fprintf(w, "data: %s\r\n\r\n", data)
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

// response is a GenerateContentResponse as the API writes it
// (https://ai.google.dev/api/generate-content#generatecontentresponse):
// one candidate with parts, its finish reason, and usage metadata.
func response(parts, finish string, prompt, candidates, thoughts int) string {
	fr := ""
	if finish != "" {
		fr = fmt.Sprintf(`,"finishReason":%q`, finish)
	}
	return fmt.Sprintf(`{"candidates":[{"content":{"parts":%s,"role":"model"}%s,"index":0}],`+
		`"usageMetadata":{"promptTokenCount":%d,"candidatesTokenCount":%d,"thoughtsTokenCount":%d,"totalTokenCount":%d},`+
		`"modelVersion":"gemini-3-pro-preview","responseId":"9lXxaPKXMb2Nz7IP7Z2z6Ac"}`,
		parts, fr, prompt, candidates, thoughts, prompt+candidates+thoughts)
}

// chunk is one streamed GenerateContentResponse without usage.
func chunk(parts, finish string) string {
	fr := ""
	if finish != "" {
		fr = fmt.Sprintf(`,"finishReason":%q`, finish)
	}
	return fmt.Sprintf(`{"candidates":[{"content":{"parts":%s,"role":"model"}%s,"index":0}],"modelVersion":"gemini-3-pro-preview"}`, parts, fr)
}

// errorBody is a google.rpc.Status error as the API writes it.
func errorBody(code int, status, msg string, details ...string) string {
	m, _ := json.Marshal(msg)
	d := ""
	if len(details) > 0 {
		d = `,"details":[` + strings.Join(details, ",") + `]`
	}
	return fmt.Sprintf(`{"error":{"code":%d,"message":%s,"status":%q%s}}`, code, m, status, d)
}
