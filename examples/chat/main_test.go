package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/convo-dev/convo/llm/llmtest/providerrules"
)

func TestCalculate(t *testing.T) {
	for expr, want := range map[string]string{
		"1+2*3":        "7",
		"(2+3)*4.5":    "22.5",
		"10/4":         "2.5",
		"-3 + 1":       "-2",
		"1/3":          "0.333333333333",
		"2*(3-(4/2))":  "2",
		"123456789*10": "1234567890",
	} {
		got, err := calculate(expr)
		if err != nil || got != want {
			t.Errorf("calculate(%q) = %q, %v; want %q", expr, got, err, want)
		}
	}
	for _, bad := range []string{"1/0", "x+1", "2**3", `"a"`, "f(1)", "1 +"} {
		if got, err := calculate(bad); err == nil {
			t.Errorf("calculate(%q) = %q, want an error", bad, got)
		}
	}
}

func TestWithoutEndpointExplainsAndFails(t *testing.T) {
	var stderr bytes.Buffer
	env := func(string) string { return "" }
	err := run(t.Context(), []string{"-model", "m"}, env, strings.NewReader(""), io.Discard, &stderr)
	if !errors.Is(err, errSetup) || !strings.Contains(stderr.String(), "OPENAI_BASE_URL") ||
		!strings.Contains(err.Error(), "no endpoint") {
		t.Fatalf("err %v, stderr %q", err, stderr.String())
	}
	err = run(t.Context(), nil, func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "k"
		}
		return ""
	}, strings.NewReader(""), io.Discard, &stderr)
	// The error names what is missing: the model, not the endpoint.
	if !errors.Is(err, errSetup) || !strings.Contains(err.Error(), "no model") {
		t.Fatalf("missing model: %v", err)
	}
}

// fakeEndpoint speaks the OpenAI chat-completions wire format: the first
// request gets a streamed calculator call, later ones a streamed text that
// echoes how many messages the request held.
func fakeEndpoint(t *testing.T) (*httptest.Server, *[]int) {
	var mu sync.Mutex
	var sizes []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		sizes = append(sizes, len(body.Messages))
		n := len(sizes)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(delta, finish string) {
			fmt.Fprintf(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", delta, finish)
		}
		if n == 1 {
			chunk(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"calculator","arguments":""}}]}`, "null")
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"expression\":\"6*7\"}"}}]}`, "null")
			chunk(`{}`, `"tool_calls"`)
		} else {
			chunk(`{"role":"assistant","content":"answer "}`, "null")
			chunk(fmt.Sprintf(`{"content":"%d"}`, len(body.Messages)), "null")
			chunk(`{}`, `"stop"`)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, &sizes
}

func TestChatResumesSessionAfterRestart(t *testing.T) {
	srv, sizes := fakeEndpoint(t)
	db := filepath.Join(t.TempDir(), "chat.db")
	env := func(k string) string {
		switch k {
		case "OPENAI_BASE_URL":
			return srv.URL + "/v1"
		case "OPENAI_API_KEY":
			return "test"
		}
		return ""
	}
	args := []string{"-model", "m", "-db", db, "-session", "alice"}
	var out bytes.Buffer
	if err := run(t.Context(), args, env, strings.NewReader("what is 6*7?\n/quit\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[calculator") || !strings.Contains(out.String(), "[= 42]") {
		t.Fatalf("first run output:\n%s", out.String())
	}
	// Restart: the history comes back from the file.
	out.Reset()
	if err := run(t.Context(), args, env, strings.NewReader("and again?\n/history\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Requests: system+user; system+user+call+result; then after restart
	// system + 4 stored + new user = 6.
	if got := fmt.Sprint(*sizes); got != "[2 4 6]" {
		t.Fatalf("request sizes %s\n%s", got, out.String())
	}
	hist := out.String()
	for _, want := range []string{"answer 6", "user      what is 6*7?", `result "42"`, "user      and again?"} {
		if !strings.Contains(hist, want) {
			t.Fatalf("missing %q in:\n%s", want, hist)
		}
	}
}

// fakeGemini speaks the Gemini API's streamGenerateContent wire format
// (server-sent events of GenerateContentResponse, as go-genai's
// chats_test.go serves them): the first request gets a calculator call
// carrying a thought signature, later ones a text. Every request body must
// pass the Gemini 3 request rules, thought signatures included.
func fakeGemini(t *testing.T) (*httptest.Server, *[][]byte) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if err := providerrules.CheckGemini(raw, providerrules.Gemini3()); err != nil {
			t.Errorf("request Gemini would refuse: %v\n%s", err, raw)
		}
		if r.URL.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || r.Header.Get("x-goog-api-key") != "gkey" {
			t.Errorf("request %s, key %q", r.URL.Path, r.Header.Get("x-goog-api-key"))
		}
		mu.Lock()
		bodies = append(bodies, raw)
		n := len(bodies)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			fmt.Fprint(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"calculator","args":{"expression":"6*7"}},"thoughtSignature":"c2lnLTE="}]}}]}`+"\r\n\r\n")
			fmt.Fprint(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP"}]}`+"\r\n\r\n")
			return
		}
		fmt.Fprint(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"It is 42."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":4,"totalTokenCount":34}}`+"\r\n\r\n")
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func TestChatWithGemini(t *testing.T) {
	srv, bodies := fakeGemini(t)
	env := func(k string) string {
		switch k {
		case "GEMINI_API_KEY":
			return "gkey"
		case "GOOGLE_GEMINI_BASE_URL":
			return srv.URL
		}
		return ""
	}
	args := []string{"-provider", "gemini", "-db", filepath.Join(t.TempDir(), "chat.db"), "-session", "g"}
	var out bytes.Buffer
	if err := run(t.Context(), args, env, strings.NewReader("what is 6*7?\n/quit\n"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[= 42]") || !strings.Contains(out.String(), "It is 42.") {
		t.Fatalf("output:\n%s", out.String())
	}
	if len(*bodies) != 2 || !strings.Contains(string((*bodies)[1]), `"thoughtSignature":"c2lnLTE="`) {
		t.Fatalf("the call's thought signature was not sent back: %d requests\n%s", len(*bodies), (*bodies)[len(*bodies)-1])
	}
	// Without a key, the program explains the setup.
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"-provider", "gemini"}, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	if !errors.Is(err, errSetup) || !strings.Contains(stderr.String(), "GEMINI_API_KEY") ||
		!strings.Contains(err.Error(), "no Gemini API key") {
		t.Fatalf("err %v, stderr %q", err, stderr.String())
	}
}
