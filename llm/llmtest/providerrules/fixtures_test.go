package providerrules_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// moduleDir returns the directory of module path in the module cache, as
// the go command resolves it for this module's go.mod. The SDKs are
// dependencies of convo, so their sources (and test data) are there
// whenever convo builds.
func moduleDir(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("locating module %s: %v", path, err)
		}
		t.Skipf("module %s not found in the module cache (%v)", path, err)
	}
	return dir
}

// cassetteBodies returns the request bodies recorded in a go-vcr cassette:
// YAML single-quoted scalars ("body: '...'"), folded over lines.
func cassetteBodies(t testing.TB, file string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	lines := strings.Split(string(raw), "\n")
	inRequest := false
	for i := 0; i < len(lines); i++ {
		switch lines[i] {
		case "- request:":
			inRequest = true
		case "  response:":
			inRequest = false
		}
		rest, ok := strings.CutPrefix(lines[i], "    body: '")
		if !ok || !inRequest {
			continue
		}
		var sb strings.Builder
		for {
			end := strings.TrimRight(rest, " ")
			trailing := len(end) - len(strings.TrimRight(end, "'"))
			if trailing%2 == 1 { // an unpaired quote closes the scalar
				sb.WriteString(end[:len(end)-1])
				break
			}
			sb.WriteString(rest)
			i++
			if i >= len(lines) {
				t.Fatalf("%s: unterminated body", file)
			}
			sb.WriteString(" ") // a folded line break
			rest = strings.TrimLeft(lines[i], " ")
		}
		body := strings.ReplaceAll(sb.String(), "''", "'")
		if !json.Valid([]byte(body)) {
			t.Fatalf("%s: recorded body is not JSON: %.200s", file, body)
		}
		bodies = append(bodies, []byte(body))
	}
	return bodies
}

// anthropicRecordedRequests returns the request bodies anthropic-sdk-go's
// tool-runner tests recorded against the live API
// (toolrunner/testdata/cassettes/*.yaml): tool_use and tool_result turns,
// tool errors, parallel calls. The API accepted every one of them.
func anthropicRecordedRequests(t testing.TB) map[string][]byte {
	t.Helper()
	dir := moduleDir(t, "github.com/anthropics/anthropic-sdk-go")
	files, err := filepath.Glob(filepath.Join(dir, "toolrunner", "testdata", "cassettes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cassettes in %s (%v)", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		for i, b := range cassetteBodies(t, f) {
			out[fmt.Sprintf("%s#%d", filepath.Base(f), i)] = b
		}
	}
	return out
}
