package drivertest

import (
	"path/filepath"
	"testing"

	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/session/sessiontest"
	"github.com/convo-dev/convo/sqlite"
)

// conformance runs the session conformance suite on a database file and on
// a private in-memory database limited to one connection.
func conformance(t *testing.T, d Driver) {
	t.Run("file", func(t *testing.T) {
		sessiontest.Run(t, func(t *testing.T) session.Store {
			return OpenStore(t, d, d.FileDSN(filepath.Join(t.TempDir(), "convo.db")))
		})
	})
	t.Run("memory_one_conn", func(t *testing.T) {
		sessiontest.Run(t, func(t *testing.T) session.Store {
			db := OpenDB(t, d, d.MemoryDSN)
			db.SetMaxOpenConns(1)
			db.SetConnMaxLifetime(0)
			db.SetConnMaxIdleTime(0)
			st, err := sqlite.SessionStore(t.Context(), db)
			if err != nil {
				t.Fatalf("SessionStore: %v", err)
			}
			return st
		})
	})
}
