package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the pure-Go driver; any SQLite driver works

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "convo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sql.Open("sqlite", filepath.Join(dir, "chat.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	store, err := sqlite.SessionStore(ctx, db, sqlite.WithTablePrefix("chat_"))
	if err != nil {
		log.Fatal(err)
	}
	s, err := session.LoadOrCreate(ctx, store, "user-123")
	if err != nil {
		log.Fatal(err)
	}
	err = s.AddMessages(ctx, []message.Message{
		message.NewUserMessage("What's the weather in Oslo?"),
		message.NewAssistantMessage("4 °C and rain."),
	})
	if err != nil {
		log.Fatal(err)
	}
	last, err := s.GetMessages(ctx, session.Limit(1))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(last[0].Role, last[0].Content())

	hits, err := session.Search(ctx, store, session.SearchQuery{Text: "oslo"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(hits), "hit in", hits[0].SessionID)
	// Output:
	// assistant 4 °C and rain.
	// 1 hit in user-123
}
