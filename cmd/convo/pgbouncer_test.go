package main

import (
	"os"
	"strings"
	"testing"
)

// TestThroughPgBouncer runs the CLI as separate processes through PgBouncer
// in transaction mode (CONVO_TEST_PGBOUNCER; .ci/start-pgbouncer.sh starts
// one, and CI=true requires it). With default_query_exec_mode=exec in the
// URL a first writing command creates the tables (the migrations run in one
// transaction, which transaction pooling keeps on one server connection)
// and every command works. Without it, pgx's named prepared statements
// do not survive PgBouncer before 1.21 (or without max_prepared_statements:
// https://www.pgbouncer.org/config.html#max_prepared_statements), so a
// command may fail, and then it must say what to add to the URL.
func TestThroughPgBouncer(t *testing.T) {
	bouncer := os.Getenv("CONVO_TEST_PGBOUNCER")
	if bouncer == "" {
		if os.Getenv("CI") != "true" {
			t.Skip("CONVO_TEST_PGBOUNCER not set: start PgBouncer (.ci/start-pgbouncer.sh) and set " +
				"CONVO_TEST_PGBOUNCER=postgres://postgres@127.0.0.1:6432/test?sslmode=disable")
		}
		bouncer = "postgres://postgres@127.0.0.1:6432/test?sslmode=disable"
	}
	pg := postgresURL(t) // the same server, directly: it drops the tables afterwards
	if pg == "" {
		t.Skip("CONVO_TEST_POSTGRES not set")
	}
	sep := "?"
	if strings.Contains(bouncer, "?") {
		sep = "&"
	}
	execURL := bouncer + sep + "default_query_exec_mode=exec"
	prefix := uniquePrefix(t, pg)
	seed(t, execURL, prefix, demoSessions(t)) // a first, writing open through PgBouncer
	db := testDB{name: "pgbouncer", url: execURL, prefix: prefix}
	if r := mustConvo(t, "", db.args("ls")...); !strings.Contains(r.stdout, "trip-paris") || !strings.Contains(r.stdout, "damaged-middle") {
		t.Errorf("ls through PgBouncer:\n%s", r.stdout)
	}
	if r := mustConvo(t, "", db.args("search", "umbrella")...); !strings.Contains(r.stdout, "trip-paris") {
		t.Errorf("search through PgBouncer:\n%s", r.stdout)
	}
	mustConvo(t, "", db.args("rm", "--yes", "support-42")...)
	if r := mustConvo(t, "", db.args("ls")...); strings.Contains(r.stdout, "support-42") {
		t.Errorf("ls after rm through PgBouncer still lists support-42:\n%s", r.stdout)
	}

	plain := testDB{name: "pgbouncer, default exec mode", url: bouncer, prefix: prefix}
	failed := 0
	for range 3 {
		r := convo(t, "", plain.args("ls")...)
		if r.err == nil {
			continue
		}
		failed++
		if !strings.Contains(r.stderr, "add default_query_exec_mode=exec to the database URL") {
			t.Errorf("ls through PgBouncer with the default URL failed without saying what to do: %v\n%s", r.err, r.stderr)
		}
	}
	t.Logf("with the default URL, %d of 3 runs of ls failed (each explained)", failed)
}
