package encrypted

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// WrappedKey is one version of a data key as a KeyStore holds it: wrapped
// by a key-encryption key, never in the clear.
type WrappedKey struct {
	// KeyID names the data key: "owner:" and the owner for a session that
	// has one, "session:" and the session id otherwise.
	KeyID string
	// Version counts the data keys of KeyID from 1. Destroying a key keeps
	// its version as a tombstone, so a later key of the same KeyID gets
	// the next version and old messages keep failing with ErrKeyDestroyed.
	Version int64
	// KEKID is the id, in the Keyring, of the key-encryption key that
	// wrapped it; "" once destroyed.
	KEKID string
	// Wrapped is the wrapped key; nil once destroyed.
	Wrapped []byte
	// CreatedAt is when the key was made; DestroyedAt when it was
	// destroyed, or 0 (Unix nanoseconds).
	CreatedAt   int64
	DestroyedAt int64
}

// Destroyed reports whether the key was destroyed.
func (k WrappedKey) Destroyed() bool { return k.DestroyedAt != 0 }

// KeyStore keeps the wrapped data keys, apart from the messages they
// encrypt. Destroying a data key there is what erases every copy of the
// messages sealed under it.
//
// Implementations are safe for concurrent use, by many processes where
// they are shared (SQLKeyStore).
type KeyStore interface {
	// Latest returns the newest version of keyID, destroyed or not, or an
	// error matching ErrKeyNotFound if keyID has none.
	Latest(ctx context.Context, keyID string) (WrappedKey, error)
	// Get returns version of keyID (possibly destroyed), or an error
	// matching ErrKeyNotFound.
	Get(ctx context.Context, keyID string, version int64) (WrappedKey, error)
	// Add stores k, or fails with an error matching ErrKeyExists if its
	// KeyID and Version are taken.
	Add(ctx context.Context, k WrappedKey) error
	// Rewrap replaces the wrapping of version of keyID with wrapped
	// (under newKEK) if it is still wrapped under oldKEK and not
	// destroyed, and reports whether it did.
	Rewrap(ctx context.Context, keyID string, version int64, oldKEK, newKEK string, wrapped []byte) (bool, error)
	// Destroy erases every version of keyID up to and including through
	// that is not yet destroyed: their wrapped bytes are deleted and a
	// tombstone (KeyID, Version, DestroyedAt) is kept. It returns how many
	// versions it destroyed.
	Destroy(ctx context.Context, keyID string, through int64) (int, error)
	// List returns up to limit keys ordered by KeyID then Version,
	// starting after (afterKeyID, afterVersion); ("", 0) starts at the
	// beginning. Store.RewrapKeys pages through it.
	List(ctx context.Context, afterKeyID string, afterVersion int64, limit int) ([]WrappedKey, error)
}

// MemoryKeyStore is a KeyStore in process memory, for tests and for use
// with session.MemoryStore. It is safe for concurrent use.
type MemoryKeyStore struct {
	mu   sync.Mutex
	keys map[string][]WrappedKey // by KeyID, by Version (index Version-1 not assumed)
}

var _ KeyStore = (*MemoryKeyStore)(nil)

// NewMemoryKeyStore returns an empty MemoryKeyStore.
func NewMemoryKeyStore() *MemoryKeyStore {
	return &MemoryKeyStore{keys: map[string][]WrappedKey{}}
}

func cloneKey(k WrappedKey) WrappedKey {
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k
}

// Latest returns the newest version of keyID.
func (m *MemoryKeyStore) Latest(ctx context.Context, keyID string) (WrappedKey, error) {
	if err := ctx.Err(); err != nil {
		return WrappedKey{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := m.keys[keyID]
	if len(ks) == 0 {
		return WrappedKey{}, fmt.Errorf("encrypted: key %q: %w", keyID, ErrKeyNotFound)
	}
	return cloneKey(ks[len(ks)-1]), nil
}

// Get returns version of keyID.
func (m *MemoryKeyStore) Get(ctx context.Context, keyID string, version int64) (WrappedKey, error) {
	if err := ctx.Err(); err != nil {
		return WrappedKey{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys[keyID] {
		if k.Version == version {
			return cloneKey(k), nil
		}
	}
	return WrappedKey{}, fmt.Errorf("encrypted: key %q version %d: %w", keyID, version, ErrKeyNotFound)
}

// Add stores k, or fails with ErrKeyExists.
func (m *MemoryKeyStore) Add(ctx context.Context, k WrappedKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := m.keys[k.KeyID]
	for _, old := range ks {
		if old.Version == k.Version {
			return fmt.Errorf("encrypted: key %q version %d: %w", k.KeyID, k.Version, ErrKeyExists)
		}
	}
	ks = append(ks, cloneKey(k))
	slices.SortFunc(ks, func(a, b WrappedKey) int { return cmp.Compare(a.Version, b.Version) })
	m.keys[k.KeyID] = ks
	return nil
}

// Rewrap replaces the wrapping of a key still under oldKEK.
func (m *MemoryKeyStore) Rewrap(ctx context.Context, keyID string, version int64, oldKEK, newKEK string, wrapped []byte) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range m.keys[keyID] {
		if k.Version == version && !k.Destroyed() && k.KEKID == oldKEK {
			m.keys[keyID][i].KEKID = newKEK
			m.keys[keyID][i].Wrapped = bytes.Clone(wrapped)
			return true, nil
		}
	}
	return false, nil
}

// Destroy erases every live version of keyID up to through, keeping
// tombstones.
func (m *MemoryKeyStore) Destroy(ctx context.Context, keyID string, through int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UnixNano()
	n := 0
	for i, k := range m.keys[keyID] {
		if !k.Destroyed() && k.Version <= through {
			clear(k.Wrapped)
			m.keys[keyID][i] = WrappedKey{KeyID: k.KeyID, Version: k.Version, CreatedAt: k.CreatedAt, DestroyedAt: now}
			n++
		}
	}
	return n, nil
}

// List pages through the keys in (KeyID, Version) order.
func (m *MemoryKeyStore) List(ctx context.Context, afterKeyID string, afterVersion int64, limit int) ([]WrappedKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []WrappedKey
	for _, ks := range m.keys {
		for _, k := range ks {
			if k.KeyID > afterKeyID || k.KeyID == afterKeyID && k.Version > afterVersion {
				out = append(out, cloneKey(k))
			}
		}
	}
	slices.SortFunc(out, func(a, b WrappedKey) int {
		if c := cmp.Compare(a.KeyID, b.KeyID); c != 0 {
			return c
		}
		return cmp.Compare(a.Version, b.Version)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
