package agent_test

// Tests that run agents in child processes (this test binary, re-executed)
// on a SQLite file: SIGKILL at random moments must never leave an invalid
// session, and two processes on one session must never interleave turns.

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
	"github.com/convo-dev/convo/tool"

	_ "modernc.org/sqlite"
)

const childEnv = "CONVO_AGENT_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openDB(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}

// sleepTool sleeps for the requested milliseconds, honouring ctx.
func sleepTool() tool.Tool {
	type args struct {
		MS int `json:"ms"`
	}
	return tool.Func("sleep", "Sleeps", func(ctx context.Context, a args) (string, error) {
		select {
		case <-time.After(time.Duration(a.MS) * time.Millisecond):
			return "slept " + strconv.Itoa(a.MS), nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
}

// randomModel answers with 1-3 slow tool calls or, one time in three (and
// always after tool results), a text.
func randomModel(tag string) llm.Client {
	c := llmtest.New()
	c.SetDefault(llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
		select {
		case <-time.After(time.Duration(rand.IntN(5)) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		last := req.Messages[len(req.Messages)-1]
		if last.Role == message.RoleTool && rand.IntN(2) == 0 || rand.IntN(3) == 0 {
			return &llm.Response{Message: message.NewAssistantMessage("answer from " + tag), FinishReason: llm.FinishStop}, nil
		}
		var parts []message.Part
		for i := range 1 + rand.IntN(3) {
			parts = append(parts, message.ToolCall{ID: fmt.Sprintf("call_%d", i), Name: "sleep",
				Input: []byte(fmt.Sprintf(`{"ms":%d}`, rand.IntN(30)))})
		}
		return &llm.Response{Message: message.NewMessage(message.RoleAssistant, parts...), FinishReason: llm.FinishToolCalls}, nil
	}))
	return c
}

func runChild(mode string) error {
	ctx := context.Background()
	db, err := openDB(os.Getenv("CONVO_DB"))
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		return err
	}
	tag := os.Getenv("CONVO_TAG")
	switch mode {
	case "approval", "approval-resume":
		return runApprovalChild(ctx, store, mode)
	case "crash":
		// The only writer: take over whatever the killed predecessor left.
		a := agent.New(randomModel(tag), agent.WithSession("crash", store), agent.WithTools(sleepTool()),
			agent.WithStaleTurnAfter(0), agent.WithMaxIterations(4))
		fmt.Println("ready")
		for i := 0; ; i++ {
			_, err := a.Chat(ctx, fmt.Sprintf("%s turn %d", tag, i))
			if err != nil && !errors.Is(err, agent.ErrMaxIterations) {
				return err
			}
		}
	case "midturn":
		// Default options: a turn whose tool never returns, until the
		// parent kills the process.
		client := llmtest.New()
		client.Push(llmtest.ToolCalls(llmtest.Call("c1", "block", `{}`)))
		block := tool.Func("block", "Blocks", func(ctx context.Context, _ struct{}) (string, error) {
			fmt.Println("in tool")
			<-ctx.Done()
			return "", ctx.Err()
		})
		a := agent.New(client, agent.WithSession("lease", store), agent.WithTools(block))
		_, err := a.Chat(ctx, tag+" starts a turn")
		return fmt.Errorf("the blocking turn ended: %v", err)
	case "continue":
		// Default options: continue the session the killed process left
		// mid-turn, giving up after a minute (the old rule waited 5).
		client := llmtest.New()
		client.Push(llmtest.Text("continued"))
		a := agent.New(client, agent.WithSession("lease", store), agent.WithTools(sleepTool()))
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		start := time.Now()
		resp, err := a.Chat(ctx, tag+" continues")
		if err != nil {
			return err
		}
		var kinds []string
		for _, n := range resp.Notices {
			kinds = append(kinds, string(n.Kind))
		}
		fmt.Printf("continued after %v, notices %v\n", time.Since(start).Round(100*time.Millisecond), kinds)
		return nil
	case "wait", "fail":
		turns, _ := strconv.Atoi(os.Getenv("CONVO_TURNS"))
		policy := agent.WaitForTurn
		if mode == "fail" {
			policy = agent.FailIfBusy
		}
		client := llmtest.New()
		for i := range turns {
			client.Push(
				llmtest.ToolCalls(llmtest.Call("c1", "sleep", `{"ms":5}`)).WithDelay(3*time.Millisecond),
				llmtest.Text(fmt.Sprintf("%s answer %d", tag, i)).WithDelay(3*time.Millisecond))
		}
		a := agent.New(client, agent.WithSession("shared", store), agent.WithTools(sleepTool()),
			agent.WithConcurrencyPolicy(policy), agent.WithBusyPolling(time.Millisecond, 20*time.Millisecond))
		busy := 0
		for i := 0; i < turns; {
			_, err := a.Chat(ctx, fmt.Sprintf("%s question %d", tag, i))
			if errors.Is(err, agent.ErrBusy) {
				busy++
				time.Sleep(time.Duration(1+rand.IntN(10)) * time.Millisecond)
				continue
			}
			if err != nil {
				return err
			}
			i++
		}
		fmt.Println("busy", busy)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func child(t *testing.T, mode, db, tag string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "CONVO_DB="+db, "CONVO_TAG="+tag)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	return cmd
}

// startUntil starts cmd and waits until its first line of output is want.
func startUntil(t *testing.T, cmd *exec.Cmd, want string) *exec.Cmd {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != want+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not print %q: %q %v", want, line, err)
	}
	return cmd
}

// validate opens the database afresh and checks the session and the file.
func validate(t *testing.T, path, id string) []message.Message {
	t.Helper()
	ctx := t.Context()
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Load(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if probs := session.Check(msgs); probs != nil {
		t.Fatalf("session invalid after kill: %v\n%s", probs, dump(msgs))
	}
	return msgs
}

func TestSIGKILLNeverLeavesDanglingCalls(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	kills := 30
	if testing.Short() {
		kills = 5
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	midTurn, prev := 0, 0
	for i := range kills {
		cmd := startUntil(t, child(t, "crash", path, fmt.Sprintf("k%d", i)), "ready")
		time.Sleep(time.Duration(20+rand.IntN(250)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		msgs := validate(t, path, "crash")
		if len(msgs) > 0 {
			last := msgs[len(msgs)-1]
			if last.Role == message.RoleUser || last.Role == message.RoleTool {
				midTurn++
			}
		}
		prev = len(msgs)
	}
	if prev == 0 {
		t.Fatal("the children stored nothing")
	}
	// What the killed children left is resumable: a next turn's request
	// is one each provider accepts.
	store := fileStore(t, path)
	for _, p := range providers() {
		a := agent.New(p.client(t, llmtest.Text("resumed")), agent.WithSession("crash", store),
			agent.WithTools(sleepTool()), agent.WithStaleTurnAfter(0))
		if _, err := a.Chat(t.Context(), "after the kills"); err != nil {
			t.Fatalf("%s: resuming: %v", p.name, err)
		}
	}
	t.Logf("%d kills, %d messages stored, %d kills landed mid-turn; session valid and integrity_check ok after every kill", kills, prev, midTurn)
}

func TestTwoProcessesNeverInterleave(t *testing.T) {
	for _, mode := range []string{"wait", "fail"} {
		t.Run(mode, func(t *testing.T) {
			const turns = 8
			path := filepath.Join(t.TempDir(), "shared.db")
			// Create the schema first so the children do not race on it.
			validate(t, path, "shared")
			var cmds []*exec.Cmd
			var outs []*strings.Builder
			for _, tag := range []string{"P", "Q"} {
				cmd := child(t, mode, path, tag, "CONVO_TURNS="+strconv.Itoa(turns))
				var b strings.Builder
				cmd.Stdout = &b
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds, outs = append(cmds, cmd), append(outs, &b)
			}
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("child %d: %v", i, err)
				}
			}
			msgs := validate(t, path, "shared")
			if len(msgs) != 2*turns*4 {
				t.Fatalf("%d messages, want %d:\n%s", len(msgs), 2*turns*4, dump(msgs))
			}
			for i := 0; i < len(msgs); i += 4 {
				turn := msgs[i : i+4]
				if shape(turn) != "uAta" {
					t.Fatalf("turn at %d interleaved: %s\n%s", i, shape(turn), dump(msgs))
				}
				tag := turn[0].Content()[:1]
				if !strings.HasPrefix(turn[3].Content(), tag+" answer") {
					t.Fatalf("turn at %d: question from %s answered by %q", i, tag, turn[3].Content())
				}
			}
			t.Logf("policy %s: child output %q / %q", mode, strings.TrimSpace(outs[0].String()), strings.TrimSpace(outs[1].String()))
		})
	}
}

// TestKilledMidTurnNextProcessContinues kills a process in the middle of a
// turn (its tool is running, the session ends with the user message) and
// starts another process on the session, both with default options. The
// killed writer's turn lease runs out within DefaultTurnLease of its last
// renewal, so the new process takes the session over and answers within a
// minute; the stale-turn rule it replaces waited 5 minutes
// (DefaultStaleTurnAfter) after the last message (issue 17 item 12).
func TestKilledMidTurnNextProcessContinues(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	path := filepath.Join(t.TempDir(), "lease.db")
	cmd := startUntil(t, child(t, "midturn", path, "K"), "in tool")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The call and its result are stored together: the turn is unfinished
	// at its user message.
	if got := shape(validate(t, path, "lease")); got != "u" {
		t.Fatalf("after the kill the session is %q, want the unfinished turn u", got)
	}

	next := child(t, "continue", path, "N")
	var b strings.Builder
	next.Stdout = &b
	if err := next.Run(); err != nil {
		t.Fatalf("the next process did not continue the session: %v\n%s", err, b.String())
	}
	msgs := validate(t, path, "lease")
	if got := shape(msgs); got != "uua" || msgs[len(msgs)-1].Content() != "continued" {
		t.Fatalf("session after the next turn: %s\n%s", got, dump(msgs))
	}
	if !strings.Contains(b.String(), string(agent.NoticeTookOver)) {
		t.Errorf("the next process did not report taking the session over: %q", b.String())
	}
	t.Logf("next process: %s", strings.TrimSpace(b.String()))
}
