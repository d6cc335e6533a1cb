// Command quickstart stores a realistic agent turn in an embedded SQLite
// file, reopens the file in a fresh store as a restarted program would, and
// prints the resumed conversation and the session list. It runs offline:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver: nothing to install

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

func main() {
	dir, err := os.MkdirTemp("", "convo-quickstart")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), filepath.Join(dir, "convo.db"), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, path string, out io.Writer) error {
	// First run: store one turn, as an agent would.
	if err := firstRun(ctx, path); err != nil {
		return err
	}
	// Second run: a new process opens the same file.
	return resume(ctx, path, out)
}

func open(ctx context.Context, path string) (*sql.DB, session.Store, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlite.SessionStore(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, store, nil
}

func firstRun(ctx context.Context, path string) error {
	db, store, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()

	s, err := store.(session.Describer).CreateWith(ctx, "user-123", session.CreateOptions{
		Owner: "acme", Title: "Weather in Oslo",
	})
	if err != nil {
		return err
	}
	call := message.ToolCall{ID: "call_1", Name: "get_weather", Input: json.RawMessage(`{"city":"Oslo"}`)}
	answer := message.NewAssistantMessage("It's 4 °C with light rain in Oslo. Bring an umbrella.")
	answer.Model, answer.Usage = "gpt-4.1-mini", &message.Usage{InputTokens: 182, OutputTokens: 17}
	// One atomic append: all four messages are stored, or none is.
	return s.AddMessages(ctx, []message.Message{
		message.NewUserMessage("What's the weather in Oslo?"),
		message.NewMessage(message.RoleAssistant, call),
		message.NewToolResultMessage(message.ToolResult{CallID: "call_1", Name: "get_weather", Content: `{"temp_c":4,"sky":"light rain"}`}),
		answer,
	})
}

func resume(ctx context.Context, path string, out io.Writer) error {
	db, store, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()

	s, err := store.Load(ctx, "user-123")
	if err != nil {
		return err
	}
	msgs, err := s.GetMessages(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Resumed session user-123:")
	for _, m := range msgs {
		switch {
		case len(m.ToolCalls()) > 0:
			c := m.ToolCalls()[0]
			fmt.Fprintf(out, "  %-9s -> %s(%s)\n", m.Role, c.Name, c.Input)
		case len(m.ToolResults()) > 0:
			fmt.Fprintf(out, "  %-9s <- %s\n", m.Role, m.ToolResults()[0].Content)
		default:
			fmt.Fprintf(out, "  %-9s %s\n", m.Role, m.Content())
		}
	}
	if problems := session.Check(msgs); len(problems) > 0 {
		return fmt.Errorf("session is not valid: %v", problems)
	}

	page, err := session.List(ctx, store, session.ListQuery{Owner: "acme"})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nSessions of acme:")
	for _, info := range page.Sessions {
		fmt.Fprintf(out, "  %-10s %-16q %d messages, updated %s\n", info.ID, info.Title, info.MessageCount,
			time.Unix(0, info.UpdatedAt).UTC().Format(time.DateTime))
	}
	return nil
}
