package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/session"
)

// SessionStore checks its options before it touches the database: a table
// prefix is spliced into SQL, so anything but a plain identifier is refused
// up front. (This example needs no server; the next one does.)
func ExampleSessionStore_invalidPrefix() {
	ctx := context.Background()
	_, err := postgres.SessionStore(ctx, nil, postgres.WithTablePrefix(`chat"; DROP TABLE sessions; --`))
	fmt.Println(err)
	// Output: postgres: invalid SQL identifier: table prefix "chat\"; DROP TABLE sessions; --": only ASCII letters, digits and _ are allowed, not starting with a digit
}

// A store on a pgx pool: create a session, append a turn, read it back.
// It needs a server, so it has no Output line and is compiled, not run, by
// go test; the package tests run the same calls against a real server.
func ExampleSessionStore() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // e.g. postgres://app@db/app?pool_max_conns=32
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	store, err := postgres.SessionStore(ctx, pool, postgres.WithSchema("convo"))
	if err != nil {
		log.Fatal(err)
	}
	sess, err := session.LoadOrCreate(ctx, store, "user-123")
	if err != nil {
		log.Fatal(err)
	}
	turn := []message.Message{
		message.NewUserMessage("What's the weather in Oslo?"),
		message.NewAssistantMessage("12°C and clear."),
	}
	if err := sess.AddMessages(ctx, turn); err != nil {
		log.Fatal(err) // safe to retry with the same turn: ids make it idempotent
	}
	last, err := sess.GetMessages(ctx, session.Limit(20))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range last {
		fmt.Println(m.Role, m.Content())
	}
}

// A consumer follows one owner's sessions and resumes, after a restart,
// from the cursor it saved: nothing is lost or repeated. It needs a server,
// so it has no Output line; TestFeedAcrossProcesses runs the same loop
// across processes against a real server.
func ExampleStore_Watch() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := postgres.Open(ctx, pool, postgres.WithSchema("convo"))
	if err != nil {
		log.Fatal(err)
	}
	cursor := loadCursor() // "" the first time: from the oldest change kept
	changes, err := store.Watch(ctx, session.WatchQuery{Owner: "alice", After: cursor})
	if errors.Is(err, session.ErrFeedGap) {
		// Away too long: the changes after cursor were trimmed. Start again
		// from the current state (List, Snapshot) and watch from now.
		changes, err = store.Watch(ctx, session.WatchQuery{Owner: "alice", After: session.WatchFromNow})
	}
	if err != nil {
		log.Fatal(err)
	}
	for c, err := range changes {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.SessionID, c.Kind, len(c.Messages))
		saveCursor(c.Cursor) // after the change is processed
	}
}

func loadCursor() string { return "" }
func saveCursor(string)  {}
