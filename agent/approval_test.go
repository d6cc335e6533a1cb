package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/llmtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
	"github.com/convo-dev/convo/tool"
)

// transferTool records each run as a line in the file runs, so that runs
// in every process are counted.
func transferTool(runs string) tool.Tool {
	type args struct {
		To     string `json:"to"`
		Amount int    `json:"amount"`
	}
	return tool.Func("transfer", "Sends money", func(ctx context.Context, a args) (string, error) {
		f, err := os.OpenFile(runs, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, "%d to %s\n", a.Amount, a.To); err != nil {
			return "", err
		}
		return fmt.Sprintf("sent %d to %s", a.Amount, a.To), nil
	})
}

// fileStore opens the SQLite store in the file path, for the test.
func fileStore(t *testing.T, path string) session.Store {
	t.Helper()
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlite.SessionStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func countRuns(t *testing.T, runs string) int {
	t.Helper()
	b, err := os.ReadFile(runs)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func providerNamed(name string) (provider, bool) {
	for _, p := range providers() {
		if p.name == name {
			return p, true
		}
	}
	return provider{}, false
}

// approvalCalls is the model's answer that pauses the turn: a transfer,
// which needs approval, and a weather call, which waits with it.
func approvalCalls() llmtest.Reply {
	return llmtest.ToolCalls(llmtest.Call("c1", "transfer", `{"to":"bob","amount":100}`), llmtest.Call("c2", "weather", `{"city":"Oslo"}`))
}

// runApprovalChild runs a turn that pauses for approval, under the request
// rules of the provider CONVO_PROVIDER, says "waiting" and then waits, as a
// program waiting for a person does, until it is killed.
//
// In mode "approval-resume" it resumes that turn instead, approving the
// transfer, which records its run, says "running" and hangs until the
// process is killed.
func runApprovalChild(ctx context.Context, store session.Store, mode string) error {
	p, ok := providerNamed(os.Getenv("CONVO_PROVIDER"))
	if !ok {
		return fmt.Errorf("unknown provider %q", os.Getenv("CONVO_PROVIDER"))
	}
	if mode == "approval-resume" {
		runs := os.Getenv("CONVO_RUNS")
		hang := tool.Func("transfer", "Sends money", func(ctx context.Context, a struct {
			To     string `json:"to"`
			Amount int    `json:"amount"`
		}) (string, error) {
			if err := os.WriteFile(runs, []byte("started\n"), 0o600); err != nil {
				return "", err
			}
			fmt.Println("running")
			select {}
		})
		a := agent.New(llmtest.New().WithRequestCheck(p.check), agent.WithSession("approval", store),
			agent.WithTools(hang, weatherTool()), agent.WithApproval("transfer"))
		_, err := a.Resume(ctx, agent.Approve("c1"))
		return fmt.Errorf("resume returned: %v", err)
	}
	client := llmtest.New(approvalCalls()).WithRequestCheck(p.check)
	a := agent.New(client, agent.WithSession("approval", store),
		agent.WithTools(transferTool(os.Getenv("CONVO_RUNS")), weatherTool()), agent.WithApproval("transfer"))
	resp, err := a.Chat(ctx, "Pay Bob 100 and tell me the weather in Oslo")
	if !errors.Is(err, agent.ErrAwaitingApproval) {
		return fmt.Errorf("chat: want ErrAwaitingApproval, got %v", err)
	}
	if len(resp.Pending) != 1 || resp.Pending[0].Call.ID != "c1" {
		return fmt.Errorf("pending %+v", resp.Pending)
	}
	fmt.Println("waiting")
	select {}
}

// A turn waits for approval in a process that is then SIGKILLed; another
// process finds the session valid and waiting (not a dangling call: a turn
// that would take over a dead writer's session at once is refused), lists
// the pending call and resumes the turn: with approval the tool runs once,
// exactly; with a denial it never runs and the model reads an is-error
// result with the reason. Every request, before the kill and after the
// resume, passes each provider family's request rules.
func TestApprovalSurvivesSIGKILL(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	for _, p := range providers() {
		for _, approve := range []bool{true, false} {
			name := p.name + "/deny"
			if approve {
				name = p.name + "/approve"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				path, runs := filepath.Join(dir, "a.db"), filepath.Join(dir, "runs")
				validate(t, path, "approval") // the schema, before the child
				cmd := startUntil(t, child(t, "approval", path, "A", "CONVO_PROVIDER="+p.name, "CONVO_RUNS="+runs), "waiting")
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				cmd.Wait()

				msgs := validate(t, path, "approval") // session.Check passes
				if shape(msgs) != "uAt" || countRuns(t, runs) != 0 {
					t.Fatalf("after the kill (%d runs):\n%s", countRuns(t, runs), dump(msgs))
				}
				store := fileStore(t, path)

				// A turn that would take a dead writer's session over at once
				// finds it waiting for a person, and stores nothing.
				other := agent.New(p.client(t), agent.WithSession("approval", store), agent.WithStaleTurnAfter(0),
					agent.WithConcurrencyPolicy(agent.FailIfBusy))
				if _, err := other.Chat(t.Context(), "hello?"); !errors.Is(err, agent.ErrAwaitingApproval) {
					t.Fatalf("a new turn on the waiting session: %v", err)
				}

				var seen []message.ToolResult
				client := p.client(t)
				client.SetDefault(llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
					seen = lastResults(t, req)
					return &llm.Response{Message: message.NewAssistantMessage("Done."), FinishReason: llm.FinishStop}, nil
				}))
				a := agent.New(client, agent.WithSession("approval", store),
					agent.WithTools(transferTool(runs), weatherTool()), agent.WithApproval("transfer"))
				pending, err := a.Pending(t.Context())
				if err != nil || len(pending) != 1 || pending[0].Call.ID != "c1" || pending[0].Call.Name != "transfer" ||
					string(pending[0].Call.Input) != `{"to":"bob","amount":100}` || pending[0].MessageID != msgs[1].ID {
					t.Fatalf("Pending = %+v, %v", pending, err)
				}
				d := agent.Approve("c1")
				if !approve {
					d = agent.Deny("c1", "Bob is not a known payee")
				}
				resp, err := a.Resume(t.Context(), d)
				if err != nil || resp.Text != "Done." {
					t.Fatalf("Resume: %v %+v", err, resp)
				}
				wantRuns, wantC1 := 1, "sent 100 to bob"
				if !approve {
					wantRuns, wantC1 = 0, "error: not run: a person denied this tool call: Bob is not a known payee"
				}
				if n := countRuns(t, runs); n != wantRuns {
					t.Fatalf("transfer ran %d times, want %d", n, wantRuns)
				}
				if len(seen) != 2 || seen[0].CallID != "c1" || seen[0].Content != wantC1 || seen[0].IsError == approve ||
					seen[1].CallID != "c2" || seen[1].Content != "sunny in Oslo" {
					t.Fatalf("the model read %+v", seen)
				}
				// A second decision finds nothing waiting; nothing runs again.
				if _, err := a.Resume(t.Context(), agent.Approve("c1")); !errors.Is(err, agent.ErrNoPendingApproval) {
					t.Fatalf("second Resume: %v", err)
				}
				if n := countRuns(t, runs); n != wantRuns {
					t.Fatalf("transfer ran %d times after a second Resume", n)
				}
				msgs = validate(t, path, "approval")
				if shape(msgs) != "uAttta" {
					t.Fatalf("stored:\n%s", dump(msgs))
				}
				// The session is idle and its history (with the superseded
				// placeholders) makes a request each provider accepts.
				client.SetDefault(llmtest.Text("Anything else?"))
				if _, err := a.Chat(t.Context(), "thanks"); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// The paused session is valid after every write, Pending lists only the
// calls that need approval, decisions that do not match are refused, and of
// two agents resuming one turn at once exactly one runs the tool.
func TestApprovalInProcess(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		runs := filepath.Join(t.TempDir(), "runs")
		tools := agent.WithTools(transferTool(runs), weatherTool())
		a := agent.New(p.client(t, approvalCalls()), agent.WithSession("s", store), tools, agent.WithApproval("transfer"))
		_, err := a.Chat(t.Context(), "Pay Bob")
		if !errors.Is(err, agent.ErrAwaitingApproval) {
			t.Fatal(err)
		}
		if got := agent.PendingApprovals(stored(t, store, "s")); len(got) != 1 || got[0].Call.ID != "c1" {
			t.Fatalf("PendingApprovals = %+v", got)
		}
		for _, ds := range [][]agent.Decision{
			nil,
			{agent.Approve("c2")},
			{agent.Approve("c1"), agent.Deny("c1", "")},
			{agent.Approve("c1"), agent.Approve("c9")},
		} {
			if _, err := a.Resume(t.Context(), ds...); !errors.Is(err, agent.ErrInvalidDecision) {
				t.Fatalf("Resume(%+v): %v", ds, err)
			}
		}
		if n := store.Writes(); n != 2 {
			t.Fatalf("%d writes, want 2 (refused decisions store nothing)", n)
		}
		twoResumers(t, store, runs, tools, func() llm.Client { return p.client(t, llmtest.Text("Paid.")) })
	})
}

// twoResumers resumes the turn waiting in session "s" of store from two
// Agents at once, approving the transfer, and fails t unless one of them
// ran it, once, and the other got ErrNoPendingApproval.
func twoResumers(t *testing.T, store session.Store, runs string, tools agent.Option, client func() llm.Client) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		b := agent.New(client(), agent.WithSession("s", store), tools, agent.WithApproval("transfer"))
		wg.Go(func() { _, errs[i] = b.Resume(t.Context(), agent.Approve("c1")) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, agent.ErrNoPendingApproval):
			t.Fatalf("Resume: %v", err)
		}
	}
	if ok != 1 || countRuns(t, runs) != 1 {
		t.Fatalf("%d resumes succeeded, the tool ran %d times; want 1 and 1 (%v)", ok, countRuns(t, runs), errs)
	}
}

// A process resuming an approved call is SIGKILLed while the tool runs:
// the session is valid, nothing waits for approval any more (the call was
// claimed), and the next turn takes the dead writer's turn over; the model
// reads, for each call of the resumed answer, the placeholder saying the
// program stopped before its result was recorded, in a request each
// provider family accepts.
func TestApprovalResumeKilledMidTool(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	eachProvider(t, func(t *testing.T, p provider) {
		dir := t.TempDir()
		path, runs := filepath.Join(dir, "a.db"), filepath.Join(dir, "runs")
		validate(t, path, "approval")
		env := []string{"CONVO_PROVIDER=" + p.name, "CONVO_RUNS=" + runs}
		for _, step := range []struct{ mode, line string }{{"approval", "waiting"}, {"approval-resume", "running"}} {
			cmd := startUntil(t, child(t, step.mode, path, "A", env...), step.line)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
		}
		msgs := validate(t, path, "approval")
		if shape(msgs) != "uAtt" || countRuns(t, runs) != 1 {
			t.Fatalf("after the kills (%d runs):\n%s", countRuns(t, runs), dump(msgs))
		}
		if got := agent.PendingApprovals(msgs); got != nil {
			t.Fatalf("still pending: %+v", got)
		}
		store := fileStore(t, path)
		var seen []message.ToolResult
		client := p.client(t)
		client.SetDefault(llmtest.Func(func(ctx context.Context, req llm.Request) (*llm.Response, error) {
			seen = lastResults(t, req)
			return &llm.Response{Message: message.NewAssistantMessage("Sorry, that was cut off."), FinishReason: llm.FinishStop}, nil
		}))
		var notices []agent.NoticeKind
		a := agent.New(client, agent.WithSession("approval", store), agent.WithStaleTurnAfter(0),
			agent.WithNoticeHandler(func(n agent.Notice) { notices = append(notices, n.Kind) }))
		if _, err := a.Resume(t.Context(), agent.Approve("c1")); !errors.Is(err, agent.ErrNoPendingApproval) {
			t.Fatalf("Resume after the kill: %v", err)
		}
		if _, err := a.Chat(t.Context(), "did it go through?"); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(notices, agent.NoticeTookOver) {
			t.Errorf("notices %v, want took_over", notices)
		}
		if len(seen) != 2 {
			t.Fatalf("the model read %+v", seen)
		}
		for _, r := range seen {
			if !r.IsError || !strings.Contains(r.Content, "stopped after this call was approved or denied") {
				t.Fatalf("the model read %+v", seen)
			}
		}
		if got := shape(validate(t, path, "approval")); got != "uAttua" {
			t.Fatalf("stored %s", got)
		}
	})
}

// Streaming: the paused turn's stream says which calls wait, then ends with
// ErrAwaitingApproval; ResumeStream streams the calls' runs, their results,
// the stored messages and the answer.
func TestApprovalStreams(t *testing.T) {
	eachProvider(t, func(t *testing.T, p provider) {
		store := newStore(t)
		runs := filepath.Join(t.TempDir(), "runs")
		a := agent.New(p.client(t, approvalCalls(), llmtest.Text("Paid, and sunny in Oslo.")), agent.WithSession("s", store),
			agent.WithTools(transferTool(runs), weatherTool()), agent.WithApproval("transfer"))
		var types []agent.EventType
		var pending []agent.PendingCall
		var last error
		for ev, err := range a.ChatStream(t.Context(), "Pay Bob") {
			if err != nil {
				last = err
				continue
			}
			types = append(types, ev.Type)
			if ev.Type == agent.EventAwaitingApproval {
				pending = ev.Pending
			}
		}
		if !errors.Is(last, agent.ErrAwaitingApproval) || len(pending) != 1 || pending[0].Call.ID != "c1" {
			t.Fatalf("stream ended with %v, pending %+v, events %v", last, pending, types)
		}
		types = nil
		var results []string
		var done *agent.Response
		for ev, err := range a.ResumeStream(t.Context(), agent.Approve("c1")) {
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, ev.Type)
			switch ev.Type {
			case agent.EventToolResult:
				results = append(results, ev.ToolResult.Content)
			case agent.EventDone:
				done = ev.Response
			}
		}
		slices.Sort(results)
		if done == nil || done.Text != "Paid, and sunny in Oslo." || strings.Join(results, "|") != "sent 100 to bob|sunny in Oslo" ||
			!slices.Contains(types, agent.EventTextDelta) || countRuns(t, runs) != 1 {
			t.Fatalf("events %v, results %v, response %+v", types, results, done)
		}
	})
}

// A summary of a history holding a resumed approval reads each call's
// outcome, not the placeholders it superseded.
func TestApprovalSummarySkipsPlaceholders(t *testing.T) {
	store := newStore(t)
	runs := filepath.Join(t.TempDir(), "runs")
	client := llmtest.New(approvalCalls(), llmtest.Text("Paid."), llmtest.Text("Summary: Bob was paid."), llmtest.Text("You're welcome."))
	a := agent.New(client, agent.WithSession("s", store), agent.WithTools(transferTool(runs), weatherTool()),
		agent.WithApproval("transfer"), agent.WithCompaction(agent.Compaction{AfterMessages: 4}))
	if _, err := a.Chat(t.Context(), "Pay Bob"); !errors.Is(err, agent.ErrAwaitingApproval) {
		t.Fatal(err)
	}
	if _, err := a.Resume(t.Context(), agent.Approve("c1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Chat(t.Context(), "thanks"); err != nil {
		t.Fatal(err)
	}
	reqs := client.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	var text strings.Builder
	for _, m := range reqs[2].Messages {
		text.WriteString(m.Text())
	}
	if s := text.String(); !strings.Contains(s, "sent 100 to bob") || strings.Contains(s, "not run") || strings.Contains(s, "stopped after") {
		t.Fatalf("summary request:\n%s", s)
	}
}

// On a store without optimistic concurrency, two Agents of one process
// that share the store value and resume one turn at once are serialised by
// the process's turn lock: one runs the calls, the other gets
// ErrNoPendingApproval. (Across processes, or store values, such a store
// gives no such guarantee; the package documentation says so.)
func TestApprovalResumeUnversionedInProcess(t *testing.T) {
	store := unversionedStore{session.NewMemoryStore()}
	runs := filepath.Join(t.TempDir(), "runs")
	tools := agent.WithTools(transferTool(runs), weatherTool())
	a := agent.New(llmtest.New(approvalCalls()), agent.WithSession("s", store), tools, agent.WithApproval("transfer"))
	if _, err := a.Chat(t.Context(), "Pay Bob"); !errors.Is(err, agent.ErrAwaitingApproval) {
		t.Fatal(err)
	}
	twoResumers(t, store, runs, tools, func() llm.Client { return llmtest.New(llmtest.Text("Paid.")) })
	if msgs := stored(t, store, "s"); session.Check(msgs) != nil {
		t.Fatalf("invalid session: %s", shape(msgs))
	}
}
