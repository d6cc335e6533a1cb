package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Import a one-session export into a new SQLite file and search it.
func Example() {
	dir, err := os.MkdirTemp("", "convo-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	db := filepath.Join(dir, "chat.db")
	export := `{"type":"convo-export","version":1}
{"type":"session","id":"s1","owner":"alice","title":"Paris","created_at":1732460000000000000}
{"type":"message","session":"s1","message":{"id":"m1","role":"user","parts":[{"type":"text","text":"Will it rain in Paris?"}],"created_at":1732460001000000000}}
{"type":"message","session":"s1","message":{"id":"m2","role":"assistant","parts":[{"type":"text","text":"Light rain on Sunday."}],"created_at":1732460002000000000}}
`
	ctx := context.Background()
	for _, args := range [][]string{
		{"--db", db, "import", "-"},
		{"--db", db, "search", "sunday"},
	} {
		if err := run(ctx, args, strings.NewReader(export), os.Stdout, os.Stdout); err != nil {
			fmt.Println("error:", err)
		}
	}
	// Output:
	// imported 1 session (1 new), 2 messages added, 0 already present
	// SESSION  SEQ  ROLE       TIME                 SNIPPET
	// s1       2    assistant  2024-11-24 14:53:22  Light rain on *Sunday*.
}
