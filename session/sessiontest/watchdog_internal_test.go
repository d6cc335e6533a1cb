package sessiontest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

const watchdogEnv = "SESSIONTEST_WATCHDOG_CHILD"

// TestWatchdogChild deadlocks on purpose; it runs only in the child process
// of TestWatchdogFailsADeadlock.
func TestWatchdogChild(t *testing.T) {
	if os.Getenv(watchdogEnv) == "" {
		t.Skip("runs only in the child process of TestWatchdogFailsADeadlock")
	}
	watchdogTimeout = 200 * time.Millisecond
	never := make(chan struct{})
	concurrently(t, 2, func(context.Context, int) { <-never }) // ignores ctx: a true deadlock
	t.Error("concurrently returned from a deadlock")
}

// TestWatchdogFailsADeadlock proves that a deadlocked check fails, with a
// goroutine dump, instead of hanging.
func TestWatchdogFailsADeadlock(t *testing.T) {
	if os.Getenv(watchdogEnv) != "" {
		t.Skip("already in the child process")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWatchdogChild$", "-test.count=1", "-test.timeout=1m")
	cmd.Env = append(os.Environ(), watchdogEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the deadlocked child passed:\n%s", out)
	}
	for _, want := range []string{"watchdog: goroutines still running after 200ms", "goroutine ", "--- FAIL: TestWatchdogChild"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("concurrently returned from a deadlock")) || bytes.Contains(out, []byte("test timed out")) {
		t.Errorf("the watchdog did not stop the check:\n%s", out)
	}
}
