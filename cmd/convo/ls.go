package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

// sessionJSON is a session as --json output writes it.
type sessionJSON struct {
	ID        string            `json:"id"`
	Owner     string            `json:"owner,omitempty"`
	Title     string            `json:"title,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Messages  int64             `json:"messages"`
	CreatedAt string            `json:"created_at"`
	UpdatedAt string            `json:"updated_at"`
	// Parent and ForkMessageID link a fork to the session it was forked
	// from and the last message it inherited ("" before the first).
	Parent        string `json:"parent,omitempty"`
	ForkMessageID string `json:"fork_message_id,omitempty"`
}

func toSessionJSON(in session.Info) sessionJSON {
	return sessionJSON{ID: in.ID, Owner: in.Owner, Title: in.Title, Metadata: in.Metadata,
		Messages: in.MessageCount, CreatedAt: rfc3339(in.CreatedAt), UpdatedAt: rfc3339(in.UpdatedAt),
		Parent: in.ParentID, ForkMessageID: in.ForkMessageID}
}

func (a *app) lsCommand() *cobra.Command {
	var (
		q            session.ListQuery
		since, until string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List sessions, newest activity first",
		Long: `ls lists sessions, most recently updated first, one page at a time, with
owner, title, message count and created and updated times (UTC).

When more sessions follow, the last line gives the command for the next page
(--cursor); with --json the cursor is the "next" field.`,
		Example: `  convo ls --db chat.db
  convo ls --owner user-123 --since 7d --json
  convo ls --limit 20 --cursor <next from the previous page>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := a.now()
			after, err := parseTime(since, now)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			before, err := parseTime(until, now)
			if err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if q.Limit < 1 || q.Limit > session.MaxListLimit {
				return fmt.Errorf("--limit must be between 1 and %d", session.MaxListLimit)
			}
			if !after.IsZero() {
				q.UpdatedAfter = after.UnixNano()
			}
			if !before.IsZero() {
				q.UpdatedBefore = before.UnixNano()
			}
			b, err := a.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			page, err := session.List(cmd.Context(), b.store, q)
			if err != nil {
				return fmt.Errorf("ls: %w", err)
			}
			// A session whose stored info cannot be read in full is
			// listed with what could be read, named on stderr (and in
			// --json), and ls fails at the end, as export does.
			var unreadable []string
			for _, err := range page.Unreadable {
				unreadable = append(unreadable, err.Error())
				fmt.Fprintf(a.stderr, "ls: %v\n", err)
			}
			done := func() error {
				if len(unreadable) == 0 {
					return nil
				}
				return fmt.Errorf("ls: the stored info of %s cannot be read in full; listed with what could be read (see above)",
					plural(len(unreadable), "session", "sessions"))
			}
			if a.asJSON {
				out := struct {
					Sessions   []sessionJSON `json:"sessions"`
					Next       string        `json:"next,omitempty"`
					Unreadable []string      `json:"unreadable,omitempty"`
				}{Sessions: []sessionJSON{}, Next: page.Next, Unreadable: unreadable}
				for _, in := range page.Sessions {
					out.Sessions = append(out.Sessions, toSessionJSON(in))
				}
				if err := writeJSON(a.stdout, out); err != nil {
					return err
				}
				return done()
			}
			tb := table{header: []string{"ID", "OWNER", "TITLE", "MESSAGES", "CREATED", "UPDATED"}}
			// A page with a fork on it (session.Forker) gets a column naming
			// each fork's parent.
			forks := slices.ContainsFunc(page.Sessions, func(in session.Info) bool { return in.ParentID != "" })
			if forks {
				tb.header = append(tb.header, "FORK OF")
			}
			for _, in := range page.Sessions {
				row := []string{clipWidth(in.ID, 0), dash(clipWidth(in.Owner, 24)), dash(clipWidth(in.Title, 40)),
					strconv.FormatInt(in.MessageCount, 10), formatTime(in.CreatedAt), formatTime(in.UpdatedAt)}
				if forks {
					row = append(row, dash(clipWidth(in.ParentID, 0)))
				}
				tb.add(row...)
			}
			tb.write(a.stdout)
			if page.Next != "" {
				fmt.Fprintf(a.stdout, "next page: %s\n", nextPageCommand(cmd, q, page.Next))
			}
			return done()
		},
	}
	f := cmd.Flags()
	f.IntVar(&q.Limit, "limit", session.DefaultListLimit, "sessions per page")
	f.StringVar(&q.Cursor, "cursor", "", "continue after the page that printed this cursor")
	f.StringVar(&q.Owner, "owner", "", "only sessions of this owner")
	_ = cmd.RegisterFlagCompletionFunc("owner", a.completeOwners)
	f.StringVar(&q.IDPrefix, "id-prefix", "", "only sessions whose id starts with this")
	f.StringVar(&since, "since", "", "only sessions updated after this time (2026-01-02, RFC 3339, or a duration ago: 7d)")
	f.StringVar(&until, "until", "", "only sessions updated before this time")
	a.addJSONFlag(cmd)
	return cmd
}

// nextPageCommand returns the command line that lists the page after this
// one: every flag that shaped this page, with --since and --until as the
// absolute times this page used (so "7d" does not move between pages), and
// the cursor. --db is repeated when it was given as a flag (a CONVO_DB
// setting stays in the environment).
func nextPageCommand(cmd *cobra.Command, q session.ListQuery, cursor string) string {
	args := []string{"convo"}
	for _, name := range []string{"db", "prefix"} {
		if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
			args = append(args, "--"+name, shellQuote(f.Value.String()))
		}
	}
	args = append(args, "ls")
	if q.Owner != "" {
		args = append(args, "--owner", shellQuote(q.Owner))
	}
	if q.IDPrefix != "" {
		args = append(args, "--id-prefix", shellQuote(q.IDPrefix))
	}
	if q.UpdatedAfter != 0 {
		args = append(args, "--since", time.Unix(0, q.UpdatedAfter).UTC().Format(time.RFC3339Nano))
	}
	if q.UpdatedBefore != 0 {
		args = append(args, "--until", time.Unix(0, q.UpdatedBefore).UTC().Format(time.RFC3339Nano))
	}
	if cmd.Flags().Changed("limit") {
		args = append(args, "--limit", strconv.Itoa(q.Limit))
	}
	return strings.Join(append(args, "--cursor", shellQuote(cursor)), " ")
}

// shellQuote returns s as one word for a POSIX shell: as it is when it
// holds only characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
