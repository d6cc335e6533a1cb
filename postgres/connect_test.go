package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestUnreachableServerIsAFailureToConnect checks that a server that
// cannot be reached is reported as such by SessionStore, Open (read-only
// too) and Upgrade, not as the failure of the first catalog check (it
// read "postgres: open: check for the citus extension: failed to
// connect ..."). It needs no server: nothing listens on port 1.
func TestUnreachableServerIsAFailureToConnect(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	check := func(what, wantPrefix string, err error) {
		t.Helper()
		var ce *pgconn.ConnectError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v; want a *pgconn.ConnectError", what, err)
		}
		if !strings.HasPrefix(err.Error(), wantPrefix) || strings.Contains(err.Error(), "citus") {
			t.Errorf("%s: %q; want it to start %q", what, err, wantPrefix)
		}
	}
	_, err = SessionStore(t.Context(), pool)
	check("SessionStore", "postgres: open: connect: ", err)
	_, err = Open(t.Context(), pool, WithReadOnly())
	check("Open read-only", "postgres: open: connect: ", err)
	_, err = Upgrade(t.Context(), pool)
	check("Upgrade", "postgres: upgrade: connect: ", err)
}
