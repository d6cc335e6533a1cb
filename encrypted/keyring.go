package encrypted

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"sync"
)

// Keyring holds the key-encryption keys (KEKs) that wrap data keys. Data
// keys never leave the process unwrapped; a Keyring never sees a message.
//
// The interface is what a cloud KMS offers: AWS KMS Encrypt/Decrypt with an
// encryption context, Google Cloud KMS Encrypt/Decrypt with additional
// authenticated data, HashiCorp Vault transit encrypt/decrypt with a
// context. A key id names one key version (for Google Cloud KMS, a
// CryptoKeyVersion resource name; for Vault transit, name and version), so
// that data keys wrapped under an old version can be found and re-wrapped
// under the current one.
//
// Implementations are safe for concurrent use.
type Keyring interface {
	// CurrentKeyID returns the id of the KEK that new data keys, and data
	// keys re-wrapped by Store.RewrapKeys, are wrapped with.
	CurrentKeyID(ctx context.Context) (string, error)
	// Wrap encrypts dataKey under the KEK keyID, authenticating ad with
	// it. An unknown keyID gives an error matching ErrUnknownKEK.
	Wrap(ctx context.Context, keyID string, dataKey, ad []byte) ([]byte, error)
	// Unwrap reverses Wrap. A wrapped key that fails authentication (the
	// wrong KEK, another ad, tampered bytes) gives an error matching
	// ErrUnwrap; an unknown keyID, ErrUnknownKEK.
	Unwrap(ctx context.Context, keyID string, wrapped, ad []byte) ([]byte, error)
}

// MemoryKeyring is a Keyring holding AES-256 KEKs in process memory: for
// tests, and for programs that load their KEK from a secret manager or the
// environment at start-up. Wrapping is AES-256-GCM with a random 96-bit
// nonce, the wrapped key being nonce || ciphertext || tag.
//
// It is safe for concurrent use.
type MemoryKeyring struct {
	mu      sync.RWMutex
	keys    map[string]cipher.AEAD
	current string
}

var _ Keyring = (*MemoryKeyring)(nil)

// NewMemoryKeyring returns a keyring holding the 32-byte key kek under id,
// as its current key.
func NewMemoryKeyring(id string, kek []byte) (*MemoryKeyring, error) {
	r := &MemoryKeyring{keys: map[string]cipher.AEAD{}}
	if err := r.Add(id, kek); err != nil {
		return nil, err
	}
	r.current = id
	return r, nil
}

// Add adds the 32-byte key kek under id, without making it current. It
// refuses an empty id, a taken id and a key of another length.
func (r *MemoryKeyring) Add(id string, kek []byte) error {
	if id == "" {
		return fmt.Errorf("encrypted: keyring: empty key id")
	}
	if len(kek) != 32 {
		return fmt.Errorf("encrypted: keyring: key %q is %d bytes, want 32 (AES-256)", id, len(kek))
	}
	aead, err := newGCM(kek)
	if err != nil {
		return fmt.Errorf("encrypted: keyring: key %q: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.keys[id]; ok {
		return fmt.Errorf("encrypted: keyring: key %q already exists", id)
	}
	r.keys[id] = aead
	return nil
}

// SetCurrent makes the key id the one new data keys are wrapped with. The
// previous key stays, so data keys wrapped under it stay readable until
// Store.RewrapKeys moves them.
func (r *MemoryKeyring) SetCurrent(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.keys[id]; !ok {
		return fmt.Errorf("encrypted: keyring: set current %q: %w", id, ErrUnknownKEK)
	}
	r.current = id
	return nil
}

// Remove forgets the key id (retiring a KEK after Store.RewrapKeys has
// moved every data key off it). The current key cannot be removed.
func (r *MemoryKeyring) Remove(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == r.current {
		return fmt.Errorf("encrypted: keyring: remove %q: it is the current key", id)
	}
	if _, ok := r.keys[id]; !ok {
		return fmt.Errorf("encrypted: keyring: remove %q: %w", id, ErrUnknownKEK)
	}
	delete(r.keys, id)
	return nil
}

// CurrentKeyID returns the id of the current key.
func (r *MemoryKeyring) CurrentKeyID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current, nil
}

func (r *MemoryKeyring) aead(keyID string) (cipher.AEAD, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("encrypted: keyring: key %q: %w", keyID, ErrUnknownKEK)
	}
	return a, nil
}

// Wrap encrypts dataKey under the key keyID with AES-256-GCM, ad
// authenticated.
func (r *MemoryKeyring) Wrap(ctx context.Context, keyID string, dataKey, ad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := r.aead(keyID)
	if err != nil {
		return nil, err
	}
	return seal(a, dataKey, ad), nil
}

// Unwrap decrypts a key Wrap made.
func (r *MemoryKeyring) Unwrap(ctx context.Context, keyID string, wrapped, ad []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := r.aead(keyID)
	if err != nil {
		return nil, err
	}
	key, err := open(a, wrapped, ad)
	if err != nil {
		return nil, fmt.Errorf("encrypted: keyring: key %q: %w", keyID, ErrUnwrap)
	}
	return key, nil
}

// NewKey returns 32 random bytes: a new AES-256 key.
func NewKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+: it crashes the program instead)
	return k
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal returns nonce || AEAD seal of plaintext, with a random nonce.
func seal(a cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	_, _ = rand.Read(out)
	return a.Seal(out, out, plaintext, ad)
}

// open reverses seal.
func open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, ErrAuth
	}
	n := a.NonceSize()
	pt, err := a.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}
