package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/convo-dev/convo/session"
)

// hitJSON is a search hit as --json writes it.
type hitJSON struct {
	// Session is the session the hit is in, in the shape ls --json lists
	// sessions.
	Session   sessionJSON `json:"session"`
	MessageID string      `json:"message_id"`
	Seq       int64       `json:"seq"`
	Role      string      `json:"role"`
	CreatedAt string      `json:"created_at"`
	// Snippet is the excerpt without highlight markers; Highlights are
	// the highlighted substrings in order.
	Snippet    string   `json:"snippet"`
	Highlights []string `json:"highlights,omitempty"`
}

func (a *app) searchCommand() *cobra.Command {
	var (
		q     session.SearchQuery
		color string
		index bool
	)
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Full-text search over message text",
		Long: `search finds messages whose text (text, reasoning and tool results) holds
every word of QUERY, best match first, and prints the session id, message
number, role, time and a snippet with the matched words highlighted (in
colour on a terminal, between *stars* otherwise; NO_COLOR set to anything
but "" turns colour off unless --color always).

Words in double quotes ('"pack an umbrella"') match in that order, next to
each other; a trailing * makes a word a prefix (umbr*). No other character
is an operator (there is no OR or NOT); case does not matter, nor do accents
on Latin, Greek, Cyrillic, Arabic and Hebrew letters.

With --json it writes a list of hits, each with its session in the shape
that ls --json uses (docs/cli.md, "JSON output").

search opens the database read-only. A SQLite store fills its full-text
index when the application first searches; messages not yet in it are
read one by one on every search, which takes seconds per million. When
that is many, search says so on stderr; --index first brings the index up
to date, with a progress bar (this writes to the database, once: later
searches use the index). PostgreSQL indexes each message as it is written.`,
		Example: `  convo search --db chat.db "weather paris"
  convo search --db chat.db --owner user-123 --limit 5 invoice --json
  convo search --db chat.db --index refund`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Text = strings.Join(args, " ")
			if len(q.Text) > maxQueryBytes {
				return fmt.Errorf("search: the search text is %d bytes; at most %d", len(q.Text), maxQueryBytes)
			}
			if strings.TrimSpace(q.Text) == "" {
				return errors.New("search: empty query")
			}
			if q.Limit < 1 || q.Limit > session.MaxListLimit {
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
				useColor = a.stdout.color
			case "always":
				useColor = true
			case "never":
			default:
				return fmt.Errorf("search: --color must be auto, always or never, not %q", color)
			}
			a.stdout.color = useColor
			open := a.openRead // looking never changes the database
			if index {
				open = func(ctx context.Context) (*backend, error) { return a.open(ctx, true) }
			}
			b, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			backlog, err := a.searchBacklog(cmd.Context(), "search", b.store, index)
			if err != nil {
				return fmt.Errorf("search: %w", err)
			}
			hits, err := session.Search(cmd.Context(), b.store, q)
			if errors.Is(err, context.DeadlineExceeded) && backlog >= backlogNote {
				return fmt.Errorf("search: %w: it was reading the %d messages not in the full-text index; convo search --index builds the index once", err, backlog)
			}
			if err != nil {
				return fmt.Errorf("search: %w", err)
			}
			if len(hits) == 0 && q.SessionID != "" {
				// Nothing found in a session that is not there: say so, as
				// show and rm do, rather than "no matches".
				if _, err := b.store.Load(cmd.Context(), q.SessionID); errors.Is(err, session.ErrNotFound) {
					return fmt.Errorf("search: --session: no session %q", q.SessionID)
				}
			}
			if a.asJSON {
				out, err := hitsJSON(cmd.Context(), b.store, hits)
				if err != nil {
					return fmt.Errorf("search: %w", err)
				}
				return writeJSON(a.stdout, out)
			}
			start, end := "*", "*"
			if useColor {
				start, end = "\x1b[1;33m", "\x1b[0m"
			}
			// The snippet is the last column, so the highlight strings the
			// writer puts in cannot shift the table.
			tb := table{header: []string{"SESSION", "SEQ", "ROLE", "TIME", "SNIPPET"}}
			for _, h := range hits {
				tb.add(clipWidth(h.SessionID, 0), strconv.FormatInt(h.Seq, 10), string(h.Role), formatTime(h.CreatedAt),
					clipWidth(h.Snippet, 0))
			}
			tb.write(a.stdout.withHighlights(start, end))
			if len(hits) == 0 {
				fmt.Fprintln(a.stderr, "no matches")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Owner, "owner", "", "search only this owner's sessions")
	_ = cmd.RegisterFlagCompletionFunc("owner", a.completeOwners)
	f.StringVar(&q.SessionID, "session", "", "search only this session")
	_ = cmd.RegisterFlagCompletionFunc("session", a.completeSessionIDs)
	f.IntVar(&q.Limit, "limit", 20, "at most this many hits")
	f.StringVar(&color, "color", "auto", "highlight with colour: auto, always or never")
	f.BoolVar(&index, "index", false, "first bring SQLite's full-text index up to date (writes to the database)")
	a.addJSONFlag(cmd)
	return cmd
}

// searchIndexer is a store whose full-text index can lag behind its
// messages (*sqlite.Store).
type searchIndexer interface {
	SearchBacklog(ctx context.Context) (int64, error)
	IndexSearch(ctx context.Context) (int, error)
}

// backlogNote is the backlog from which search says on stderr that it
// reads the messages one by one (about 0.7 s per 100,000 on a 2-vCPU VM).
var backlogNote int64 = 100000

// searchBacklog brings store's full-text index up to date when index is
// set, with a progress bar; otherwise it says on stderr, as cmdName, when
// a search will read a large backlog one message at a time. A store without such an
// index (PostgreSQL) needs neither.
func (a *app) searchBacklog(ctx context.Context, cmdName string, store session.Store, index bool) (backlog int64, err error) {
	ix, ok := store.(searchIndexer)
	if !ok {
		return 0, nil
	}
	n, err := ix.SearchBacklog(ctx)
	if errors.Is(err, session.ErrNotSupported) {
		return 0, nil // Search says why
	}
	if err != nil {
		return 0, err
	}
	if !index {
		if n >= backlogNote {
			fmt.Fprintf(a.stderr, "%s: %s not in the full-text index yet, so every search reads each of them; "+
				"convo search --index builds the index once (it writes to the database)\n", cmdName, plural(n, "message is", "messages are"))
		}
		return n, nil
	}
	bar := a.newProgress(n, "index")
	defer bar.done()
	done := make(chan error, 1)
	go func() {
		_, err := ix.IndexSearch(ctx)
		done <- err
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return n, err
			}
			bar.set(n)
			return 0, nil
		case <-tick.C:
			if left, err := ix.SearchBacklog(ctx); err == nil {
				bar.set(n - left)
			}
		}
	}
}

// hitsJSON returns hits as search --json writes them, each with its
// session's info (looked up once per session) when the store describes
// sessions.
func hitsJSON(ctx context.Context, store session.Store, hits []session.SearchHit) ([]hitJSON, error) {
	out := []hitJSON{}
	infos := map[string]sessionJSON{}
	d, describes := store.(session.Describer)
	for _, h := range hits {
		sj, ok := infos[h.SessionID]
		if !ok {
			sj = sessionJSON{ID: h.SessionID}
			if describes {
				in, err := d.Info(ctx, h.SessionID)
				switch {
				case err == nil:
					sj = toSessionJSON(in)
				case !errors.Is(err, session.ErrNotFound): // deleted since the search: keep the id
					return nil, err
				}
			}
			infos[h.SessionID] = sj
		}
		out = append(out, hitJSON{Session: sj, MessageID: h.MessageID, Seq: h.Seq,
			Role: string(h.Role), CreatedAt: rfc3339(h.CreatedAt),
			Snippet: renderSnippet(h.Snippet, "", ""), Highlights: highlights(h.Snippet)})
	}
	return out, nil
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
