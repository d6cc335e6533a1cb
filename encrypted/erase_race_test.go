package encrypted_test

import (
	"context"
	"errors"
	"testing"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// keyReadRace is a key store whose Get runs between reading a key and
// returning it: a DestroyOwnerKeys of another goroutine that lands in that
// window, made deterministic.
type keyReadRace struct {
	*encrypted.MemoryKeyStore
	during        func()
	beforeDestroy func()
}

func (r *keyReadRace) Destroy(ctx context.Context, keyID string, through int64) (int, error) {
	if f := r.beforeDestroy; f != nil {
		r.beforeDestroy = nil
		f()
	}
	return r.MemoryKeyStore.Destroy(ctx, keyID, through)
}

func (r *keyReadRace) Get(ctx context.Context, keyID string, version int64) (encrypted.WrappedKey, error) {
	k, err := r.MemoryKeyStore.Get(ctx, keyID, version)
	if f := r.during; f != nil {
		r.during = nil
		f()
	}
	return k, err
}

// TestDestroyDuringKeyReadIsNotCached: a read that fetched a data key just
// before DestroyOwnerKeys destroyed it may still decrypt with it (the
// erasure had not returned when it read), but it must not put the key into
// the cache afterwards: once DestroyOwnerKeys has returned, every read in
// this process fails with ErrKeyDestroyed ("the process that destroys a
// key forgets it at once"), and a write uses a new key, so that nothing
// written after the erasure is sealed under a destroyed key.
func TestDestroyDuringKeyReadIsNotCached(t *testing.T) {
	ctx := t.Context()
	keys := &keyReadRace{MemoryKeyStore: encrypted.NewMemoryKeyStore()}
	store := wrap(t, session.NewMemoryStore(), newKeyring(t), keys)
	sess, err := store.(session.Describer).CreateWith(ctx, "s", session.CreateOptions{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("secret")}); err != nil {
		t.Fatal(err)
	}
	// A fresh store on the same inner state has an empty key cache, so its
	// first read goes to the key store.
	store2 := wrap(t, store.Inner(), newKeyring(t), keys)
	destroyed := false
	keys.during = func() {
		if _, err := store2.DestroyOwnerKeys(ctx, "alice"); err != nil {
			t.Errorf("DestroyOwnerKeys: %v", err)
		}
		destroyed = true
	}
	s2, err := store2.Load(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s2.GetMessages(ctx, nil) // raced with the erasure: either answer is right
	if !destroyed {
		t.Fatal("the erasure did not run during the key read")
	}
	if msgs, err := s2.GetMessages(ctx, nil); !errors.Is(err, encrypted.ErrKeyDestroyed) {
		t.Fatalf("read after DestroyOwnerKeys returned: %d messages, err %v; want ErrKeyDestroyed", len(msgs), err)
	}

	// The same with the read landing inside DestroyOwnerKeys, after it
	// forgot its cached keys and before the key store destroyed them; and
	// a write after the erasure, which must not be sealed under the
	// destroyed key.
	// The session u of alice, made after the erasure, has a new key.
	u, err := wrap(t, store.Inner(), newKeyring(t), keys).(session.Describer).CreateWith(ctx, "u", session.CreateOptions{Owner: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.AddMessages(ctx, []message.Message{message.NewUserMessage("new key")}); err != nil {
		t.Fatal(err)
	}
	store3 := wrap(t, store.Inner(), newKeyring(t), keys) // an empty cache
	u3, err := store3.Load(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	keys.beforeDestroy = func() {
		if _, err := u3.GetMessages(ctx, nil); err != nil {
			t.Errorf("read before the key store destroyed the key: %v", err)
		}
	}
	if _, err := store3.DestroyOwnerKeys(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if msgs, err := u3.GetMessages(ctx, nil); !errors.Is(err, encrypted.ErrKeyDestroyed) {
		t.Fatalf("read after DestroyOwnerKeys returned (key read during it): %d messages, err %v; want ErrKeyDestroyed", len(msgs), err)
	}
	if err := u3.AddMessages(ctx, []message.Message{message.NewUserMessage("after")}); err != nil {
		t.Fatal(err)
	}
	fresh, err := wrap(t, store.Inner(), newKeyring(t), keys).Load(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := fresh.PopMessage(ctx); err != nil || m.Content() != "after" {
		t.Fatalf("message written after the erasure: %v, %v; want it readable", m, err)
	}
}

// TestDestroyOwnerKeysPerSession: under WithPerSessionKeys each session of
// an owner has a key of its own; DestroyOwnerKeys must destroy those too,
// so that the owner's messages are unreadable afterwards, as it promises,
// instead of destroying nothing and reporting success.
func TestDestroyOwnerKeysPerSession(t *testing.T) {
	ctx := t.Context()
	inner, keys := session.NewMemoryStore(), encrypted.NewMemoryKeyStore()
	store := wrap(t, inner, newKeyring(t), keys, encrypted.WithPerSessionKeys())
	for _, id := range []string{"a1", "a2", "b1"} {
		owner := "alice"
		if id == "b1" {
			owner = "bob"
		}
		s, err := store.(session.Describer).CreateWith(ctx, id, session.CreateOptions{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage(id + "'s secret")}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := store.DestroyOwnerKeys(ctx, "alice")
	if err != nil {
		t.Fatalf("DestroyOwnerKeys: %v", err)
	}
	if n != 2 {
		t.Errorf("DestroyOwnerKeys destroyed %d key versions, want 2 (one per session of alice)", n)
	}
	fresh := wrap(t, inner, newKeyring(t), keys, encrypted.WithPerSessionKeys())
	for _, id := range []string{"a1", "a2"} {
		if msgs, err := load(t, fresh, id).GetMessages(ctx, nil); !errors.Is(err, encrypted.ErrKeyDestroyed) {
			t.Errorf("%s after DestroyOwnerKeys(alice): %d messages, err %v; want ErrKeyDestroyed", id, len(msgs), err)
		}
	}
	if got := all(t, load(t, fresh, "b1")); len(got) != 1 {
		t.Errorf("bob's session after alice's erasure: %+v", got)
	}
}
