package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// startServe runs `convo serve` with args and returns the URL it printed
// (with 127.0.0.1 in place of an unspecified address) and its output lines.
func startServe(t *testing.T, env []string, args ...string) (string, []string) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	cmd := exec.CommandContext(t.Context(), convoBinary(t), append([]string{"--db", dbPath, "serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("no address line: %v (stderr %q)", err, stderr.String())
	}
	port := regexp.MustCompile(`http://.*:(\d+)/`).FindStringSubmatch(line)
	if port == nil {
		t.Fatalf("address line %q", line)
	}
	lines := []string{line}
	// The other lines, if any, come at once; read what is there.
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return "http://127.0.0.1:" + port[1] + "/", lines
}

func getWith(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// Issue 17 item 2: the viewer answered any Host header, so a page on a
// rebound name could read every session. Only IP literals, localhost and
// --allow-host names are served.
func TestServeRefusesForeignHostNames(t *testing.T) {
	url, _ := startServe(t, nil, "--addr", "127.0.0.1:0", "--allow-host", "Viewer.Internal")
	for _, tc := range []struct {
		host string
		want int
	}{
		{"attacker.example", http.StatusForbidden},
		{"attacker.example:8080", http.StatusForbidden},
		{"127.0.0.1.attacker.example", http.StatusForbidden},
		{"localhost.attacker.example", http.StatusForbidden},
		{"127.0.0.1:8080", http.StatusOK},
		{"localhost", http.StatusOK},
		{"LOCALHOST.:8080", http.StatusOK},
		{"app.localhost", http.StatusOK},
		{"[::1]:8080", http.StatusOK},
		{"viewer.internal:8080", http.StatusOK},
	} {
		resp, body := getWith(t, url, http.Header{"Host": {tc.host}})
		if resp.StatusCode != tc.want {
			t.Errorf("Host %q: status %d, want %d", tc.host, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && !strings.Contains(body, "trip-paris") {
			t.Errorf("Host %q: the list is missing", tc.host)
		}
		if tc.want != http.StatusOK && strings.Contains(body, "trip-paris") {
			t.Errorf("Host %q: a refused request shows sessions", tc.host)
		}
	}
}

// Issue 14 item 2: on an address other machines reach, serve refuses to
// start without a token; with one, every request must carry it.
func TestServeOffLoopbackNeedsAToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		r := convo(t, "", "--db", filepath.Join(t.TempDir(), "x.db"), "serve", "--addr", addr)
		if r.err == nil || !strings.Contains(r.stderr, "--token") {
			t.Errorf("serve --addr %s without a token: err %v, stderr %q; want a refusal naming --token", addr, r.err, r.stderr)
		}
	}

	url, lines := startServe(t, []string{"CONVO_SERVE_TOKEN=s3cret"}, "--addr", "0.0.0.0:0")
	_ = lines
	if resp, body := getWith(t, url, nil); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "trip-paris") {
		t.Errorf("no token: status %d; want 401 without sessions", resp.StatusCode)
	}
	if resp, _ := getWith(t, url+"?token=wrong", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d; want 401", resp.StatusCode)
	}
	if resp, _ := getWith(t, url+"s/trip-paris", http.Header{"Authorization": {"Bearer s3cret"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("bearer token: status %d; want 200", resp.StatusCode)
	}
	resp, _ := getWith(t, url+"s/trip-paris?token=s3cret", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/s/trip-paris" {
		t.Fatalf("?token=: status %d, Location %q; want a redirect to the page without the token", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == tokenCookie {
			cookie = c.Name + "=" + c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("token cookie %+v: want HttpOnly and SameSite=Strict", c)
			}
		}
	}
	if resp, body := getWith(t, url+"s/trip-paris", http.Header{"Cookie": {cookie}}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "get_weather") {
		t.Errorf("with the cookie: status %d; want the conversation", resp.StatusCode)
	}
	if resp, _ := getWith(t, url, http.Header{"Cookie": {cookie}, "Host": {"attacker.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token but foreign host: status %d; want 403", resp.StatusCode)
	}
}
