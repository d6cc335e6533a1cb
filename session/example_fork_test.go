package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// Fork a conversation at a message: the fork starts with the history up to
// that message, records where it came from, and goes its own way.
func ExampleFork() {
	ctx := context.Background()
	store := session.NewMemoryStore() // the SQLite and PostgreSQL stores fork too

	chat, err := store.Create(ctx, "chat")
	if err != nil {
		log.Fatal(err)
	}
	question := message.NewUserMessage("Name a Norwegian city.")
	if err := chat.AddMessages(ctx, []message.Message{question, message.NewAssistantMessage("Oslo.")}); err != nil {
		log.Fatal(err)
	}

	// Another answer to the same question, in a fork made at the question.
	alt, err := session.Fork(ctx, store, "chat", question.ID, "chat-alt", session.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := alt.AddMessages(ctx, []message.Message{message.NewAssistantMessage("Bergen.")}); err != nil {
		log.Fatal(err)
	}

	for _, id := range []string{"chat", "chat-alt"} {
		s, _ := store.Load(ctx, id)
		msgs, _ := s.GetMessages(ctx, nil)
		info, _ := store.Info(ctx, id)
		fmt.Printf("%-8s parent=%q forked at question: %v\n", id, info.ParentID, info.ForkMessageID == question.ID)
		for _, m := range msgs {
			fmt.Printf("  %-9s %s\n", m.Role, m.Content())
		}
	}

	// Deleting the parent leaves the fork as it was.
	if err := store.Delete(ctx, "chat"); err != nil {
		log.Fatal(err)
	}
	msgs, _ := alt.GetMessages(ctx, nil)
	fmt.Println("fork after the parent is deleted:", len(msgs), "messages")

	_, err = session.Fork(ctx, store, "chat-alt", "no-such-message", "x", session.CreateOptions{})
	fmt.Println(errors.Is(err, session.ErrMessageNotFound))
	// Output:
	// chat     parent="" forked at question: false
	//   user      Name a Norwegian city.
	//   assistant Oslo.
	// chat-alt parent="chat" forked at question: true
	//   user      Name a Norwegian city.
	//   assistant Bergen.
	// fork after the parent is deleted: 2 messages
	// true
}
