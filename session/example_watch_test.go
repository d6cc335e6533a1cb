package session_test

import (
	"context"
	"fmt"
	"iter"
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

// A sidebar keeps an owner's sessions with their titles up to date: it
// reads the title (Info) when a session is created or its title or
// metadata change (ChangeInfo, at the version the session already had),
// drops a deleted session, and ignores the other kinds, including any a
// later release adds.
func ExampleChangeInfo() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	changes, err := session.Watch(ctx, store, session.WatchQuery{Owner: "alice", After: session.WatchFromNow})
	if err != nil {
		log.Fatal(err)
	}
	next, stop := iter.Pull2(changes)
	defer stop()
	sidebar := map[string]string{} // session id -> title
	// update applies the next change to the sidebar.
	update := func() {
		c, err, ok := next()
		if err != nil || !ok {
			log.Fatal("the watch ended: ", err)
		}
		switch c.Kind {
		case session.ChangeCreate, session.ChangeInfo:
			in, err := store.Info(ctx, c.SessionID)
			if err != nil {
				return // deleted since: its ChangeDelete follows
			}
			sidebar[c.SessionID] = in.Title
		case session.ChangeDelete:
			delete(sidebar, c.SessionID)
		default:
			return
		}
		fmt.Printf("%s v%d: %q\n", c.Kind, c.Version, sidebar)
	}

	sess, err := store.CreateWith(ctx, "chat-1", session.CreateOptions{Owner: "alice", Title: "New chat"})
	if err != nil {
		log.Fatal(err)
	}
	update()
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("plan a trip")}); err != nil {
		log.Fatal(err)
	}
	update() // an append: the sidebar has nothing to do
	title := "Trip to Lisbon"
	if err := store.UpdateInfo(ctx, "chat-1", session.InfoUpdate{Title: &title}); err != nil {
		log.Fatal(err)
	}
	update()
	if err := store.Delete(ctx, "chat-1"); err != nil {
		log.Fatal(err)
	}
	update()
	// Output:
	// create v0: map["chat-1":"New chat"]
	// info v1: map["chat-1":"Trip to Lisbon"]
	// delete v1: map[]
}
