package encrypted_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// secret is the phrase the at-rest tests look for in the database's bytes.
const secret = "correct horse battery staple"

func createOwned(t testing.TB, st session.Store, id, owner string) session.Session {
	t.Helper()
	s, err := st.(session.Describer).CreateWith(t.Context(), id, session.CreateOptions{Owner: owner})
	if err != nil {
		t.Fatalf("CreateWith(%q, owner %q): %v", id, owner, err)
	}
	return s
}

func add(t testing.TB, s session.Session, msgs ...message.Message) {
	t.Helper()
	if err := s.AddMessages(t.Context(), msgs); err != nil {
		t.Fatalf("AddMessages to %q: %v", s.ID(), err)
	}
}

func all(t testing.TB, s session.Session) []message.Message {
	t.Helper()
	msgs, err := s.GetMessages(t.Context(), nil)
	if err != nil {
		t.Fatalf("GetMessages of %q: %v", s.ID(), err)
	}
	return msgs
}

func load(t testing.TB, st session.Store, id string) session.Session {
	t.Helper()
	s, err := st.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%q): %v", id, err)
	}
	return s
}

// secretMessages hold secret in every kind of content part.
func secretMessages() []message.Message {
	return []message.Message{
		message.NewUserMessage("please remember: " + secret),
		message.NewMessage(message.RoleAssistant,
			message.Reasoning{Text: "the user said " + secret, Signature: "sig"},
			message.ToolCall{ID: "c1", Name: "store", Input: json.RawMessage(`{"phrase":"` + secret + `"}`)}),
		message.NewMessage(message.RoleTool,
			message.ToolResult{CallID: "c1", Name: "store", Content: "stored " + secret},
			message.Binary{MIMEType: "text/plain", Data: []byte(secret), Name: "note.txt"}),
	}
}

// rawFiles returns the bytes of the SQLite database at path and of every
// file beside it that SQLite made for it (-wal, -shm, -journal).
func rawFiles(t testing.TB, path string) map[string][]byte {
	t.Helper()
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(m)] = b
	}
	return out
}

// wantKeyErr fails t unless err is a *KeyError matching target and naming
// session id (and message msgID, if set).
func wantKeyErr(t testing.TB, what string, err, target error, id, msgID string) {
	t.Helper()
	var ke *encrypted.KeyError
	if !errors.Is(err, target) || !errors.As(err, &ke) || ke.SessionID != id || msgID != "" && ke.MessageID != msgID {
		t.Errorf("%s: got %v, want a *encrypted.KeyError matching %v naming session %q and message %q", what, err, target, id, msgID)
	}
}

// wantCorrupt fails t unless err is a *session.CorruptError matching cause
// and naming session id and message msgID.
func wantCorrupt(t testing.TB, what string, err, cause error, id, msgID string) {
	t.Helper()
	var ce *session.CorruptError
	if !errors.Is(err, session.ErrCorrupt) || !errors.Is(err, cause) || !errors.As(err, &ce) || ce.SessionID != id || ce.MessageID != msgID {
		t.Errorf("%s: got %v, want a *session.CorruptError matching %v naming session %q and message %q", what, err, cause, id, msgID)
	}
}

// TestAtRest writes a secret phrase in every kind of part through the
// wrapper and looks for it in the SQLite file and its WAL: it must not be
// there. The same write through the bare store puts it there, so the check
// can fail.
func TestAtRest(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypt), func(t *testing.T) {
			env := newSQLite(t)
			var st session.Store = env.inner
			if encrypt {
				st = env.st
			}
			s := createOwned(t, st, "s1", "alice")
			add(t, s, secretMessages()...)
			if got := all(t, s); len(got) != 3 || got[0].Content() != "please remember: "+secret {
				t.Fatalf("read back %d messages, first %q", len(got), got[0].Content())
			}
			files := rawFiles(t, env.path)
			if _, ok := files["convo.db-wal"]; !ok {
				t.Fatalf("no WAL file beside the database (files: %v): the test would not look at it", keys(files))
			}
			for _, ckpt := range []bool{false, true} {
				if ckpt {
					if _, err := env.db.ExecContext(t.Context(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
						t.Fatal(err)
					}
					files = rawFiles(t, env.path)
				}
				found := []string{}
				for name, b := range files {
					if bytes.Contains(b, []byte(secret)) {
						found = append(found, name)
					}
				}
				if encrypt && len(found) > 0 {
					t.Errorf("checkpointed=%v: the secret is in the clear in %v", ckpt, found)
				}
				if !encrypt && len(found) == 0 {
					t.Errorf("checkpointed=%v: the bare store's files do not hold the secret: the check cannot fail", ckpt)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestErasure destroys an owner's data key and reads the owner's messages
// from the live store and from a backup made before: both fail with
// ErrKeyDestroyed naming the session and message, and other owners are
// untouched.
func TestErasure(t *testing.T) {
	env := newSQLite(t)
	ctx := t.Context()
	a1 := createOwned(t, env.st, "a1", "alice")
	a2 := createOwned(t, env.st, "a2", "alice")
	b1 := createOwned(t, env.st, "b1", "bob")
	for _, s := range []session.Session{a1, a2, b1} {
		add(t, s, secretMessages()...)
	}
	aMsgs := all(t, a1)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := env.db.ExecContext(ctx, "VACUUM INTO ?", backup); err != nil {
		t.Fatalf("backup: %v", err)
	}

	n, err := env.st.DestroyOwnerKeys(ctx, "alice")
	if err != nil || n != 1 {
		t.Fatalf("DestroyOwnerKeys = %d, %v; want 1 key version destroyed", n, err)
	}
	for _, s := range []session.Session{a1, load(t, env.st, "a2")} {
		msgs, err := s.GetMessages(ctx, nil)
		wantKeyErr(t, "GetMessages of an erased owner's session", err, encrypted.ErrKeyDestroyed, s.ID(), "")
		if msgs != nil {
			t.Errorf("GetMessages returned %d messages with the error", len(msgs))
		}
	}
	_, err = a1.GetMessages(ctx, session.Limit(1))
	wantKeyErr(t, "GetMessages(1)", err, encrypted.ErrKeyDestroyed, "a1", aMsgs[2].ID)
	if got := all(t, b1); len(got) != 3 || got[0].Content() != "please remember: "+secret {
		t.Errorf("bob's session after alice's erasure: %d messages, first %q", len(got), got[0].Content())
	}
	if _, err := a2.PopMessage(ctx); !errors.Is(err, encrypted.ErrKeyDestroyed) {
		t.Errorf("PopMessage of an erased message: %v, want ErrKeyDestroyed", err)
	}

	// The backup of the messages, read with the live key store: alice's
	// rows are unreadable, bob's are fine.
	bdb := openSQLiteDB(t, backup)
	bInner, err := openInner(t, bdb)
	if err != nil {
		t.Fatal(err)
	}
	restored := wrap(t, bInner, env.kr, env.keys)
	_, err = load(t, restored, "a1").GetMessages(ctx, nil)
	wantKeyErr(t, "backup read with the live key store", err, encrypted.ErrKeyDestroyed, "a1", "")
	if got := all(t, load(t, restored, "b1")); len(got) != 3 {
		t.Errorf("bob's session in the backup: %d messages", len(got))
	}

	// The backup's own copy of the key table still holds alice's key,
	// wrapped under kek-1 (the documented caveat) ...
	bKeys, err := encrypted.OpenSQLKeyStore(ctx, bdb, encrypted.SQLKeyStoreConfig{Dialect: encrypted.SQLite})
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, load(t, wrap(t, bInner, env.kr, bKeys), "a1")); len(got) != 3 {
		t.Fatalf("backup with its own key table before KEK retirement: %d messages", len(got))
	}
	// ... until the KEK is rotated and the old one retired.
	newCurrentKEK(t, env.kr, "kek-2")
	if _, err := env.st.RewrapKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.kr.Remove("kek-1"); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, wrap(t, bInner, env.kr, bKeys), "a1").GetMessages(ctx, nil)
	wantKeyErr(t, "backup with its own key table after KEK retirement", err, encrypted.ErrUnknownKEK, "a1", "")
	if got := all(t, load(t, wrap(t, env.inner, env.kr, env.keys), "b1")); len(got) != 3 {
		t.Errorf("bob's live session after rotation: %d messages", len(got))
	}

	// Alice can come back: a new session gets a new key version.
	a3 := createOwned(t, env.st, "a3", "alice")
	add(t, a3, message.NewUserMessage("hello again"))
	if got := all(t, load(t, wrap(t, env.inner, env.kr, env.keys), "a3")); len(got) != 1 || got[0].Content() != "hello again" {
		t.Errorf("alice's new session: %+v", got)
	}
	k, err := env.keys.Latest(ctx, "owner:alice")
	if err != nil || k.Version != 2 || k.Destroyed() {
		t.Errorf("alice's latest key = %+v, %v; want live version 2", k, err)
	}
}

func openInner(t testing.TB, db *sql.DB) (session.Store, error) {
	t.Helper()
	return sqliteOpen(t.Context(), db)
}

// TestDeleteOwnerErases checks that DeleteOwner through the wrapper also
// destroys the owner's key, so a copy of the rows made before is
// unreadable.
func TestDeleteOwnerErases(t *testing.T) {
	inner := session.NewMemoryStore()
	keys := encrypted.NewMemoryKeyStore()
	st := wrap(t, inner, newKeyring(t), keys)
	a := createOwned(t, st, "a1", "alice")
	add(t, a, secretMessages()...)
	copied := all(t, load(t, inner, "a1")) // what a backup holds
	if _, err := st.(session.OwnerEraser).DeleteOwner(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if k, err := keys.Latest(t.Context(), "owner:alice"); err != nil || !k.Destroyed() {
		t.Fatalf("alice's key after DeleteOwner = %+v, %v; want destroyed", k, err)
	}
	// Restore the copied rows into a session of the same id and owner.
	createOwned(t, inner, "a1", "alice")
	add(t, load(t, inner, "a1"), copied...)
	_, err := load(t, st, "a1").GetMessages(t.Context(), nil)
	wantKeyErr(t, "restored rows after DeleteOwner", err, encrypted.ErrKeyDestroyed, "a1", "")
}

// TestDeleteErasesSessionKey: deleting a session without owner destroys its
// own key; the id can be used again with a new key.
func TestDeleteErasesSessionKey(t *testing.T) {
	inner := session.NewMemoryStore()
	keys := encrypted.NewMemoryKeyStore()
	st := wrap(t, inner, newKeyring(t), keys)
	s, err := st.Create(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	add(t, s, secretMessages()...)
	copied := all(t, load(t, inner, "s1"))
	if err := st.Delete(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	s, err = st.Create(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	add(t, s, message.NewUserMessage("new life"))
	if got := all(t, s); len(got) != 1 || got[0].Content() != "new life" {
		t.Fatalf("re-created session: %+v", got)
	}
	k, err := keys.Latest(t.Context(), "session:s1")
	if err != nil || k.Version != 2 {
		t.Errorf("latest key of s1 = %+v, %v; want version 2", k, err)
	}
	add(t, load(t, inner, "s1"), copied[0]) // a restored row of the deleted session
	_, err = s.GetMessages(t.Context(), nil)
	wantKeyErr(t, "restored row of a deleted session", err, encrypted.ErrKeyDestroyed, "s1", copied[0].ID)
}

// storedParts returns the parts column of every message row, in order.
func storedParts(t testing.TB, env *sqliteEnv) []string {
	t.Helper()
	rows, err := env.db.QueryContext(t.Context(), `SELECT parts FROM messages ORDER BY session_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRotation rotates the KEK with one call: data keys are re-wrapped, no
// message row changes, and once the old KEK is gone everything still reads.
func TestRotation(t *testing.T) {
	env := newSQLite(t)
	ctx := t.Context()
	for _, o := range []string{"alice", "bob", "carol"} {
		add(t, createOwned(t, env.st, o+"-1", o), secretMessages()...)
	}
	s0, err := env.st.Create(ctx, "anon")
	if err != nil {
		t.Fatal(err)
	}
	add(t, s0, secretMessages()...)
	if _, err := env.st.DestroyOwnerKeys(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	before := storedParts(t, env)

	newCurrentKEK(t, env.kr, "kek-2")
	r, err := env.st.RewrapKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.KEKID != "kek-2" || r.Rewrapped != 3 || r.Destroyed != 1 || r.Current != 0 {
		t.Errorf("RewrapKeys = %+v, want 3 re-wrapped to kek-2, 1 destroyed", r)
	}
	if diff := cmpStrings(before, storedParts(t, env)); diff != "" {
		t.Errorf("RewrapKeys changed message rows: %s", diff)
	}
	if r, err := env.st.RewrapKeys(ctx); err != nil || r.Rewrapped != 0 || r.Current != 3 {
		t.Errorf("second RewrapKeys = %+v, %v; want nothing to do", r, err)
	}
	if err := env.kr.Remove("kek-1"); err != nil {
		t.Fatal(err)
	}
	fresh := wrap(t, env.inner, env.kr, env.keys) // a new process: empty key cache
	for _, id := range []string{"alice-1", "bob-1", "anon"} {
		if got := all(t, load(t, fresh, id)); len(got) != 3 || got[0].Content() != "please remember: "+secret {
			t.Errorf("%s after rotation: %d messages", id, len(got))
		}
	}
	add(t, load(t, fresh, "alice-1"), message.NewUserMessage("after rotation"))
	if got := all(t, load(t, fresh, "alice-1")); len(got) != 4 {
		t.Errorf("alice-1 after a write under kek-2: %d messages", len(got))
	}

	// Without re-wrapping, retiring the KEK makes keys unreadable: the
	// error says which.
	env2 := newSQLite(t)
	add(t, createOwned(t, env2.st, "x", "xavier"), message.NewUserMessage("x"))
	kr2 := newKeyring(t)
	newCurrentKEK(t, kr2, "kek-2")
	if err := kr2.Remove("kek-1"); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, wrap(t, env2.inner, kr2, env2.keys), "x").GetMessages(ctx, nil)
	wantKeyErr(t, "KEK retired before re-wrapping", err, encrypted.ErrUnknownKEK, "x", "")
}

func cmpStrings(a, b []string) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d rows, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Sprintf("row %d changed", i)
		}
	}
	return ""
}

// TestWrongKey reads with the wrong KEK, and with a key store that lacks
// the data key.
func TestWrongKey(t *testing.T) {
	env := newSQLite(t)
	s := createOwned(t, env.st, "s1", "alice")
	add(t, s, secretMessages()...)
	first := all(t, s)[0].ID

	other, err := encrypted.NewMemoryKeyring("kek-1", encrypted.NewKey()) // same id, other bytes
	if err != nil {
		t.Fatal(err)
	}
	_, err = load(t, wrap(t, env.inner, other, env.keys), "s1").GetMessages(t.Context(), nil)
	wantKeyErr(t, "wrong KEK", err, encrypted.ErrUnwrap, "s1", first)

	_, err = load(t, wrap(t, env.inner, env.kr, encrypted.NewMemoryKeyStore()), "s1").GetMessages(t.Context(), nil)
	wantKeyErr(t, "empty key store", err, encrypted.ErrKeyNotFound, "s1", first)

	// Another key store that has a key of the same id and version (its own
	// alice): the message fails authentication, never decrypts to garbage.
	ks := encrypted.NewMemoryKeyStore()
	imposter := wrap(t, session.NewMemoryStore(), env.kr, ks)
	add(t, createOwned(t, imposter, "z", "alice"), message.NewUserMessage("z"))
	_, err = load(t, wrap(t, env.inner, env.kr, ks), "s1").GetMessages(t.Context(), nil)
	wantCorrupt(t, "another data key of the same id", err, encrypted.ErrAuth, "s1", first)
}

// envelopeOf returns the envelope (the Data of the one binary part) of a
// row's parts column.
func envelopeOf(t testing.TB, parts string) []byte {
	t.Helper()
	ps, err := message.UnmarshalParts([]byte(parts))
	if err != nil || len(ps) != 1 {
		t.Fatalf("stored parts %q: %v", parts, err)
	}
	b, ok := ps[0].(message.Binary)
	if !ok || b.MIMEType != encrypted.MIMEType {
		t.Fatalf("stored part is %#v, want a binary part of type %s", ps[0], encrypted.MIMEType)
	}
	return b.Data
}

// partsWith returns a parts column holding envelope env.
func partsWith(t testing.TB, env []byte) []byte {
	t.Helper()
	b, err := message.MarshalParts([]message.Part{message.Binary{MIMEType: encrypted.MIMEType, Data: env}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rowParts(t testing.TB, env *sqliteEnv, id, msgID string) string {
	t.Helper()
	var p string
	if err := env.db.QueryRowContext(t.Context(), `SELECT parts FROM messages WHERE session_id = ? AND id = ?`, id, msgID).Scan(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTamper flips one byte of a stored ciphertext, and changes clear
// fields under it: each read fails with a CorruptError naming the session
// and the row, never returns garbage, and other rows stay readable.
func TestTamper(t *testing.T) {
	for _, c := range []struct {
		name, sql string
	}{
		{"ciphertext_byte_flipped", ""},
		{"role_changed", `UPDATE messages SET role = 'system' WHERE session_id = ? AND id = ?`},
		{"model_changed", `UPDATE messages SET model = 'other' WHERE session_id = ? AND id = ?`},
		{"created_at_changed", `UPDATE messages SET created_at = created_at + 1 WHERE session_id = ? AND id = ?`},
		{"key_id_changed_to_another_owner", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := newSQLite(t)
			s := createOwned(t, env.st, "s1", "alice")
			add(t, s, secretMessages()...)
			msgs := all(t, s)
			target := msgs[1].ID
			switch c.name {
			case "ciphertext_byte_flipped":
				e := envelopeOf(t, rowParts(t, env, "s1", target))
				e[len(e)/2] ^= 0x01 // one bit of ciphertext
				setSQLiteParts(t, env.inner, "s1", target, partsWith(t, e))
			case "key_id_changed_to_another_owner":
				// Bob has a key of the same version: the row is pointed
				// at it.
				add(t, createOwned(t, env.st, "b1", "bob"), message.NewUserMessage("bob"))
				e := envelopeOf(t, rowParts(t, env, "s1", target))
				// format 1, version 1, then the key id "owner:alice"
				if string(e[3:3+len("owner:alice")]) != "owner:alice" {
					t.Fatalf("envelope header = %q", e[:16])
				}
				bob := append([]byte{1, 1, byte(len("owner:bob"))}, "owner:bob"...)
				e = append(bob, e[3+len("owner:alice"):]...)
				setSQLiteParts(t, env.inner, "s1", target, partsWith(t, e))
			default:
				if _, err := env.db.ExecContext(t.Context(), c.sql, "s1", target); err != nil {
					t.Fatal(err)
				}
			}
			_, err := s.GetMessages(t.Context(), session.Limit(len(msgs)))
			wantCorrupt(t, "GetMessages", err, encrypted.ErrAuth, "s1", target)
			if got, err := s.GetMessages(t.Context(), session.Limit(1)); err != nil || len(got) != 1 || got[0].ID != msgs[len(msgs)-1].ID {
				t.Errorf("GetMessages(1) past the tampered row = %v, %v", got, err)
			}
		})
	}
}

// TestRowSwap copies a ciphertext to another row: the same message id in
// another session (of the same owner and of another), and another message
// of the same session. Each copy fails authentication.
func TestRowSwap(t *testing.T) {
	env := newSQLite(t)
	shared := message.NewUserMessage("same id, same role, same time: " + secret)
	a1 := createOwned(t, env.st, "a1", "alice")
	a2 := createOwned(t, env.st, "a2", "alice")
	b1 := createOwned(t, env.st, "b1", "bob")
	for _, s := range []session.Session{a1, a2, b1} {
		add(t, s, shared, message.NewUserMessage("other "+s.ID()))
	}
	src := rowParts(t, env, "a1", shared.ID)
	for _, id := range []string{"a2", "b1"} {
		setSQLiteParts(t, env.inner, id, shared.ID, []byte(src))
		_, err := load(t, env.st, id).GetMessages(t.Context(), nil)
		wantCorrupt(t, "ciphertext of a1 in "+id, err, encrypted.ErrAuth, id, shared.ID)
	}
	other := all(t, a1)[1].ID
	setSQLiteParts(t, env.inner, "a1", other, []byte(src))
	_, err := a1.GetMessages(t.Context(), nil)
	wantCorrupt(t, "ciphertext of another message of a1", err, encrypted.ErrAuth, "a1", other)
}

// TestPlaintextRows: a row written in the clear under the wrapper is
// refused unless WithPlaintextReads.
func TestPlaintextRows(t *testing.T) {
	inner := session.NewMemoryStore()
	kr, ks := newKeyring(t), encrypted.NewMemoryKeyStore()
	st := wrap(t, inner, kr, ks)
	s, err := st.Create(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	add(t, s, message.NewUserMessage("sealed"))
	clear := message.NewUserMessage("clear")
	add(t, load(t, inner, "s1"), clear)
	_, err = s.GetMessages(t.Context(), nil)
	wantCorrupt(t, "a clear row", err, encrypted.ErrNotEncrypted, "s1", clear.ID)
	// Range sees the row's Seq and names it, so that a reader (convo's
	// viewer) can read around the row.
	_, err = session.Range(t.Context(), s, session.RangeQuery{})
	wantCorrupt(t, "a clear row read by Range", err, encrypted.ErrNotEncrypted, "s1", clear.ID)
	if ce, ok := errors.AsType[*session.CorruptError](err); !ok || ce.Seq != 2 {
		t.Errorf("Range: %v; want the clear row's Seq, 2", err)
	}
	got := all(t, load(t, wrap(t, inner, kr, ks, encrypted.WithPlaintextReads()), "s1"))
	if len(got) != 2 || got[0].Content() != "sealed" || got[1].Content() != "clear" {
		t.Errorf("WithPlaintextReads: %+v", got)
	}
}

// TestRetry: a retried append, re-encrypted with a fresh nonce, stores
// nothing, with or without a version.
func TestRetry(t *testing.T) {
	for name, newStore := range map[string]func(t *testing.T) encrypted.Store{
		"memory": func(t *testing.T) encrypted.Store { return newMemory(t) },
		"sqlite": func(t *testing.T) encrypted.Store { return newSQLite(t).st },
	} {
		t.Run(name, func(t *testing.T) {
			st := newStore(t)
			s := createOwned(t, st, "s1", "alice")
			msgs := secretMessages()
			add(t, s, msgs...)
			add(t, s, msgs...)
			v := s.(session.Versioned)
			_, version, err := v.Snapshot(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.AddMessagesAt(t.Context(), version-1, msgs); err != nil {
				t.Errorf("AddMessagesAt retry at a stale version: %v", err)
			}
			if got := all(t, s); len(got) != 3 {
				t.Errorf("%d messages after retries, want 3", len(got))
			}
		})
	}
}

// TestConcurrentFirstWrites: many goroutines, and two wrappers over one
// database (as two processes), write the first messages of new owners at
// once; they agree on one data key per owner and read each other's writes.
func TestConcurrentFirstWrites(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		env := newSQLite(t)
		env2 := openSQLite(t, env.path, newKeyring(t))
		testConcurrentFirstWrites(t, env.keys, env.st, env2.st)
	})
	t.Run("postgres", func(t *testing.T) {
		env := newPostgres(t)
		// A second wrapper with its own keyring and key cache over the
		// same schema, as another process would have.
		testConcurrentFirstWrites(t, env.keys, env.st, wrap(t, env.inner, newKeyring(t), env.keys))
	})
}

func testConcurrentFirstWrites(t *testing.T, keys encrypted.KeyStore, stores ...encrypted.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[i%len(stores)]
			owner := []string{"alice", "bob"}[i%4/2]
			s, err := st.(session.Describer).CreateWith(t.Context(), fmt.Sprintf("s%d", i), session.CreateOptions{Owner: owner})
			if err == nil {
				err = s.AddMessages(t.Context(), []message.Message{message.NewUserMessage(fmt.Sprintf("m%d", i))})
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent first write: %v", err)
	}
	for _, owner := range []string{"alice", "bob"} {
		if k, err := keys.Latest(t.Context(), "owner:"+owner); err != nil || k.Version != 1 {
			t.Errorf("%s's latest key = %+v, %v; want version 1 (one key for all writers)", owner, k, err)
		}
	}
	for i := range n {
		for _, st := range stores {
			got := all(t, load(t, st, fmt.Sprintf("s%d", i)))
			if len(got) != 1 || got[0].Content() != fmt.Sprintf("m%d", i) {
				t.Errorf("s%d: %+v", i, got)
			}
		}
	}
}

// bare hides every capability of a store and of its sessions.
type bare struct{ inner session.Store }

func (b bare) Exists(ctx context.Context, id string) (bool, error) { return b.inner.Exists(ctx, id) }
func (b bare) Create(ctx context.Context, id string) (session.Session, error) {
	s, err := b.inner.Create(ctx, id)
	return struct{ session.Session }{s}, err
}
func (b bare) Load(ctx context.Context, id string) (session.Session, error) {
	s, err := b.inner.Load(ctx, id)
	return struct{ session.Session }{s}, err
}
func (b bare) Delete(ctx context.Context, id string) error { return b.inner.Delete(ctx, id) }

// listerOnly is a bare store that can list.
type listerOnly struct {
	bare
	session.Lister
}

// listerForker is a bare store that can list and fork: the wrapper has no
// type for Forker without all the basic capabilities, and drops it.
type listerForker struct {
	bare
	session.Lister
	session.Forker
}

// describerEraser is a bare store with owners and DeleteOwner.
type describerEraser struct {
	bare
	session.Describer
	session.OwnerEraser
}

// capabilities names the capabilities st and its sessions have.
func capabilities(t *testing.T, st session.Store) []string {
	t.Helper()
	var out []string
	for name, ok := range map[string]bool{
		"Opener":      is[session.Opener](st),
		"Describer":   is[session.Describer](st),
		"Lister":      is[session.Lister](st),
		"Searcher":    is[session.Searcher](st),
		"OwnerEraser": is[session.OwnerEraser](st),
		"Pruner":      is[session.Pruner](st),
		"Importer":    is[session.Importer](st),
		"Quarantiner": is[session.Quarantiner](st),
		"Forker":      is[session.Forker](st),
		"Watcher":     is[session.Watcher](st),
		"FeedTrimmer": is[session.FeedTrimmer](st),
	} {
		if ok {
			out = append(out, name)
		}
	}
	s, err := st.Create(t.Context(), "probe-"+message.NewID())
	if err != nil {
		t.Fatal(err)
	}
	if is[session.Versioned](s) {
		out = append(out, "Versioned")
	}
	if is[session.Rewriter](s) {
		out = append(out, "Rewriter")
	}
	if is[session.Ranger](s) {
		out = append(out, "Ranger")
	}
	slices.Sort(out)
	return out
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// TestCapabilities: the wrapper has exactly the inner store's capabilities,
// less Searcher, and less Forker, Watcher and FeedTrimmer over a store that
// lacks one of the others (as documented); never one the inner store lacks.
func TestCapabilities(t *testing.T) {
	mem := func() *session.MemoryStore { return session.NewMemoryStore() }
	m1, m2, m3 := mem(), mem(), mem()
	for _, c := range []struct {
		name    string
		inner   session.Store
		dropped []string
	}{
		{"bare", bare{mem()}, nil},
		{"lister_only", listerOnly{bare{m1}, m1}, nil},
		{"describer_and_eraser", describerEraser{bare{m2}, m2, m2}, nil},
		{"lister_and_forker", listerForker{bare{m3}, m3, m3}, []string{"Forker"}},
		{"memory", mem(), nil},
		{"sqlite", newSQLite(t).inner, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := []string{}
			for _, name := range capabilities(t, c.inner) {
				if name != "Searcher" && !slices.Contains(c.dropped, name) {
					want = append(want, name)
				}
			}
			got := capabilities(t, wrap(t, c.inner, newKeyring(t), encrypted.NewMemoryKeyStore()))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("wrapper capabilities = %v, want %v (the inner's, without Searcher)", got, want)
			}
		})
	}
}

// TestSearchRefused: search is refused with ErrNotSupported even over a
// store that can search, and the inner index holds no plaintext to find.
func TestSearchRefused(t *testing.T) {
	env := newSQLite(t)
	add(t, createOwned(t, env.st, "s1", "alice"), secretMessages()...)
	_, err := session.Search(t.Context(), env.st, session.SearchQuery{Text: "horse"})
	if !errors.Is(err, session.ErrNotSupported) {
		t.Errorf("session.Search over the wrapper: %v, want ErrNotSupported", err)
	}
	hits, err := env.inner.Search(t.Context(), session.SearchQuery{Text: "horse"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Errorf("the inner store's index finds the secret: %+v", hits)
	}
}

// racingKeys is a KeyStore in which, the first time Latest finds no key,
// another writer makes that key before Latest returns: what two processes
// making an owner's first key at once see.
type racingKeys struct {
	encrypted.KeyStore
	once  sync.Once
	other func()
}

func (r *racingKeys) Latest(ctx context.Context, id string) (encrypted.WrappedKey, error) {
	k, err := r.KeyStore.Latest(ctx, id)
	if errors.Is(err, encrypted.ErrKeyNotFound) {
		r.once.Do(r.other)
	}
	return k, err
}

// TestLosingTheFirstKeyRace: a writer whose new data key loses to another
// writer's (KeyStore.Add says ErrKeyExists) uses the winner's key.
func TestLosingTheFirstKeyRace(t *testing.T) {
	inner, keys := session.NewMemoryStore(), encrypted.NewMemoryKeyStore()
	winner := wrap(t, inner, newKeyring(t), keys)
	r := &racingKeys{KeyStore: keys}
	loser := wrap(t, inner, newKeyring(t), r)
	w := createOwned(t, winner, "w", "alice")
	r.other = func() { add(t, w, message.NewUserMessage("winner")) }
	l := createOwned(t, loser, "l", "alice")
	add(t, l, message.NewUserMessage("loser"))
	if k, err := keys.Latest(t.Context(), "owner:alice"); err != nil || k.Version != 1 {
		t.Errorf("alice's latest key = %+v, %v; want version 1 only", k, err)
	}
	for _, st := range []encrypted.Store{winner, loser} {
		for id, want := range map[string]string{"w": "winner", "l": "loser"} {
			if got := all(t, load(t, st, id)); len(got) != 1 || got[0].Content() != want {
				t.Errorf("%s read through each wrapper: %+v", id, got)
			}
		}
	}
}
