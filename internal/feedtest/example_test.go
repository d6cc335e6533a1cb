package feedtest_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/convo-dev/convo/internal/feedtest"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// A consumer prints the next two messages of a session's feed and the
// cursor to resume from.
func ExampleFollow() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	s, err := store.Create(ctx, "feed")
	if err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage(fmt.Sprintf("w0-%d", i))}); err != nil {
			log.Fatal(err)
		}
	}
	changes, err := store.Watch(ctx, session.WatchQuery{SessionID: "feed"})
	if err != nil {
		log.Fatal(err)
	}
	if err := feedtest.Follow(os.Stdout, changes, 2); err != nil {
		log.Fatal(err)
	}
	// Output:
	// msg w0-0
	// msg w0-1
	// cursor 3
}
