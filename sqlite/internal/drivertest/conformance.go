package drivertest

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
	"github.com/convo-dev/convo/sqlite"
)

// conformance runs the session conformance suite on a database file and on
// a private in-memory database limited to one connection.
func conformance(t *testing.T, d Driver) {
	t.Run("file", func(t *testing.T) {
		var mu sync.Mutex
		dsns := map[session.Store]string{}
		sessiontest.RunWith(t, func(t *testing.T) session.Store {
			dsn := d.FileDSN(filepath.Join(t.TempDir(), "convo.db"))
			st := OpenStore(t, d, dsn)
			mu.Lock()
			defer mu.Unlock()
			dsns[st] = dsn
			return st
		}, sessiontest.Options{
			Corrupt: Corrupt,
			// A second *sql.DB and store on the same file, as another
			// process would open it.
			Twin: func(t *testing.T, st session.Store) session.Store {
				mu.Lock()
				dsn := dsns[st]
				mu.Unlock()
				return OpenStore(t, d, dsn)
			},
		})
	})
	t.Run("memory_one_conn", func(t *testing.T) {
		sessiontest.RunWith(t, func(t *testing.T) session.Store {
			return openMemory(t, d)
		}, sessiontest.Options{
			Corrupt: Corrupt,
			// A second store on the same *sql.DB (another process cannot
			// open a private in-memory database).
			Twin: func(t *testing.T, st session.Store) session.Store {
				twin, err := sqlite.SessionStore(t.Context(), st.(*sqlite.Store).DB())
				if err != nil {
					t.Fatalf("SessionStore: %v", err)
				}
				return twin
			},
		})
	})
}

// Corrupt is sessiontest's Options.Corrupt for SQLite stores: it overwrites
// the parts of the row with an invalid JSON text, as a disk error or
// another program could, and returns those bytes.
func Corrupt(t *testing.T, st session.Store, id, msgID string) []byte {
	t.Helper()
	s, ok := st.(*sqlite.Store)
	if !ok {
		t.Fatalf("Corrupt: %T is not a *sqlite.Store", st)
	}
	raw := []byte(`[{"type":"text","text":"cut off`)
	res, err := s.DB().ExecContext(t.Context(), `UPDATE "`+s.Prefix()+`messages" SET parts = ? WHERE session_id = ? AND id = ?`, string(raw), id, msgID)
	if err != nil {
		t.Fatalf("Corrupt: %v", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("Corrupt: %d rows changed (%v), want 1", n, err)
	}
	return raw
}

// openMemory opens a store on a private in-memory database limited to one
// connection, which lives as long as that connection.
func openMemory(t *testing.T, d Driver) *sqlite.Store {
	t.Helper()
	db := OpenDB(t, d, d.MemoryDSN)
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	st, err := sqlite.Open(t.Context(), db)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	return st
}
