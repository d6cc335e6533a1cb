// Package encrypted is an encrypting session.Store: it wraps any store
// (memory, SQLite, PostgreSQL, a third party's) so that message content is
// encrypted before it reaches the store, under data keys that can be
// rotated and destroyed. It imports no cryptography beyond the standard
// library's AES-GCM.
//
//	kr, _ := encrypted.NewMemoryKeyring("kek-2026-11", kek) // or a cloud KMS
//	keys, _ := encrypted.OpenSQLKeyStore(ctx, keyDB, encrypted.SQLKeyStoreConfig{Dialect: encrypted.SQLite})
//	store, _ := encrypted.New(inner, kr, keys)
//	myAgent := agent.New(client, agent.WithSession("user-123", store))
//
// # What is encrypted, and what stays in the clear
//
// The parts of every message (text, reasoning and its signature, images,
// binary data, tool calls and results, unknown parts) are encrypted with
// AES-256-GCM (crypto/cipher, no other dependency) and stored as one
// message.Binary part of MIME type MIMEType (its documentation gives the
// layout): a part every store keeps byte for byte, decodes on its fast path
// and leaves out of its search index.
//
// In the clear stay what the inner store needs to do its job and what the
// session API exposes without a key: session ids, owners, titles and
// metadata (Describer), created and updated times, message counts and
// versions; and for each message its id, role, model, token usage, creation
// time and sequence. Do not put secrets in titles or metadata. Role, model,
// creation time, message id and the id of the session the message was
// written in are authenticated (bound into the ciphertext as AEAD additional
// data, with the data key's id and version): changing them in the database,
// or copying a ciphertext to another message, to another owner's key, or to
// a session that is not a fork of the one it was written in (see Forks),
// makes the message fail to decrypt rather than read as something else.
// Usage is neither encrypted nor authenticated. The
// ciphertext is base64 in JSON: a message takes about 4/3 of its clear size
// plus about 100 bytes, and the inner store's size limit applies to that.
//
// # Keys
//
// Envelope encryption, as in a cloud KMS: each owner (each session without
// owner, or every session under WithPerSessionKeys) has a data key, made on
// its first write; the data key encrypts messages and is stored only wrapped
// by a key-encryption key (KEK) of a Keyring. Every ciphertext names its
// data key's id ("owner:alice", "session:s1") and version; every wrapped
// data key names its KEK's id. A session opened with Load or Open learns
// its owner (one Describer.Info call) on its first write; one made with
// CreateWith knows it. Unwrapped data keys are kept in memory for
// WithKeyCacheTTL (default one minute).
//
// The Keyring interface (CurrentKeyID, Wrap, Unwrap by key id, with
// additional data) is what AWS KMS, Google Cloud KMS and Vault transit
// offer; MemoryKeyring holds AES-256 KEKs in memory for tests and for
// programs that load a KEK at start-up.
//
// Wrapped data keys live in a KeyStore, not in the message store:
// MemoryKeyStore, or SQLKeyStore (one table, SQLite or PostgreSQL, in the
// message database or another). A reserved session in the inner store was
// the alternative and was refused: it would be listed, pruned by retention
// (destroying every key at once), erased with an owner and copied by
// migrations, and a store's own backups could not be told apart from the
// keys' copies.
//
// # Rotation
//
// Rotating the KEK is one call: make a new KEK current in the keyring
// (MemoryKeyring.Add and SetCurrent, or the KMS's rotation), then
// Store.RewrapKeys unwraps every data key still under an old KEK and wraps
// it under the current one. No message is read or written: every
// ciphertext names its data key, not the KEK, so old ciphertexts stay
// readable. Once RewrapKeys reports no key left behind, the old KEK can be
// retired (MemoryKeyring.Remove, or disabling the KMS key version).
//
// A data key encrypts at most a few billion messages safely (random 96-bit
// nonces); DestroyOwnerKeys followed by new writes starts a new version.
//
// # Crypto-erasure
//
// Store.DestroyOwnerKeys(owner) deletes the owner's wrapped data keys
// (keeping a tombstone of each version; under WithPerSessionKeys, the keys
// of each of the owner's sessions, which it finds with session.Lister on
// the inner store, failing with session.ErrNotSupported without it). A
// session of the owner created while it lists may get a key it does not
// destroy: erase an owner whose sessions are not being written. From then
// on no copy of the owner's messages can be decrypted: not the live rows,
// not a SQLite WAL or free page, not a backup or replica of the message
// store. Reading them gives a *KeyError matching ErrKeyDestroyed that
// names the session and the message; nothing is skipped and nothing is
// returned half-decrypted.
// DeleteOwner (OwnerEraser) through the wrapper deletes the owner's sessions
// and then destroys those keys; Delete and Prune destroy the keys of the
// deleted sessions that have their own (sessions without owner, or all
// under WithPerSessionKeys), and Delete the key copies of a deleted fork. A
// pruned fork that has an owner keeps its key copies until that owner is
// erased.
//
// One caveat, stated plainly: a copy of the key store made before the
// destruction (a backup of the database holding SQLKeyStore's table) still
// holds the data key, wrapped. It is useless without the KEK that wrapped
// it, so an erasure covers such copies once the KEK is rotated (RewrapKeys)
// and the old KEK retired. Keep the key store in its own database, with
// backups kept no longer than your erasure deadline, or rotate and retire
// the KEK after erasures. In another process, a destroyed key can stay in
// the key cache for up to WithKeyCacheTTL.
//
// # Errors
//
// A message that cannot be decrypted fails the read that reaches it
// (GetMessages, Snapshot, Range, PopMessage), with an error naming the
// session and the message id:
//
//   - *KeyError matching ErrKeyDestroyed (erased), ErrKeyNotFound (the key
//     store has no such key: a message store restored beside another key
//     store), ErrUnwrap (the wrong KEK, or a tampered key row) or
//     ErrUnknownKEK (the keyring lacks the KEK).
//   - *session.CorruptError (matching session.ErrCorrupt, so that `convo
//     doctor` can quarantine the row) wrapping ErrAuth: the row was
//     tampered with, copied from another session or message, or sealed
//     under another data key; or ErrNotEncrypted: the row is in the clear
//     (allowed only with WithPlaintextReads). MessageID names the row; Seq
//     does too when the error comes from Range (session.Ranger), and is 0
//     from the other reads, where the wrapper does not see the inner
//     store's sequence.
//
// # Capabilities
//
// The wrapper implements exactly the optional capabilities of the inner
// store among Opener, Describer, Lister, OwnerEraser, Pruner, Importer and
// Quarantiner, and its sessions exactly the inner sessions' Versioned,
// Rewriter and Ranger; it never claims one the inner store lacks. Forker,
// Watcher and FeedTrimmer are kept over a store that also has all seven
// above (as the memory, SQLite and PostgreSQL stores do) and dropped over
// one that lacks any of them: a type for every combination of ten
// capabilities would be 1,024 types and take a minute to compile. Watch
// delivers changes with their messages decrypted; a change whose messages
// cannot be decrypted comes with the error and its Cursor, and the watch
// goes on. Quarantined returns a row's clear parts when it can still be
// decrypted and its stored bytes otherwise.
//
// It does not implement session.Searcher, even over a store that does:
// session.Search returns an error matching session.ErrNotSupported. A
// search index needs the clear text of every message (SQLite FTS5 and
// PostgreSQL tsvector store the words themselves), so indexing would put
// the plaintext back in the database, its WAL and its backups, where
// destroying a data key cannot reach it, which would defeat both encryption
// at rest and crypto-erasure. Search in the application over decrypted
// messages if you need it.
//
// # Forks
//
// A fork (session.Forker) holds its parent's rows as the inner store copies
// or shares them, sealed in the parent; so each ciphertext names, and is
// bound to, the session it was sealed in, and a session reads a row sealed
// elsewhere only if that session is one of its ancestors (its ParentID, the
// parent's, and so on; past an ancestor that was deleted the chain cannot
// be read, and the fork then accepts a row sealed further up only under its
// own data key or one Fork gave it a copy of, never a row of another
// owner's session that someone copied in). A row copied
// into a session that is not a fork of its origin fails with ErrAuth. A
// fork does accept a row of an ancestor that was appended after the fork
// point, if someone with write access to the database copies it in.
//
// Fork gives the fork its own copy of every data key its inherited rows
// use, under the fork's key scope. Erasing the owner of the parent (or
// deleting an ownerless parent) thus leaves a fork made for another owner
// readable, as session.Forker requires of a store; erasing the fork's owner
// (or deleting an ownerless fork) destroys the copies. Fork reads the
// fork's rows once, without decrypting, to find the keys; an error after
// the inner store made the fork deletes it again. The fork of a store
// without Describer cannot learn its ancestors and reads no inherited row.
//
// Appends stay safe to retry: a message is re-encrypted with a fresh nonce
// on a retry, and every store skips a message whose id the session already
// holds without comparing content, so the retry stores nothing.
//
// The wrapper is safe for concurrent use, as the inner store is; the first
// writes of a new owner from many goroutines or processes agree on one data
// key (KeyStore.Add refuses a second key of the same version).
package encrypted
