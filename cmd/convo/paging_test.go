package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestWholeStoreCommandsPage checks doctor, export and migrate on a store
// of more sessions than one listing page (session.MaxListLimit): they now
// list only the sessions' ids (export: with their creation times) and read
// each session's info as they go, instead of holding every session's info,
// and must still see every session once. doctor keeps only what it prints;
// export writes oldest first.
func TestWholeStoreCommandsPage(t *testing.T) {
	n := session.MaxListLimit + 5
	db := "sqlite:" + filepath.Join(t.TempDir(), "convo.db")
	var ss []demoSession
	for i := range n {
		s := demoSession{id: fmt.Sprintf("s%04d", i), opts: session.CreateOptions{CreatedAt: at(n - i)}}
		s.msgs = []message.Message{msg(fmt.Sprintf("m%d", i), n-i, message.RoleUser, message.Text{Text: "hi"})}
		if i == 3 { // listed on the second page (newest first)
			s.msgs = append(s.msgs, msg(fmt.Sprintf("c%d", i), n-i+1, message.RoleAssistant,
				message.ToolCall{ID: "call_1", Name: "f", Input: json.RawMessage(`{}`)}))
		}
		ss = append(ss, s)
	}
	seed(t, db, "", ss)

	r := runInProcess(t, "", "--db", db, "doctor")
	want := fmt.Sprintf("checked %d sessions: 1 damaged, 0 repaired, 0 errors\n", n)
	if r.err == nil || !strings.HasSuffix(r.stdout, want) || !strings.Contains(r.stdout, "s0003: damaged") {
		t.Errorf("doctor: %v\n%s\nwant the damaged s0003 and %q", r.err, r.stdout, want)
	}
	if strings.Count(r.stdout, "\n") != 4 { // schema, s0003, its problem, summary
		t.Errorf("doctor printed more than the damaged session:\n%s", r.stdout)
	}

	r = runInProcess(t, "", "--db", db, "migrate", "--to", "sqlite:"+filepath.Join(t.TempDir(), "copy.db"))
	if r.err != nil || !strings.HasPrefix(r.stdout, fmt.Sprintf("migrated %d sessions ", n)) || !strings.Contains(r.stdout, fmt.Sprintf("%d created", n)) {
		t.Errorf("migrate: %v\n%s", r.err, r.stdout)
	}

	r = runInProcess(t, "", "--db", db, "export")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var l exportSession
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Type == "session" {
			order = append(order, l.ID)
		}
	}
	if len(order) != n || order[0] != fmt.Sprintf("s%04d", n-1) || order[n-1] != "s0000" {
		t.Errorf("export wrote %d sessions from %s to %s; want %d, oldest (s%04d) first", len(order), order[0], order[len(order)-1], n, n-1)
	}
}
