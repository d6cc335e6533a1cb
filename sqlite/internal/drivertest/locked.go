package drivertest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
	"github.com/convo-dev/convo/sqlite"
)

// testWaitsForTheWriteLock holds SQLite's write lock from another *sql.DB
// (as another process would) while the store writes on fresh connections:
// every write must wait for the lock and succeed, never fail with "database
// is locked". Fresh connections matter: preparing a statement on a new
// connection can read the schema (the FTS5 index is opened when a trigger
// is compiled), and a transaction that has read cannot wait for the lock.
func testWaitsForTheWriteLock(t *testing.T, d Driver) {
	for _, wal := range []bool{true, false} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "convo.db")
			db := OpenDB(t, d, d.FileDSN(path))
			st, err := sqlite.Open(ctx, db, sqlite.WithWAL(wal))
			if err != nil {
				t.Fatal(err)
			}
			s, err := st.Create(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxIdleConns(0) // a new connection for every call from now on
			other := OpenDB(t, d, d.FileDSN(path))
			other.SetMaxOpenConns(1)

			for _, op := range []struct {
				name string
				run  func(context.Context) error
			}{
				{"AddMessages", func(ctx context.Context) error {
					return s.AddMessages(ctx, []message.Message{message.NewUserMessage("x"), message.NewUserMessage("y")})
				}},
				{"PopMessage", func(ctx context.Context) error { _, err := s.PopMessage(ctx); return err }},
				{"Clear", s.Clear},
				{"Create", func(ctx context.Context) error { _, err := st.Create(ctx, "b"); return err }},
				{"Delete", func(ctx context.Context) error { return st.Delete(ctx, "b") }},
				{"DeleteOwner", func(ctx context.Context) error { _, err := st.DeleteOwner(ctx, "nobody"); return err }},
				{"Prune", func(ctx context.Context) error {
					_, err := st.Prune(ctx, session.PruneQuery{UpdatedBefore: 1})
					return err
				}},
			} {
				conn, err := other.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					t.Fatal(err)
				}
				released := make(chan error, 1)
				go func() {
					time.Sleep(200 * time.Millisecond)
					_, err := conn.ExecContext(context.Background(), "COMMIT")
					conn.Close()
					released <- err
				}()
				if err := op.run(ctx); err != nil {
					t.Errorf("%s while another connection held the write lock: %v (it must wait)", op.name, err)
				}
				if err := <-released; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// testWaitsAfterSchemaChange is testWaitsForTheWriteLock on a connection
// the store has used before, after another connection changed the schema:
// the store's statements prepared on it are stale and SQLite prepares them
// again, possibly reading before it can write. Every append must still wait
// for the lock and succeed, whether the connection noticed the change in a
// read first or in the append itself.
func testWaitsAfterSchemaChange(t *testing.T, d Driver) {
	for _, readFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("readFirst=%v", readFirst), func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "convo.db")
			db := OpenDB(t, d, d.FileDSN(path))
			db.SetMaxOpenConns(1) // one connection, reused by every call
			st, err := sqlite.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			s, err := st.Create(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			other := OpenDB(t, d, d.FileDSN(path))
			other.SetMaxOpenConns(1)
			for i := range 3 {
				if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("x")}); err != nil {
					t.Fatal(err)
				}
				if _, err := other.ExecContext(ctx, fmt.Sprintf("CREATE TABLE extra_%d (x)", i)); err != nil {
					t.Fatal(err)
				}
				if readFirst {
					if _, err := s.GetMessages(ctx, session.Limit(1)); err != nil {
						t.Fatal(err)
					}
				}
				conn, err := other.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
					t.Fatal(err)
				}
				// Commit a change under the lock, so that a snapshot taken
				// before the lock is released is out of date.
				if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO extra_%d VALUES (1)", i)); err != nil {
					t.Fatal(err)
				}
				released := make(chan error, 1)
				go func() {
					time.Sleep(200 * time.Millisecond)
					_, err := conn.ExecContext(context.Background(), "COMMIT")
					conn.Close()
					released <- err
				}()
				if err := s.AddMessages(ctx, []message.Message{message.NewUserMessage("y"), message.NewUserMessage("z")}); err != nil {
					t.Errorf("append %d after a schema change, while another connection held the write lock: %v (it must wait)", i, err)
				}
				if err := <-released; err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.GetMessages(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 9 {
				t.Errorf("session holds %d messages, want 9", len(got))
			}
		})
	}
}
