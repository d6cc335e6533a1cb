package encrypted_test

import (
	"testing"

	"github.com/convo-dev/convo/encrypted"
	"github.com/convo-dev/convo/internal/sqlident"
	"github.com/convo-dev/convo/postgres"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
	"github.com/convo-dev/convo/sqlite"
)

// TestConformance runs the session contract's conformance suite over the
// encrypting wrapper on each backend: the wrapper must keep every rule and
// every capability of the store it wraps.
func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		sessiontest.Run(t, func(t *testing.T) session.Store { return newMemory(t) })
	})
	t.Run("memory_per_session_keys", func(t *testing.T) {
		sessiontest.Run(t, func(t *testing.T) session.Store { return newMemory(t, encrypted.WithPerSessionKeys()) })
	})
	t.Run("sqlite", func(t *testing.T) {
		sessiontest.RunWith(t, func(t *testing.T) session.Store { return newSQLite(t).st },
			sessiontest.Options{Corrupt: corruptSQLite})
	})
	t.Run("postgres", func(t *testing.T) {
		pgShared(t)
		sessiontest.RunWith(t, func(t *testing.T) session.Store { return newPostgres(t).st },
			sessiontest.Options{Corrupt: corruptPostgres})
	})
}

// corruptSQLite damages a row under the wrapper as the SQLite store's own
// tests do (parts that are not JSON): the inner store's *CorruptError must
// come through the wrapper unchanged.
func corruptSQLite(t *testing.T, st session.Store, id, msgID string) []byte {
	t.Helper()
	inner := st.(encrypted.Store).Inner().(*sqlite.Store)
	raw := []byte(`[{"type":"text","text":"cut off`)
	setSQLiteParts(t, inner, id, msgID, raw)
	return raw
}

func setSQLiteParts(t testing.TB, inner *sqlite.Store, id, msgID string, parts []byte) {
	t.Helper()
	res, err := inner.DB().ExecContext(t.Context(), `UPDATE "`+inner.Prefix()+`messages" SET parts = ? WHERE session_id = ? AND id = ?`, string(parts), id, msgID)
	if err != nil {
		t.Fatalf("update parts: %v", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("update parts: %d rows (%v), want 1", n, err)
	}
}

func corruptPostgres(t *testing.T, st session.Store, id, msgID string) []byte {
	t.Helper()
	inner := st.(encrypted.Store).Inner().(*postgres.Store)
	raw := []byte(`{"parts": "not an array"}`)
	table := sqlident.Quote(inner.Schema()) + "." + sqlident.Quote(inner.Prefix()+"messages")
	tag, err := inner.Pool().Exec(t.Context(), `UPDATE `+table+` SET parts = $3::json WHERE session_id = $1 AND id = $2`, id, msgID, string(raw))
	if err != nil {
		t.Fatalf("corrupt: %v", err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("corrupt: %d rows changed, want 1", tag.RowsAffected())
	}
	return raw
}
