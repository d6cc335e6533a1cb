package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// xx000Conn is a connection to the server on which every unique violation
// arrives the way Citus reports a worker's: SQLSTATE XX000 (internal error)
// instead of 23505. Citus 13.2.2 on PostgreSQL 15 answered a retried append
// with 'duplicate key value violates unique constraint
// "messages_msg_id_103934" (SQLSTATE XX000)' (issue 13). It reads the
// server's messages whole (a type byte, a 4-byte length; PostgreSQL
// frontend/backend protocol, "Message Formats") and rewrites the code field
// ('C') of each ErrorResponse ('E').
type xx000Conn struct {
	net.Conn
	pending []byte
}

func (c *xx000Conn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 {
		var hdr [5]byte
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		msg := make([]byte, 5+int(n)-4)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(c.Conn, msg[5:]); err != nil {
			return 0, err
		}
		if hdr[0] == 'E' {
			for f := msg[5:]; len(f) > 0 && f[0] != 0; {
				end := bytes.IndexByte(f[1:], 0) + 1
				if end <= 0 {
					break
				}
				if f[0] == 'C' && string(f[1:end]) == "23505" {
					copy(f[1:end], "XX000")
				}
				f = f[end+1:]
			}
		}
		c.pending = msg
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// xx000Store returns a store in a fresh schema on a pool whose connections
// report unique violations with SQLSTATE XX000, and checks that they do.
func xx000Store(t *testing.T) *Store {
	t.Helper()
	pool := newPool(t, func(c *pgxpool.Config) {
		c.MaxConns = 4
		c.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &xx000Conn{Conn: conn}, nil
		}
	})
	s := newStore(t, pool)
	ctx := t.Context()
	_, err := s.pool.Exec(ctx, `CREATE TEMP TABLE xx000_check (k int PRIMARY KEY); INSERT INTO xx000_check VALUES (1), (1)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "XX000" {
		t.Fatalf("a unique violation on the rewriting connection: %v, want SQLSTATE XX000", err)
	}
	return s
}

// TestRetriesDoNotDependOnTheSQLSTATE retries appends whose messages are
// stored already, in whole or in part, with AddMessages and AddMessagesAt,
// in one statement and in several, while an insert of a stored id fails
// with SQLSTATE XX000 (as on Citus) instead of 23505. Every retry must
// succeed and store nothing twice: the store may not learn that an id is
// stored from the SQLSTATE of an error.
func TestRetriesDoNotDependOnTheSQLSTATE(t *testing.T) {
	retriesWithoutSQLSTATE(t, xx000Store(t))
}

func retriesWithoutSQLSTATE(t *testing.T, s *Store) {
	ctx := t.Context()
	sess, err := s.Create(ctx, "retried")
	if err != nil {
		t.Fatal(err)
	}
	turn := []message.Message{message.NewUserMessage("question"), message.NewAssistantMessage("answer")}
	if err := sess.AddMessages(ctx, turn); err != nil {
		t.Fatal(err)
	}
	v := sess.(session.Versioned)
	// A retry of the whole call, twice.
	for i := range 2 {
		if err := sess.AddMessages(ctx, turn); err != nil {
			t.Fatalf("retry %d: %v", i+1, err)
		}
	}
	// A retry mixed with a new message stores only the new one.
	more := append(turn[:2:2], message.NewUserMessage("follow-up"))
	if err := sess.AddMessages(ctx, more); err != nil {
		t.Fatalf("retry with one new message: %v", err)
	}
	// A versioned retry at the version it was first made at succeeds
	// whatever the version now.
	_, at, err := v.Snapshot(ctx, session.Limit(0))
	if err != nil {
		t.Fatal(err)
	}
	third := []message.Message{message.NewUserMessage("third")}
	if _, err := v.AddMessagesAt(ctx, at, third); err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddMessagesAt(ctx, at, third); err != nil {
		t.Fatalf("versioned retry: %v", err)
	}
	// A call too large for one statement, retried.
	s.chunkRows = 2
	big := []message.Message{message.NewUserMessage("b1"), message.NewUserMessage("b2"), message.NewUserMessage("b3")}
	for i := range 2 {
		if err := sess.AddMessages(ctx, big); err != nil {
			t.Fatalf("multi-statement append %d: %v", i+1, err)
		}
	}
	if err := sess.AddMessages(ctx, append(big[:3:3], message.NewUserMessage("b4"))); err != nil {
		t.Fatalf("multi-statement retry with a new message: %v", err)
	}
	s.chunkRows = defaultChunkRows

	want := []string{turn[0].ID, turn[1].ID, more[2].ID, third[0].ID, big[0].ID, big[1].ID, big[2].ID}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)+1 {
		t.Fatalf("stored %d messages, want %d", len(got), len(want)+1)
	}
	for i, id := range want {
		if got[i].ID != id {
			t.Errorf("message %d is %q, want %q", i, got[i].ID, id)
		}
	}
	info, err := s.Info(ctx, "retried")
	if err != nil {
		t.Fatal(err)
	}
	if info.MessageCount != int64(len(got)) {
		t.Errorf("message count %d, stored %d", info.MessageCount, len(got))
	}
}

// TestRetryRacingItsOriginal runs a retry while its original is still in
// flight: the original has stored the messages, holds the session row and
// has not committed; the retry waits for it. When the original commits, the
// retry must succeed, storing only its one new message and counting right,
// although the ids it waited for were committed after its statement began
// and an insert of them fails with XX000 (as on Citus), not 23505.
func TestRetryRacingItsOriginal(t *testing.T) {
	s := xx000Store(t)
	ctx := t.Context()
	sess, err := s.Create(ctx, "raced")
	if err != nil {
		t.Fatal(err)
	}
	ss := sess.(*pgSession)
	if err := sess.AddMessages(ctx, []message.Message{message.NewUserMessage("before")}); err != nil {
		t.Fatal(err)
	}
	orig := []message.Message{message.NewUserMessage("q"), message.NewAssistantMessage("a")}
	chunks, err := ss.encode(orig, false)
	if err != nil {
		t.Fatal(err)
	}
	// The original, in a transaction left open.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := chunks[0]
	if tag, err := tx.Exec(ctx, s.q.appendFresh, ss.id, ss.inc, nil, b.ids, b.roles, b.parts, b.models, b.usages,
		b.created, b.search, int64(b.len()), time.Now().UnixNano()); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("the original: %v, %v", tag, err)
	}
	// The retry, with one more message, waits for the original's lock.
	retry := append(orig[:2:2], message.NewUserMessage("new"))
	done := make(chan error, 1)
	go func() { done <- sess.AddMessages(ctx, retry) }()
	var pid int32
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`,
			pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the retry returned (%v) before the original committed", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the retry never waited for the original's lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("retry racing its original: %v", err)
	}
	got, err := sess.GetMessages(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1].ID != orig[0].ID || got[2].ID != orig[1].ID || got[3].ID != retry[2].ID {
		t.Fatalf("stored %d messages, want before, q, a, new once each: %+v", len(got), got)
	}
	info, err := s.Info(ctx, "raced")
	if err != nil {
		t.Fatal(err)
	}
	if info.MessageCount != 4 || info.Version != 3 {
		t.Errorf("message count %d, version %d; want 4 and 3", info.MessageCount, info.Version)
	}
}
