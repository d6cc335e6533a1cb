package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

func Example() {
	ctx := context.Background()
	store := session.NewMemoryStore()

	sess, err := store.Create(ctx, "user-123")
	if err != nil {
		log.Fatal(err)
	}
	err = sess.AddMessages(ctx, []message.Message{
		message.NewSystemMessage("You are terse."),
		message.NewUserMessage("What is the capital of Norway?"),
		message.NewAssistantMessage("Oslo."),
	})
	if err != nil {
		log.Fatal(err)
	}

	last2, err := sess.GetMessages(ctx, session.Limit(2))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range last2 {
		fmt.Printf("%s: %s\n", m.Role, m.Content())
	}

	popped, err := sess.PopMessage(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("popped:", popped.Content())

	all, _ := sess.GetMessages(ctx, nil)
	fmt.Println("left:", len(all))

	_, err = store.Create(ctx, "user-123")
	fmt.Println("create again is ErrExists:", errors.Is(err, session.ErrExists))
	// Output:
	// user: What is the capital of Norway?
	// assistant: Oslo.
	// popped: Oslo.
	// left: 2
	// create again is ErrExists: true
}

func ExampleLoadOrCreate() {
	ctx := context.Background()
	store := session.NewMemoryStore()

	// The first call creates the session, later ones load it.
	for _, text := range []string{"hello", "again"} {
		sess, err := session.LoadOrCreate(ctx, store, "user-123")
		if err != nil {
			log.Fatal(err)
		}
		if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage(text)}); err != nil {
			log.Fatal(err)
		}
	}
	sess, _ := store.Load(ctx, "user-123")
	msgs, _ := sess.GetMessages(ctx, nil)
	fmt.Println(len(msgs), msgs[0].Content(), msgs[1].Content())

	_, err := store.Load(ctx, "nobody")
	fmt.Println("missing is ErrNotFound:", errors.Is(err, session.ErrNotFound))
	// Output:
	// 2 hello again
	// missing is ErrNotFound: true
}

func ExampleSession_AddMessages_retry() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	sess, _ := store.Create(ctx, "s")

	// AddMessages writes the IDs it assigns into the slice, so the same
	// slice can be sent again after a lost answer without duplicating.
	turn := []message.Message{{Role: message.RoleUser, Parts: []message.Part{message.Text{Text: "hi"}}}}
	_ = sess.AddMessages(ctx, turn)
	_ = sess.AddMessages(ctx, turn) // the retry
	msgs, _ := sess.GetMessages(ctx, nil)
	fmt.Println(len(msgs), turn[0].ID == msgs[0].ID)
	// Output: 1 true
}

func ExampleVersioned() {
	ctx := context.Background()
	store := session.NewMemoryStore()
	s, _ := store.Create(ctx, "s")
	v, err := session.AsVersioned(s)
	if err != nil {
		log.Fatal(err)
	}

	_, version, _ := v.Snapshot(ctx, nil)
	_, err = v.AddMessagesAt(ctx, version, []message.Message{message.NewUserMessage("first writer")})
	fmt.Println("first:", err)
	_, err = v.AddMessagesAt(ctx, version, []message.Message{message.NewUserMessage("second writer")})
	fmt.Println("second is ErrConflict:", errors.Is(err, session.ErrConflict))
	// Output:
	// first: <nil>
	// second is ErrConflict: true
}
