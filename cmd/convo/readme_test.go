package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReadmeSuiteCount runs the command the README names for the size of
// the conformance suite (go test ./session -run TestMemoryStoreConformance
// -v) and checks the figures the README gives: the rule checks (the
// subtests two levels down), the areas (one level down) and how many of
// the checks skip on the memory store.
func TestReadmeSuiteCount(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on the session package")
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ")
	m := regexp.MustCompile(`\((\d+) named rule checks in (\d+) areas, .*?-run TestMemoryStoreConformance -v\x60, where (\w+) need`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("README.md: no \"(N named rule checks in M areas, ... where K need\" sentence")
	}
	words := map[string]int{"no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
	wantChecks, _ := strconv.Atoi(m[1])
	wantAreas, _ := strconv.Atoi(m[2])
	wantSkips, ok := words[m[3]]
	if !ok {
		t.Fatalf("README.md: skip count %q is not a number word", m[3])
	}

	cmd := exec.CommandContext(t.Context(), "go", "test", "./session", "-run", "TestMemoryStoreConformance", "-v")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test ./session: %v\n%s", err, out)
	}
	areas, checks, skips := 0, 0, 0
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "    --- "):
			areas++
		case strings.HasPrefix(line, "        --- "):
			checks++
			if strings.HasPrefix(line, "        --- SKIP") {
				skips++
			}
		}
	}
	if checks != wantChecks || areas != wantAreas || skips != wantSkips {
		t.Errorf("README.md says %d rule checks in %d areas, %d skipping on the memory store; the suite has %d in %d, %d skipping",
			wantChecks, wantAreas, wantSkips, checks, areas, skips)
	}
}
