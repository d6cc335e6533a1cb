package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
)

// TestSearchMatchesItsTermsOnce: on a store without forks, a search for a
// word in every message reads the messages' terms once. The search's
// second branch (rows that borrow a forked parent's bytes) must start from
// the partial index of borrowers, which is empty; planned the other way it
// matched every hit a second time, tripling the search's time for a common
// word. The plan's shape, unlike a time, does not depend on the machine's
// load.
func TestSearchMatchesItsTermsOnce(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	for i := range 20 {
		sess, err := s.Create(ctx, fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []message.Message
		for j := range 100 {
			msgs = append(msgs, message.NewUserMessage(fmt.Sprintf("the umbrella forecast %d of session %d", j, i)))
		}
		if err := sess.AddMessages(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE `+s.q.messages); err != nil {
		t.Fatal(err)
	}
	var plan []byte
	if err := s.pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+s.q.search[0], `'umbrella'`, 20).Scan(&plan); err != nil {
		t.Fatalf("EXPLAIN search: %v", err)
	}
	var root []struct{ Plan planNode }
	if err := json.Unmarshal(plan, &root); err != nil || len(root) != 1 {
		t.Fatalf("EXPLAIN output: %v\n%s", err, plan)
	}
	// Scans that match terms: by the GIN index, or reading the whole table.
	var matching []string
	var walk func(n planNode)
	walk = func(n planNode) {
		if strings.HasSuffix(n.IndexName, "messages_tsv") || (n.RelationName != "" && strings.HasSuffix(n.RelationName, "messages") && strings.Contains(n.NodeType, "Seq Scan")) {
			matching = append(matching, n.NodeType+" "+n.IndexName+n.RelationName)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(root[0].Plan)
	if len(matching) != 1 {
		t.Errorf("search on a store without forks matches terms in %d scans, want 1: %v\n%s", len(matching), matching, plan)
	}
}

// planNode is the part of EXPLAIN (FORMAT JSON)'s plan the tests read.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}
