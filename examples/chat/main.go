// Command chat is an interactive terminal chat with two small tools (the
// current time and a calculator) that keeps its conversation in a SQLite file
// and resumes it by id after a restart.
//
// It talks to any OpenAI-compatible chat-completions endpoint (OpenAI,
// Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter, Groq, ...):
//
//	export OPENAI_BASE_URL=http://localhost:11434/v1   # Ollama; omit for OpenAI
//	export OPENAI_API_KEY=sk-...                         # if the server needs one
//	go run ./examples/chat -model llama3.2 -session alice
//
// or to Google's Gemini API with -provider gemini:
//
//	export GEMINI_API_KEY=...                            # or GOOGLE_API_KEY
//	go run ./examples/chat -provider gemini -model gemini-2.5-flash
//
// Type a message and press Enter; /history prints the stored session, /quit
// (or end of input) leaves. Run it again with the same -session (and -db) to
// continue the conversation. The program assumes it is the only writer of its
// session: if it was killed mid-turn, the next run takes the session over at
// once and records the interrupted tool calls.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/convo-dev/convo/agent"
	"github.com/convo-dev/convo/llm"
	"github.com/convo-dev/convo/llm/gemini"
	"github.com/convo-dev/convo/llm/openai"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
	"github.com/convo-dev/convo/tool"

	_ "modernc.org/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

const setupHelp = `chat needs an OpenAI-compatible endpoint and a model, or a Gemini API key. For example:

  # OpenAI
  export OPENAI_API_KEY=sk-...
  go run ./examples/chat -model gpt-4.1-mini

  # Ollama (or any local server speaking the OpenAI API)
  export OPENAI_BASE_URL=http://localhost:11434/v1
  go run ./examples/chat -model llama3.2

  # Google Gemini
  export GEMINI_API_KEY=...   # or GOOGLE_API_KEY
  go run ./examples/chat -provider gemini

Set OPENAI_BASE_URL and/or OPENAI_API_KEY, and pass -model (or set OPENAI_MODEL);
or, with -provider gemini, set GEMINI_API_KEY or GOOGLE_API_KEY (-model defaults
to ` + defaultGeminiModel + `).`

// defaultGeminiModel is the model -provider gemini uses without -model.
const defaultGeminiModel = "gemini-2.5-flash"

// errSetup is returned, wrapped with what is missing, when the endpoint,
// the model or the Gemini API key is not configured.
var errSetup = errors.New("not configured")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	provider := fs.String("provider", "openai", "openai (any OpenAI-compatible endpoint) or gemini")
	model := fs.String("model", "", "model name (default $OPENAI_MODEL; "+defaultGeminiModel+" with -provider gemini)")
	dbPath := fs.String("db", "chat.db", "SQLite file holding the sessions")
	id := fs.String("session", "", "session id to resume (default: a new session)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client, err := newClient(*provider, *model, getenv)
	if errors.Is(err, errSetup) {
		fmt.Fprintln(stderr, setupHelp)
	}
	if err != nil {
		return err
	}

	db, err := sql.Open("sqlite", "file:"+*dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		return err
	}
	if *id == "" {
		*id = "chat-" + time.Now().Format("20060102-150405")
	}

	a := agent.New(client,
		agent.WithSession(*id, store),
		agent.WithSystemPrompt("You are a helpful assistant in a terminal. Use the tools for the time and for arithmetic."),
		agent.WithTools(timeTool(), calculatorTool()),
		agent.WithHistory(agent.LastN(60)),
		agent.WithCompaction(agent.Compaction{AfterMessages: 80}),
		agent.WithToolTimeout(10*time.Second),
		agent.WithStaleTurnAfter(0), // this program is its session's only writer
	)
	fmt.Fprintf(stdout, "session %q in %s (resume with -session %s); /history, /quit\n", *id, *dbPath, *id)

	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(stdout, "> ")
		if !in.Scan() {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "/quit", "/exit":
			return nil
		case "/history":
			if err := printHistory(ctx, store, *id, stdout); err != nil {
				return err
			}
			continue
		}
		if err := turn(ctx, a, line, stdout); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// A failed turn is recorded in the session; keep chatting.
			fmt.Fprintln(stdout, "\n[error]", err)
		}
	}
}

// newClient returns the model client for provider, configured from the
// flags and the environment, or an error matching errSetup, naming what is
// missing, when they do not give an endpoint or key and a model.
func newClient(provider, model string, getenv func(string) string) (llm.Client, error) {
	switch provider {
	case "openai":
		if model == "" {
			model = getenv("OPENAI_MODEL")
		}
		baseURL, key := getenv("OPENAI_BASE_URL"), getenv("OPENAI_API_KEY")
		if baseURL == "" && key == "" {
			return nil, fmt.Errorf("%w: no endpoint (set OPENAI_BASE_URL and/or OPENAI_API_KEY)", errSetup)
		}
		if model == "" {
			return nil, fmt.Errorf("%w: no model (pass -model or set OPENAI_MODEL)", errSetup)
		}
		opts := []openai.Option{openai.WithModel(model)}
		if baseURL != "" {
			opts = append(opts, openai.WithBaseURL(baseURL))
		}
		if key != "" {
			opts = append(opts, openai.WithAPIKey(key))
		}
		return openai.New(opts...)
	case "gemini":
		if model == "" {
			model = defaultGeminiModel
		}
		// The SDK's order: GOOGLE_API_KEY first when both are set.
		key := getenv("GOOGLE_API_KEY")
		if key == "" {
			key = getenv("GEMINI_API_KEY")
		}
		if key == "" {
			return nil, fmt.Errorf("%w: no Gemini API key (set GEMINI_API_KEY or GOOGLE_API_KEY)", errSetup)
		}
		opts := []gemini.Option{gemini.WithAPIKey(key), gemini.WithModel(model)}
		if u := getenv("GOOGLE_GEMINI_BASE_URL"); u != "" {
			opts = append(opts, gemini.WithBaseURL(u))
		}
		return gemini.New(opts...)
	}
	return nil, fmt.Errorf("unknown provider %q (want openai or gemini)", provider)
}

// turn runs one turn, printing the answer as it streams.
func turn(ctx context.Context, a *agent.Agent, text string, out io.Writer) error {
	for ev, err := range a.ChatStream(ctx, text) {
		if err != nil {
			return err
		}
		switch ev.Type {
		case agent.EventTextDelta:
			fmt.Fprint(out, ev.Text)
		case agent.EventToolCall:
			fmt.Fprintf(out, "[%s %s]\n", ev.ToolCall.Name, ev.ToolCall.Input)
		case agent.EventToolResult:
			fmt.Fprintf(out, "[= %s]\n", ev.ToolResult.Content)
		case agent.EventNotice:
			fmt.Fprintf(out, "[%s]\n", ev.Notice)
		case agent.EventDone:
			fmt.Fprintln(out)
		}
	}
	return nil
}

func printHistory(ctx context.Context, store session.Store, id string, out io.Writer) error {
	s, err := session.LoadOrCreate(ctx, store, id)
	if err != nil {
		return err
	}
	msgs, err := s.GetMessages(ctx, nil)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		var b strings.Builder
		b.WriteString(m.Text())
		for _, c := range m.ToolCalls() {
			fmt.Fprintf(&b, " call %s(%s)", c.Name, c.Input)
		}
		for _, r := range m.ToolResults() {
			fmt.Fprintf(&b, " result %q", r.Content)
		}
		fmt.Fprintf(out, "%-9s %s\n", m.Role, strings.TrimSpace(b.String()))
	}
	return nil
}

type timeArgs struct {
	Timezone string `json:"timezone,omitempty" jsonschema:"description=IANA time zone such as Europe/Oslo; default: the local zone"`
}

func timeTool() tool.Tool {
	return tool.Func("current_time", "The current date and time",
		func(ctx context.Context, a timeArgs) (string, error) {
			now := time.Now()
			if a.Timezone != "" {
				loc, err := time.LoadLocation(a.Timezone)
				if err != nil {
					return "", fmt.Errorf("unknown time zone %q", a.Timezone)
				}
				now = now.In(loc)
			}
			return now.Format("Monday 2 January 2006 15:04:05 MST"), nil
		})
}

type calcArgs struct {
	Expression string `json:"expression" jsonschema:"description=Arithmetic with + - * / and parentheses\\, e.g. (2+3)*4.5"`
}

func calculatorTool() tool.Tool {
	return tool.Func("calculator", "Evaluates an arithmetic expression exactly",
		func(ctx context.Context, a calcArgs) (string, error) { return calculate(a.Expression) })
}

// calculate evaluates an arithmetic expression with exact rational
// arithmetic (go/constant), returning a decimal result.
func calculate(expr string) (string, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("cannot parse %q: %v", expr, err)
	}
	v, err := eval(e)
	if err != nil {
		return "", err
	}
	if v.Kind() == constant.Int {
		return v.ExactString(), nil
	}
	f, _ := constant.Float64Val(v)
	return fmt.Sprintf("%.12g", f), nil
}

func eval(e ast.Expr) (constant.Value, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.INT && e.Kind != token.FLOAT {
			return nil, fmt.Errorf("%s is not a number", e.Value)
		}
		return constant.MakeFromLiteral(e.Value, e.Kind, 0), nil
	case *ast.ParenExpr:
		return eval(e.X)
	case *ast.UnaryExpr:
		x, err := eval(e.X)
		if err != nil {
			return nil, err
		}
		if e.Op != token.ADD && e.Op != token.SUB {
			return nil, fmt.Errorf("unsupported operator %s", e.Op)
		}
		return constant.UnaryOp(e.Op, x, 0), nil
	case *ast.BinaryExpr:
		x, err := eval(e.X)
		if err != nil {
			return nil, err
		}
		y, err := eval(e.Y)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case token.ADD, token.SUB, token.MUL:
			return constant.BinaryOp(x, e.Op, y), nil
		case token.QUO:
			if constant.Sign(y) == 0 {
				return nil, errors.New("division by zero")
			}
			return constant.BinaryOp(constant.ToFloat(x), token.QUO, constant.ToFloat(y)), nil
		}
		return nil, fmt.Errorf("unsupported operator %s", e.Op)
	}
	return nil, fmt.Errorf("unsupported expression %T", e)
}
