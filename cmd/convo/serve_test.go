package main

import (
	"bufio"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeBinary runs `convo serve` as a process: it prints its URL,
// serves the list read-only, and stops cleanly on an interrupt.
func TestServeBinary(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	cmd := exec.CommandContext(t.Context(), convoBinary(t), "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("no address line: %v (stderr %q)", err, stderr.String())
	}
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(line)
	if url == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("address line %q", line)
	}
	status, _, body := get(t, "GET", url)
	if status != 200 || !strings.Contains(body, "trip-paris") {
		t.Errorf("GET /: %d\n%s", status, body)
	}
	if status, _, _ := get(t, "POST", url+"s/trip-paris"); status != 405 {
		t.Errorf("POST: %d; want 405", status)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve exited with %v after an interrupt; want 0 (stderr %q)", err, stderr.String())
	}
}

func TestServeValidatesFlags(t *testing.T) {
	r := convo(t, "", "--db", "mysql://x", "serve", "--addr", "nonsense")
	if r.err == nil || !strings.Contains(r.stderr, "--addr") {
		t.Errorf("serve --addr nonsense: %v %q", r.err, r.stderr)
	}
}

func TestServeValidatesMaxLive(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	r := convo(t, "", "--db", dbPath, "serve", "--max-live", "0")
	if r.err == nil || !strings.Contains(r.stderr, "--max-live must be at least 1") {
		t.Errorf("serve --max-live 0: %v %q", r.err, r.stderr)
	}
}

// serve checked the full-text index's backlog at its start (to warn when
// searches would read every message) and gave up when it could not read
// it: a viewer that can show every session did not start. It now says so
// and serves.
func TestServeStartsWhenTheSearchBacklogCannotBeRead(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "convo.db")
	seed(t, dbPath, "", demoSessions(t)[:1])
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM search_state`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cmd := exec.CommandContext(t.Context(), convoBinary(t), "--db", dbPath, "serve", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedLog
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no address line: %v (stderr %q)", err, stderr.String())
	}
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(line)
	if status, _, body := get(t, "GET", url); status != 200 || !strings.Contains(body, "trip-paris") {
		t.Errorf("GET /: %d\n%s", status, body)
	}
	if !strings.Contains(stderr.String(), "serve: cannot tell how much of the full-text index is missing") {
		t.Errorf("stderr %q: want the warning", stderr.String())
	}
}
