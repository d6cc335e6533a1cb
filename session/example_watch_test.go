package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// A consumer follows one session's changes, stops, and resumes from the
// cursor of the last change it processed: nothing is lost or repeated.
func ExampleWatch() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	sess, err := store.Create(ctx, "user-123")
	if err != nil {
		log.Fatal(err)
	}
	add := func(text string) {
		if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(text)}); err != nil {
			log.Fatal(err)
		}
	}
	add("hello")
	add("are you there?")

	// follow prints changes after cursor until it has seen n, and returns
	// the cursor of the last one.
	follow := func(cursor string, n int) string {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		changes, err := session.Watch(ctx, store, session.WatchQuery{SessionID: "user-123", After: cursor})
		if err != nil {
			log.Fatal(err)
		}
		for c, err := range changes {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%s v%d", c.Kind, c.Version)
			for _, m := range c.Messages {
				fmt.Printf(" %q", m.Content())
			}
			fmt.Println()
			cursor = c.Cursor
			if n--; n == 0 {
				break
			}
		}
		return cursor
	}
	cursor := follow("", 2) // from the oldest change kept
	fmt.Println("-- consumer stopped")
	add("hello?")
	if _, err := sess.PopMessage(ctx); err != nil {
		log.Fatal(err)
	}
	// "hello?" was popped before the consumer came back, so its append
	// carries no message; the remove that follows names it.
	follow(cursor, 3)
	// Output:
	// create v0
	// append v1 "hello"
	// -- consumer stopped
	// append v2 "are you there?"
	// append v3
	// remove v4
}
