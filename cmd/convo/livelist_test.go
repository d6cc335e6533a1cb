package main

import (
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
)

// appendWhileListing makes the next whole-store listing meet a live
// writer: after its first page, one message is appended to session id,
// which moves that session above the listing's cursor (newest activity
// first). The listing pages one session at a time.
func appendWhileListing(t *testing.T, db testDB, id string) {
	t.Helper()
	b, err := openBackend(t.Context(), db.url, db.prefix, false, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	oldLimit, oldHook := listPageLimit, listPageHook
	t.Cleanup(func() { listPageLimit, listPageHook = oldLimit, oldHook })
	listPageLimit = 1
	done := false
	listPageHook = func() {
		if done {
			return
		}
		done = true
		s, err := b.store.Load(t.Context(), id)
		if err == nil {
			err = s.AddMessages(t.Context(), []message.Message{message.NewUserMessage("written while the listing ran")})
		}
		if err != nil {
			t.Errorf("append to %s while listing: %v", id, err)
		}
	}
}

// TestListingALiveStore checks that export, and the listing doctor and
// migrate go through, include a session written while the store is being
// listed, once. A single pass through the listing (newest activity first)
// missed it: the write moved it above the cursor, so an export of a live
// store left out a session that existed from start to end.
func TestListingALiveStore(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			seed(t, db.url, db.prefix, demoSessions(t))
			// trip-paris is the oldest: the listing's last page.
			appendWhileListing(t, db, "trip-paris")
			r := runInProcess(t, "", db.args("export")...)
			if r.err != nil {
				t.Fatalf("export: %v\n%s", r.err, r.stderr)
			}
			count := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				if strings.HasPrefix(line, `{"type":"session"`) {
					id := line[strings.Index(line, `"id":"`)+6:]
					count[id[:strings.IndexByte(id, '"')]]++
				}
			}
			for _, s := range demoSessions(t) {
				if count[s.id] != 1 {
					t.Errorf("export holds session %s %d times, want once (all: %v)", s.id, count[s.id], count)
				}
			}
			if !strings.Contains(r.stdout, "written while the listing ran") {
				t.Error("export lacks the message appended during the listing")
			}
			back := "sqlite:" + t.TempDir() + "/back.db"
			if r := runInProcess(t, r.stdout, "--db", back, "import", "-"); r.err != nil {
				t.Fatalf("import of the export: %v", r.err)
			}

			appendWhileListing(t, db, "support-42")
			b, err := openBackend(t.Context(), db.url, db.prefix, false, true)
			if err != nil {
				t.Fatal(err)
			}
			defer b.close()
			a := &app{}
			ids, err := a.allSessionIDs(t.Context(), b.store)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, id := range ids {
				seen[id]++
			}
			for _, s := range demoSessions(t) {
				if seen[s.id] != 1 {
					t.Errorf("allSessionIDs lists %s %d times, want once (all: %v)", s.id, seen[s.id], ids)
				}
			}
		})
	}
}

// TestFirstOfEach checks the dedup of allSessionIDs: each id once, where
// it first appears.
func TestFirstOfEach(t *testing.T) {
	got := firstOfEach([]string{"c", "a", "c", "b", "a", "d", "c"})
	if want := "c a b d"; strings.Join(got, " ") != want {
		t.Errorf("firstOfEach = %v, want %s", got, want)
	}
	if got := firstOfEach(nil); len(got) != 0 {
		t.Errorf("firstOfEach(nil) = %v", got)
	}
}
