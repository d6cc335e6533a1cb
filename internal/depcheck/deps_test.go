// Package depcheck holds the dependency policy of convo as a test: the core
// packages import only the standard library and a short allow-list, so that
// a program using the SQLite store compiles no driver, SDK or web library it
// did not choose.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// xtext is golang.org/x/text, the Go project's Unicode library (no
// dependencies of its own): search normalises text with its NFKC and case
// folding (internal/searchtext).
const xtext = "golang.org/x/text/"

// allowed lists, per package, the non-standard-library packages it may
// depend on (directly or not), besides convo's own.
var allowed = map[string][]string{
	"github.com/convo-dev/convo/message":             {"github.com/google/uuid"},
	"github.com/convo-dev/convo/session":             {"github.com/google/uuid", xtext},
	"github.com/convo-dev/convo/session/sessiontest": {"github.com/google/uuid", "github.com/google/go-cmp/", xtext},
	"github.com/convo-dev/convo/sqlite":              {"github.com/google/uuid", xtext},
	"github.com/convo-dev/convo/llm":                 {"github.com/google/uuid"},
	// encrypted uses the standard library's AES-GCM: no crypto module.
	"github.com/convo-dev/convo/encrypted":   {"github.com/google/uuid", xtext},
	"github.com/convo-dev/convo/llm/llmtest": {"github.com/google/uuid"},
}

func TestCorePackageDependencies(t *testing.T) {
	for pkg, allow := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/convo-dev/convo/") {
				if strings.Contains(dep, "/internal/drivertest") {
					t.Errorf("%s depends on %s", pkg, dep)
				}
				continue
			}
			ok := false
			for _, a := range allow {
				if dep == a || strings.HasPrefix(dep, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s depends on %s, which is not on its allow-list", pkg, dep)
			}
		}
	}
}

// TestGeminiSDKOnlyInItsClient: google.golang.org/genai (and the Google
// Cloud libraries it pulls in) is compiled only into programs that import
// llm/gemini, never into the agent, the tools or the other clients.
func TestGeminiSDKOnlyInItsClient(t *testing.T) {
	for _, pkg := range []string{
		"github.com/convo-dev/convo/agent",
		"github.com/convo-dev/convo/tool",
		"github.com/convo-dev/convo/llm/openai",
		"github.com/convo-dev/convo/llm/anthropic",
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "google.golang.org/genai") || strings.HasPrefix(dep, "cloud.google.com/") ||
				dep == "github.com/convo-dev/convo/llm/gemini" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestOpenTelemetryAPIOnly: the agent traces through the OpenTelemetry API
// (go.opentelemetry.io/otel/trace, attribute, codes); the SDK, exporters and
// their dependencies are the program's choice and never compiled in by
// convo. The allow-lists of TestCorePackageDependencies keep OpenTelemetry out of
// them entirely.
func TestOpenTelemetryAPIOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/convo-dev/convo/agent").Output()
	if err != nil {
		t.Fatalf("go list -deps agent: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(dep, "go.opentelemetry.io/otel/exporters") ||
			strings.HasPrefix(dep, "go.opentelemetry.io/otel/metric") {
			t.Errorf("agent depends on %s", dep)
		}
	}
}
