//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestImportFromPipe checks import from a named pipe, as a shell's process
// substitution gives it (convo import <(gunzip -c export.jsonl.gz)): a
// pipe can be read once only, so import copies it before its two readings
// (it failed at the second with "seek ...: illegal seek").
func TestImportFromPipe(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "export.pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	file := `{"type":"convo-export","version":1}` + "\n" +
		`{"type":"session","id":"s1"}` + "\n" +
		`{"type":"message","session":"s1","message":{"id":"m1","role":"user","parts":[{"type":"text","text":"hi"}]}}` + "\n"
	writeErr := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			writeErr <- err
			return
		}
		_, err = io.WriteString(f, file)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		writeErr <- err
	}()
	db := "sqlite:" + filepath.Join(dir, "convo.db")
	res := runInProcess(t, "", "--db", db, "import", fifo)
	if err := <-writeErr; err != nil {
		t.Fatalf("writing the pipe: %v", err)
	}
	if res.err != nil {
		t.Fatalf("import from a pipe: %v", res.err)
	}
	got := dump(t, db, "")
	if len(got) != 1 || len(got["s1"].Messages) != 1 {
		t.Errorf("imported %+v", got)
	}
}
