package encrypted_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestForkErasure: a fork to another owner keeps its inherited rows when
// the parent's owner is erased (the fork has its own copy of the key), and
// loses them when its own owner is erased.
func TestForkErasure(t *testing.T) {
	env := newSQLite(t)
	ctx := t.Context()
	p := createOwned(t, env.st, "p", "alice")
	add(t, p, secretMessages()...)
	pm := all(t, p)
	f, err := env.st.(session.Forker).Fork(ctx, "p", pm[1].ID, "f", session.CreateOptions{Owner: "bob"})
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	add(t, f, message.NewUserMessage("bob's own"))
	if got := all(t, f); len(got) != 3 || got[0].ID != pm[0].ID || got[2].Content() != "bob's own" {
		t.Fatalf("fork: %+v", got)
	}
	if _, err := env.st.DestroyOwnerKeys(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = p.GetMessages(ctx, nil)
	wantKeyErr(t, "alice's session after her erasure", err, encrypted.ErrKeyDestroyed, "p", "")
	fresh := wrap(t, env.inner, env.kr, env.keys) // no key cache
	if got := all(t, load(t, fresh, "f")); len(got) != 3 || got[1].Parts[0].(message.Reasoning).Text != "the user said "+secret {
		t.Errorf("bob's fork after alice's erasure: %+v", got)
	}
	if _, err := env.st.DestroyOwnerKeys(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, wrap(t, env.inner, env.kr, env.keys), "f").GetMessages(ctx, nil)
	wantKeyErr(t, "bob's fork after his erasure", err, encrypted.ErrKeyDestroyed, "f", pm[0].ID)
}

// TestForkDelete: deleting an ownerless parent leaves its fork readable
// (the fork has a copy of the parent's key); deleting the fork too leaves
// no live key, so no copy of either session's rows can be read.
func TestForkDelete(t *testing.T) {
	inner, keys := session.NewMemoryStore(), encrypted.NewMemoryKeyStore()
	st := wrap(t, inner, newKeyring(t), keys)
	ctx := t.Context()
	p, err := st.Create(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	add(t, p, secretMessages()...)
	pm := all(t, p)
	f, err := st.(session.Forker).Fork(ctx, "p", pm[2].ID, "f", session.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got := all(t, f); len(got) != 3 {
		t.Errorf("fork after its parent was deleted: %d messages", len(got))
	}
	if err := st.Delete(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	page, err := keys.List(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range page {
		if !k.Destroyed() {
			t.Errorf("key %q version %d is live after parent and fork were deleted", k.KeyID, k.Version)
		}
	}
}

// TestForkRowSwap: a fork reads the rows it inherited, but not a row copied
// in from an unrelated session of the same owner.
func TestForkRowSwap(t *testing.T) {
	env := newSQLite(t)
	ctx := t.Context()
	p := createOwned(t, env.st, "p", "alice")
	other := createOwned(t, env.st, "other", "alice")
	shared := message.NewUserMessage("same id everywhere")
	add(t, p, shared, message.NewUserMessage("p1"))
	add(t, other, shared)
	pm := all(t, p)
	f, err := env.st.(session.Forker).Fork(ctx, "p", pm[1].ID, "f", session.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, f); len(got) != 2 {
		t.Fatalf("fork: %d messages", len(got))
	}
	setSQLiteParts(t, env.inner, "f", shared.ID, []byte(rowParts(t, env, "other", shared.ID)))
	_, err = f.GetMessages(ctx, nil)
	wantCorrupt(t, "a row of an unrelated session in a fork", err, encrypted.ErrAuth, "f", shared.ID)
}

// TestRewrapWhileInUse re-wraps the data keys while goroutines write first
// messages of new owners and read old ones; afterwards the old KEK can go
// and everything still reads.
func TestRewrapWhileInUse(t *testing.T) {
	env := newSQLite(t)
	ctx := t.Context()
	const owners = 8
	for i := range owners {
		add(t, createOwned(t, env.st, fmt.Sprintf("old%d", i), fmt.Sprintf("o%d", i)), message.NewUserMessage("old"))
	}
	newCurrentKEK(t, env.kr, "kek-2")
	var wg sync.WaitGroup
	errs := make(chan error, 2*owners+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := env.st.RewrapKeys(ctx); err != nil {
			errs <- err
		}
	}()
	for i := range owners {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s, err := env.st.(session.Describer).CreateWith(ctx, fmt.Sprintf("new%d", i), session.CreateOptions{Owner: fmt.Sprintf("n%d", i)})
			if err == nil {
				err = s.AddMessages(ctx, []message.Message{message.NewUserMessage("new")})
			}
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			s, err := env.st.Load(ctx, fmt.Sprintf("old%d", i))
			if err == nil {
				_, err = s.GetMessages(ctx, nil)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("during RewrapKeys: %v", err)
	}
	if r, err := env.st.RewrapKeys(ctx); err != nil || r.Rewrapped != 0 || r.Current != 2*owners {
		t.Errorf("RewrapKeys after = %+v, %v; want all %d keys already under kek-2", r, err, 2*owners)
	}
	if err := env.kr.Remove("kek-1"); err != nil {
		t.Fatal(err)
	}
	fresh := wrap(t, env.inner, env.kr, env.keys)
	for i := range owners {
		for _, id := range []string{fmt.Sprintf("old%d", i), fmt.Sprintf("new%d", i)} {
			if got := all(t, load(t, fresh, id)); len(got) != 1 {
				t.Errorf("%s: %d messages", id, len(got))
			}
		}
	}
}

// TestBrokenForkChainRefusesForeignRows: a fork whose parent was deleted
// (its chain of ancestors is broken) still reads what it inherited, but a
// row of an unrelated session of another owner, copied into it by someone
// with write access to the database, is refused as for any other session,
// not decrypted for the fork's reader.
func TestBrokenForkChainRefusesForeignRows(t *testing.T) {
	inner, keys := session.NewMemoryStore(), encrypted.NewMemoryKeyStore()
	st := wrap(t, inner, newKeyring(t), keys)
	ctx := t.Context()
	victim := createOwned(t, st, "v", "alice")
	add(t, victim, message.NewUserMessage("alice's secret"))
	p := createOwned(t, st, "p", "bob")
	add(t, p, message.NewUserMessage("bob's"))
	pm := all(t, p)
	if _, err := st.(session.Forker).Fork(ctx, "p", pm[0].ID, "f", session.CreateOptions{Owner: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got := all(t, load(t, st, "f")); len(got) != 1 || got[0].Content() != "bob's" {
		t.Fatalf("fork after its parent's deletion: %+v", got)
	}
	stolen, err := inner.Load(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := stolen.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := inner.Load(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := fi.AddMessages(ctx, rows); err != nil {
		t.Fatal(err)
	}
	msgs, err := load(t, wrap(t, inner, newKeyring(t), keys), "f").GetMessages(ctx, nil)
	if !errors.Is(err, encrypted.ErrAuth) {
		t.Fatalf("fork holding a row copied from another owner's session: %d messages (%+v), err %v; want ErrAuth", len(msgs), msgs, err)
	}
}
