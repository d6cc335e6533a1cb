package drivertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testFirstOpenProcesses starts processes that, round after round, all open
// the same new database file at the same instant: each round the test
// names a file that does not exist yet and writes its path to every child's
// stdin at once, the barrier that releases them. Each child then opens a
// *sql.DB with the driver's plain DSN, opens the store (which switches the
// new file to WAL and creates the schema) and creates a session of its
// own. Opening must wait for the others as any write does: no child may
// fail, in particular not with "set journal_mode=WAL: database is locked"
// (issue 17 item 4: 11 of 480 such opens failed on every driver).
func testFirstOpenProcesses(t *testing.T, d Driver) {
	defer watchdog(t, 4*time.Minute)()
	procs, rounds := 8, 60
	if testing.Short() {
		rounds = 8
	}
	type kid struct {
		cmd  *exec.Cmd
		in   io.WriteCloser
		out  *bufio.Scanner
		errs *strings.Builder
	}
	kids := make([]kid, procs)
	for p := range kids {
		cmd := child(t, "firstopen", fmt.Sprintf("CONVO_DT_NAME=p%d", p))
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		errs := &strings.Builder{}
		cmd.Stderr = errs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kids[p] = kid{cmd, in, bufio.NewScanner(out), errs}
		t.Cleanup(func() {
			in.Close()
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	dir := t.TempDir()
	failed := 0
	for r := range rounds {
		path := filepath.Join(dir, fmt.Sprintf("round%d.db", r))
		for p := range kids {
			if _, err := io.WriteString(kids[p].in, path+"\n"); err != nil {
				t.Fatalf("round %d: release p%d: %v\n%s", r, p, err, kids[p].errs)
			}
		}
		for p := range kids {
			if !kids[p].out.Scan() {
				t.Fatalf("round %d: p%d ended without an answer: %v\n%s", r, p, kids[p].out.Err(), kids[p].errs)
			}
			if line := kids[p].out.Text(); line != "ok" {
				failed++
				t.Errorf("round %d: p%d opening a new file together with %d other processes: %s", r, p, procs-1, line)
			}
		}
		// Every child's session is in the file.
		st := OpenStore(t, d, d.FileDSN(path))
		for p := range kids {
			if ok, err := st.Exists(t.Context(), fmt.Sprintf("p%d", p)); err != nil || !ok {
				t.Errorf("round %d: session of p%d exists = %v, %v", r, p, ok, err)
			}
		}
	}
	for p := range kids {
		kids[p].in.Close()
		if err := kids[p].cmd.Wait(); err != nil {
			t.Errorf("p%d: %v\n%s", p, err, kids[p].errs)
		}
	}
	t.Logf("%d processes x %d rounds opened a new file at once: %d of %d opens failed", procs, rounds, failed, procs*rounds)
}

// firstOpenChild is the child of testFirstOpenProcesses: for every path on
// stdin it opens the store on that file, creates its session and answers
// "ok", or the error, on one line.
func firstOpenChild(d Driver) error {
	name := os.Getenv("CONVO_DT_NAME")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		err := openOnce(d, in.Text(), name)
		answer := "ok"
		if err != nil {
			answer = strings.ReplaceAll(err.Error(), "\n", " ")
		}
		if _, err := fmt.Println(answer); err != nil {
			return err
		}
	}
	return in.Err()
}

func openOnce(d Driver, path, name string) error {
	ctx := context.Background()
	st, db, err := openChildStore(ctx, d, path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = st.Create(ctx, name)
	return err
}
