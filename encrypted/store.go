package encrypted

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/convo-dev/convo/session"
)

// Store is a session.Store that encrypts message parts before they reach the
// inner store and decrypts them on the way out, with the key management
// calls of this package. The value New returns also implements exactly the
// optional capabilities of the inner store listed in the package
// documentation, found by type assertion as usual.
type Store interface {
	session.Store
	// RewrapKeys re-wraps every data key that is not wrapped under the
	// keyring's current key-encryption key, so that old KEKs can be
	// retired. It reads and writes no message. It is safe to run while
	// the store is in use, and to run again after a failure.
	RewrapKeys(ctx context.Context) (RewrapReport, error)
	// DestroyOwnerKeys destroys the data keys of owner (crypto-erasure):
	// every message of owner's sessions, in this store and in every copy
	// of it (backups, replicas, WAL), can no longer be decrypted; reads
	// give an error matching ErrKeyDestroyed. Sessions and their clear
	// fields stay until deleted. Later writes for owner use a new key. It
	// returns how many key versions it destroyed. Under
	// WithPerSessionKeys it destroys the key of each session the inner
	// store lists for owner (session.Lister; without it, it fails with
	// session.ErrNotSupported after destroying the owner's own keys).
	DestroyOwnerKeys(ctx context.Context, owner string) (int, error)
	// DestroySessionKeys is DestroyOwnerKeys for the key of one session
	// (a session without owner, or any session under
	// WithPerSessionKeys).
	DestroySessionKeys(ctx context.Context, id string) (int, error)
	// Inner returns the wrapped store, whose rows hold ciphertext.
	Inner() session.Store
}

// RewrapReport says what RewrapKeys did.
type RewrapReport struct {
	// KEKID is the key-encryption key the data keys are now wrapped with.
	KEKID string
	// Rewrapped counts data keys moved to KEKID; Current those already
	// under it; Destroyed the tombstones skipped.
	Rewrapped, Current, Destroyed int
}

// Option configures New.
type Option func(*options)

type options struct {
	cacheTTL       time.Duration
	perSession     bool
	plaintextReads bool
}

// WithKeyCacheTTL sets how long an unwrapped data key is kept in memory
// (default one minute). Unwrapping costs a keyring call (a network round
// trip to a KMS) and a key-store read, so every message cannot pay it. A
// key destroyed by another process is still used by this one for at most
// d; the process that destroys a key forgets it at once. Zero keeps no key
// in memory between calls.
func WithKeyCacheTTL(d time.Duration) Option {
	return func(o *options) { o.cacheTTL = d }
}

// WithPerSessionKeys gives every session its own data key, even a session
// with an owner: deleting a session (Delete, Prune, DeleteOwner) then
// crypto-erases it alone, at the cost of one wrapped key per session.
func WithPerSessionKeys() Option {
	return func(o *options) { o.perSession = true }
}

// WithPlaintextReads lets GetMessages, Snapshot and PopMessage return
// stored messages that are not encrypted as they are, instead of failing
// with ErrNotEncrypted: for turning encryption on over a store that holds
// clear history. Without it, a clear row (which anyone with write access
// to the database can insert) is refused.
func WithPlaintextReads() Option {
	return func(o *options) { o.plaintextReads = true }
}

//go:generate go run ./internal/gencombos

// base is the wrapper; New returns it embedded in a type that adds the
// inner store's capabilities (combos.go).
type base struct {
	inner   session.Store
	desc    session.Describer // nil when the inner store has no owners
	keyring Keyring
	keys    KeyStore
	opts    options

	mu      sync.Mutex
	dek     map[keyRef]cachedKey // unwrapped data keys
	current map[string]cachedRef // live version of a key id, for writes
	// gen counts the destroys of this process. A key read from the key
	// store is cached only if no destroy ran since the read began: one
	// that ran in between may have destroyed it after it was read.
	gen    uint64
	making sync.Mutex // serialises making new data keys in this process
}

type keyRef struct {
	id      string
	version int64
}

type cachedKey struct {
	aead    cipher.AEAD
	expires time.Time
}

type cachedRef struct {
	version int64
	expires time.Time
}

// New returns a Store that encrypts the messages of inner, with data keys
// kept in keys and wrapped by keyring. inner may be any session.Store; the
// result has exactly inner's capabilities, except session.Searcher (see the
// package documentation). New does no I/O.
func New(inner session.Store, keyring Keyring, keys KeyStore, opts ...Option) (Store, error) {
	if inner == nil || keyring == nil || keys == nil {
		return nil, errors.New("encrypted: New needs an inner store, a keyring and a key store")
	}
	b := &base{
		inner:   inner,
		keyring: keyring,
		keys:    keys,
		opts:    options{cacheTTL: time.Minute},
		dek:     map[keyRef]cachedKey{},
		current: map[string]cachedRef{},
	}
	for _, o := range opts {
		o(&b.opts)
	}
	if b.opts.cacheTTL < 0 {
		return nil, fmt.Errorf("encrypted: negative key cache TTL %v", b.opts.cacheTTL)
	}
	b.desc, _ = inner.(session.Describer)
	return wrapStore(b), nil
}

// Key ids of data keys.
func ownerKeyID(owner string) string { return "owner:" + owner }
func sessionKeyID(id string) string  { return "session:" + id }

// keyIDFor returns the data key id of a session with this owner.
func (b *base) keyIDFor(id, owner string) string {
	if owner == "" || b.opts.perSession {
		return sessionKeyID(id)
	}
	return ownerKeyID(owner)
}

// keyAD is what a wrapped data key is bound to: its id and version, so
// that a wrapped key row cannot be moved to another id or version.
func keyAD(id string, version int64) []byte {
	return fmt.Appendf(nil, "convo/encrypted/dek/v1\x00%s\x00%d", id, version)
}

// aeadFor returns the data key (id, version), from the cache or unwrapped
// from the key store.
func (b *base) aeadFor(ctx context.Context, id string, version int64) (cipher.AEAD, error) {
	ref := keyRef{id, version}
	now := time.Now()
	b.mu.Lock()
	c, ok := b.dek[ref]
	gen := b.gen
	b.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.aead, nil
	}
	k, err := b.keys.Get(ctx, id, version)
	if err != nil {
		return nil, err
	}
	return b.unwrap(ctx, k, gen)
}

// generation returns the count of destroys so far (base.gen).
func (b *base) generation() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.gen
}

// unwrap unwraps k, read from the key store when the destroy count was
// gen, and caches it unless a destroy ran since.
func (b *base) unwrap(ctx context.Context, k WrappedKey, gen uint64) (cipher.AEAD, error) {
	if k.Destroyed() {
		return nil, ErrKeyDestroyed
	}
	raw, err := b.keyring.Unwrap(ctx, k.KEKID, k.Wrapped, keyAD(k.KeyID, k.Version))
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnwrap, err)
	}
	b.remember(keyRef{k.KeyID, k.Version}, aead, gen)
	return aead, nil
}

// remember caches aead as the data key ref, read when the destroy count
// was gen, unless a destroy ran since.
func (b *base) remember(ref keyRef, aead cipher.AEAD, gen uint64) {
	if b.opts.cacheTTL == 0 {
		return
	}
	b.mu.Lock()
	if b.gen == gen {
		b.dek[ref] = cachedKey{aead: aead, expires: time.Now().Add(b.opts.cacheTTL)}
	}
	b.mu.Unlock()
}

// writeKey returns the live data key of id for a write, making one if id
// has none or only destroyed ones, or if fresh is set and the newest is
// older than minVersion (see sess.fresh).
func (b *base) writeKey(ctx context.Context, id string, minVersion int64) (int64, cipher.AEAD, error) {
	now := time.Now()
	b.mu.Lock()
	cur, ok := b.current[id]
	b.mu.Unlock()
	if ok && now.Before(cur.expires) && cur.version >= minVersion {
		if aead, err := b.aeadFor(ctx, id, cur.version); err == nil {
			return cur.version, aead, nil
		}
	}
	b.making.Lock()
	defer b.making.Unlock()
	for range 8 {
		// A destroy that runs while this looks may destroy the key it
		// finds or makes: then it looks again (setCurrent fails).
		gen := b.generation()
		latest, err := b.keys.Latest(ctx, id)
		switch {
		case errors.Is(err, ErrKeyNotFound):
			latest = WrappedKey{}
		case err != nil:
			return 0, nil, err
		case !latest.Destroyed() && latest.Version >= minVersion:
			aead, err := b.unwrap(ctx, latest, gen)
			if err != nil {
				return 0, nil, err
			}
			if !b.setCurrent(id, latest.Version, gen) {
				continue
			}
			return latest.Version, aead, nil
		}
		version, aead, err := b.makeKey(ctx, id, latest.Version+1, gen)
		if errors.Is(err, ErrKeyExists) {
			continue // another process made it first: use theirs
		}
		if err != nil {
			return 0, nil, err
		}
		if !b.setCurrent(id, version, gen) {
			continue
		}
		return version, aead, nil
	}
	return 0, nil, fmt.Errorf("encrypted: data key %q: too many concurrent key creations", id)
}

// setCurrent records version as the live version of data key id, found
// when the destroy count was gen. It reports false, recording nothing, if
// a destroy ran since: the version may be destroyed.
func (b *base) setCurrent(id string, version int64, gen uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen != gen {
		return false
	}
	if b.opts.cacheTTL != 0 {
		b.current[id] = cachedRef{version: version, expires: time.Now().Add(b.opts.cacheTTL)}
	}
	return true
}

// makeKey makes, wraps and stores version of data key id; gen is the
// destroy count when the caller found that version missing.
func (b *base) makeKey(ctx context.Context, id string, version int64, gen uint64) (int64, cipher.AEAD, error) {
	kek, err := b.keyring.CurrentKeyID(ctx)
	if err != nil {
		return 0, nil, err
	}
	raw := NewKey()
	defer clear(raw)
	wrapped, err := b.keyring.Wrap(ctx, kek, raw, keyAD(id, version))
	if err != nil {
		return 0, nil, err
	}
	if err := b.keys.Add(ctx, WrappedKey{KeyID: id, Version: version, KEKID: kek, Wrapped: wrapped, CreatedAt: time.Now().UnixNano()}); err != nil {
		return 0, nil, err
	}
	aead, err := newGCM(raw)
	if err != nil {
		return 0, nil, err
	}
	b.remember(keyRef{id, version}, aead, gen)
	return version, aead, nil
}

// destroy destroys the versions of data key id up to through and forgets
// them.
func (b *base) destroy(ctx context.Context, id string, through int64) (int, error) {
	// Forget the keys before the destroy (a read must not use them once it
	// has begun) and again after it (a read that began meanwhile may have
	// cached one that it read before the destroy reached it).
	b.forget(id, through)
	n, err := b.keys.Destroy(ctx, id, through)
	b.forget(id, through)
	if err != nil {
		return n, fmt.Errorf("encrypted: destroy data key %q: %w", id, err)
	}
	return n, nil
}

// forget drops the cached versions up to through of data key id, and
// counts a destroy, so that no key read before this call is cached after
// it (base.gen).
func (b *base) forget(id string, through int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ref := range b.dek {
		if ref.id == id && ref.version <= through {
			delete(b.dek, ref)
		}
	}
	delete(b.current, id)
	b.gen++
}

// latestVersion returns the newest version of data key id, or 0.
func (b *base) latestVersion(ctx context.Context, id string) (int64, error) {
	k, err := b.keys.Latest(ctx, id)
	if errors.Is(err, ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return k.Version, nil
}

// DestroyOwnerKeys destroys the data keys of owner. See Store. Under
// WithPerSessionKeys the owner's sessions have keys of their own: it lists
// them (session.Lister) and destroys each one's keys, and fails if the
// inner store cannot list them.
func (b *base) DestroyOwnerKeys(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, errors.New("encrypted: destroy owner keys: empty owner")
	}
	n, err := b.destroyScope(ctx, ownerKeyID(owner), math.MaxInt64)
	if err != nil || !b.opts.perSession {
		return n, err
	}
	l, ok := b.inner.(session.Lister)
	if !ok {
		return n, fmt.Errorf("encrypted: destroy owner keys of %q: under WithPerSessionKeys its sessions have keys of their own, and %T cannot list them: %w", owner, b.inner, session.ErrNotSupported)
	}
	q := session.ListQuery{Owner: owner, Limit: session.MaxListLimit}
	for {
		page, err := l.List(ctx, q)
		if err != nil {
			return n, fmt.Errorf("encrypted: destroy owner keys of %q: list its sessions: %w", owner, err)
		}
		for _, in := range page.Sessions {
			m, err := b.destroyScope(ctx, sessionKeyID(in.ID), math.MaxInt64)
			n += m
			if err != nil {
				return n, err
			}
		}
		if page.Next == "" {
			return n, nil
		}
		q.Cursor = page.Next
	}
}

// DestroySessionKeys destroys the data keys of the session id. See Store.
func (b *base) DestroySessionKeys(ctx context.Context, id string) (int, error) {
	if err := session.ValidateID(id); err != nil {
		return 0, fmt.Errorf("encrypted: destroy session keys: %w", err)
	}
	return b.destroyScope(ctx, sessionKeyID(id), math.MaxInt64)
}

// RewrapKeys re-wraps every live data key under the keyring's current KEK.
// See Store.
func (b *base) RewrapKeys(ctx context.Context) (RewrapReport, error) {
	kek, err := b.keyring.CurrentKeyID(ctx)
	if err != nil {
		return RewrapReport{}, fmt.Errorf("encrypted: rewrap: %w", err)
	}
	r := RewrapReport{KEKID: kek}
	afterID, afterVersion := "", int64(0)
	for {
		page, err := b.keys.List(ctx, afterID, afterVersion, 500)
		if err != nil {
			return r, fmt.Errorf("encrypted: rewrap: %w", err)
		}
		if len(page) == 0 {
			return r, nil
		}
		for _, k := range page {
			switch {
			case k.Destroyed():
				r.Destroyed++
				continue
			case k.KEKID == kek:
				r.Current++
				continue
			}
			ad := keyAD(k.KeyID, k.Version)
			raw, err := b.keyring.Unwrap(ctx, k.KEKID, k.Wrapped, ad)
			if err != nil {
				return r, fmt.Errorf("encrypted: rewrap data key %q version %d: %w", k.KeyID, k.Version, err)
			}
			wrapped, err := b.keyring.Wrap(ctx, kek, raw, ad)
			clear(raw)
			if err != nil {
				return r, fmt.Errorf("encrypted: rewrap data key %q version %d: %w", k.KeyID, k.Version, err)
			}
			ok, err := b.keys.Rewrap(ctx, k.KeyID, k.Version, k.KEKID, kek, wrapped)
			if err != nil {
				return r, fmt.Errorf("encrypted: rewrap data key %q version %d: %w", k.KeyID, k.Version, err)
			}
			if ok {
				r.Rewrapped++
			}
		}
		last := page[len(page)-1]
		afterID, afterVersion = last.KeyID, last.Version
	}
}

// Inner returns the wrapped store.
func (b *base) Inner() session.Store { return b.inner }

// Exists reports whether the session id exists in the inner store.
func (b *base) Exists(ctx context.Context, id string) (bool, error) {
	return b.inner.Exists(ctx, id)
}

// Create creates the session id in the inner store.
func (b *base) Create(ctx context.Context, id string) (session.Session, error) {
	s, err := b.inner.Create(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.wrapSession(s, sessionKeyID(id), true), nil
}

// Load loads the session id from the inner store.
func (b *base) Load(ctx context.Context, id string) (session.Session, error) {
	s, err := b.inner.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.wrapSession(s, "", false), nil
}

// Delete deletes the session id from the inner store, then destroys its
// per-session data key (the versions that existed when Delete started, so
// that a session re-created meanwhile keeps its new key).
func (b *base) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("encrypted: delete %q: %w", id, err)
	}
	if err := session.ValidateID(id); err != nil {
		return fmt.Errorf("encrypted: delete %q: %w", id, err)
	}
	kid := sessionKeyID(id)
	through, err := b.latestVersion(ctx, kid)
	if err != nil {
		return fmt.Errorf("encrypted: delete %q: %w", id, err)
	}
	// A fork holds copies of keys under its own scope: find it first.
	copies := ""
	if _, ok := b.inner.(session.Forker); ok && b.desc != nil {
		info, err := b.desc.Info(ctx, id)
		switch {
		case err == nil:
			copies = copyPrefix(b.keyIDFor(id, info.Owner)) + id + "/"
		case !errors.Is(err, session.ErrNotFound):
			return fmt.Errorf("encrypted: delete %q: %w", id, err)
		}
	}
	if err := b.inner.Delete(ctx, id); err != nil {
		return err
	}
	if through > 0 {
		if _, err := b.destroy(ctx, kid, through); err != nil {
			return fmt.Errorf("encrypted: delete %q: %w", id, err)
		}
	}
	if copies != "" {
		if _, err := b.destroyPrefix(ctx, copies); err != nil {
			return fmt.Errorf("encrypted: delete %q: %w", id, err)
		}
	}
	return nil
}

// errKeyGone is copyKey's error when the key to copy does not exist or was
// destroyed: there is nothing to copy.
var errKeyGone = errors.New("encrypted: the data key to copy is gone")

// copyKeyID is the id of the copy of data key keyID that Fork makes for the
// fork id whose own data key is scope. The scope comes first, with its
// length, so that destroying a scope's keys finds its copies by prefix.
func copyKeyID(scope, fork, keyID string) string {
	return copyPrefix(scope) + fork + "/" + keyID
}

func copyPrefix(scope string) string {
	return "copy:" + strconv.Itoa(len(scope)) + ":" + scope + "/"
}

// destroyPrefix destroys every key whose id starts with prefix.
func (b *base) destroyPrefix(ctx context.Context, prefix string) (int, error) {
	total := 0
	after, afterV := prefix, int64(math.MaxInt64)
	for {
		page, err := b.keys.List(ctx, after, afterV, 500)
		if err != nil {
			return total, fmt.Errorf("encrypted: destroy keys %q*: %w", prefix, err)
		}
		var ids []string
		for _, k := range page {
			if !strings.HasPrefix(k.KeyID, prefix) {
				page = nil
				break
			}
			if len(ids) == 0 || ids[len(ids)-1] != k.KeyID {
				ids = append(ids, k.KeyID)
			}
			after, afterV = k.KeyID, k.Version
		}
		for _, id := range ids {
			n, err := b.destroy(ctx, id, math.MaxInt64)
			total += n
			if err != nil {
				return total, err
			}
		}
		if len(page) == 0 {
			return total, nil
		}
	}
}

// destroyScope destroys the data key scope (the versions up to through)
// and every copy of a key made for the forks whose key it is.
func (b *base) destroyScope(ctx context.Context, scope string, through int64) (int, error) {
	n, err := b.destroy(ctx, scope, through)
	if err != nil {
		return n, err
	}
	m, err := b.destroyPrefix(ctx, copyPrefix(scope))
	return n + m, err
}

// copyKey stores, for a fork, its own copy of version of data key src under
// the id dst, wrapped under the current KEK. A destroyed or missing source
// is skipped: the fork's inherited rows are unreadable already.
func (b *base) copyKey(ctx context.Context, src, dst string, version int64) error {
	k, err := b.keys.Get(ctx, src, version)
	if errors.Is(err, ErrKeyNotFound) {
		return errKeyGone
	}
	if err != nil {
		return err
	}
	if k.Destroyed() {
		return errKeyGone
	}
	raw, err := b.keyring.Unwrap(ctx, k.KEKID, k.Wrapped, keyAD(k.KeyID, k.Version))
	if err != nil {
		return err
	}
	defer clear(raw)
	kek, err := b.keyring.CurrentKeyID(ctx)
	if err != nil {
		return err
	}
	wrapped, err := b.keyring.Wrap(ctx, kek, raw, keyAD(dst, version))
	if err != nil {
		return err
	}
	err = b.keys.Add(ctx, WrappedKey{KeyID: dst, Version: version, KEKID: kek, Wrapped: wrapped, CreatedAt: time.Now().UnixNano()})
	if errors.Is(err, ErrKeyExists) {
		return nil
	}
	return err
}
