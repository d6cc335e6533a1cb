package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReadExportStreams checks that an export is read a session at a
// time: each session reaches the importer, with its messages, while most
// of the file is still unread, so import's memory does not grow with the
// file. (It read and kept the whole file first: importing an export of a
// million sessions, 1.25 GB, needed about four times that in memory.)
func TestReadExportStreams(t *testing.T) {
	const sessions = 20
	var b strings.Builder
	b.WriteString(`{"type":"convo-export","version":1}` + "\n")
	big := strings.Repeat("x", 100<<10) // each session far larger than a read buffer
	for i := range sessions {
		fmt.Fprintf(&b, `{"type":"session","id":"s%d"}`+"\n", i)
		for j := range 2 {
			fmt.Fprintf(&b, `{"type":"message","session":"s%d","message":{"id":"m%d","role":"user","parts":[{"type":"text","text":"%s"}]}}`+"\n", i, j, big)
		}
	}
	file := b.String()
	cr := &countingReader{r: strings.NewReader(file)}
	got := 0
	err := readExport(cr, func(s *importSession) error {
		if want := fmt.Sprintf("s%d", got); s.hdr.ID != want || len(s.msgs) != 2 {
			t.Errorf("session %d: %q with %d messages, want %q with 2", got, s.hdr.ID, len(s.msgs), want)
		}
		got++
		// Up to this session's end and the next session's line, give or
		// take a read buffer: never the rest of the file.
		if limit := len(file) * (got + 1) / sessions; got < sessions && cr.n > limit {
			t.Errorf("session %d of %d handed over after reading %d bytes of %d", got, sessions, cr.n, len(file))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != sessions {
		t.Errorf("%d sessions handed over, want %d", got, sessions)
	}
}

// TestImportFromStdinReadsTwice checks import from stdin, which it copies
// to a temporary file to read it a second time: the sessions arrive, and a
// malformed last line still means nothing is written.
func TestImportFromStdinReadsTwice(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "convo.db")
	file := `{"type":"convo-export","version":1}` + "\n" +
		`{"type":"session","id":"s1","owner":"u"}` + "\n" +
		`{"type":"message","session":"s1","message":{"id":"m1","role":"user","parts":[{"type":"text","text":"hi"}]}}` + "\n" +
		`{"type":"session","id":"s2"}` + "\n"
	bad := runInProcess(t, file+`{"type":"message","session":"s2"`+"\n", "--db", db, "import", "-")
	if bad.err == nil || !strings.Contains(bad.err.Error(), "line 5") {
		t.Fatalf("import of a file whose last line is cut: %v, want an error naming line 5", bad.err)
	}
	if got := dump(t, db, ""); len(got) != 0 {
		t.Errorf("a refused import stored %d sessions", len(got))
	}
	ok := runInProcess(t, file, "--db", db, "import", "-")
	if ok.err != nil {
		t.Fatal(ok.err)
	}
	if ok.stdout != "imported 2 sessions (2 new), 1 message added, 0 already present\n" {
		t.Errorf("import said %q", ok.stdout)
	}
	got := dump(t, db, "")
	if len(got) != 2 || got["s1"].Info.Owner != "u" || len(got["s1"].Messages) != 1 {
		t.Errorf("imported %+v", got)
	}
}
