package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
)

// TestConformance runs the session contract's conformance suite, each
// subtest on a fresh store in its own schema.
func TestConformance(t *testing.T) {
	pool := testPool(t)
	sessiontest.RunWith(t, func(t *testing.T) session.Store {
		// The suite reads changes made before its first watch.
		return startFeed(t, newStore(t, pool))
	}, sessiontest.Options{Corrupt: corrupt, Twin: twin})
}

// twin is sessiontest's Options.Twin for the PostgreSQL store: a second
// store on the same schema and prefix, over a pool of its own (as another
// process would open it).
func twin(t *testing.T, st session.Store) session.Store {
	t.Helper()
	s := st.(*Store)
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 4 })
	other, err := Open(t.Context(), pool, WithSchema(s.Schema()), WithTablePrefix(s.Prefix()))
	if err != nil {
		t.Fatalf("twin: %v", err)
	}
	return other
}

// corrupt is sessiontest's Options.Corrupt for the PostgreSQL store: the
// parts column is json, so the damage is a JSON text that is not a parts
// array (what a bug in another writer or a bad manual edit leaves).
func corrupt(t *testing.T, st session.Store, id, msgID string) []byte {
	t.Helper()
	s := st.(*Store)
	raw := []byte(`{"parts": "not an array"}`)
	tag, err := s.pool.Exec(t.Context(), `UPDATE `+s.q.messages+` SET parts = $3::json WHERE session_id = $1 AND id = $2`, id, msgID, string(raw))
	if err != nil {
		t.Fatalf("corrupt: %v", err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("corrupt: %d rows changed, want 1", tag.RowsAffected())
	}
	return raw
}
