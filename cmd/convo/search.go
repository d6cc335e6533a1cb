package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

// hitJSON is a search hit as --json writes it.
type hitJSON struct {
	Session   string `json:"session"`
	MessageID string `json:"message_id"`
	Seq       int64  `json:"seq"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
	// Snippet is the excerpt without highlight markers; Highlights are
	// the highlighted substrings in order.
	Snippet    string   `json:"snippet"`
	Highlights []string `json:"highlights,omitempty"`
}

func (a *app) searchCommand() *cobra.Command {
	var (
		q     session.SearchQuery
		color string
	)
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Full-text search over message text",
		Long: `search finds messages whose text (text, reasoning and tool results) holds
every word of QUERY, best match first, and prints the session id, message
number, role, time and a snippet with the matched words highlighted (in
colour on a terminal, between *stars* otherwise).`,
		Example: `  convo search --db chat.db "weather paris"
  convo search --db chat.db --owner user-123 --limit 5 invoice --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Text = strings.Join(args, " ")
			if len(q.Text) > maxQueryBytes {
				return fmt.Errorf("search: the search text is %d bytes; at most %d", len(q.Text), maxQueryBytes)
			}
			if strings.TrimSpace(q.Text) == "" {
				return errors.New("search: empty query")
			}
			if q.Limit < 0 || q.Limit > session.MaxListLimit {
				return fmt.Errorf("search: --limit must be between 1 and %d", session.MaxListLimit)
			}
			if q.SessionID != "" {
				if err := session.ValidateID(q.SessionID); err != nil {
					return fmt.Errorf("search: --session: %w", err)
				}
			}
			var useColor bool
			switch color {
			case "auto":
				useColor = isTerminal(a.rawStdout)
			case "always":
				useColor = true
			case "never":
			default:
				return fmt.Errorf("search: --color must be auto, always or never, not %q", color)
			}
			b, err := a.openRead(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			hits, err := session.Search(cmd.Context(), b.store, q)
			if err != nil {
				return fmt.Errorf("search: %w", err)
			}
			if a.asJSON {
				out := []hitJSON{}
				for _, h := range hits {
					out = append(out, hitJSON{Session: h.SessionID, MessageID: h.MessageID, Seq: h.Seq,
						Role: string(h.Role), CreatedAt: rfc3339(h.CreatedAt),
						Snippet: renderSnippet(h.Snippet, "", ""), Highlights: highlights(h.Snippet)})
				}
				return writeJSON(a.stdout, out)
			}
			start, end := "*", "*"
			if useColor {
				start, end = "\x1b[1;33m", "\x1b[0m"
			}
			// The snippet is the last column, so the highlight strings the
			// writer puts in after the tabwriter has aligned the table
			// cannot shift it.
			tw := tabwriter.NewWriter(a.stdout.withHighlights(start, end), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SESSION\tSEQ\tROLE\tTIME\tSNIPPET")
			for _, h := range hits {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", oneLine(h.SessionID, 0), h.Seq, oneLine(string(h.Role), 0), formatTime(h.CreatedAt),
					oneLine(h.Snippet, 0))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(hits) == 0 {
				fmt.Fprintln(a.stderr, "no matches")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Owner, "owner", "", "search only this owner's sessions")
	f.StringVar(&q.SessionID, "session", "", "search only this session")
	f.IntVar(&q.Limit, "limit", 20, "at most this many hits")
	f.StringVar(&color, "color", "auto", "highlight with colour: auto, always or never")
	a.addJSONFlag(cmd)
	return cmd
}

// renderSnippet replaces the highlight markers of a snippet with start and
// end, after removing any other control characters.
func renderSnippet(s, start, end string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case string(r) == session.HighlightStart:
			b.WriteString(start)
		case string(r) == session.HighlightEnd:
			b.WriteString(end)
		case r < 0x20 && r != '\t' && r != '\n', r == 0x7f:
			// Drop control characters: message text must not drive the
			// terminal.
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// highlights returns the highlighted substrings of a snippet.
func highlights(s string) []string {
	var out []string
	for {
		i := strings.Index(s, session.HighlightStart)
		if i < 0 {
			return out
		}
		s = s[i+len(session.HighlightStart):]
		j := strings.Index(s, session.HighlightEnd)
		if j < 0 {
			return append(out, s)
		}
		out = append(out, s[:j])
		s = s[j+len(session.HighlightEnd):]
	}
}
