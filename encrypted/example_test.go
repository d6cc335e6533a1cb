package encrypted_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// Encrypt a store, rotate the key-encryption key, and erase an owner by
// destroying the owner's data key.
func Example() {
	ctx := context.Background()
	kr, err := encrypted.NewMemoryKeyring("kek-1", encrypted.NewKey())
	if err != nil {
		log.Fatal(err)
	}
	inner := session.NewMemoryStore() // or sqlite.SessionStore, postgres.Open, ...
	store, err := encrypted.New(inner, kr, encrypted.NewMemoryKeyStore())
	if err != nil {
		log.Fatal(err)
	}

	d := store.(session.Describer) // the inner store's capabilities are kept
	sess, err := d.CreateWith(ctx, "chat-1", session.CreateOptions{Owner: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("my PIN is 4921")}); err != nil {
		log.Fatal(err)
	}
	msgs, _ := sess.GetMessages(ctx, nil)
	fmt.Println("through the wrapper:", msgs[0].Content())
	raw, _ := inner.Load(ctx, "chat-1")
	stored, _ := raw.GetMessages(ctx, nil)
	fmt.Println("in the inner store:", stored[0].Parts[0].(message.Binary).MIMEType)

	// Rotate the KEK: one call re-wraps the data keys, no message is touched.
	if err := kr.Add("kek-2", encrypted.NewKey()); err != nil {
		log.Fatal(err)
	}
	if err := kr.SetCurrent("kek-2"); err != nil {
		log.Fatal(err)
	}
	report, err := store.RewrapKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("re-wrapped data keys:", report.Rewrapped)
	if err := kr.Remove("kek-1"); err != nil {
		log.Fatal(err)
	}
	msgs, _ = sess.GetMessages(ctx, nil)
	fmt.Println("after rotation:", msgs[0].Content())

	// Crypto-erasure: every copy of alice's messages is now unreadable.
	if _, err := store.DestroyOwnerKeys(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	_, err = sess.GetMessages(ctx, nil)
	var ke *encrypted.KeyError
	fmt.Println("after erasure:", errors.Is(err, encrypted.ErrKeyDestroyed), errors.As(err, &ke) && ke.SessionID == "chat-1")

	// Search would need the plaintext in an index: refused.
	_, err = session.Search(ctx, store, session.SearchQuery{Text: "PIN"})
	fmt.Println("search:", errors.Is(err, session.ErrNotSupported))
	// Output:
	// through the wrapper: my PIN is 4921
	// in the inner store: application/vnd.convo.encrypted
	// re-wrapped data keys: 1
	// after rotation: my PIN is 4921
	// after erasure: true true
	// search: true
}
