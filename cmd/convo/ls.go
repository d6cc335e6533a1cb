package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

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
}

func toSessionJSON(in session.Info) sessionJSON {
	return sessionJSON{ID: in.ID, Owner: in.Owner, Title: in.Title, Metadata: in.Metadata,
		Messages: in.MessageCount, CreatedAt: rfc3339(in.CreatedAt), UpdatedAt: rfc3339(in.UpdatedAt)}
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
			if q.Limit < 0 || q.Limit > session.MaxListLimit {
				return fmt.Errorf("--limit must be between 1 and %d", session.MaxListLimit)
			}
			if !after.IsZero() {
				q.UpdatedAfter = after.UnixNano()
			}
			if !before.IsZero() {
				q.UpdatedBefore = before.UnixNano()
			}
			b, err := a.open(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer b.close()
			page, err := session.List(cmd.Context(), b.store, q)
			if err != nil {
				return fmt.Errorf("ls: %w", err)
			}
			if a.asJSON {
				out := struct {
					Sessions []sessionJSON `json:"sessions"`
					Next     string        `json:"next,omitempty"`
				}{Sessions: []sessionJSON{}, Next: page.Next}
				for _, in := range page.Sessions {
					out.Sessions = append(out.Sessions, toSessionJSON(in))
				}
				return writeJSON(a.stdout, out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOWNER\tTITLE\tMESSAGES\tCREATED\tUPDATED")
			for _, in := range page.Sessions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", oneLine(in.ID, 0), dash(oneLine(in.Owner, 24)),
					dash(oneLine(in.Title, 40)), in.MessageCount, formatTime(in.CreatedAt), formatTime(in.UpdatedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.Next != "" {
				fmt.Fprintf(a.stdout, "next page: convo ls --cursor %s\n", page.Next)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&q.Limit, "limit", session.DefaultListLimit, "sessions per page")
	f.StringVar(&q.Cursor, "cursor", "", "continue after the page that printed this cursor")
	f.StringVar(&q.Owner, "owner", "", "only sessions of this owner")
	f.StringVar(&q.IDPrefix, "id-prefix", "", "only sessions whose id starts with this")
	f.StringVar(&since, "since", "", "only sessions updated after this time (2026-01-02, RFC 3339, or a duration ago: 7d)")
	f.StringVar(&until, "until", "", "only sessions updated before this time")
	a.addJSONFlag(cmd)
	return cmd
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
