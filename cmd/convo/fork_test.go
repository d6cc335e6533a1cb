package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/convo-dev/convo/message"
	"github.com/convo-dev/convo/session"
)

// TestShowAndListMarkForks forks the demo conversation at its tool result
// and before its first message, on each backend, and checks that show names
// the parent and fork point and marks where the inherited messages end, and
// that ls --json and show --json carry the link.
func TestShowAndListMarkForks(t *testing.T) {
	for _, db := range backends(t) {
		t.Run(db.name, func(t *testing.T) {
			ctx := t.Context()
			seed(t, db.url, db.prefix, demoSessions(t)[:1])
			b, err := openBackend(ctx, db.url, db.prefix, false, false)
			if err != nil {
				t.Fatal(err)
			}
			fk, err := session.Fork(ctx, b.store, "trip-paris", "m-trip-4", "trip-retry", session.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := fk.AddMessages(ctx, []message.Message{message.NewAssistantMessage("Sunny Saturday, showery Sunday.")}); err != nil {
				t.Fatal(err)
			}
			if _, err := session.Fork(ctx, b.store, "trip-paris", "", "trip-empty", session.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			b.close()

			r := runInProcess(t, "", db.args("show", "--no-pager", "trip-retry")...)
			if r.err != nil {
				t.Fatalf("show: %v\n%s", r.err, r.stderr)
			}
			mark := "--- forked from trip-paris here"
			for _, want := range []string{"fork of trip-paris at message m-trip-4", "← result get_weather", mark, "Sunny Saturday"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("show of a fork: no %q in\n%s", want, r.stdout)
				}
			}
			// The mark comes after the inherited tool result and before the
			// fork's own answer.
			if i := strings.Index(r.stdout, mark); i < strings.Index(r.stdout, "← result get_weather") || i > strings.Index(r.stdout, "Sunny Saturday") {
				t.Errorf("the fork mark is out of place:\n%s", r.stdout)
			}
			r = runInProcess(t, "", db.args("show", "--no-pager", "trip-empty")...)
			if r.err != nil || !strings.Contains(r.stdout, "fork of trip-paris before its first message") {
				t.Errorf("show of a fork before the first message: %v\n%s", r.err, r.stdout)
			}
			r = runInProcess(t, "", db.args("show", "--no-pager", "trip-paris")...)
			if r.err != nil || strings.Contains(r.stdout, "fork") {
				t.Errorf("show of a session that is no fork mentions a fork: %v\n%s", r.err, r.stdout)
			}

			r = runInProcess(t, "", db.args("ls")...)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.err != nil || len(lines) != 4 || !strings.HasSuffix(lines[0], "FORK OF") {
				t.Fatalf("ls with forks: %v\n%s", r.err, r.stdout)
			}
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				want := "trip-paris"
				if f[0] == "trip-paris" {
					want = "-"
				}
				if f[len(f)-1] != want {
					t.Errorf("ls row of %s: FORK OF is %q, want %q\n%s", f[0], f[len(f)-1], want, r.stdout)
				}
			}
			r = runInProcess(t, "", db.args("ls", "--json")...)
			var page struct{ Sessions []sessionJSON }
			if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
				t.Fatalf("ls --json: %v\n%s", err, r.stdout)
			}
			links := map[string]string{}
			for _, s := range page.Sessions {
				links[s.ID] = s.Parent + "@" + s.ForkMessageID
			}
			if links["trip-retry"] != "trip-paris@m-trip-4" || links["trip-empty"] != "trip-paris@" || links["trip-paris"] != "@" {
				t.Errorf("ls --json links: %v", links)
			}
			r = runInProcess(t, "", db.args("show", "trip-retry", "--json")...)
			var shown struct{ Session sessionJSON }
			if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.Session.Parent != "trip-paris" || shown.Session.ForkMessageID != "m-trip-4" {
				t.Errorf("show --json of a fork: %+v, %v", shown.Session, err)
			}
		})
	}
}
